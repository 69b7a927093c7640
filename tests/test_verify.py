"""verify_file and hash_file: real Kepler files, their damaged copies, and made-up products."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from ratdcs_catalog.verify import hash_file, parse_checksum, verify_file

from shared_data import REALDATA, real_light_curves, sandbox_light_curve, skip_without

REAL_FILES = real_light_curves()
# The sandbox's own light curve always; the shared real ones where ../shared is present.
SANDBOX_LC = "sandbox:kplr011904151-2009350155506_llc.fits"


def fresh_copy(src: Path, dest: Path) -> Path:
    """The real file re-written with fresh CHECKSUM/DATASUM, as the archive serves it."""
    with fits.open(src) as hdul:
        hdul.writeto(dest, checksum=True)
    return dest


@pytest.fixture(params=[SANDBOX_LC] + [p.name for p in REAL_FILES])
def real_lc(request, tmp_path):
    if request.param == SANDBOX_LC:
        return sandbox_light_curve(tmp_path / request.param.split(":", 1)[1])
    return fresh_copy(REALDATA / request.param, tmp_path / request.param)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fresh_real_light_curve_reaches_fits_checksum(real_lc):
    size = real_lc.stat().st_size
    result = verify_file(real_lc, product_kind="lc_long", expected_size=size,
                         expected_checksum=f"sha256:{sha256(real_lc)}")
    assert (result.ok, result.level, result.error) == (True, "fits_checksum", None)
    assert 0.0 <= result.nan_fraction < 1.0


@skip_without(REALDATA)
def test_stale_checksums_of_edited_files_fail_strict_warn_and_off(tmp_path):
    edited = shutil.copy(REALDATA / "golden-lc.fits", tmp_path / "golden-lc.fits")
    strict = verify_file(edited, product_kind="lc_long")
    assert (strict.ok, strict.level, strict.error_kind) == (False, "fits", "fits_checksum")
    assert "do not verify" in strict.error and "golden-lc.fits" in strict.error
    warn = verify_file(edited, product_kind="lc_long", fits_checksum="warn")
    assert (warn.ok, warn.level) == (True, "fits") and "do not verify" in warn.warnings[0]
    off = verify_file(edited, product_kind="lc_long", fits_checksum="off")
    assert (off.ok, off.level, off.warnings) == (True, "fits", [])


@pytest.mark.parametrize("cut", [1, 100, 2880, 5000, "half"])
def test_truncated_copies_fail_even_without_an_expected_size(real_lc, cut):
    data = real_lc.read_bytes()
    keep = len(data) // 2 if cut == "half" else len(data) - cut
    real_lc.write_bytes(data[:keep])
    result = verify_file(real_lc, product_kind="lc_long")
    assert not result.ok
    assert result.error_kind in ("fits_invalid", "fits_missing_hdu", "fits_checksum")


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_bit_flipped_copies_fail_the_fits_checksum(real_lc, where):
    data = bytearray(real_lc.read_bytes())
    offset = int(len(data) * where)
    data[offset] ^= 0x04
    real_lc.write_bytes(bytes(data))
    result = verify_file(real_lc, product_kind="lc_long", expected_size=len(data))
    assert not result.ok and result.error_kind in ("fits_checksum", "fits_invalid")


def test_size_mismatch_says_expected_and_found(real_lc):
    size = real_lc.stat().st_size
    result = verify_file(real_lc, product_kind="lc_long", expected_size=size + 7)
    assert (result.ok, result.level, result.error_kind) == (False, None, "size_mismatch")
    assert result.error == f"size mismatch for {real_lc.name}: expected {size + 7} bytes, found {size}"


def test_checksum_uses_observed_hashes_without_rereading(real_lc):
    wrong = "0" * 64
    result = verify_file(real_lc, product_kind="lc_long", expected_checksum=f"sha256:{sha256(real_lc)}",
                         observed_hashes={"sha256": wrong})
    assert (result.ok, result.error_kind) == (False, "checksum_mismatch")
    assert f"expected {sha256(real_lc)}, found {wrong}" in result.error


def test_md5_checksum_is_checked(real_lc):
    md5 = hashlib.md5(real_lc.read_bytes()).hexdigest()
    assert verify_file(real_lc, product_kind="lc_long", expected_checksum=f"md5:{md5}").level == "fits_checksum"
    bad = verify_file(real_lc, product_kind="lc_long", expected_checksum="md5:" + "f" * 32)
    assert bad.error_kind == "checksum_mismatch"


def test_html_page_saved_as_fits_is_invalid(tmp_path):
    page = tmp_path / "kplr1_llc.fits"
    page.write_bytes(b"<!DOCTYPE html><html><body>Service unavailable</body></html>")
    result = verify_file(page, product_kind="lc_long")
    assert (result.ok, result.error_kind) == (False, "fits_invalid")


def make_lc(path, columns, flux=None):
    n = 50
    flux = np.ones(n, dtype="f4") if flux is None else flux
    cols = [fits.Column(name=c, format="E", array=flux if c == "PDCSAP_FLUX" else np.ones(n, dtype="f4"))
            for c in columns]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")]).writeto(
        path, checksum=True)
    return path


TESS_COLUMNS = ["TIME", "SAP_FLUX", "SAP_FLUX_ERR", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "QUALITY"]


def test_tess_light_curve_with_quality_column_passes(tmp_path):
    path = make_lc(tmp_path / "tess_lc.fits", TESS_COLUMNS)
    assert verify_file(path, product_kind="lc").level == "fits_checksum"


def test_light_curve_without_a_flux_error_column_fails(tmp_path):
    path = make_lc(tmp_path / "lc.fits", [c for c in TESS_COLUMNS if c != "PDCSAP_FLUX_ERR"])
    result = verify_file(path, product_kind="lc_fast")
    assert (result.ok, result.error_kind) == (False, "fits_missing_column")
    assert "PDCSAP_FLUX_ERR" in result.error


def test_light_curve_without_a_quality_column_fails(tmp_path):
    path = make_lc(tmp_path / "lc.fits", TESS_COLUMNS[:-1])
    result = verify_file(path, product_kind="lc")
    assert result.error_kind == "fits_missing_column" and "SAP_QUALITY or QUALITY" in result.error


def test_nan_fraction_recorded_and_limit_applied(tmp_path):
    flux = np.ones(50, dtype="f4")
    flux[:20] = np.nan
    path = make_lc(tmp_path / "lc.fits", TESS_COLUMNS, flux=flux)
    free = verify_file(path, product_kind="lc")
    assert free.ok and free.nan_fraction == pytest.approx(0.4)
    limited = verify_file(path, product_kind="lc", max_nan_fraction=0.25)
    assert (limited.ok, limited.error_kind, limited.nan_fraction) == (False, "nan_fraction", pytest.approx(0.4))
    assert "40.0% of PDCSAP_FLUX is NaN, above the limit of 25.0%" in limited.error


def test_ztf_image_needs_a_2d_image(tmp_path):
    image = tmp_path / "ztf_sciimg.fits"
    fits.PrimaryHDU(np.zeros((30, 20), dtype="f4")).writeto(image, checksum=True)
    assert verify_file(image, product_kind="ztf_sciimg").level == "fits_checksum"
    table = tmp_path / "ztf_cat.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="X", format="E", array=np.ones(3, dtype="f4"))])]).writeto(table)
    result = verify_file(table, product_kind="ztf_sciimg")
    assert (result.ok, result.error_kind) == (False, "fits_not_image")


def test_non_fits_kind_checks_size_and_checksum_only(tmp_path):
    blob = tmp_path / "notes.dat"
    blob.write_bytes(b"x" * 10)
    digest = hashlib.sha256(b"x" * 10).hexdigest()
    result = verify_file(blob, product_kind="other", expected_size=10, expected_checksum=f"sha256:{digest}")
    assert (result.ok, result.level) == (True, "checksum")


def test_missing_file_fails_cleanly(tmp_path):
    result = verify_file(tmp_path / "gone.fits", product_kind="lc_long", expected_size=5)
    assert (result.ok, result.error_kind) == (False, "missing")


def test_hash_file_computes_each_algorithm_once(tmp_path):
    blob = tmp_path / "b"
    blob.write_bytes(b"abc" * 1_000_000)
    assert hash_file(blob, ("sha256", "md5")) == {"sha256": hashlib.sha256(b"abc" * 1_000_000).hexdigest(),
                                                 "md5": hashlib.md5(b"abc" * 1_000_000).hexdigest()}
    assert list(hash_file(blob)) == ["sha256"]


def test_parse_checksum_forms():
    assert parse_checksum("SHA256:ABC") == ("sha256", "abc")
    assert parse_checksum("md5:0f") == ("md5", "0f")
    assert parse_checksum("crc32:1") is None and parse_checksum(None) is None and parse_checksum("abc") is None


def test_bad_policy_is_a_programming_error(real_lc):
    with pytest.raises(ValueError):
        verify_file(real_lc, product_kind="lc_long", fits_checksum="lenient")


def test_streamed_nan_fraction_matches_astropy_on_real_files(real_lc):
    flux = fits.getdata(real_lc, "LIGHTCURVE")["PDCSAP_FLUX"]
    assert verify_file(real_lc, product_kind="lc_long").nan_fraction == pytest.approx(float(np.isnan(flux).mean()))


def test_verification_is_thread_safe(tmp_path):
    # Verification once relied on astropy's process-wide warnings: a damaged file verified beside
    # a good one must still fail.
    import concurrent.futures

    good = sandbox_light_curve(tmp_path / "good.fits")
    bad = tmp_path / "bad.fits"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(lambda p: verify_file(p, product_kind="lc_long").ok, [good, bad] * 20))
    assert verdicts == [True, False] * 20


def test_an_empty_flux_column_has_no_nan_fraction(tmp_path):
    # TFORM '0E' is legal FITS (a column with no elements); the share of NaN in it is undefined.
    cols = [fits.Column(name=n, format="E", array=np.zeros(3, np.float32))
            for n in ("TIME", "SAP_FLUX", "SAP_FLUX_ERR", "PDCSAP_FLUX_ERR", "SAP_QUALITY")]
    cols.insert(3, fits.Column(name="PDCSAP_FLUX", format="0E"))
    path = tmp_path / "empty-flux.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE", nrows=3)]).writeto(
        path, checksum=True)
    result = verify_file(path, product_kind="lc_long", max_nan_fraction=0.5)
    assert (result.ok, result.level, result.nan_fraction) == (True, "fits_checksum", None)


@pytest.mark.parametrize("damage", ["none", "truncated", "bit flip", "stale cards", "html", "gzip"])
def test_bytes_held_in_memory_verify_exactly_as_the_file_does(real_lc, tmp_path, damage):
    """A sync checks a small download's bytes in memory (transfer.IN_MEMORY_BYTES) instead of
    reading the .part back: every verdict and message must be the one the file gets."""
    import gzip

    data = bytearray(real_lc.read_bytes())
    size = len(data)
    if damage == "truncated":
        data = data[: size // 2]
    elif damage == "bit flip":
        data[int(size * 0.7)] ^= 0x04
    elif damage == "stale cards":
        data = bytearray(shutil.copy(REALDATA / "golden-lc.fits", tmp_path / "x").read_bytes()) \
            if REALDATA.is_dir() else data
    elif damage == "html":
        data = bytearray(b"<!DOCTYPE html><html>maintenance</html>")
    elif damage == "gzip":
        data = bytearray(gzip.compress(bytes(data)))
    real_lc.write_bytes(bytes(data))
    for policy, expected_size in [(p, s) for p in ("strict", "warn", "off") for s in (size, None)]:
        kwargs = dict(product_kind="lc_long", expected_size=expected_size, fits_checksum=policy,
                      expected_checksum=f"md5:{hashlib.md5(bytes(data)).hexdigest()}", max_nan_fraction=0.5)
        on_disk = verify_file(real_lc, **kwargs)
        in_memory = verify_file(real_lc, contents=bytes(data), **kwargs)
        assert in_memory == on_disk, (policy, expected_size, on_disk)
