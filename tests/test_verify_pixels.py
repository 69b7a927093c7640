"""Target pixel files, DV time series, gzipped FITS and TESScut zips: what each kind must contain,
checked through gzip on the decompressed stream, and zips that try to escape refused."""

import gzip
import io
import zipfile

import numpy as np
import pytest
from astropy.io import fits

from shared_data import REALDATA, skip_without

from ratdcs_catalog.unpack import unpack_single_fits
from ratdcs_catalog.verify import VerifyFailed, verify_file


def tpf_bytes(table="TARGETTABLES", rows=40, shape=(3, 3), nan_pixels=0) -> bytes:
    """A target pixel file in the archive's layout (PRIMARY, pixel table, APERTURE), checksums fresh."""
    n = shape[0] * shape[1]
    flux = np.ones((rows, *shape), dtype=">f4")
    flux.reshape(rows, -1)[:, :nan_pixels] = np.nan
    cols = [fits.Column("TIME", "D", array=np.arange(rows, dtype=float)),
            fits.Column("CADENCENO", "J", array=np.arange(rows)),
            fits.Column("RAW_CNTS", f"{n}J", dim=f"({shape[1]},{shape[0]})", array=np.ones((rows, *shape), ">i4")),
            fits.Column("FLUX", f"{n}E", dim=f"({shape[1]},{shape[0]})", array=flux),
            fits.Column("FLUX_ERR", f"{n}E", dim=f"({shape[1]},{shape[0]})", array=flux),
            fits.Column("QUALITY", "J", array=np.zeros(rows, ">i4"))]
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name=table),
                         fits.ImageHDU(np.ones(shape, dtype=">i4"), name="APERTURE")])
    buffer = io.BytesIO()
    hdul.writeto(buffer, checksum=True)
    return buffer.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def test_a_target_pixel_file_passes_with_its_nan_fraction(tmp_path):
    path = tmp_path / "tess2020186164531-s0027-0000000441420236-0189-s_tp.fits"
    path.write_bytes(tpf_bytes("PIXELS", nan_pixels=3))
    result = verify_file(path, product_kind="tpf")
    assert (result.ok, result.level) == (True, "fits_checksum")
    assert result.nan_fraction == pytest.approx(3 / 9)


@pytest.mark.parametrize("damage, kind", [
    (lambda h: h.pop("APERTURE"), "fits_missing_hdu"),
    (lambda h: setattr(h[1], "name", "LIGHTCURVE"), "fits_missing_hdu"),
])
def test_a_pixel_file_without_its_parts_fails(tmp_path, damage, kind):
    hdul = fits.HDUList.fromstring(tpf_bytes())
    hdul = fits.HDUList([h.copy() for h in hdul])
    damage(hdul)
    path = tmp_path / "x.fits"
    hdul.writeto(path, checksum=True)
    assert verify_file(path, product_kind="tpf_long").error_kind == kind


@skip_without(REALDATA / "ktwo200071160-test-tpf-with-nans.fits")
def test_the_real_k2_target_pixel_file_verifies_plain_and_gzipped(tmp_path):
    real = (REALDATA / "ktwo200071160-test-tpf-with-nans.fits").read_bytes()
    plain = tmp_path / "ktwo200071160-c00_lpd-targ.fits"
    plain.write_bytes(real)
    result = verify_file(plain, product_kind="tpf_long")
    assert (result.ok, result.level) == (True, "fits_checksum") and 0 < result.nan_fraction < 1
    packed = tmp_path / "ktwo200071160-c00_lpd-targ.fits.gz"
    packed.write_bytes(gz(real))
    assert verify_file(packed, product_kind="tpf_long", expected_size=packed.stat().st_size).level == "fits_checksum"


def test_a_gzipped_pixel_file_is_checked_through_gzip_and_kept_compressed(tmp_path):
    data = gz(tpf_bytes())
    path = tmp_path / "kplr011904151-2009131105131_lpd-targ.fits.gz.part"  # a .part: the name does not say gzip
    path.write_bytes(data)
    result = verify_file(path, product_kind="tpf_long", expected_size=len(data))
    assert (result.ok, result.level) == (True, "fits_checksum")
    assert path.read_bytes() == data  # nothing unpacked beside it or in its place


def test_a_flipped_byte_in_the_compressed_stream_and_a_truncated_gzip_fail_with_their_own_kinds(tmp_path):
    data = bytearray(gz(tpf_bytes(rows=400)))
    data[len(data) // 2] ^= 0x55
    flipped = tmp_path / "flipped.fits.gz"
    flipped.write_bytes(bytes(data))
    result = verify_file(flipped, product_kind="tpf_long")
    assert (result.ok, result.error_kind) == (False, "gzip_corrupt") and "the gzip stream is damaged" in result.error
    cut = tmp_path / "cut.fits.gz"
    cut.write_bytes(gz(tpf_bytes(rows=400))[:-500])
    result = verify_file(cut, product_kind="tpf_long")
    assert (result.ok, result.error_kind) == (False, "gzip_truncated")
    assert "the gzip stream ends before its end marker" in result.error


def test_a_dv_time_series_needs_a_table_with_time_per_tce(tmp_path):
    table = fits.BinTableHDU.from_columns([fits.Column("TIME", "D", array=np.arange(5.0)),
                                          fits.Column("LC_INIT", "E", array=np.ones(5))], name="TCE_1")
    path = tmp_path / "x_dvt.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path, checksum=True)
    assert verify_file(path, product_kind="dvt").level == "fits_checksum"
    fits.HDUList([fits.PrimaryHDU()]).writeto(path, checksum=True, overwrite=True)
    assert verify_file(path, product_kind="dvt").error_kind == "fits_missing_hdu"


def zip_of(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def test_a_cutout_zip_becomes_its_one_fits_file_in_place(tmp_path):
    fits_data = tpf_bytes("PIXELS")
    part = tmp_path / "tess-s0027-0000000441420236_10x10_astrocut.fits.part"
    part.write_bytes(zip_of({"tess-s0027-1-4_311.29_-31.34_10x10_astrocut.fits": fits_data}))
    inode = part.stat().st_ino
    size, sha, member = unpack_single_fits(part)
    assert (size, member) == (len(fits_data), "tess-s0027-1-4_311.29_-31.34_10x10_astrocut.fits")
    assert part.read_bytes() == fits_data and part.stat().st_ino == inode
    assert verify_file(part, product_kind="cutout").level == "fits_checksum"
    assert sorted(p.name for p in tmp_path.iterdir()) == [part.name]


@pytest.mark.parametrize("members, kind", [
    ({"../../evil.fits": b"SIMPLE"}, "zip_unsafe"),
    ({"/etc/evil.fits": b"SIMPLE"}, "zip_unsafe"),
    ({"a.fits": b"SIMPLE", "b.fits": b"SIMPLE"}, "zip_members"),
    ({"readme.txt": b"hello"}, "zip_members"),
])
def test_a_cutout_zip_that_escapes_or_holds_several_members_is_refused_and_nothing_is_written(tmp_path, members,
                                                                                               kind):
    part = tmp_path / "inside" / "x.fits.part"
    part.parent.mkdir()
    data = zip_of(members)
    part.write_bytes(data)
    with pytest.raises(VerifyFailed) as refused:
        unpack_single_fits(part)
    assert refused.value.kind == kind
    assert part.read_bytes() == data and sorted(p.name for p in tmp_path.rglob("*")) == ["inside", "x.fits.part"]


def test_a_cutout_zip_with_a_damaged_member_fails_its_crc(tmp_path):
    data = bytearray(zip_of({"a.fits": tpf_bytes()}))
    data[60] ^= 0xFF  # inside the compressed member
    part = tmp_path / "x.fits.part"
    part.write_bytes(bytes(data))
    with pytest.raises(VerifyFailed) as refused:
        unpack_single_fits(part)
    assert refused.value.kind == "zip_invalid"
