"""A catalog answer in another format than the CSV asked for is named as such, with its URL."""

import pytest
import responses
from click.testing import CliRunner

from ratdcs_catalog.cli import cli

IBE = "https://irsa.test/ibe"
TAP = "https://tap.test/TAP"

# IBE's default answer format (what a proxy that drops `ct=csv` gets back).
IPAC = ("\\fixlen = T\n\\RowsRetrieved = 1\n"
        "|  field| ccdid| qid| filtercode|      filefracday|         obsjd|\n"
        "|    int|   int| int|       char|             long|        double|\n"
        "    600     5    2          zg   20240101123456  2460311.0235\n")
VOTABLE = ('<?xml version="1.0"?><VOTABLE version="1.4"><RESOURCE type="results">'
           '<INFO name="QUERY_STATUS" value="OK"/><TABLE><FIELD name="kepid" datatype="int"/>'
           '<DATA><TABLEDATA><TR><TD>11904151</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>')
JSON = '[{"kepid": 11904151}]'


def config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"data_dir: {tmp_path / 'data'}\nendpoints:\n  irsa_ibe: {IBE}\n  exoplanet_tap: {TAP}\n"
                    "catalog:\n  rate_limit_delay: 0\n")
    return path


@responses.activate
@pytest.mark.parametrize("body, named", [(IPAC, "an IPAC table"), (VOTABLE, "a VOTable"), (JSON, "JSON")])
def test_plan_ztf_names_the_format_ibe_answered_and_its_url(tmp_path, body, named):
    responses.get(f"{IBE}/search/ztf/products/sci", body=body)
    result = CliRunner().invoke(cli, ["--config", str(config(tmp_path)), "plan", "ztf", "--start-date", "2024-01-01",
                                      "--end-date", "2024-01-01"])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith("Error: IRSA IBE search ztf/products/sci [WHERE obsjd BETWEEN")
    assert f"the archive answered {named}, not the CSV asked for ({IBE}/search/ztf/products/sci?WHERE=" in first
    assert "ct=csv" in first and "unusable metadata" not in result.output
    assert not (tmp_path / "data" / "manifest.sqlite").exists()  # nothing written on a failed plan


@responses.activate
@pytest.mark.parametrize("body, named", [(IPAC, "an IPAC table"), (VOTABLE, "a VOTable"), (JSON, "JSON")])
def test_plan_kepler_names_the_format_tap_answered_and_its_url(tmp_path, body, named):
    responses.post(f"{TAP}/sync", body=body)
    result = CliRunner().invoke(cli, ["--config", str(config(tmp_path)), "plan", "kepler", "--n", "1"])
    assert result.exit_code == 1
    assert f"the archive answered {named}, not the CSV asked for ({TAP}/sync)" in result.output


def test_answer_format_tells_csv_from_the_rest():
    from ratdcs_catalog.sources.tables import answer_format

    assert answer_format("kepid,kepoi_name\n1,K1\n") is None
    assert answer_format('"kepid","name"\n') is None
    assert (answer_format(IPAC), answer_format(VOTABLE), answer_format(JSON)) == ("an IPAC table", "a VOTable", "JSON")
    assert answer_format("<!DOCTYPE html><html>down</html>") == "an HTML page"


@responses.activate
def test_an_html_page_from_ibe_is_named_with_its_url(tmp_path):
    responses.get(f"{IBE}/search/ztf/products/sci", body="<!DOCTYPE html><html><body>Maintenance</body></html>",
                  content_type="text/html")
    result = CliRunner().invoke(cli, ["--config", str(config(tmp_path)), "plan", "ztf", "--start-date", "2024-01-01",
                                      "--end-date", "2024-01-01"])
    assert result.exit_code == 1
    assert "the archive answered with an HTML page instead of data (HTTP 200, " \
           f"{IBE}/search/ztf/products/sci?WHERE=" in result.output
