"""Real FITS files, generated deterministically: Kepler/K2/TESS light curves and ZTF images.

The layout follows docs/archive-facts.md section 2: PRIMARY (no data), LIGHTCURVE (20 columns, 100
bytes a row, as the archive's files), APERTURE (int32 image), with CHECKSUM and DATASUM in
every HDU. A file's bytes depend only on (seed, scale, file name), so a byte range asked for
after a restart matches the bytes sent before it.

Sizes are computed without building the file: every header has a fixed set of cards, so a
file is a fixed overhead per kind plus its table (or image) padded to 2880 bytes. The test
suite checks that formula against built files.

A file covers a ``window`` of its quarter or campaign, (start, length) as fractions: (0, 1) for
most, the first 22% of Q4 for Kepler stars on module 3 (it failed on 2010-01-09, nine days into
the quarter), one part of a K2 campaign downlinked in two (C9, C10, C11). A later ``version``
of a file (the sandbox's ``replace`` fault) is the same layout and size with other random data.
"""

from __future__ import annotations

import functools
import io
import math
import zlib

BLOCK = 2880
ROW_BYTES = 100
MIN_ROWS = 8
# Fixed comment on the CHECKSUM cards: astropy writes the current time there by default,
# which would make the same file differ from one run to the next.
CHECKSUM_WHEN = "HDU checksum updated 2019-01-01T00:00:00Z"

# (start in BKJD, long-cadence rows) per quarter, approximating the real quarters.
KEPLER_QUARTERS = (
    (120.5, 476), (131.5, 1639), (169.8, 4354), (260.2, 4370), (352.4, 4633), (443.5, 4922),
    (539.5, 4339), (630.2, 4398), (735.4, 3418), (808.5, 4758), (906.8, 4497), (1001.2, 4754),
    (1099.4, 4135), (1182.0, 4506), (1274.1, 4706), (1373.5, 4695), (1472.1, 4063),
    (1559.2, 1426),
)
KEPLER_LC_DAYS = 0.0204335  # 29.4 min
K2_ROWS = 3650
TESS_SECTOR1_BTJD = 1325.3
TESS_SECTOR_DAYS = 27.4
SLC_ROWS = 44_000           # one month of 1-min cadences
TESS_FAST_FACTOR = 6        # 20 s instead of 120 s
ZTF_SHAPE = (3080, 3072)    # NAXIS2, NAXIS1 of a science quadrant

COLUMNS = (
    ("TIME", "D", "BJD - {bjdref}"), ("TIMECORR", "E", "d"), ("CADENCENO", "J", ""),
    ("SAP_FLUX", "E", "e-/s"), ("SAP_FLUX_ERR", "E", "e-/s"), ("SAP_BKG", "E", "e-/s"),
    ("SAP_BKG_ERR", "E", "e-/s"), ("PDCSAP_FLUX", "E", "e-/s"), ("PDCSAP_FLUX_ERR", "E", "e-/s"),
    ("{quality}", "J", ""), ("PSF_CENTR1", "D", "pixel"), ("PSF_CENTR1_ERR", "E", "pixel"),
    ("PSF_CENTR2", "D", "pixel"), ("PSF_CENTR2_ERR", "E", "pixel"), ("MOM_CENTR1", "D", "pixel"),
    ("MOM_CENTR1_ERR", "E", "pixel"), ("MOM_CENTR2", "D", "pixel"), ("MOM_CENTR2_ERR", "E", "pixel"),
    ("POS_CORR1", "E", "pixels"), ("POS_CORR2", "E", "pixels"),
)


def _pad(nbytes: int) -> int:
    return int(math.ceil(nbytes / BLOCK)) * BLOCK


def seeded_rng(seed: int, name: str, version: int = 0):
    """A generator that depends only on the universe seed, the file name and its version."""
    import numpy as np

    return np.random.default_rng([int(seed), zlib.crc32(name.encode())] + ([int(version)] if version else []))


# ----------------------------------------------------------------- sizes
def lightcurve_rows(kind: str, period: int, scale: float, fraction: float = 1.0) -> int:
    """Rows of a light curve at this scale (full scale: ~4,400 Kepler, ~20,000 TESS) covering
    ``fraction`` of its quarter, campaign or sector."""
    if kind == "kepler_llc":
        base = KEPLER_QUARTERS[period][1]
    elif kind == "kepler_slc":
        base = SLC_ROWS
    elif kind == "k2_llc":
        base = K2_ROWS
    elif kind == "k2_slc":
        base = K2_ROWS * 30  # one-minute cadences over the same campaign
    else:
        base = 20076 if period == 1 else 18_000 + (period * 7919) % 2600
        if kind == "tess_fast":
            base *= TESS_FAST_FACTOR
    return max(MIN_ROWS, int(round(base * fraction * scale)))


@functools.lru_cache(maxsize=None)
def _overhead(kind: str) -> int:
    """Bytes of a light curve of this kind apart from its table data (fixed per kind)."""
    one_row = build_lightcurve(kind, _placeholder_meta(kind), 1, seed=0)
    return len(one_row) - _pad(ROW_BYTES)


def lightcurve_size(kind: str, nrows: int) -> int:
    return _overhead(kind) + _pad(nrows * ROW_BYTES)


def ztf_shape(scale: float) -> tuple[int, int]:
    """Image (rows, columns): each axis multiplied by scale, full size at scale >= 1."""
    factor = min(1.0, scale)
    return (max(16, int(round(ZTF_SHAPE[0] * factor))), max(16, int(round(ZTF_SHAPE[1] * factor))))


@functools.lru_cache(maxsize=None)
def _ztf_overhead() -> int:
    """Header bytes of a ZTF image (fixed: the same cards in every file)."""
    return len(_build_ztf_shape(_placeholder_ztf_row(), (16, 16), 0, "x")) - _pad(16 * 16 * 4)


def ztf_size(scale: float) -> int:
    height, width = ztf_shape(scale)
    return _ztf_overhead() + _pad(height * width * 4)


# ----------------------------------------------------------------- metadata
def _placeholder_meta(kind: str) -> dict:
    return {"target": 1, "period": 1, "month": 1, "ra": 0.0, "dec": 0.0, "teff": 5000.0,
            "logg": 4.0, "radius": 1.0, "mag": 12.0, "planets": (), "filename": "x"}


def lightcurve_meta(universe, product) -> dict:
    """What a light curve needs from the universe: the star and the planets to inject."""
    target, kind = product.target_id, product.kind
    meta = {"target": target, "period": product.period, "month": product.extra.get("month", 0),
            "window": product.extra.get("window", (0.0, 1.0)), "filename": product.filename,
            "planets": ()}
    if kind.startswith("kepler"):
        star = universe.kepler_stars[target]
        meta.update(ra=star["ra"], dec=star["dec"], teff=float(star["teff"]),
                    logg=star["logg"], radius=star["radius"], mag=star["kepmag"])
        meta["planets"] = tuple((k["koi_period"], k["koi_time0bk"], k["koi_depth"],
                                 k["koi_duration"]) for k in universe.kois
                                if k["kepid"] == target)
    elif kind.startswith("k2"):
        host = universe.k2_hosts[target]
        meta.update(ra=host["ra"], dec=host["dec"], teff=float(host["teff"]), logg=4.4,
                    radius=host["radius"], mag=12.5)
    else:
        star = universe.tic_params(target)
        meta.update(ra=star["ra"], dec=star["dec"], teff=float(star["Teff"]),
                    logg=star["logg"], radius=star["rad"], mag=star["Tmag"])
        meta["planets"] = tuple((t["pl_orbper"], TESS_SECTOR1_BTJD + 1.0, 2000.0, 2.5)
                                for t in universe.tois if t["tid"] == target)
    return meta


def time_span(kind: str, period: int, month: int, window=(0.0, 1.0)) -> tuple[float, float, int]:
    """(start, span in days, BJDREFI) of the light curve's observing window."""
    start, span, bjdref = _full_span(kind, period, month)
    return start + window[0] * span, window[1] * span, bjdref


def _full_span(kind: str, period: int, month: int) -> tuple[float, float, int]:
    if kind == "kepler_llc":
        start, rows = KEPLER_QUARTERS[period]
        return start, rows * KEPLER_LC_DAYS, 2454833
    if kind == "kepler_slc":
        start, rows = KEPLER_QUARTERS[period]
        return start + (month - 1) * rows * KEPLER_LC_DAYS / 3, rows * KEPLER_LC_DAYS / 3, 2454833
    if kind.startswith("k2"):
        return 1940.0 + 80.0 * period, K2_ROWS * KEPLER_LC_DAYS, 2454833
    return TESS_SECTOR1_BTJD + TESS_SECTOR_DAYS * (period - 1), TESS_SECTOR_DAYS - 0.6, 2457000


# ----------------------------------------------------------------- light curves
def _columns_data(kind: str, meta: dict, nrows: int, rng) -> dict:
    """Column arrays: noisy flux with transits, NaN gaps with quality flags, centroids."""
    import numpy as np

    start, span, _ = time_span(kind, meta["period"], meta["month"], meta.get("window", (0.0, 1.0)))
    time = start + (np.arange(nrows) + 0.5) * (span / nrows)
    level = flux_level(meta["mag"])
    model = transit_model(time, meta["planets"])
    noise = rng.normal(0.0, 1.0, nrows).astype("f8")
    sap = (level * model * (1 + 2e-4 * noise) * (1 + 1e-3 * np.sin(time / 7.0))).astype("f4")
    pdc = (level * model * (1 + 2e-4 * noise)).astype("f4")
    quality = np.zeros(nrows, dtype="i4")
    gap = gap_mask(nrows, rng)
    quality[gap] = 32768 if kind.startswith("tess") else 2048
    for array in (sap, pdc):
        array[gap] = np.nan
    centroid1 = 500.0 + 0.01 * rng.normal(size=nrows)
    centroid2 = 300.0 + 0.01 * rng.normal(size=nrows)
    err = np.full(nrows, level * 2e-4, dtype="f4")
    small = np.full(nrows, 1e-3, dtype="f4")
    return {
        "TIME": time, "TIMECORR": np.full(nrows, 1e-3, dtype="f4"),
        "CADENCENO": np.arange(nrows, dtype="i4") + 1000 * meta["period"],
        "SAP_FLUX": sap, "SAP_FLUX_ERR": err, "SAP_BKG": np.full(nrows, 50.0, dtype="f4"),
        "SAP_BKG_ERR": small, "PDCSAP_FLUX": pdc, "PDCSAP_FLUX_ERR": err, "QUALITY": quality,
        "PSF_CENTR1": np.where(gap, np.nan, centroid1), "PSF_CENTR1_ERR": small,
        "PSF_CENTR2": np.where(gap, np.nan, centroid2), "PSF_CENTR2_ERR": small,
        "MOM_CENTR1": centroid1, "MOM_CENTR1_ERR": small, "MOM_CENTR2": centroid2,
        "MOM_CENTR2_ERR": small, "POS_CORR1": small * 0, "POS_CORR2": small * 0,
    }


def flux_level(mag: float) -> float:
    """A star's flux in e-/s from its magnitude (2e5 e-/s at magnitude 12)."""
    return 2.0e5 * 10 ** (-0.4 * (mag - 12.0))


def transit_model(time, planets):
    """Relative flux at ``time``: 1 with box transits of (period, t0, depth ppm, duration h)."""
    import numpy as np

    model = np.ones(len(time))
    for period, t0, depth_ppm, duration_h in planets:
        phase = ((time - t0 + 0.5 * period) % period) - 0.5 * period
        model[np.abs(phase) < duration_h / 48.0] -= depth_ppm * 1e-6
    return model


def gap_mask(nrows: int, rng):
    """A data-downlink gap of ~3% of the window plus a few lone flagged cadences."""
    import numpy as np

    gap = np.zeros(nrows, dtype=bool)
    width = max(1, nrows // 33)
    at = int(rng.integers(nrows // 4, max(nrows // 4 + 1, 3 * nrows // 4)))
    gap[at:at + width] = True
    gap[rng.integers(0, nrows, size=max(1, nrows // 500))] = True
    return gap


def primary_header(kind: str, meta: dict):
    from astropy.io import fits

    header = fits.Header()
    tess = kind.startswith("tess")
    header["NEXTEND"] = (2, "number of standard extensions")
    header["EXTNAME"] = ("PRIMARY", "name of extension")
    header["ORIGIN"] = ("NASA/Ames", "institution responsible for creating this file")
    header["DATE"] = ("2019-01-01", "file creation date.")
    header["CREATOR"] = (("4419 LightCurveExporterPipelineModule" if tess
                          else "826860 FluxExporter2PipelineModule"), "pipeline job and program")
    header["FILEVER"] = ("6.1" if not tess else "0.0", "file format version")
    header["TELESCOP"] = ("TESS" if tess else "Kepler", "telescope")
    header["INSTRUME"] = ("TESS Photometer" if tess else "Kepler Photometer", "detector type")
    header["OBJECT"] = (object_name(kind, meta["target"]), "string version of target id")
    if tess:
        header["TICID"] = (meta["target"], "unique tess target identifier")
        header["SECTOR"] = (meta["period"], "Observing sector")
        camera, ccd = tess_camera_ccd(meta["target"])
        header["CAMERA"] = (camera, "Camera number")
        header["CCD"] = (ccd, "CCD chip number")
    else:
        header["KEPLERID"] = (meta["target"], "unique Kepler target identifier")
        key = "CAMPAIGN" if kind.startswith("k2") else "QUARTER"
        header[key] = (meta["period"], "Observing campaign" if key == "CAMPAIGN" else "Observing quarter")
        header["MISSION"] = ("K2" if kind.startswith("k2") else "Kepler", "Mission name")
        header["OBSMODE"] = ("short cadence" if kind.endswith("_slc") else "long cadence", "observing mode")
    header["RADESYS"] = ("ICRS", "reference frame of celestial coordinates")
    header["RA_OBJ"] = (float(meta["ra"]), "[deg] right ascension")
    header["DEC_OBJ"] = (float(meta["dec"]), "[deg] declination")
    header["EQUINOX"] = (2000.0, "equinox of celestial coordinate system")
    header["TEFF"] = (float(meta["teff"]), "[K] Effective temperature")
    header["LOGG"] = (float(meta["logg"]), "[cm/s2] log10 surface gravity")
    header["RADIUS"] = (float(meta["radius"]), "[solar radii] stellar radius")
    header["TESSMAG" if tess else "KEPMAG"] = (float(meta["mag"]), "[mag] magnitude")
    return header


def tess_camera_ccd(tid: int) -> tuple[int, int]:
    """(camera, CCD) a TESS star falls on: fixed per star (real stars move between sectors)."""
    return 1 + tid % 4, 1 + (tid // 4) % 4


def object_name(kind: str, target: int) -> str:
    if kind.startswith("tess"):
        return f"TIC {target}"
    return f"EPIC {target}" if kind.startswith("k2") else f"KIC {target}"


def _table_hdu(kind: str, meta: dict, nrows: int, data: dict):
    from astropy.io import fits

    tess = kind.startswith("tess")
    _, span, bjdref = time_span(kind, meta["period"], meta["month"], meta.get("window", (0.0, 1.0)))
    columns = []
    for name, fmt, unit in COLUMNS:
        name = name.format(quality="QUALITY" if tess else "SAP_QUALITY")
        array = data["QUALITY" if name.endswith("QUALITY") else name]
        columns.append(fits.Column(name=name, format=fmt, unit=unit.format(bjdref=bjdref) or None,
                                   array=array))
    hdu = fits.BinTableHDU.from_columns(columns, name="LIGHTCURVE")
    header = hdu.header
    header["TELESCOP"] = ("TESS" if tess else "Kepler", "telescope")
    header["OBJECT"] = (object_name(kind, meta["target"]), "string version of target id")
    header["TIMEREF"] = ("SOLARSYSTEM", "barycentric correction applied to times")
    header["TIMESYS"] = ("TDB", "time system is barycentric JD")
    header["BJDREFI"] = (bjdref, "integer part of BTJD reference date")
    header["BJDREFF"] = (0.0, "fraction of the day in BTJD reference date")
    header["TIMEUNIT"] = ("d", "time unit for TIME, TSTART and TSTOP")
    header["TSTART"] = (float(data["TIME"][0]), "observation start time in BTJD")
    header["TSTOP"] = (float(data["TIME"][-1]), "observation stop time in BTJD")
    header["TIMEDEL"] = (float(span / nrows), "[d] time resolution of data")
    return hdu


def _aperture_hdu(kind: str, meta: dict):
    import numpy as np
    from astropy.io import fits

    shape = (11, 11) if kind.startswith("tess") else (9, 8)
    mask = np.ones(shape, dtype="i4")
    mask[2:-2, 2:-2] = 3  # bit 1: collected, bit 2: in the optimal aperture
    hdu = fits.ImageHDU(mask, name="APERTURE")
    hdu.header["TELESCOP"] = ("TESS" if kind.startswith("tess") else "Kepler", "telescope")
    hdu.header["OBJECT"] = (object_name(kind, meta["target"]), "string version of target id")
    hdu.header["RA_OBJ"] = (float(meta["ra"]), "[deg] right ascension")
    hdu.header["DEC_OBJ"] = (float(meta["dec"]), "[deg] declination")
    return hdu


def to_bytes(hdus) -> bytes:
    from astropy.io import fits

    hdulist = fits.HDUList(hdus)
    for hdu in hdulist:
        hdu.add_checksum(when=CHECKSUM_WHEN)
    buffer = io.BytesIO()
    hdulist.writeto(buffer, checksum=False)
    return buffer.getvalue()


def build_lightcurve(kind: str, meta: dict, nrows: int, seed: int, version: int = 0) -> bytes:
    """The bytes of one light-curve file (a later ``version``: same layout, other data)."""
    from astropy.io import fits

    rng = seeded_rng(seed, meta["filename"], version)
    data = _columns_data(kind, meta, nrows, rng)
    primary = fits.PrimaryHDU(header=primary_header(kind, meta))
    return to_bytes([primary, _table_hdu(kind, meta, nrows, data), _aperture_hdu(kind, meta)])


# ----------------------------------------------------------------- ZTF
def _placeholder_ztf_row() -> dict:
    return {"field": 1, "ccdid": 1, "qid": 1, "filtercode": "zg", "fid": 1, "obsjd": 2458000.5,
            "exptime": 30.0, "ra": 0.0, "dec": 0.0, "seeing": 2.0, "maglimit": 20.5,
            "filefracday": 20180101000000}


def _ztf_header(row: dict):
    from astropy.io import fits

    header = fits.Header()
    header["ORIGIN"] = ("Zwicky Transient Facility", "Data producer")
    header["TELESCOP"] = ("P48", "Name of telescope")
    header["INSTRUME"] = ("ZTF/MOSAIC", "Instrument name")
    header["FIELDID"] = (row["field"], "ZTF field ID")
    header["CCDID"] = (row["ccdid"], "CCD number (1..16)")
    header["QID"] = (row["qid"], "Quadrant ID (1..4)")
    header["FILTER"] = ({"zg": "ZTF_g", "zr": "ZTF_r", "zi": "ZTF_i"}[row["filtercode"]], "Filter")
    header["FILTERID"] = (row["fid"], "Filter ID")
    header["OBSJD"] = (float(row["obsjd"]), "[day] Julian day at start of exposure")
    header["EXPTIME"] = (float(row["exptime"]), "[s] Requested exposure time")
    header["FILEFRAC"] = (str(row["filefracday"]), "filefracday of the exposure")
    header["RAD"] = (float(row["ra"]), "[deg] Quadrant center RA")
    header["DECD"] = (float(row["dec"]), "[deg] Quadrant center Dec")
    header["SEEING"] = (float(row["seeing"]), "[arcsec] seeing FWHM")
    header["MAGLIM"] = (float(row["maglimit"]), "[mag] 5-sigma limiting magnitude")
    header["MAGZP"] = (26.0, "[mag] photometric zero point")
    return header


def build_ztf(row: dict, scale: float, seed: int, name: str, version: int = 0) -> bytes:
    """One science-image quadrant: sky plus noise, a few stars, float32, with checksums."""
    return _build_ztf_shape(row, ztf_shape(scale), seed, name, version)


def _build_ztf_shape(row: dict, shape, seed: int, name: str, version: int = 0) -> bytes:
    import numpy as np
    from astropy.io import fits

    rng = seeded_rng(seed, name, version)
    image = rng.standard_normal(shape, dtype=np.float32)
    image *= 12.0
    image += 150.0
    ys, xs = rng.integers(0, shape[0], 40), rng.integers(0, shape[1], 40)
    image[ys, xs] += rng.uniform(500, 20000, 40).astype("f4")
    return to_bytes([fits.PrimaryHDU(image, header=_ztf_header(row))])
