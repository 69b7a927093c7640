"""The sandbox universe: deterministic, realistic in shape, and true about file sizes."""

import io
import warnings

import pytest
from astropy.io import fits

from ratdcs_catalog.sandbox import Universe, fitsgen


def test_same_seed_same_universe_and_other_seed_differs():
    first, again, other = Universe(7, 0.05), Universe(7, 0.05), Universe(8, 0.05)
    assert first.kois == again.kois
    assert first.ztf_exposures == again.ztf_exposures
    assert first.kois != other.kois


def test_catalog_sizes_and_shares_look_like_the_archives(sandbox_archive):
    u = sandbox_archive.universe
    assert 2000 <= len(u.kois) <= 6000
    confirmed = sum(r["koi_disposition"] == "CONFIRMED" for r in u.kois) / len(u.kois)
    assert 0.2 < confirmed < 0.4
    assert [r["kepoi_name"] for r in u.kois] == sorted(r["kepoi_name"] for r in u.kois)
    assert {r["tfopwg_disp"] for r in u.tois} == {"PC", "CP", "KP", "APC", "FP", "FA"}
    assert all(set(u.kepler_quarters(k)) <= set(range(18)) for k in u.kepler_stars)
    assert all(1 <= s <= 83 for t in u.tess_stars for s in u.tess_sectors(t))
    assert {r["filtercode"] for r in u.ztf_exposures} == {"zg", "zr", "zi"}
    assert 2458197 < u.ztf_exposures[0]["obsjd"] < u.ztf_exposures[-1]["obsjd"] < 2461042


def test_confirmed_hosts_are_unique_in_cumulative_order(sandbox_archive):
    u = sandbox_archive.universe
    hosts = u.confirmed_kepler_hosts()
    assert len(hosts) == len(set(hosts))
    first_seen = [r["kepid"] for r in u.kois if r["koi_disposition"] == "CONFIRMED"]
    assert hosts == list(dict.fromkeys(first_seen))


def test_product_names_follow_the_archive_layout(sandbox_archive):
    u = sandbox_archive.universe
    kic = u.confirmed_kepler_hosts()[0]
    product = u.kepler_products(kic)[0]
    kic9 = f"{kic:09d}"
    assert product.filename.startswith(f"kplr{kic9}-") and product.filename.endswith("_llc.fits")
    assert product.data_uri == f"mast:KEPLER/url/missions/kepler/lightcurves/{kic9[:4]}/{kic9}/{product.filename}"
    tid = u.toi_hosts()[0]
    tess = u.tess_products(tid)[0]
    assert tess.data_uri == f"mast:TESS/product/{tess.filename}"
    assert f"-{tid:016d}-" in tess.filename and tess.filename.endswith("-s_lc.fits")
    assert u.product_by_uri(product.data_uri) == product
    assert u.size_of(tess.path) == tess.size


def _products(u):
    kic = u.confirmed_kepler_hosts()[0]
    slc_star = next(k for k, s in u.kepler_stars.items() if s["slc_quarters"])
    fast_star = next(t for t, s in u.tess_stars.items() if s["fast_sectors"])
    k2_slc_host = next(e for e, h in u.k2_hosts.items() if h["slc_campaigns"])
    return [u.kepler_products(kic)[0], u.kepler_products(slc_star, "short")[0],
            u.k2_products(next(iter(u.k2_hosts)))[0], u.k2_products(k2_slc_host, "short")[0],
            u.tess_products(u.toi_hosts()[0])[0],
            u.tess_products(fast_star, "20s")[0], u.ztf_product(u.ztf_rows(fields=[600])[0])]


def test_product_size_is_the_exact_byte_count_served(sandbox_archive):
    for product in _products(sandbox_archive.universe):
        assert len(sandbox_archive.file_bytes(product)) == product.size, product.filename


def test_generated_files_open_with_valid_checksums_and_real_keywords(sandbox_archive):
    u = sandbox_archive.universe
    for product in _products(u):
        body = sandbox_archive.file_bytes(product)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # astropy warns (not raises) on a bad checksum
            with fits.open(io.BytesIO(body), checksum=True) as hdul:
                for hdu in hdul:
                    assert "CHECKSUM" in hdu.header and "DATASUM" in hdu.header
                    hdu.data  # noqa: B018 - reading the data checks DATASUM
                header = hdul[0].header
                if product.kind == "ztf_sci":
                    assert hdul[0].data.shape == fitsgen.ztf_shape(u.scale)
                    assert header["FIELDID"] == 600
                    continue
                assert [h.name for h in hdul] == ["PRIMARY", "LIGHTCURVE", "APERTURE"]
                assert header["ORIGIN"] == "NASA/Ames"
                assert {"RA_OBJ", "DEC_OBJ", "TELESCOP", "CREATOR", "OBJECT"} <= set(header)
                table = hdul[1].data
                assert len(table) == product.nrows
                assert {"TIME", "SAP_FLUX", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR",
                        "MOM_CENTR1", "POS_CORR1"} <= set(table.columns.names)
                assert (table["PDCSAP_FLUX"] != table["PDCSAP_FLUX"]).any()  # NaN gaps


def test_kepler_and_tess_headers_name_the_target():
    u = Universe(42, 0.02)
    kic = u.confirmed_kepler_hosts()[0]
    product = u.kepler_products(kic)[0]
    body = fitsgen.build_lightcurve(product.kind, fitsgen.lightcurve_meta(u, product), product.nrows, 42)
    header = fits.getheader(io.BytesIO(body))
    assert (header["TELESCOP"], header["KEPLERID"], header["QUARTER"]) == ("Kepler", kic, product.period)
    assert header["OBJECT"] == f"KIC {kic}"
    tid = u.toi_hosts()[0]
    tess = u.tess_products(tid)[0]
    body = fitsgen.build_lightcurve(tess.kind, fitsgen.lightcurve_meta(u, tess), tess.nrows, 42)
    header = fits.getheader(io.BytesIO(body))
    assert (header["TELESCOP"], header["TICID"], header["SECTOR"]) == ("TESS", tid, tess.period)
    assert {"CAMERA", "CCD"} <= set(header)


def test_full_scale_files_are_real_size():
    assert fitsgen.lightcurve_rows("kepler_llc", 3, 1.0) == 4370
    assert fitsgen.lightcurve_rows("tess_lc", 1, 1.0) == 20076
    assert fitsgen.ztf_shape(1.0) == (3080, 3072)
    # One real-size Kepler quarter is built and measured (about 0.45 MB).
    u = Universe(42, 1.0)
    kic = u.confirmed_kepler_hosts()[0]
    product = next(p for p in u.kepler_products(kic) if p.period == 3) if 3 in u.kepler_quarters(kic) \
        else u.kepler_products(kic)[0]
    body = fitsgen.build_lightcurve(product.kind, fitsgen.lightcurve_meta(u, product), product.nrows, 42)
    assert len(body) == product.size > 100_000


def test_same_file_same_bytes_across_builds():
    u = Universe(42, 0.02)
    product = u.tess_products(u.toi_hosts()[3])[0]
    meta = fitsgen.lightcurve_meta(u, product)
    assert fitsgen.build_lightcurve(product.kind, meta, product.nrows, 42) == \
        fitsgen.build_lightcurve(product.kind, meta, product.nrows, 42)


@pytest.mark.parametrize("kind", ["kepler_llc", "k2_llc", "k2_slc", "tess_lc"])
def test_size_formula_holds_for_many_row_counts(kind):
    meta = fitsgen._placeholder_meta(kind)
    for nrows in (8, 29, 57, 115, 1000):
        assert len(fitsgen.build_lightcurve(kind, meta, nrows, 1)) == fitsgen.lightcurve_size(kind, nrows)


def test_cache_dir_keeps_generated_files_across_sandboxes(tmp_path):
    from ratdcs_catalog.sandbox import Sandbox

    first = Sandbox(seed=5, scale=0.02, cache_dir=tmp_path)
    product = first.universe.tess_products(first.universe.toi_hosts()[0])[0]
    body = first.file_bytes(product)
    cached = list(tmp_path.rglob(product.filename))
    assert len(cached) == 1 and cached[0].read_bytes() == body
    second = Sandbox(seed=5, scale=0.02, cache_dir=tmp_path)
    assert second.file_bytes(product) == body


def test_recorded_targets_are_in_every_universe_and_the_rest_stays_drawn():
    for seed in (7, 42):
        u = Universe(seed, 0.05)
        assert u.kepler_quarters(11904151) == (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17)
        assert (u.k2_campaigns(228725972), u.k2_campaigns(203830112)) == ((10,), (11,))
        assert (u.tess_sectors(441420236), u.tess_fast_sectors(441420236)) == ((1, 27), (27,))
        assert (len(u.kepler_stars), len(u.k2_hosts), len(u.tess_stars)) == (2400, 420, 1800)
    u = Universe(42, 0.05)
    # Each took the last drawn target's place: the catalogs' first rows are as before.
    assert u.confirmed_kepler_hosts()[:3] == [9368416, 2130128, 7317747]
    assert (u.confirmed_k2_hosts()[:2], u.toi_hosts()[:2]) == ([213979943, 204485671], [144698543, 396730251])
    assert u.kepler_quarter_files(11904151)[4] == "kplr011904151-2010009091648_llc.fits"
    assert u.tess_sector_files(441420236) == {1: "tess2018206045859-s0001-0000000441420236-0120-s_lc.fits",
                                              27: "tess2020186164531-s0027-0000000441420236-0189-s_lc.fits"}
    assert u.k2_campaign_files(203830112) == {11: ["ktwo203830112-c111_llc.fits", "ktwo203830112-c112_llc.fits"]}
    assert u.k2_campaign_files(228725972) == {10: ["ktwo228725972-c102_llc.fits"]}
    assert {c for e in u.k2_split_hosts() for c in u.k2_campaigns(e)} >= {9, 10, 11}


def test_short_cadence_files_carry_the_archives_month_stamps():
    u = Universe(42, 0.05)
    months = [(p.period, p.extra["month"], p.filename) for p in u.kepler_products(11904151, "short")]
    assert months[:3] == [(2, 3, "kplr011904151-2009259162342_slc.fits"),
                          (3, 1, "kplr011904151-2009291181958_slc.fits"),
                          (3, 2, "kplr011904151-2009322144938_slc.fits")]
    assert [m for q, m, _ in months if q == 4] == [1] and [m for q, m, _ in months if q == 17] == [1, 2]
    assert all(len(u.kepler_slc_quarters(k)) <= len(u.kepler_stars[k]["slc_months"]) for k in list(u.kepler_stars)[:50])


def test_every_file_of_an_observation_is_exactly_its_listed_size(sandbox_archive):
    u = sandbox_archive.universe
    for mission, target in (("kepler", 11904151), ("k2", 228725972), ("tess", 441420236)):
        for obs in u.observations_of(mission, target):
            for product in u.observation_files(obs):
                if product.size < 3_000_000:
                    assert len(sandbox_archive.file_bytes(product)) == product.size, product.filename
                assert u.product_by_uri(product.data_uri) == product == u.product_by_path(product.path)


def test_other_files_are_deterministic_and_a_new_version_differs():
    from ratdcs_catalog.sandbox import Sandbox

    first, again = Sandbox(seed=3, scale=0.02), Sandbox(seed=3, scale=0.02)
    obs = first.universe.observations_of("tess", 441420236)[0]
    for product in first.universe.observation_files(obs):
        body = first.file_bytes(product)
        assert again.file_bytes(product) == body
        assert first.file_bytes(product, version=1) != body and len(first.file_bytes(product, version=1)) == len(body)
