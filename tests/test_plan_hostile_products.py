"""A product list that tries to escape the data directory: each bad row is refused and reported,
the good rows are planned, and no path outside the data directory is ever recorded."""

import json
import sqlite3
from urllib.parse import parse_qs

import responses
from click.testing import CliRunner

from ratdcs_catalog.cli import cli

TAP = "https://tap.test/TAP"
MAST = "https://mast.test"


def product(filename, uri=None, size=1000):
    return {"obsID": "9001", "obs_collection": "Kepler", "dataproduct_type": "timeseries",
            "productSubGroupDescription": "LLC", "productFilename": filename, "size": size,
            "dataURI": uri if uri is not None else f"mast:Kepler/url/missions/kepler/lightcurves/{filename}"}


GOOD = "kplr000000042-2009166043257_llc.fits"
HOSTILE = [
    product("../../../../etc/cron.d/evil_llc.fits"),
    product("/etc/passwd"),
    product("kplr000000042-\x00_llc.fits"),
    product("kplr000000042-2009259160929_llc.fits", uri="file:///etc/shadow"),
    product("kplr000000042-2009350155506_llc.fits", uri="mast:Kepler/../../secret_llc.fits"),
    product(GOOD),
    product(GOOD),  # listed twice by the archive: one row
]


def mast_answer(request):
    service = json.loads(parse_qs(request.body)["request"][0])["service"]
    data = {"Mast.Caom.Filtered": [{"obsid": "9001", "target_name": "kplr000000042", "obs_collection": "Kepler"}],
            "Mast.Caom.Products": HOSTILE}[service]
    paging = {"page": 1, "pageSize": len(data), "pagesFiltered": 1, "rows": len(data), "rowsFiltered": len(data),
              "rowsTotal": len(data)}
    return 200, {}, json.dumps({"status": "COMPLETE", "msg": "", "fields": [], "data": data, "paging": paging})


@responses.activate
def test_hostile_product_rows_are_refused_and_reported(tmp_path):
    responses.post(f"{TAP}/sync", body="kepid,kepoi_name,koi_disposition,ra,dec\n42,K00042.01,CONFIRMED,280.1,44.2\n")
    responses.add_callback(responses.POST, f"{MAST}/api/v0/invoke", callback=mast_answer)
    config = tmp_path / "c.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nendpoints:\n  mast: {MAST}\n  exoplanet_tap: {TAP}\n"
                      f"  mast_download: {MAST}/api/v0.1/Download/file\ncatalog:\n  rate_limit_delay: 0\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "plan", "kepler", "--n", "1"])
    assert result.exit_code == 0, result.output
    refused = [line for line in result.output.splitlines() if line.startswith("kepler: refused:")]
    assert refused == [
        "kepler: refused: refused archive file name '../../../../etc/cron.d/evil_llc.fits': not a plain file name",
        "kepler: refused: refused archive file name '/etc/passwd': not a plain file name",
        "kepler: refused: refused archive file name 'kplr000000042-\\x00_llc.fits': not a plain file name",
        "kepler: refused: refused archive URI 'file:///etc/shadow' for kplr000000042-2009259160929_llc.fits: "
        "not a mast: URI",
        "kepler: refused: refused archive URI 'mast:Kepler/../../secret_llc.fits' for "
        "kplr000000042-2009350155506_llc.fits: not a mast: URI",
    ]
    conn = sqlite3.connect(tmp_path / "data" / "manifest.sqlite")
    assert conn.execute("SELECT rel_path FROM files").fetchall() == [(f"kepler/{GOOD}",)]
    # Planning writes nothing but the manifest (and SQLite's WAL files beside it).
    assert all(p.name.startswith("manifest.sqlite") for p in tmp_path.joinpath("data").rglob("*"))
