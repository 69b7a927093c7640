"""TESScut cutouts, generated: the target-pixel-shaped FITS file astrocut writes, and the zip around it.

A cutout is what astrocut's ``TessCubeCutout`` builds from a sector's FFI cube: PRIMARY (ORIGIN
``STScI/MAST``, CREATOR ``astrocut``, SECTOR, CAMERA, CCD, RA_OBJ/DEC_OBJ at the asked position,
the target keywords empty: OBJECT '', TICID undefined), ``PIXELS`` (TIME, TIMECORR, CADENCENO all
zero, RAW_CNTS all -1, FLUX, FLUX_ERR, FLUX_BKG and FLUX_BKG_ERR zero, QUALITY, POS_CORR1/2 zero,
FFI_FILE: the FFI each row comes from) and ``APERTURE`` (all ones, with the cutout's WCS, which
lightkurve reads from there because ORIGIN says MAST). One row per FFI of the sector at the scale;
the universe's TESS star at the position, if any, sits in the middle with its transits.

Names (astrocut's, which lightkurve's cache lookup globs for): the member is
``tess-s0001-4-2_<ra:7f>_<dec:7f>_<x>x<y>_astrocut.fits`` (x columns, y rows), the zip
``astrocut_<ra:7f>_<dec:7f>_<x>x<y>px.zip``. The zip is stored (no compression) with a fixed
member time and mode, so its bytes depend only on (seed, scale, position, size, sectors).

Hostile answers for downloader tests (the ``zip_slip`` and ``zip_many`` faults): a member named
``../../evil.fits``; two members where one sector was asked for.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass

from . import fitsgen, naming, pixels
from .fitsgen import seeded_rng
from .universe_tesscut import ffi_cadence_seconds, sector_name

ZIP_TIME = (1980, 1, 1, 0, 0, 0)   # the DOS epoch: reproducible archives use it
ZIP_SLIP_NAME = "../../evil.fits"
SECTOR_START = dt.datetime(2018, 7, 25, 19, 29, 42)  # first FFI of sector 1 (tess2018206192942)


@dataclass(frozen=True)
class Cutout:
    """One TESScut answer: the zip's file name and bytes, its member's name and bytes, and the
    request path that asks for it (under the sandbox's base URL)."""

    zip_name: str
    member: str
    body: bytes
    fits: bytes
    path: str


def member_name(sector: int, camera: int, ccd: int, ra: float, dec: float, x: int, y: int) -> str:
    return f"{sector_name(sector, camera, ccd)}_{ra:7f}_{dec:7f}_{x}x{y}_astrocut.fits"


def zip_name(ra: float, dec: float, x: int, y: int) -> str:
    return f"astrocut_{ra:7f}_{dec:7f}_{x}x{y}px.zip"


def zip_bytes(members) -> bytes:
    """A stored zip of ``[(name, bytes), ...]`` with fixed times and modes (same input, same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, body in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.create_system, info.external_attr = 3, 0o644 << 16
            archive.writestr(info, body)
    return buffer.getvalue()


def ffi_names(sector: int, camera: int, ccd: int, nrows: int, scale: float) -> list[str]:
    """The FFI file name of each row (``tess2018206192942-s0001-4-2-0120-s_ffic.fits``)."""
    step = ffi_cadence_seconds(sector) / max(scale, 1e-9)
    first = SECTOR_START + dt.timedelta(days=fitsgen.TESS_SECTOR_DAYS * (sector - 1))
    scid = naming.tess_scid(sector)
    return [f"tess{(first + dt.timedelta(seconds=i * step)).strftime('%Y%j%H%M%S')}"
            f"-s{sector:04d}-{camera}-{ccd}-{scid:04d}-s_ffic.fits" for i in range(nrows)]


def build_cutout(meta: dict, shape, sector: int, camera: int, ccd: int, nrows: int, scale: float,
                 seed: int) -> bytes:
    """The FITS bytes of one cutout. ``meta``: ra, dec (the asked position), filename (the member
    name, which seeds the noise), and the star in the middle: target, mag (None: empty sky), planets."""
    import numpy as np

    shape = (int(shape[0]), int(shape[1]))
    rng = seeded_rng(seed, meta["filename"])
    start, days, _ = fitsgen.time_span("tess_lc", sector, 0)
    time = start + (np.arange(nrows) + 0.5) * (days / nrows)
    names = np.array(ffi_names(sector, camera, ccd, nrows, scale), dtype=f"S{pixels.FLAVOURS['tesscut'].ffi_file}")
    table = pixels.table_hdu("tesscut", shape, nrows, {"FFI_FILE": names})
    data = table.data
    pixels.fill_pixels(data, "tesscut", meta, shape, time, rng, 0)
    data["FLUX"] += data["FLUX_BKG"]          # FFIs are not background-subtracted
    for column, value in (("CADENCENO", 0), ("RAW_CNTS", -1), ("FLUX_BKG", 0.0), ("FLUX_BKG_ERR", 0.0),
                          ("POS_CORR1", 0.0), ("POS_CORR2", 0.0)):
        data[column] = value
    origin = (int(1 + (meta["ra"] * 97) % 1900), int(1 + (abs(meta["dec"]) * 89) % 1900))
    wcs = pixels.wcs_cards("tesscut", meta, shape, origin)
    header = table.header
    header["INHERIT"] = True
    for key, value in _time_cards(time, days / nrows).items():
        header[key] = value
    pixels.add_column_wcs(header, "tesscut", pixels.columns("tesscut", shape), wcs)
    return fitsgen.to_bytes([_primary(meta, sector, camera, ccd, time, days / nrows), table,
                             _aperture(shape, wcs)])


def _time_cards(time, cadence_days: float) -> dict:
    return {"TIMEREF": "SOLARSYSTEM", "TASSIGN": "SPACECRAFT", "TIMESYS": "TDB", "BJDREFI": 2457000,
            "BJDREFF": 0.0, "TIMEUNIT": "d", "TSTART": float(time[0] - cadence_days / 2),
            "TSTOP": float(time[-1] + cadence_days / 2), "TIMEDEL": float(cadence_days), "TIMEPIXR": 0.5}


def _primary(meta: dict, sector: int, camera: int, ccd: int, time, cadence_days: float):
    from astropy.io import fits

    header = fits.Header()
    for key, value in (("ORIGIN", "STScI/MAST"), ("DATE", "2019-01-01"), ("TELESCOP", "TESS"),
                       ("INSTRUME", "TESS Photometer"), ("SECTOR", sector), ("CAMERA", camera), ("CCD", ccd),
                       ("CREATOR", "astrocut"), ("PROCVER", "1.0.1"), ("FFI_TYPE", "SPOC"),
                       ("RA_OBJ", float(meta["ra"])), ("DEC_OBJ", float(meta["dec"])),
                       ("RADESYS", "ICRS"), ("EQUINOX", 2000.0), *_time_cards(time, cadence_days).items(),
                       ("TELAPSE", float(time[-1] - time[0] + cadence_days)), ("OBJECT", ""), ("TCID", 0),
                       ("PXTABLE", 0), ("TESSMAG", 0.0), ("TEFF", 0.0), ("LOGG", 0.0), ("MH", 0.0),
                       ("RADIUS", 0.0), ("TICVER", 0), ("TICID", None)):
        header[key] = value
    return fits.PrimaryHDU(header=header)


def _aperture(shape, wcs: dict):
    import numpy as np
    from astropy.io import fits

    hdu = fits.ImageHDU(np.ones(shape, dtype="i4"), name="APERTURE")
    hdu.header["WCSAXES"] = 2
    for key, value in wcs.items():
        if not key.endswith("P"):
            hdu.header[key] = value
    hdu.header["CRVAL1P"], hdu.header["CRVAL2P"] = wcs["CRVAL1P"], wcs["CRVAL2P"]
    hdu.header["NPIXMISS"] = (None, "Number of op. aperture pixels not collected")
    hdu.header["NPIXSAP"] = (None, "Number of pixels in optimal aperture")
    hdu.header["INHERIT"] = True
    return hdu
