"""TESScut in the sandbox: the sector search and the cutout zips, as astroquery's Tesscut reads them,
with their faults (the hostile zips included) in the request log."""

import io
import json
import re
import warnings
import zipfile

import pytest
import requests
from astropy.io import fits

from ratdcs_catalog.sandbox import Fault
from shared_data import REPLAY_DATA

AU_MIC = 441420236
ASTROCUT_COLUMNS = ["TIME", "TIMECORR", "CADENCENO", "RAW_CNTS", "FLUX", "FLUX_ERR", "FLUX_BKG", "FLUX_BKG_ERR",
                    "QUALITY", "POS_CORR1", "POS_CORR2", "FFI_FILE"]


def tesscut(sandbox, service, method="GET", **params):
    url = f"{sandbox.endpoints()['tesscut']}/{service}"
    if method == "POST":
        return requests.post(url, data=params, timeout=30)
    return requests.get(url, params=params, timeout=30)


def members(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_sector_search_answers_the_stars_sectors_as_tesscut_spells_them(sandbox):
    u = sandbox.universe
    star = u.tic[AU_MIC]
    answer = tesscut(sandbox, "sector", ra=star["ra"], dec=star["dec"], radius="0")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    results = answer.json()["results"]
    assert [int(r["sector"]) for r in results] == list(u.tess_cutout_sectors(AU_MIC)) == [1, 27]
    assert results[0] == {"sectorName": "tess-s0001-1-4", "sector": "0001", "camera": "1", "ccd": "4"}
    assert results == u.tesscut_sectors(star["ra"], star["dec"])
    posted = tesscut(sandbox, "sector", method="POST", ra=star["ra"], dec=star["dec"], radius="2 arcmin")
    assert posted.json() == answer.json()  # astroquery 0.4.11 POSTs a form
    assert [(r.method, r.service, r.status) for r in sandbox.requests] == \
        [("GET", "tesscut.sector", 200), ("POST", "tesscut.sector", 200)]


def test_other_positions_get_drawn_sectors_reproducibly_and_some_none(sandbox):
    from ratdcs_catalog.sandbox import Universe

    u, again = sandbox.universe, Universe(42, 0.05)
    drawn = [u.tesscut_sectors(ra, 10.0) for ra in range(0, 360, 9)]
    assert drawn == [again.tesscut_sectors(ra, 10.0) for ra in range(0, 360, 9)]
    assert any(drawn) and all(r["sectorName"] == f"tess-s{r['sector']}-{r['camera']}-{r['ccd']}"
                              for rows in drawn for r in rows)
    empty = next((ra, dec) for ra in range(360) for dec in (-40, 40) if not u.tesscut_sectors(ra, dec))
    assert tesscut(sandbox, "sector", ra=empty[0], dec=empty[1]).json() == {"results": []}
    assert tesscut(sandbox, "astrocut", ra=empty[0], dec=empty[1], x=3, y=3).json()["msg"].startswith("No TESS data")


@pytest.mark.skipif(not (REPLAY_DATA / "tesscut_sector_pimen_results_excerpt.json").exists(),
                    reason="../shared/replay_data is absent")
def test_sector_rows_have_the_recorded_keys_types_and_name_form():
    recorded = json.loads((REPLAY_DATA / "tesscut_sector_pimen_results_excerpt.json").read_text())["results"]
    from ratdcs_catalog.sandbox import Universe

    u = Universe(42, 0.05)
    ours = [row for tid in u.toi_hosts()[:20] for row in u.tesscut_sectors(u.tic[tid]["ra"], u.tic[tid]["dec"])]
    for row in ours + recorded:
        assert list(row) == list(recorded[0]) and all(isinstance(v, str) for v in row.values())
        assert re.fullmatch(r"tess-s(\d{4})-([1-4])-([1-4])", row["sectorName"]).groups() == \
            (row["sector"], row["camera"], row["ccd"])


def test_bad_requests_answer_400_with_a_message(sandbox):
    for service, params in (("sector", {"ra": "x", "dec": 1}), ("sector", {"ra": 1, "dec": 1, "radius": "far"}),
                            ("astrocut", {"ra": 1, "dec": 95, "x": 3, "y": 3}),
                            ("astrocut", {"ra": 1, "dec": 1, "x": 500, "y": 3}),
                            ("astrocut", {"ra": 1, "dec": 1, "x": 3, "y": 3, "units": "furlong"})):
        answer = tesscut(sandbox, service, **params)
        assert answer.status_code == 400 and answer.json()["msg"], params


def test_astrocut_answers_a_zip_of_one_astrocut_shaped_cutout(sandbox):
    u = sandbox.universe
    star = u.tic[AU_MIC]
    cutout = sandbox.tesscut_cutout(tid=AU_MIC, sector=27, size=(7, 5))
    assert cutout.zip_name == "astrocut_311.289718_-31.340900_5x7px.zip"
    assert cutout.member == "tess-s0027-1-4_311.289718_-31.340900_5x7_astrocut.fits"
    answer = tesscut(sandbox, "astrocut", ra=star["ra"], dec=star["dec"], y=7, x=5, units="px", sector=27)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/zip"
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{cutout.zip_name}"'
    assert answer.content == cutout.body and members(answer.content) == {cutout.member: cutout.fits}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hdul = fits.open(io.BytesIO(cutout.fits), checksum=True)
        [h.data for h in hdul]
    assert [h.name for h in hdul] == ["PRIMARY", "PIXELS", "APERTURE"]
    head = hdul[0].header
    assert (head["ORIGIN"], head["CREATOR"], head["SECTOR"], head["CAMERA"], head["CCD"]) == \
        ("STScI/MAST", "astrocut", 27, 1, 4)
    assert hdul[1].columns.names == ASTROCUT_COLUMNS and hdul[1].header["TDIM5"] == "(5,7)"
    assert len(hdul[1].data) == u.tesscut_rows(27) and set(hdul[1].data["RAW_CNTS"].ravel()) == {-1}
    assert hdul[1].data["FFI_FILE"][0].startswith("tess2020") and "-s0027-1-4-" in hdul[1].data["FFI_FILE"][0]
    assert "CTYPE1" in hdul[2].header and hdul[2].data.shape == (7, 5)
    assert tesscut(sandbox, "astrocut", ra=star["ra"], dec=star["dec"], y=7, x=5, sector=27).content == cutout.body


def test_cutout_size_follows_its_pixels_and_the_sectors_ffi_cadence(sandbox):
    u = sandbox.universe
    assert (u.tesscut_rows(1), u.tesscut_rows(27), u.tesscut_rows(60)) == (64, 193, 579)  # 30 min, 10 min, 200 s
    ra, dec = next((ra, -60.0) for ra in range(0, 360, 7) if {1, 60} <= _sectors_at(u, ra, -60.0))
    for sector in (1, 60):
        for y, x in ((5, 5), (10, 8)):
            cutout = sandbox.tesscut_cutout(ra=ra, dec=dec, sector=sector, size=(y, x))
            table = fits.getheader(io.BytesIO(cutout.fits), 1)
            assert (table["NAXIS2"], table["TFORM5"]) == (u.tesscut_rows(sector), f"{y * x}E")
            # 5 image columns of 4 bytes a pixel; TIME, TIMECORR, ..., POS_CORR2: 28 bytes; FFI_FILE 44
            assert table["NAXIS1"] == 20 * y * x + 28 + 44
    with pytest.raises(ValueError, match="no TESS sector"):
        sandbox.tesscut_cutout(tid=AU_MIC, sector=2)


def _sectors_at(universe, ra, dec):
    return {int(row["sector"]) for row in universe.tesscut_sectors(ra, dec)}


def test_without_a_sector_every_covering_sector_comes_in_the_zip(sandbox):
    star = sandbox.universe.tic[AU_MIC]
    answer = tesscut(sandbox, "astrocut", ra=star["ra"], dec=star["dec"], y=3, x=3)
    assert sorted(members(answer.content)) == [f"tess-s{s:04d}-1-4_311.289718_-31.340900_3x3_astrocut.fits"
                                               for s in (1, 27)]
    assert tesscut(sandbox, "astrocut", ra=star["ra"], dec=star["dec"], y=3, x=3, sector=2).json()["msg"]


def test_hostile_zips_and_other_faults_fire_on_cutouts_and_are_logged(sandbox):
    star = sandbox.universe.tic[AU_MIC]
    cutout = sandbox.tesscut_cutout(tid=AU_MIC, sector=27, size=(3, 3))
    ask = {"ra": star["ra"], "dec": star["dec"], "y": 3, "x": 3, "sector": 27}
    sandbox.add_fault(Fault("zip_slip", pattern="astrocut", count=1))
    sandbox.add_fault(Fault("zip_many", pattern="astrocut", count=1))
    sandbox.add_fault(Fault("503", pattern=r"tesscut/api/v0\.1/astrocut", count=1, retry_after=1))
    assert members(tesscut(sandbox, "astrocut", **ask).content) == {"../../evil.fits": cutout.fits}
    many = members(tesscut(sandbox, "astrocut", **ask).content)
    assert len(many) == 2 and many[cutout.member] == cutout.fits
    assert tesscut(sandbox, "astrocut", **ask).status_code == 503
    assert tesscut(sandbox, "astrocut", **ask).content == cutout.body
    sandbox.add_fault(Fault("zip_slip", pattern="sector"))  # JSON answers are not zips: never hostile zips
    assert tesscut(sandbox, "sector", ra=star["ra"], dec=star["dec"]).json()["results"]
    log = [(r.service, r.fault, r.status) for r in sandbox.requests]
    assert log == [("tesscut.astrocut", "zip_slip", 200), ("tesscut.astrocut", "zip_many", 200),
                   ("tesscut.astrocut", "503", 503), ("tesscut.astrocut", None, 200), ("tesscut.sector", None, 200)]


def test_a_cutout_download_resumes_with_range(sandbox):
    cutout = sandbox.tesscut_cutout(tid=AU_MIC, sector=1, size=(4, 4))
    url = sandbox.base_url + cutout.path
    head = requests.head(url, timeout=30)
    assert int(head.headers["Content-Length"]) == len(cutout.body) and head.headers["Accept-Ranges"] == "bytes"
    tail = requests.get(url, headers={"Range": "bytes=1000-", "If-Range": head.headers["ETag"]}, timeout=30)
    assert tail.status_code == 206 and tail.content == cutout.body[1000:]


def test_stock_astroquery_tesscut_runs_against_the_sandbox(sandbox, monkeypatch, tmp_path):
    from astropy.coordinates import SkyCoord
    from astroquery.mast import Tesscut

    # astroquery builds TESScut's URL from conf.server when it is imported; point it here.
    monkeypatch.setattr(Tesscut._service_api_connection, "REQUEST_URL", sandbox.endpoints()["tesscut"] + "/")
    star = sandbox.universe.tic[AU_MIC]
    where = SkyCoord(star["ra"], star["dec"], unit="deg")
    sectors = Tesscut.get_sectors(coordinates=where)
    assert list(sectors["sector"]) == [1, 27] and list(sectors["sectorName"]) == ["tess-s0001-1-4", "tess-s0027-1-4"]
    table = Tesscut.download_cutouts(coordinates=where, size=(7, 5), sector=27, path=str(tmp_path))
    cutout = sandbox.tesscut_cutout(tid=AU_MIC, sector=27, size=(7, 5))
    assert [p.rsplit("/", 1)[1] for p in table["Local Path"]] == [cutout.member]
    assert (tmp_path / cutout.member).read_bytes() == cutout.fits
    [hdul] = Tesscut.get_cutouts(coordinates=where, size=3, sector=1)
    assert hdul[1].data["FLUX"].shape == (sandbox.universe.tesscut_rows(1), 3, 3)
