"""Bad plan options: a usage error naming the problem, exit code 2, the manifest untouched."""

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.records import PlannedFile


@pytest.fixture
def existing_manifest(tmp_path):
    path = tmp_path / "m.sqlite"
    with open_manifest(path) as m, m.transaction():
        m.upsert_targets([{"source": "kepler", "target_id": "1"}], None)
        m.upsert_files([PlannedFile("kepler", "1", "lc_long", "http://x.test/a", "kepler/a.fits")], None)
    return path


CASES = [
    (["kepler", "--n", "0"], "Invalid value for '--n': 0 is not in the range x>=1."),
    (["kepler", "--n", "-5"], "Invalid value for '--n': -5 is not in the range x>=1."),
    (["kepler", "--n", "abc"], "Invalid value for '--n': 'abc' is not a valid integer"),
    (["jwst"], "unknown source 'jwst'; choose from kepler, k2, tess, ztf, all"),
    (["ztf", "--start-date", "2024-13-01", "--end-date", "2024-12-31"],
     "--start-date: '2024-13-01' is not a date (expected YYYY-MM-DD, a real calendar day)"),
    (["ztf", "--start-date", "2024-02-30", "--end-date", "2024-03-31"],
     "--start-date: '2024-02-30' is not a date (expected YYYY-MM-DD, a real calendar day)"),
    (["ztf", "--start-date", "yesterday", "--end-date", "2024-03-31"],
     "--start-date: 'yesterday' is not a date"),
    (["ztf", "--start-date", "2024-01-01", "--end-date", "9999-12-31"],
     "--end-date: 9999-12-31 is past any ZTF observing night"),
    (["ztf", "--start-date", "2024-02-01", "--end-date", "2024-01-01"],
     "--end-date 2024-01-01 is before --start-date 2024-02-01"),
    (["ztf", "--start-date", "2024-01-01", "--end-date", "2024-01-02", "--filter", "zg,zq"],
     "--filter: unknown ZTF filter code zq"),
    (["ztf", "--start-date", "2024-01-01", "--end-date", "2024-01-02", "--ccd", "17"],
     "--ccd: ZTF CCD ids are 1-16, got 17"),
    (["tess", "--disposition", "PC,XX"], "--disposition: unknown TOI disposition XX"),
    (["kepler", "--quarter", "18"], "Invalid value for '--quarter': 18 is not in the range 0<=x<=17."),
    (["kepler", "--max-bytes", "lots"], "--max-bytes: cannot read 'lots' as a size"),
]


@pytest.mark.parametrize("args,message", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_plan_input(existing_manifest, args, message):
    before = existing_manifest.read_bytes()
    # Endpoints point nowhere: validation must happen before any request.
    env = {"RATDCS_ENDPOINTS__MAST": "http://127.0.0.1:9", "RATDCS_ENDPOINTS__EXOPLANET_TAP": "http://127.0.0.1:9",
           "RATDCS_ENDPOINTS__IRSA_IBE": "http://127.0.0.1:9", "RATDCS_CATALOG__MAX_RETRIES": "0"}
    result = CliRunner().invoke(cli, ["--db", str(existing_manifest), "plan", *args], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert existing_manifest.read_bytes() == before


def test_bad_input_creates_no_manifest(tmp_path):
    db = tmp_path / "new" / "m.sqlite"
    result = CliRunner().invoke(cli, ["--db", str(db), "plan", "tess", "--disposition", "ZZ"])
    assert result.exit_code == 2
    assert not db.exists() and not db.parent.exists()


def test_plan_refuses_a_ca_bundle_variable_naming_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "missing.pem"))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.sqlite"), "plan", "kepler", "--n", "1"])
    assert result.exit_code == 2
    assert f"Error: environment $CURL_CA_BUNDLE names {tmp_path / 'missing.pem'}, which does not exist" in result.output
    assert not (tmp_path / "m.sqlite").exists()
