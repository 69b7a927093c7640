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
    # A newline would add lines of its own to `export urls` files (aria2c/curl input) and to the log.
    product("kplr000000042-2009131105131_llc.fits\n  dir=..\n  out=ESCAPED_llc.fits"),
    product("kplr000000042-" + "9" * 250 + "_llc.fits"),  # longer than a file system takes
    product("kplr000000042-2010078095331_llc.fits", size="abc"),
    product("kplr000000042-2010174085026_llc.fits", size=1e30),
    product("kplr000000042-2010265121752_llc.fits", size=-5),
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
        "kepler: refused: refused archive file name 'kplr000000042-\\x00_llc.fits': it holds a control character "
        "(NUL, newline, ...)",
        "kepler: refused: refused archive file name 'kplr000000042-2009131105131_llc.fits\\n  dir=..\\n  "
        "out=ESCAPED_llc.fits': it holds a control character (NUL, newline, ...)",
        f"kepler: refused: refused archive file name {('kplr000000042-' + '9' * 250)[:60]!r}...: a name longer than "
        "240 bytes, which file systems do not take once ratdcs adds .part",
        "kepler: refused: refused kplr000000042-2010078095331_llc.fits: its size 'abc' is not a byte count",
        "kepler: refused: refused kplr000000042-2010174085026_llc.fits: its size 1e+30 is not a byte count",
        "kepler: refused: refused kplr000000042-2010265121752_llc.fits: its size -5 is not a byte count",
        "kepler: refused: refused archive URI 'file:///etc/shadow' for kplr000000042-2009259160929_llc.fits: "
        "not a mast: URI",
        "kepler: refused: refused archive URI 'mast:Kepler/../../secret_llc.fits' for "
        "kplr000000042-2009350155506_llc.fits: not a mast: URI",
    ]
    conn = sqlite3.connect(tmp_path / "data" / "manifest.sqlite")
    assert conn.execute("SELECT rel_path FROM files").fetchall() == [(f"kepler/{GOOD}",)]
    # Planning writes nothing but the manifest (and SQLite's WAL files beside it) and its log line.
    assert all(p.name.startswith(("manifest.sqlite", "data_download.log"))
               for p in tmp_path.joinpath("data").rglob("*"))


@responses.activate
def test_a_size_probe_with_an_absurd_content_length_leaves_the_size_unknown():
    from ratdcs_catalog.net.catalog import CatalogHTTP
    from ratdcs_catalog.records import PlannedFile
    from ratdcs_catalog.sources.ztf import probe_sizes_of as probe_sizes

    lengths = {"a": "1" + "0" * 30, "b": "-1", "c": "2048"}
    for name, length in lengths.items():
        responses.head(f"https://irsa.test/{name}.fits", headers={"Content-Length": length})
    files = [PlannedFile(source="ztf", target_id="600", product_kind="ztf_sciimg", url=f"https://irsa.test/{n}.fits",
                         rel_path=f"ztf/images/{n}.fits") for n in lengths]
    http = CatalogHTTP(timeout=5, max_retries=0, rate_limit_delay=0)
    probed, failed = probe_sizes(http, files, concurrency=2)
    assert [f.expected_size_bytes for f in probed] == [None, None, 2048] and failed == 2
    assert http.requests_sent == 3


@responses.activate
def test_a_server_echoing_the_token_in_an_error_does_not_put_it_on_the_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    (tmp_path / ".env").write_text("MAST_API_TOKEN=s3cret-from-dotenv\n")
    responses.post(f"{TAP}/sync", body="kepid,kepoi_name,koi_disposition,ra,dec\n42,K00042.01,CONFIRMED,280.1,44.2\n")
    responses.post(f"{MAST}/api/v0/invoke", status=403, body="token s3cret-from-dotenv is not valid for this data")
    config = tmp_path / "c.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nendpoints:\n  mast: {MAST}\n  exoplanet_tap: {TAP}\n"
                      f"  mast_download: {MAST}/api/v0.1/Download/file\ncatalog:\n  rate_limit_delay: 0\n"
                      "  max_retries: 0\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "plan", "kepler", "--n", "1"])
    assert result.exit_code == 1 and "token *** is not valid" in result.output, result.output
    assert "s3cret" not in result.output
    assert responses.calls[1].request.headers["Cookie"] == "mast_token=s3cret-from-dotenv"  # it was sent


def test_archive_size_takes_only_plain_byte_counts():
    from ratdcs_catalog.sources.common import archive_size

    assert [archive_size(v) for v in (None, "", 0, "0", 2048, "2048", 2048.0)] == [None, None, None, None,
                                                                                   2048, 2048, 2048]
    assert [archive_size(v) for v in ("\u00b2", "-1", -1, 1e30, float("nan"), True, "12kB", [1])] == [False] * 8


SHARED_URI = "mast:KEPLER/url/missions/kepler/lightcurves/0000/000000042/kplr000000042-2009166043257_llc.fits"


def shared_uri_answer(request):
    service = json.loads(parse_qs(request.body)["request"][0])["service"]
    data = {"Mast.Caom.Filtered": [{"obsid": 9001, "target_name": "kplr000000042", "obs_collection": "Kepler"}],
            "Mast.Caom.Products": [product(GOOD, uri=SHARED_URI),
                                   product("kplr000000042-2009131105131_llc.fits", uri=SHARED_URI)]}[service]
    paging = {"page": 1, "pageSize": len(data), "pagesFiltered": 1, "rows": len(data), "rowsFiltered": len(data),
              "rowsTotal": len(data)}
    return 200, {}, json.dumps({"status": "COMPLETE", "msg": "", "fields": [], "data": data, "paging": paging})


def write_config(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nendpoints:\n  mast: {MAST}\n  exoplanet_tap: {TAP}\n"
                      f"  mast_download: {MAST}/api/v0.1/Download/file\ncatalog:\n  rate_limit_delay: 0\n")
    return config


@responses.activate
def test_two_products_sharing_one_url_keep_the_first_and_list_the_second(tmp_path):
    responses.post(f"{TAP}/sync", body="kepid,kepoi_name,koi_disposition,ra,dec\n42,K00042.01,CONFIRMED,280.1,44.2\n")
    responses.add_callback(responses.POST, f"{MAST}/api/v0/invoke", callback=shared_uri_answer)
    result = CliRunner().invoke(cli, ["--config", str(write_config(tmp_path)), "plan", "kepler", "--n", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])  # after the log's WARNING line
    (source,) = summary["sources"]
    assert (source["files"], source["new"]) == (1, 1)
    first = "kepler/kplr000000042-2009131105131_llc.fits"  # in file-name order, the first keeps the URL
    assert source["refused"] == [f"refused kepler/{GOOD}: its URL {MAST}/api/v0.1/Download/file?uri={SHARED_URI} "
                                 f"is already taken by {first} in this plan"]
    conn = sqlite3.connect(tmp_path / "data" / "manifest.sqlite")
    assert conn.execute("SELECT rel_path FROM files").fetchall() == [(first,)]


@responses.activate
def test_a_url_the_manifest_holds_under_another_destination_is_refused_not_a_crash(tmp_path):
    from ratdcs_catalog.manifest import open_manifest
    from ratdcs_catalog.records import PlannedFile

    config = write_config(tmp_path)
    url = f"{MAST}/api/v0.1/Download/file?uri={SHARED_URI}"
    with open_manifest(tmp_path / "data" / "manifest.sqlite") as m, m.transaction():
        m.upsert_targets([{"source": "kepler", "target_id": "42"}], None)
        m.upsert_files([PlannedFile("kepler", "42", "lc_long", url, "kepler/renamed_llc.fits")], None)
    responses.post(f"{TAP}/sync", body="kepid,kepoi_name,koi_disposition,ra,dec\n42,K00042.01,CONFIRMED,280.1,44.2\n")
    responses.add_callback(responses.POST, f"{MAST}/api/v0/invoke", callback=shared_uri_answer)
    result = CliRunner().invoke(cli, ["--config", str(config), "plan", "kepler", "--n", "1"])
    assert result.exit_code == 0, result.output
    first = "kepler/kplr000000042-2009131105131_llc.fits"  # keeps the URL within the plan, then meets the manifest
    assert f"kepler: refused: refused kepler/{GOOD}: its URL {url} is already taken by {first} in this plan\n" \
           f"kepler: refused: refused {first}: its URL {url} is already the manifest's kepler/renamed_llc.fits" \
           in result.output
    conn = sqlite3.connect(tmp_path / "data" / "manifest.sqlite")
    assert conn.execute("SELECT rel_path FROM files").fetchall() == [("kepler/renamed_llc.fits",)]
    assert "IntegrityError" not in result.output, result.output


@responses.activate
def test_a_failed_first_plan_leaves_no_manifest_behind(tmp_path, monkeypatch):
    from ratdcs_catalog.manifest import Manifest

    def full_disk(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Manifest, "upsert_files", full_disk)
    responses.post(f"{TAP}/sync", body="kepid,kepoi_name,koi_disposition,ra,dec\n42,K00042.01,CONFIRMED,280.1,44.2\n")
    responses.add_callback(responses.POST, f"{MAST}/api/v0/invoke", callback=shared_uri_answer)
    result = CliRunner().invoke(cli, ["--config", str(write_config(tmp_path)), "plan", "kepler", "--n", "1"])
    assert result.exit_code == 1 and "the disk is full" in result.output
    assert not list((tmp_path / "data").glob("manifest.sqlite*"))



def test_a_destination_another_product_of_the_plan_took_is_refused_and_listed():
    # Within one MAST answer a second row for the same file name is one file (files_from_mast);
    # across the sources of `plan all` two planners could still name one destination.
    from ratdcs_catalog.plan import _refuse_shared_places
    from ratdcs_catalog.records import PlannedFile
    from ratdcs_catalog.sources.common import SourcePlan, TargetPlan

    first = PlannedFile("kepler", "42", "lc_long", "https://a.test/1", "shared/x.fits")
    second = PlannedFile("tess", "7", "lc", "https://a.test/2", "shared/x.fits")
    plans = [SourcePlan("kepler", "q", [TargetPlan({}, [first])]), SourcePlan("tess", "q", [TargetPlan({}, [second])])]
    _refuse_shared_places(plans)
    assert [f for p in plans for t in p.targets for f in t.files] == [first]
    assert plans[1].refused == ["refused shared/x.fits: its destination shared/x.fits is already taken by "
                                "https://a.test/1 in this plan"]
