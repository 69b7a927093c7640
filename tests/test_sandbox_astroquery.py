"""Stock astroquery pointed at the sandbox gets answers of the real shapes.

astroquery builds its MAST URLs as class attributes at import (docs/archive-facts.md section 1), so the
test sets them on the connection objects; the Exoplanet Archive client reads conf.url_tap.
"""

import importlib.resources
import json
import warnings

import pytest
from astropy.io import ascii

from ratdcs_catalog.sandbox import schemas
from ratdcs_catalog.sandbox.mast import TIC_FIELDS


@pytest.fixture
def mast(sandbox, monkeypatch):
    from astroquery.mast import Catalogs, Observations
    from astroquery.mast.discovery_portal import PortalAPI

    base = sandbox.base_url
    monkeypatch.setattr(PortalAPI, "_column_configs", {})
    for api in (Observations._portal_api_connection, Catalogs._portal_api_connection):
        monkeypatch.setattr(api, "MAST_REQUEST_URL", base + "/api/v0/invoke")
        monkeypatch.setattr(api, "COLUMNS_CONFIG_URL", base + "/portal/Mashup/Mashup.asmx/columnsconfig")
        monkeypatch.setattr(api, "MAST_DOWNLOAD_URL", base + "/api/v0.1/Download/file")
    return Observations, Catalogs


def test_observations_products_and_download(sandbox, mast, tmp_path):
    observations, _ = mast
    u = sandbox.universe
    kics = u.confirmed_kepler_hosts()[:2]
    obs = observations.query_criteria(obs_collection="Kepler", dataproduct_type="timeseries",
                                      target_name=[f"kplr{k:09d}" for k in kics])
    assert sorted(obs["target_name"]) == sorted(f"kplr{k:09d}" for k in kics)
    products = observations.get_product_list(obs)
    llc = products[products["productSubGroupDescription"] == "LLC"]
    assert len(llc) == sum(len(u.kepler_quarters(k)) for k in kics)
    manifest = observations.download_products(llc[:2], download_dir=str(tmp_path))
    assert list(manifest["Status"]) == ["COMPLETE", "COMPLETE"]
    for row, path in zip(llc[:2], manifest["Local Path"]):
        assert open(path, "rb").read() == sandbox.file_bytes(u.product_by_uri(row["dataURI"]))


def test_astroquery_pages_gets_recorded_uris_and_integer_ids_and_downloads_by_subgroup(sandbox, mast, tmp_path):
    """Kepler-10 as lightkurve asks for it: astroquery's own small pages, the product list with its
    target pixel files, DV file, preview and tarball, and download_products filtered to LLC."""
    import requests
    from urllib.parse import quote

    observations, _ = mast
    obs = observations.query_criteria(obs_collection="Kepler", target_name="kplr011904151", pagesize=1)
    filtered = [r for r in sandbox.requests if r.service == "Mast.Caom.Filtered"]
    assert len(filtered) == 2  # one page a row: astroquery walked pagesFiltered
    assert list(obs["obs_id"]) == ["kplr011904151_lc_Q111111110111011101", "kplr011904151_sc_Q001313330333033302"]
    # The JSON carries integers; astroquery types the column as `fields` says (string), as with MAST.
    request = {"service": "Mast.Caom.Filtered", "format": "json", "params": {"columns": "*", "filters": [
        {"paramName": "target_name", "values": ["kplr011904151"]}]}}
    raw = requests.post(sandbox.base_url + "/api/v0/invoke", data="request=" + quote(json.dumps(request)),
                        headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10).json()
    assert [r["obsid"] for r in raw["data"]] == [int(x) for x in obs["obsid"]]
    assert all(type(r["obsid"]) is int for r in raw["data"])
    products = observations.get_product_list(obs[:1])
    assert {str(x) for x in products["productSubGroupDescription"]} == {"LLC", "LPD-TARG", "--"}
    assert all(str(x) == str(obs["obsid"][0]) for x in products["obsID"])
    manifest = observations.download_products(products, download_dir=str(tmp_path), mrp_only=False,
                                              productSubGroupDescription="LLC")
    u = sandbox.universe
    assert sorted(p.rsplit("/", 1)[1] for p in manifest["Local Path"]) == \
        sorted(u.kepler_quarter_files(11904151).values())
    assert set(manifest["Status"]) == {"COMPLETE"}
    llc = products[products["productSubGroupDescription"] == "LLC"]
    assert all(uri.startswith("mast:KEPLER/url/missions/kepler/lightcurves/0119/011904151/") for uri in llc["dataURI"])
    q4 = llc[llc["description"] == "Lightcurve Long Cadence (CLC) - Q4"]
    assert list(q4["productFilename"]) == ["kplr011904151-2010009091648_llc.fits"]
    path = next(p for p in manifest["Local Path"] if p.endswith("2010009091648_llc.fits"))
    assert open(path, "rb").read() == sandbox.file_bytes(u.product_by_uri(q4["dataURI"][0]))


def test_tic_criteria_query(sandbox, mast):
    _, catalogs = mast
    tids = sandbox.universe.toi_hosts()[:3]
    table = catalogs.query_criteria(catalog="Tic", ID=[str(t) for t in tids])
    assert sorted(int(x) for x in table["ID"]) == sorted(tids)
    assert {"ra", "dec", "Tmag", "Teff", "logg", "rad", "mass", "d", "MH"} <= set(table.colnames)


def test_exoplanet_archive_criteria_query(sandbox):
    from astroquery.ipac.nexsci.nasa_exoplanet_archive import NasaExoplanetArchiveClass, conf

    client = NasaExoplanetArchiveClass()
    client.URL_TAP = sandbox.base_url + "/TAP/"
    with conf.set_temp("url_tap", sandbox.base_url + "/TAP/"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = client.query_criteria(table="toi", select="tid,toi,tfopwg_disp",
                                      where="tfopwg_disp = 'CP'", order="toi")
    expected = [r["toi"] for r in sandbox.universe.tois if r["tfopwg_disp"] == "CP"]
    assert [float(x) for x in table["toi"]] == sorted(expected)
    assert any(r.path == "/TAP//sync" for r in sandbox.requests)


def _mast_data(name):
    return json.loads((importlib.resources.files("astroquery.mast.tests") / "data" / name).read_text())


def _nea_columns(name):
    text = (importlib.resources.files("astroquery.ipac.nexsci.nasa_exoplanet_archive.tests")
            / "data" / name).read_text()
    return ascii.read(text, format="ipac", fast_reader=False).colnames


def test_recorded_real_answers_have_the_column_sets_the_sandbox_serves():
    recorded_tic = [f["name"] for f in _mast_data("tic.json")["fields"]]
    assert recorded_tic == [name for name, _ in TIC_FIELDS]
    assert _nea_columns("cumulative_expect_0.txt") == [c.split(":")[0] for c in schemas.CUMULATIVE_COLUMNS]
    assert _nea_columns("toi_expect_0.txt") == [c.split(":")[0] for c in schemas.TOI_COLUMNS]
    # CAOM and product answers gained columns since the recording: the sandbox serves every
    # recorded column plus exactly the newer ones listed here.
    served_caom = {name for name, _ in schemas.CAOM_FIELDS}
    recorded_caom = {f["name"] for f in _mast_data("advSearch.json")["fields"]}
    assert served_caom - recorded_caom == {"intentType", "provenance_name", "proposal_type",
                                           "sequence_number", "dataRights", "mtFlag", "srcDen"}
    assert recorded_caom <= served_caom
    served_products = {name for name, _ in schemas.PRODUCT_FIELDS}
    recorded_products = {f["name"] for f in _mast_data("products.json")["fields"]} - {"_selected_"}
    assert served_products - recorded_products == {"proposal_id", "parent_obsid", "dataRights",
                                                   "calib_level", "filters"}
    assert recorded_products <= served_products


def test_recorded_answer_shapes_match_the_sandbox_answer_shapes(sandbox, mast):
    import requests
    from urllib.parse import quote

    recorded = _mast_data("products.json")
    request = {"service": "Mast.Caom.Products", "params": {"obsid": "9000000000"}, "format": "json"}
    served = requests.post(sandbox.base_url + "/api/v0/invoke", data="request=" + quote(json.dumps(request)),
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10).json()
    assert set(served) == set(recorded)
    assert set(served["paging"]) == set(recorded["paging"])


def test_region_query_uses_the_cone_service(sandbox, mast):
    from astropy.coordinates import SkyCoord

    observations, _ = mast
    star = sandbox.universe.tic_params(sandbox.universe.toi_hosts()[0])
    table = observations.query_region(SkyCoord(star["ra"], star["dec"], unit="deg"), radius="0.001 deg")
    assert str(star["ID"]) in {str(x) for x in table["target_name"]}


def test_astroquery_polls_executing_and_raises_errors_with_their_message(sandbox, mast):
    from astroquery.exceptions import RemoteServiceError

    from ratdcs_catalog.sandbox import Fault

    observations, _ = mast
    sandbox.add_fault(Fault("mast_executing", pattern="Mast.Caom.Filtered", count=2))
    table = observations.query_criteria(obs_collection="K2", target_name="ktwo228725972")
    assert list(table["obs_id"]) == ["ktwo228725972-c10_lc"]
    assert [r.fault for r in sandbox.requests if r.service == "Mast.Caom.Filtered"] == ["mast_executing"] * 2 + [None]
    sandbox.add_fault(Fault("mast_error", pattern="Mast.Caom.Filtered", count=1, msg="Timeout limit of 600 exceeded"))
    with pytest.raises(RemoteServiceError, match="Timeout limit of 600 exceeded"):
        observations.query_criteria(obs_collection="K2", target_name="ktwo228725972")
