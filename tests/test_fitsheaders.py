"""fitsheaders.read_layout: the same HDUs, offsets and cards as astropy reads, and clear errors on damage."""

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from ratdcs_catalog.fitsheaders import FitsLayoutError, fold, ones_complement_sum, read_layout

from shared_data import REALDATA, real_files, skip_without

REAL_FILES = real_files()


def layout_of(data: bytes):
    return read_layout(io.BytesIO(data), len(data))


def astropy_layout(path):
    with fits.open(path) as hdul:
        return [(hdu.name, hdu.fileinfo()["hdrLoc"], hdu.fileinfo()["datLoc"], hdu.fileinfo()["datSpan"],
                 list(hdu.columns.names) if isinstance(hdu, fits.BinTableHDU) else None) for hdu in hdul]


def our_layout(path):
    data = Path(path).read_bytes()
    return [(h.name, h.header_start, h.data_start, h.data_span,
             [c.name for c in h.columns] if h.columns is not None else None) for h in layout_of(data)]


@skip_without(REALDATA)
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_kepler_files_lay_out_as_astropy_reads_them(path):
    assert our_layout(path) == astropy_layout(path)


def test_image_table_and_random_groups_lay_out_as_astropy_reads_them(tmp_path):
    path = tmp_path / "mixed.fits"
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="TIME", format="D", array=np.arange(5.0)),
        fits.Column(name="FLAGS", format="13X", array=np.zeros((5, 13), dtype=bool)),
        fits.Column(name="LABEL", format="7A", array=np.array(["a", "bb", "c", "d", "e"])),
        fits.Column(name="FLUX", format="3E", array=np.ones((5, 3), dtype=np.float32)),
    ], name="LIGHTCURVE")
    image = fits.ImageHDU(np.zeros((7, 11), dtype=np.int16), name="IMG")
    fits.HDUList([fits.PrimaryHDU(), table, image]).writeto(path, checksum=True)
    assert our_layout(path) == astropy_layout(path)
    hdus = layout_of(path.read_bytes())
    assert [(c.name, c.offset, c.repeat, c.code) for c in hdus[1].columns] == [
        ("TIME", 0, 1, "D"), ("FLAGS", 8, 13, "X"), ("LABEL", 10, 7, "A"), ("FLUX", 17, 3, "E")]
    assert (hdus[2].kind, hdus[2].is_image, hdus[2].int_card("NAXIS1"), hdus[2].int_card("NAXIS2")) == \
        ("IMAGE", True, 11, 7)

    groups = tmp_path / "groups.fits"
    data = fits.GroupData(np.zeros((4, 2, 3), dtype=np.float32), parnames=["u", "v"],
                          pardata=[np.zeros(4, dtype=np.float32)] * 2, bitpix=-32)
    fits.GroupsHDU(data).writeto(groups)
    assert our_layout(groups)[0][1:4] == astropy_layout(groups)[0][1:4]


def test_card_values_are_typed():
    header = fits.Header()
    header["STR"] = "it's here"
    header["LOGIC"] = False
    header["INT"] = -42
    header["REAL"] = 1.5e-3
    header["SLASH"] = "a / b", "a comment after the string"
    header["EXTNAME"] = "lightcurve"
    data = io.BytesIO()
    fits.PrimaryHDU(header=header).writeto(data)
    hdu = layout_of(data.getvalue())[0]
    assert {k: hdu.card(k) for k in ("STR", "SLASH", "LOGIC", "INT", "REAL")} == \
        {"STR": "it's here", "SLASH": "a / b", "LOGIC": False, "INT": -42, "REAL": 1.5e-3}
    assert hdu.card("MISSING", 7) == 7
    assert hdu.name == "LIGHTCURVE"


def test_d_exponent_reals_parse():
    card = "REAL    =              1.25D+02 / a Fortran real".ljust(80)
    block = ("SIMPLE  =                    T".ljust(80) + "BITPIX  =                    8".ljust(80)
             + "NAXIS   =                    0".ljust(80) + card + "END".ljust(80)).ljust(2880)
    assert layout_of(block.encode())[0].card("REAL") == 125.0


def fits_bytes() -> bytes:
    data = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.arange(100, dtype=np.float32), name="SCI")]).writeto(data)
    return data.getvalue()


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-1], "truncated: HDU 1 (SCI) needs 8640 bytes, the file has 8639"),
    (lambda b: b[:4000], "truncated inside the header of HDU 1, at byte 2880"),
    (lambda b: b + b, "bytes after the last HDU (at byte 8640) are not a FITS extension"),
    (lambda b: b + b"garbage", "7 bytes after the last HDU (at byte 8640) are not a FITS extension"),
    (lambda b: b"\x1f\x8b gzip, not FITS", "does not start with SIMPLE"),
    (lambda b: b.replace(b"PCOUNT  =                    0", b"PCOUNT  =                -2880"),
     "has GCOUNT = 1, PCOUNT = -2880; neither may be negative"),
    (lambda b: b"<!DOCTYPE html>" + b[15:], "does not start with SIMPLE"),
    (lambda b: b"", "the file is empty"),
    (lambda b: b.replace(b"BITPIX  =                  -32", b"BITPIX  =                   12", 2),
     "has BITPIX = 12"),
])
def test_damage_is_named(damage, message):
    with pytest.raises(FitsLayoutError) as caught:
        layout_of(damage(fits_bytes()))
    assert message in str(caught.value)


def test_header_without_end_is_refused_quickly():
    block = ("SIMPLE  =                    T".ljust(80) * 36).encode()
    with pytest.raises(FitsLayoutError, match="truncated inside the header of HDU 0"):
        layout_of(block * 3)


def test_ones_complement_sum_matches_astropy_datasum():
    data = io.BytesIO()
    hdu = fits.ImageHDU(np.random.default_rng(1).random((50, 40)).astype(np.float32))
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(data, checksum=True)
    raw = data.getvalue()
    layout = layout_of(raw)[1]
    datasum = fold(ones_complement_sum(raw[layout.data_start:layout.data_start + layout.data_span]))
    assert str(datasum) == layout.card("DATASUM")
    assert fold(layout.header_sum + datasum) == 0xFFFFFFFF


@pytest.mark.filterwarnings("ignore:Unexpected extra padding")  # astropy's own remark on the same file
def test_zeros_short_of_a_block_after_the_last_hdu_are_taken_as_astropy_takes_them(tmp_path):
    path = tmp_path / "padded.fits"
    path.write_bytes(fits_bytes() + b"\0" * 100)
    assert [h.name for h in layout_of(path.read_bytes())] == ["PRIMARY", "SCI"]
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI"]


def test_a_block_of_zeros_or_more_after_the_last_hdu_is_damage(tmp_path):
    # A server that sent the file and then zeros (a ZTF image with 544,320 zero bytes behind it
    # was once accepted): the file is not the archive's.
    with pytest.raises(FitsLayoutError, match="bytes after the last HDU .* are not a FITS extension"):
        layout_of(fits_bytes() + b"\0" * 2880 + b"\0" * 100)
