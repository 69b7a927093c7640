"""Target pixel files, generated: Kepler and K2 (``TARGETTABLES``, gzipped by the archive), TESS SPOC
(``PIXELS``) and TESScut cutouts (``PIXELS`` as astrocut writes it).

The layout follows the archives' files (docs/archive-facts.md section 2; a real K2 file,
``../shared/realdata/ktwo200071160-test-tpf-with-nans.fits``, for the Kepler family):

- HDU 0 ``PRIMARY`` (no data): TELESCOP, ORIGIN, CREATOR (``...TargetPixelExporter...``, which is
  how lightkurve tells a pixel file from a light curve; ``astrocut`` with ORIGIN ``STScI/MAST`` for
  a cutout), OBJECT, KEPLERID + QUARTER/CAMPAIGN or TICID + SECTOR + CAMERA + CCD, RA_OBJ, DEC_OBJ.
- HDU 1: one row per cadence: TIME (D), TIMECORR (E), CADENCENO (J), RAW_CNTS (J), FLUX,
  FLUX_ERR, FLUX_BKG, FLUX_BKG_ERR (E), COSMIC_RAYS (E; Kepler and K2 only), QUALITY (J),
  POS_CORR1/2 (E), RB_LEVEL (40E, TDIM (5,8); Kepler only), FFI_FILE (A; cutouts only). The
  pixel columns are images: TDIM ``(cols,rows)``, so they read as (rows, cols), with the WCS of
  each pixel column in the table header (``1CTYP5``... for FLUX, which lightkurve reads).
- HDU 2 ``APERTURE``: int32 image, bit 1 collected, bit 2 in the optimal aperture, with the WCS.
- HDU 3 ``TARGET COSMIC RAY`` (TESS SPOC only): CADENCENO, RAWX, RAWY, COSMIC_RAY (and TIME,
  assumed); empty for 120-s files, one hit per four cadences for 20-s ones (SPOC cleans those).

TESS pixel tables have no COSMIC_RAYS column: a real sector-41 11x11 file is 46.92 MB for 19,149
cadences, 2,448 bytes a row, which is exactly the columns above without it. A stamp's shape
(rows, cols) is fixed per star by its magnitude (``stamp_shape``); bright stars get taller stamps
(saturated charge bleeds along columns). CHECKSUM/DATASUM are in every HDU with a fixed comment.

Every file's size is a fixed overhead per (kind, stamp) plus its table padded to 2880 bytes, so
product lists know it without building anything; the test suite checks the formula against built
files. The bytes depend only on (seed, file name, version), the row count on the scale.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from . import fitsgen
from .fitsgen import BLOCK, seeded_rng


@dataclass(frozen=True)
class Flavour:
    """What differs between the pipelines' pixel files."""

    extname: str
    telescope: str
    creator: str
    time_unit: str
    cosmic_rays: bool            # a COSMIC_RAYS pixel column (Kepler, K2)
    rb_level: tuple | None       # the RB_LEVEL column's image shape (Kepler)
    cr_extension: bool           # a TARGET COSMIC RAY table (TESS SPOC)
    ffi_file: int                # width of the FFI_FILE column (cutouts), 0: none
    degrees_per_pixel: float
    psf_sigma: float             # pixels
    background: float            # e-/s per pixel
    quality_disp: str


FLAVOURS = {
    "kepler": Flavour("TARGETTABLES", "Kepler", "1019 TargetPixelExporterPipelineModule", "BJD - 2454833",
                      True, (5, 8), False, 0, 3.98 / 3600, 1.0, 30.0, "B24.24"),
    "k2": Flavour("TARGETTABLES", "Kepler", "294432 K2TargetPixelExporter", "BJD - 2454833",
                  True, None, False, 0, 3.98 / 3600, 1.1, 30.0, "B24.24"),
    "tess": Flavour("PIXELS", "TESS", "5162 TargetPixelExporterPipelineModule", "BJD - 2457000, days",
                    False, None, True, 0, 21.0 / 3600, 0.8, 60.0, "B16.16"),
    "tesscut": Flavour("PIXELS", "TESS", "astrocut", "BJD - 2457000, days",
                       False, None, False, 44, 21.0 / 3600, 0.8, 60.0, "B16.16"),
}
# Product kind -> (flavour, the light-curve kind whose cadences it shares)
KINDS = {"kepler_lpd": ("kepler", "kepler_llc"), "kepler_spd": ("kepler", "kepler_slc"),
         "k2_lpd": ("k2", "k2_llc"), "k2_spd": ("k2", "k2_slc"),
         "tess_tp": ("tess", "tess_lc"), "tess_fast_tp": ("tess", "tess_fast")}
CR_COLUMNS = (("TIME", ">f8", "BJD - 2457000, days"), ("CADENCENO", ">i4", None), ("RAWX", ">i4", "pixel"),
              ("RAWY", ">i4", "pixel"), ("COSMIC_RAY", ">f4", "e-/s"))
CR_ROW_BYTES = 24
TFORM = {"f8": "D", "f4": "E", "i4": "J"}


# ----------------------------------------------------------------- shapes and sizes
def stamp_shape(kind: str, mag: float) -> tuple[int, int]:
    """(rows, cols) of a star's stamp from its magnitude: the archives' typical sizes (TESS 11x11,
    Kepler 8x8 near Kp 11.7), taller for bright stars whose charge bleeds along columns. K2 stamps
    have a margin for the spacecraft's drift (EPIC 228725972, Kp 15.7: 5.6 MB for C10 part 2)."""
    if kind.startswith("tess"):
        return (15, 13) if mag < 6.5 else (13, 11) if mag < 8.0 else (11, 11)
    rows, cols = next((shape for limit, shape in ((10.0, (14, 9)), (11.0, (10, 8)), (12.0, (8, 8)),
                                                  (13.0, (7, 6)), (14.0, (7, 5))) if mag < limit), (6, 5))
    return (rows + 2, cols + 3) if kind.startswith("k2") else (rows, cols)


def columns(flavour: str, shape) -> list[tuple[str, str, tuple, str | None, str | None]]:
    """The pixel table's columns: (name, numpy dtype, image shape or (), unit, TDISP)."""
    f = FLAVOURS[flavour]
    pix = tuple(int(n) for n in shape)
    cols = [("TIME", ">f8", (), f.time_unit, "D14.7"), ("TIMECORR", ">f4", (), "d", "E14.7"),
            ("CADENCENO", ">i4", (), None, "I10"), ("RAW_CNTS", ">i4", pix, "count", "I8")]
    cols += [(name, ">f4", pix, "e-/s", "E14.7") for name in ("FLUX", "FLUX_ERR", "FLUX_BKG", "FLUX_BKG_ERR")]
    if f.cosmic_rays:
        cols.append(("COSMIC_RAYS", ">f4", pix, "e-/s", "E14.7"))
    cols += [("QUALITY", ">i4", (), None, f.quality_disp), ("POS_CORR1", ">f4", (), "pixel", "E14.7"),
             ("POS_CORR2", ">f4", (), "pixel", "E14.7")]
    if f.rb_level:
        cols.append(("RB_LEVEL", ">f4", f.rb_level, "sigma", "E14.7"))
    if f.ffi_file:
        cols.append(("FFI_FILE", f"S{f.ffi_file}", (), None, None))
    return cols


def row_bytes(flavour: str, shape) -> int:
    import numpy as np

    return sum(np.dtype(dtype).itemsize * math.prod(sub) for _, dtype, sub, _, _ in columns(flavour, shape))


def cosmic_ray_rows(kind: str, nrows: int) -> int:
    """Hits in the TARGET COSMIC RAY table: none at 120 s (cleaned on board), SPOC's at 20 s."""
    return nrows // 4 if kind == "tess_fast_tp" else 0


def _pad(nbytes: int) -> int:
    return int(math.ceil(nbytes / BLOCK)) * BLOCK


@functools.lru_cache(maxsize=None)
def _overhead(kind: str, shape: tuple[int, int]) -> int:
    """Bytes of a pixel file apart from its tables' data (fixed per kind and stamp)."""
    one_row = build_tpf(kind, placeholder_meta(), shape, 1, seed=0, cosmic_rays=0)
    return len(one_row) - _pad(row_bytes(KINDS[kind][0], shape))


def tpf_size(kind: str, shape, nrows: int) -> int:
    """The exact size of a pixel file (before the archive's gzip for Kepler and K2)."""
    shape = (int(shape[0]), int(shape[1]))
    size = _overhead(kind, shape) + _pad(nrows * row_bytes(KINDS[kind][0], shape))
    return size + _pad(cosmic_ray_rows(kind, nrows) * CR_ROW_BYTES) if KINDS[kind][0] == "tess" else size


def placeholder_meta() -> dict:
    return {"target": 1, "period": 1, "month": 1, "ra": 0.0, "dec": 0.0, "teff": 5000.0,
            "logg": 4.0, "radius": 1.0, "mag": 12.0, "planets": (), "filename": "x"}


# ----------------------------------------------------------------- data
def cadence_times(timing_kind: str, meta: dict, nrows: int):
    """(mid-cadence times, days per cadence) over the file's window, as its light curve's."""
    import numpy as np

    start, span, _ = fitsgen.time_span(timing_kind, meta["period"], meta.get("month", 0),
                                       meta.get("window", (0.0, 1.0)))
    return start + (np.arange(nrows) + 0.5) * (span / nrows), span / nrows


def fill_pixels(data, flavour: str, meta: dict, shape, time, rng, cadence0: int) -> None:
    """Write a star (a Gaussian PSF with the universe's transits), background, noise and gaps
    into a pixel table's columns, in place."""
    import numpy as np

    f, nrows = FLAVOURS[flavour], len(time)
    psf = _psf(shape, f.psf_sigma, meta)
    level = fitsgen.flux_level(meta["mag"]) if meta.get("mag") is not None else 0.0
    model = fitsgen.transit_model(time, meta["planets"]).astype("f4")
    err = np.sqrt(psf * level + f.background).astype("f4") * np.float32(0.05)
    noise = rng.standard_normal((nrows,) + tuple(shape), dtype=np.float32)
    noise *= err
    noise += (psf * level).astype("f4")[None] * model[:, None, None]
    background = (f.background * (1 + 0.02 * np.sin(time / 3.0))).astype("f4")[:, None, None]
    gap = fitsgen.gap_mask(nrows, rng)
    noise[gap] = np.nan
    data["TIME"] = time
    data["TIMECORR"] = np.float32(1e-3)
    data["CADENCENO"] = np.arange(nrows, dtype="i4") + cadence0
    data["FLUX"] = noise
    data["FLUX_ERR"] = err
    data["FLUX_BKG"] = background
    data["FLUX_BKG_ERR"] = np.float32(0.3)
    raw = noise + background
    raw *= np.float32(1800.0 / 110.0)
    raw += np.float32(2.0e5)
    data["RAW_CNTS"] = np.where(np.isnan(raw), -1, raw).astype("i4")
    if f.cosmic_rays:
        data["COSMIC_RAYS"] = np.nan
    data["QUALITY"] = np.where(gap, 32768 if f.telescope == "TESS" else 2048, 0).astype("i4")
    data["POS_CORR1"] = np.cumsum(rng.normal(0, 1e-3, nrows)).astype("f4")
    data["POS_CORR2"] = np.cumsum(rng.normal(0, 1e-3, nrows)).astype("f4")
    if f.rb_level:
        data["RB_LEVEL"] = np.float32(0.0)


def _psf(shape, sigma: float, meta: dict):
    """The target's normalised PSF in the stamp, a little off centre (fixed per target)."""
    import numpy as np

    rows, cols = shape
    target = int(meta.get("target") or 0)
    cy = (rows - 1) / 2 + ((target % 7) - 3) * 0.05
    cx = (cols - 1) / 2 + ((target % 5) - 2) * 0.05
    yy, xx = np.mgrid[0:rows, 0:cols]
    psf = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
    return psf / psf.sum()


def aperture_mask(shape, meta: dict, sigma: float, all_optimal: bool = False):
    """int32 image: 1 collected, +2 in the optimal aperture (the PSF's core)."""
    import numpy as np

    psf = _psf(shape, sigma, meta)
    mask = np.ones(shape, dtype="i4")
    if not all_optimal:
        mask[psf >= 0.25 * psf.max()] |= 2
    return mask


# ----------------------------------------------------------------- headers
def detector_origin(target: int) -> tuple[int, int]:
    """(column, row) of the stamp's corner on the CCD, fixed per target."""
    return 12 + target % 1000, 20 + (target // 1000) % 1000


def wcs_cards(flavour: str, meta: dict, shape, origin) -> dict:
    """The stamp's celestial WCS (RA---TAN/DEC--TAN at the target) and physical CCD WCS."""
    scale = FLAVOURS[flavour].degrees_per_pixel
    return {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": (shape[1] + 1) / 2, "CRPIX2": (shape[0] + 1) / 2,
            "CRVAL1": float(meta["ra"]), "CRVAL2": float(meta["dec"]), "CUNIT1": "deg", "CUNIT2": "deg",
            "CDELT1": -scale, "CDELT2": scale, "PC1_1": 1.0, "PC1_2": 0.0, "PC2_1": 0.0, "PC2_2": 1.0,
            "CRVAL1P": float(origin[0]), "CRVAL2P": float(origin[1])}


def add_column_wcs(header, flavour: str, cols, wcs: dict) -> None:
    """The WCS of every pixel column, in the archives' per-column keywords (``1CTYP5``...)."""
    for n, (_, _, sub, _, _) in enumerate(cols, start=1):
        if len(sub) != 2 or n > 9:
            continue
        for key, value in (("WCSN{}P", "PHYSICAL"), ("WCAX{}P", 2), ("1CTY{}P", "RAWX"), ("2CTY{}P", "RAWY"),
                           ("1CUN{}P", "PIXEL"), ("2CUN{}P", "PIXEL"), ("1CRV{}P", wcs["CRVAL1P"]),
                           ("2CRV{}P", wcs["CRVAL2P"]), ("1CDL{}P", 1.0), ("2CDL{}P", 1.0), ("1CRP{}P", 1),
                           ("2CRP{}P", 1), ("WCAX{}", 2), ("1CTYP{}", wcs["CTYPE1"]), ("2CTYP{}", wcs["CTYPE2"]),
                           ("1CRPX{}", wcs["CRPIX1"]), ("2CRPX{}", wcs["CRPIX2"]), ("1CRVL{}", wcs["CRVAL1"]),
                           ("2CRVL{}", wcs["CRVAL2"]), ("1CUNI{}", "deg"), ("2CUNI{}", "deg"),
                           ("1CDLT{}", wcs["CDELT1"]), ("2CDLT{}", wcs["CDELT2"]), ("11PC{}", wcs["PC1_1"]),
                           ("12PC{}", wcs["PC1_2"]), ("21PC{}", wcs["PC2_1"]), ("22PC{}", wcs["PC2_2"])):
            header[key.format(n)] = value


def table_hdu(flavour: str, shape, nrows: int, arrays=None):
    """A pixel table of ``nrows`` rows, columns described as the archives describe them, zero but
    for the ``arrays`` given by column name. (Text columns must come this way: astropy sums a table
    for its DATASUM before it converts text assigned later, so the CHECKSUM would be wrong.)"""
    from astropy.io import fits

    arrays = arrays or {}
    cols = [fits.Column(name=name, format=_tform(dtype, sub), unit=unit, disp=disp,
                        dim=f"({sub[1]},{sub[0]})" if len(sub) == 2 else None,
                        null=-1 if name == "RAW_CNTS" else None, array=arrays.get(name))
            for name, dtype, sub, unit, disp in columns(flavour, shape)]
    return fits.BinTableHDU.from_columns(cols, nrows=nrows, name=FLAVOURS[flavour].extname)


def _tform(dtype: str, sub) -> str:
    if dtype.startswith("S"):
        return f"{dtype[1:]}A"
    return f"{math.prod(sub) if sub else ''}{TFORM[dtype[1:]]}"


def _target_cards(kind: str, meta: dict) -> dict:
    tess = kind.startswith("tess")
    cards = {"TELESCOP": "TESS" if tess else "Kepler", "INSTRUME": "TESS Photometer" if tess else "Kepler Photometer",
             "OBJECT": fitsgen.object_name(kind, meta["target"])}
    cards["TICID" if tess else "KEPLERID"] = meta["target"]
    cards.update(RADESYS="ICRS", RA_OBJ=float(meta["ra"]), DEC_OBJ=float(meta["dec"]), EQUINOX=2000.0)
    return cards


def _time_cards(kind: str, time, cadence_days: float) -> dict:
    tess = kind.startswith("tess")
    start, stop = float(time[0] - cadence_days / 2), float(time[-1] + cadence_days / 2)
    return {"TIMEREF": "SOLARSYSTEM", "TASSIGN": "SPACECRAFT", "TIMESYS": "TDB",
            "BJDREFI": 2457000 if tess else 2454833, "BJDREFF": 0.0, "TIMEUNIT": "d",
            "TELAPSE": stop - start, "LIVETIME": 0.92 * (stop - start), "TSTART": start, "TSTOP": stop,
            "TIMEPIXR": 0.5, "TIERRELA": 5.78e-07, "TIMEDEL": float(cadence_days),
            "BACKAPP": True, "DEADAPP": True, "VIGNAPP": True}


def _primary(kind: str, meta: dict, flavour: str):
    from astropy.io import fits

    timing = KINDS[kind][1]
    header = fitsgen.primary_header(timing, meta)
    header["NEXTEND"] = 3 if FLAVOURS[flavour].cr_extension else 2
    header["CREATOR"] = FLAVOURS[flavour].creator
    if not kind.startswith("tess"):
        channel = 1 + meta["target"] % 84
        header.insert("KEPLERID", ("CHANNEL", channel, "CCD channel"), after=True)
        header.insert("CHANNEL", ("MODULE", 2 + (channel - 1) // 4, "CCD module"), after=True)
        header.insert("MODULE", ("OUTPUT", 1 + (channel - 1) % 4, "CCD output"), after=True)
    return fits.PrimaryHDU(header=header)


def _aperture_hdu(kind: str, meta: dict, shape, wcs: dict, flavour: str):
    from astropy.io import fits

    mask = aperture_mask(shape, meta, FLAVOURS[flavour].psf_sigma)
    hdu = fits.ImageHDU(mask, name="APERTURE")
    hdu.header["INHERIT"] = True
    for key, value in _target_cards(kind, meta).items():
        hdu.header[key] = value
    hdu.header["WCSAXES"] = 2
    for key, value in wcs.items():
        if not key.endswith("P"):
            hdu.header[key] = value
    for key, value in (("WCSNAMEP", "PHYSICAL"), ("WCSAXESP", 2), ("CTYPE1P", "RAWX"), ("CUNIT1P", "PIXEL"),
                       ("CRPIX1P", 1), ("CRVAL1P", wcs["CRVAL1P"]), ("CDELT1P", 1.0), ("CTYPE2P", "RAWY"),
                       ("CUNIT2P", "PIXEL"), ("CRPIX2P", 1), ("CRVAL2P", wcs["CRVAL2P"]), ("CDELT2P", 1.0)):
        hdu.header[key] = value
    hdu.header["NPIXSAP"] = (int((mask & 2).astype(bool).sum()), "Number of pixels in optimal aperture")
    hdu.header["NPIXMISS"] = (0, "Number of op. aperture pixels not collected")
    return hdu


def _cosmic_ray_hdu(meta: dict, shape, origin, time, nhits: int, rng, cadence0: int):
    """TESS's TARGET COSMIC RAY table: one row per hit (empty at 120 s)."""
    import numpy as np
    from astropy.io import fits

    cols = [fits.Column(name=name, format=TFORM[dtype[1:]], unit=unit) for name, dtype, unit in CR_COLUMNS]
    hdu = fits.BinTableHDU.from_columns(cols, nrows=nhits, name="TARGET COSMIC RAY")
    if nhits:
        at = np.sort(rng.integers(0, len(time), nhits))
        hdu.data["TIME"] = time[at]
        hdu.data["CADENCENO"] = at + cadence0
        hdu.data["RAWX"] = origin[0] + rng.integers(0, shape[1], nhits)
        hdu.data["RAWY"] = origin[1] + rng.integers(0, shape[0], nhits)
        hdu.data["COSMIC_RAY"] = rng.uniform(5.0, 500.0, nhits).astype("f4")
    hdu.header["INHERIT"] = True
    return hdu


# ----------------------------------------------------------------- files
def build_tpf(kind: str, meta: dict, shape, nrows: int, seed: int, version: int = 0,
              cosmic_rays: int | None = None) -> bytes:
    """The bytes of one SPOC/Kepler pixel file (uncompressed; a later ``version``: other data)."""
    flavour, timing = KINDS[kind]
    shape = (int(shape[0]), int(shape[1]))
    rng = seeded_rng(seed, meta["filename"], version)
    time, cadence_days = cadence_times(timing, meta, nrows)
    cadence0 = 1000 * int(meta["period"])
    table = table_hdu(flavour, shape, nrows)
    fill_pixels(table.data, flavour, meta, shape, time, rng, cadence0)
    origin = detector_origin(int(meta["target"]))
    wcs = wcs_cards(flavour, meta, shape, origin)
    header = table.header
    header["INHERIT"] = True
    for key, value in {**_target_cards(kind, meta), **_time_cards(kind, time, cadence_days)}.items():
        header[key] = value
    header["GAIN"] = (110.0 if flavour != "tess" else 5.2, "[electrons/count] channel gain")
    add_column_wcs(header, flavour, columns(flavour, shape), wcs)
    hdus = [_primary(kind, meta, flavour), table, _aperture_hdu(kind, meta, shape, wcs, flavour)]
    if FLAVOURS[flavour].cr_extension:
        nhits = cosmic_ray_rows(kind, nrows) if cosmic_rays is None else cosmic_rays
        hdus.append(_cosmic_ray_hdu(meta, shape, origin, time, nhits, rng, cadence0))
    return fitsgen.to_bytes(hdus)
