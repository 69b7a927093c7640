"""The sandbox's target pixel files and DV time series are real in shape, sized as listed, reproducible.

Layout checks are against the archives' own files where one is at hand (a real K2 pixel file in
../shared/realdata, skipped when absent) and against what lightkurve needs to read them.
"""

import gzip
import io
import warnings

import pytest
from astropy.io import fits

from shared_data import REALDATA, skip_without
from ratdcs_catalog.sandbox import Universe, dvt, pixels

KEPLER_COLUMNS = ["TIME", "TIMECORR", "CADENCENO", "RAW_CNTS", "FLUX", "FLUX_ERR", "FLUX_BKG", "FLUX_BKG_ERR",
                  "COSMIC_RAYS", "QUALITY", "POS_CORR1", "POS_CORR2"]
TESS_COLUMNS = [c for c in KEPLER_COLUMNS if c != "COSMIC_RAYS"]
TCE_COLUMNS = ["TIME", "TIMECORR", "CADENCENO", "PHASE", "LC_INIT", "LC_INIT_ERR", "LC_WHITE", "LC_DETREND",
               "MODEL_INIT", "MODEL_WHITE"]


def open_strict(body: bytes):
    """The FITS file in ``body`` (gunzipped if need be), failing on any bad checksum."""
    data = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy only warns on a bad checksum
        hdul = fits.open(io.BytesIO(data), checksum=True)
        [hdu.data for hdu in hdul]
    return hdul


def one(sandbox, mission, target, kind):
    return sandbox.universe.files_of_kind(mission, target, kind)[0]


@pytest.mark.parametrize("kind,shape", [("kepler_lpd", (9, 8)), ("kepler_spd", (14, 9)), ("k2_lpd", (8, 8)),
                                        ("k2_spd", (9, 11)), ("tess_tp", (11, 11)), ("tess_fast_tp", (13, 11))])
def test_pixel_file_size_formula_holds_for_many_row_counts(kind, shape):
    meta = pixels.placeholder_meta()
    meta["period"] = 27 if kind.startswith("tess") else 5
    for nrows in (8, 57, 1000):
        assert len(pixels.build_tpf(kind, meta, shape, nrows, seed=1)) == pixels.tpf_size(kind, shape, nrows)


@pytest.mark.parametrize("kind", ["kepler_dvt", "tess_dvt"])
def test_dv_file_size_formula_holds_for_many_row_counts_and_tces(kind):
    meta = dict(pixels.placeholder_meta(), period=14)
    for n_tces in (1, 3):
        for nrows in (8, 333):
            assert len(dvt.build_dvt(kind, meta, n_tces, nrows, seed=1)) == dvt.dvt_size(kind, n_tces, nrows)


def test_kepler_pixel_files_have_the_archive_layout_gzipped_without_name_or_time(sandbox):
    product = one(sandbox, "kepler", 11904151, "kepler_lpd")
    body = sandbox.file_bytes(product)
    assert len(body) == product.size and product.filename.endswith("_lpd-targ.fits.gz")
    assert body[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no FNAME flag, mtime 0
    hdul = open_strict(body)
    assert [h.name for h in hdul] == ["PRIMARY", "TARGETTABLES", "APERTURE"]
    head = hdul[0].header
    assert (head["TELESCOP"], head["ORIGIN"], head["KEPLERID"], head["QUARTER"]) == \
        ("Kepler", "NASA/Ames", 11904151, product.period)
    assert "TargetPixelExporter" in head["CREATOR"] and head["OBJECT"] == "KIC 11904151"
    assert (head["RA_OBJ"], head["DEC_OBJ"]) == (285.679391, 50.2413)
    table = hdul[1]
    assert table.columns.names == KEPLER_COLUMNS + ["RB_LEVEL"]
    assert (table.header["TFORM5"], table.header["TDIM5"]) == ("72E", "(8,9)")  # Kepler-10: 9 rows, 8 columns
    assert table.data["FLUX"].shape == (product.extra["rows"], 9, 8)
    assert table.header["1CTYP5"] == "RA---TAN" and table.header["BJDREFI"] == 2454833
    assert hdul[2].data.dtype.kind == "i" and hdul[2].data.shape == (9, 8)
    assert all("CHECKSUM" in h.header and "DATASUM" in h.header for h in hdul)


REAL_K2_TPF = REALDATA / "ktwo200071160-test-tpf-with-nans.fits"


@skip_without(REAL_K2_TPF)
def test_k2_pixel_files_use_only_keywords_and_columns_a_real_k2_pixel_file_has(sandbox):
    real_path = REAL_K2_TPF
    product = one(sandbox, "k2", 228725972, "k2_lpd")
    ours = open_strict(sandbox.file_bytes(product))
    with fits.open(real_path) as real:
        for mine, theirs in zip(ours, real):
            assert mine.name == theirs.name
            assert set(mine.header) - set(theirs.header) == set(), mine.name
        real_columns = [(c.name, c.format[-1], c.unit) for c in real[1].columns][:12]  # RB_LEVEL: trimmed, 0E
        assert [(c.name, c.format[-1], c.unit) for c in ours[1].columns] == real_columns
    assert ours[0].header["CAMPAIGN"] == 10 and ours[0].header["MISSION"] == "K2"


def test_tess_pixel_files_have_pixels_aperture_and_cosmic_ray_tables(sandbox):
    u = sandbox.universe
    product = one(sandbox, "tess", 441420236, "tess_tp")
    hdul = open_strict(sandbox.file_bytes(product))
    assert [h.name for h in hdul] == ["PRIMARY", "PIXELS", "APERTURE", "TARGET COSMIC RAY"]
    head = hdul[0].header
    assert (head["TELESCOP"], head["TICID"], head["SECTOR"]) == ("TESS", 441420236, 1)
    assert {"CAMERA", "CCD", "RA_OBJ", "DEC_OBJ"} <= set(head) and "TargetPixelExporter" in head["CREATOR"]
    assert hdul[1].columns.names == TESS_COLUMNS
    assert hdul[1].data["FLUX"].shape == (u.tess_products(441420236)[0].nrows, 13, 11) == \
        (product.extra["rows"],) + u.stamp("tess", 441420236)
    assert len(hdul[3].data) == 0  # 120 s: cosmic rays mitigated on board
    fast = one(sandbox, "tess", 441420236, "tess_fast_tp")
    fast_hdul = open_strict(sandbox.file_bytes(fast))
    assert len(fast_hdul[3].data) == fast.extra["rows"] // 4
    assert fast_hdul[3].columns.names == ["TIME", "CADENCENO", "RAWX", "RAWY", "COSMIC_RAY"]


def test_dv_time_series_have_one_table_per_tce_and_the_statistics(sandbox):
    u = sandbox.universe
    product = one(sandbox, "tess", 441420236, "tess_dvt")
    hdul = open_strict(sandbox.file_bytes(product))
    assert [h.name for h in hdul] == ["PRIMARY", "TCE_1", "TCE_2", "STATISTICS"]
    assert (hdul[0].header["NUMTCES"], hdul[0].header["TICID"], hdul[0].header["SECTOR"]) == (2, 441420236, 1)
    assert hdul[1].columns.names == TCE_COLUMNS
    assert [c.format for c in hdul[1].columns] == ["D", "E", "J"] + ["E"] * 7
    assert len(hdul[1].data) == u.tess_products(441420236)[0].nrows
    period = next(t["pl_orbper"] for t in u.tois if t["tid"] == 441420236)
    assert hdul[1].header["TPERIOD"] == period
    assert {"PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "DEWEIGHTS", "QUALITY"} <= set(hdul[3].columns.names)
    kepler = open_strict(sandbox.file_bytes(one(sandbox, "kepler", 11904151, "kepler_dvt")))
    n_kois = sum(1 for k in u.kois if k["kepid"] == 11904151)
    assert kepler[0].header["NUMTCES"] == n_kois and len(kepler) == n_kois + 2
    assert len(kepler[1].data) == sum(p.nrows for p in u.kepler_products(11904151))


def test_pixel_files_download_at_their_listed_size_and_resume_byte_for_byte(sandbox):
    import requests

    product = one(sandbox, "tess", 441420236, "tess_tp")
    url = f"{sandbox.endpoints()['mast_download']}?uri={product.data_uri}"
    whole = requests.get(url, timeout=30).content
    assert len(whole) == product.size and whole == sandbox.file_bytes(product)
    tail = requests.get(url, headers={"Range": "bytes=100000-"}, timeout=30)
    assert tail.status_code == 206 and tail.content == whole[100000:]


def test_same_name_same_bytes_and_a_replaced_pixel_file_keeps_its_size():
    from ratdcs_catalog.sandbox import Sandbox

    first, second = Sandbox(seed=3, scale=0.02), Sandbox(seed=3, scale=0.02)
    for kind in ("kepler_lpd", "tess_tp"):
        mission = kind.split("_")[0]
        target = first.universe.confirmed_kepler_hosts()[0] if mission == "kepler" else first.universe.toi_hosts()[0]
        product = first.universe.files_of_kind(mission, target, kind)[0]
        body = first.file_bytes(product)
        assert body == second.file_bytes(product)
        replaced = first.file_bytes(product, version=1)
        assert len(replaced) == len(body) and replaced != body
        open_strict(replaced)


def test_the_universe_names_every_pixel_and_dv_file(sandbox):
    u = sandbox.universe
    tpfs = u.kepler_tpf_files(11904151)
    assert sorted(tpfs) == list(u.kepler_quarters(11904151))
    assert tpfs[4] == ["kplr011904151-2010009091648_lpd-targ.fits.gz"]
    assert len(u.kepler_tpf_files(11904151, "short")[3]) == 3  # one a month
    assert u.k2_tpf_files(228725972) == {10: ["ktwo228725972-c101_lpd-targ.fits.gz",
                                              "ktwo228725972-c102_lpd-targ.fits.gz"]}
    assert u.tess_tpf_files(441420236) == {1: "tess2018206045859-s0001-0000000441420236-0120-s_tp.fits",
                                           27: "tess2020186164531-s0027-0000000441420236-0189-s_tp.fits"}
    assert u.tess_tpf_files(441420236, "20s") == {27: "tess2020186164531-s0027-0000000441420236-0189-a_fast-tp.fits"}
    assert u.tess_dvt_files(441420236)[27] == "tess2020187183116-s0027-s0027-0000000441420236-00362_dvt.fits"
    assert u.kepler_dvt_file(11904151) == "kplr011904151-20160128150956_dvt.fits"
    assert u.stamp("tess", 441420236) == (13, 11) and u.stamp("kepler", 11904151) == (9, 8)


def test_full_scale_pixel_files_are_near_the_recorded_sizes_and_a_tess_plan_is_tens_of_gb():
    u = Universe(42, 1.0)
    au_mic = {p.kind: p.size for p in u.files_of_kind("tess", 441420236, "tess_tp", "tess_fast_tp")
              if p.period == 27}
    assert abs(au_mic["tess_tp"] / 50_711_040 - 1) < 0.1 and abs(au_mic["tess_fast_tp"] / 304_773_120 - 1) < 0.1
    q0 = next(p for p in u.files_of_kind("kepler", 11904151, "kepler_lpd") if p.period == 0)
    assert abs(q0.size / 902_820 - 1) < 0.1
    total = sum(p.size for tid in u.toi_hosts()[:150] for p in u.files_of_kind("tess", tid, "tess_lc", "tess_tp"))
    assert 20e9 < total < 40e9  # docs/sandbox.md gives the figure: 28.05 GB at seed 42


def test_lightkurve_reads_every_kind_of_pixel_file(sandbox, tmp_path):
    lk = pytest.importorskip("lightkurve")
    cases = [(one(sandbox, "kepler", 11904151, "kepler_lpd"), "KeplerTargetPixelFile"),
             (one(sandbox, "k2", 228725972, "k2_lpd"), "KeplerTargetPixelFile"),
             (one(sandbox, "tess", 441420236, "tess_tp"), "TessTargetPixelFile"),
             (one(sandbox, "tess", 441420236, "tess_fast_tp"), "TessTargetPixelFile")]
    for product, expected in cases:
        path = tmp_path / product.filename
        path.write_bytes(sandbox.file_bytes(product))
        tpf = lk.read(str(path))
        assert type(tpf).__name__ == expected, product.filename
        assert tpf.shape == (product.extra["rows"],) + tuple(product.extra["shape"])
        assert tpf.targetid == product.target_id and tpf.pipeline_mask.sum() > 0
        light_curve = tpf.to_lightcurve(aperture_mask="pipeline")
        assert len(light_curve) > 0 and float(abs(light_curve.flux.value[0])) > 0
    cutout = sandbox.tesscut_cutout(tid=441420236, sector=27, size=(7, 5))
    path = tmp_path / cutout.member
    path.write_bytes(cutout.fits)
    tpf = lk.read(str(path))
    assert type(tpf).__name__ == "TessTargetPixelFile" and tpf.shape[1:] == (7, 5) and tpf.sector == 27
