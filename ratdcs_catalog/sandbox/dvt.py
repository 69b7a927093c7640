"""DV time series files (``*_dvt.fits``), generated: Kepler's (all quarters of a star) and TESS SPOC's
(one sector).

Layout, as code that processes real SPOC files reads them (a TESS DV resampler by the SPOC team
opens ``TCE_<n>`` for n up to the primary's ``NUMTCES`` and a ``statistics`` extension; another
tool lists a real TCE table's dtype):

- HDU 0 ``PRIMARY``: TELESCOP, ORIGIN, CREATOR, OBJECT, KEPLERID or TICID (+ SECTOR), RA_OBJ,
  DEC_OBJ, stellar parameters, ``NUMTCES``.
- one binary table per TCE, ``TCE_1``, ``TCE_2``...: TIME (D), TIMECORR (E), CADENCENO (J), PHASE,
  LC_INIT, LC_INIT_ERR, LC_WHITE, LC_DETREND, MODEL_INIT, MODEL_WHITE (E), 44 bytes a row.
- ``STATISTICS``: TIME, TIMECORR, CADENCENO, PDCSAP_FLUX, PDCSAP_FLUX_ERR, DEWEIGHTS, QUALITY.

Assumed (no real file seen): the statistics extension's TIME/TIMECORR/CADENCENO and column order,
its EXTNAME's case (astropy writes names upper-case; the SPOC code opens it as ``statistics``),
the TCE headers' TPERIOD/TEPOCH/TDUR/TDEPTH/TSNR cards, the CREATOR text, and the values'
conventions (fluxes relative and zero-centred, PHASE in days from mid-transit).
Real files carry more statistics than these: AU Mic's recorded sector-27 file (two TCEs) is
4,325,760 bytes, about 1.8 times this layout's size for its cadences.

One TCE per planet of the star (KOIs, TOIs); a star with more TCEs than planets (AU Mic's two)
gets the rest at made-up ephemerides. Sizes are a fixed overhead per (kind, TCEs) plus the tables
padded to 2880 bytes, known without building; bytes depend on (seed, file name, version).
"""

from __future__ import annotations

import functools
import math

from . import fitsgen
from .fitsgen import BLOCK, seeded_rng

TCE_COLUMNS = (("TIME", "D", "BJD - {bjdref}"), ("TIMECORR", "E", "d"), ("CADENCENO", "J", None),
               ("PHASE", "E", "d"), ("LC_INIT", "E", None), ("LC_INIT_ERR", "E", None), ("LC_WHITE", "E", None),
               ("LC_DETREND", "E", None), ("MODEL_INIT", "E", None), ("MODEL_WHITE", "E", None))
STAT_COLUMNS = (("TIME", "D", "BJD - {bjdref}"), ("TIMECORR", "E", "d"), ("CADENCENO", "J", None),
                ("PDCSAP_FLUX", "E", "e-/s"), ("PDCSAP_FLUX_ERR", "E", "e-/s"), ("DEWEIGHTS", "E", None),
                ("QUALITY", "J", None))
WIDTH = {"D": 8, "E": 4, "J": 4}
TCE_ROW, STAT_ROW = (sum(WIDTH[f] for _, f, _ in cols) for cols in (TCE_COLUMNS, STAT_COLUMNS))
KEPLER_END = fitsgen.KEPLER_QUARTERS[-1][0] + fitsgen.KEPLER_QUARTERS[-1][1] * fitsgen.KEPLER_LC_DAYS


def _pad(nbytes: int) -> int:
    return int(math.ceil(nbytes / BLOCK)) * BLOCK


@functools.lru_cache(maxsize=None)
def _overhead(kind: str, n_tces: int) -> int:
    one_row = build_dvt(kind, {"target": 1, "period": 1, "ra": 0.0, "dec": 0.0, "teff": 5000.0, "logg": 4.0,
                               "radius": 1.0, "mag": 12.0, "planets": (), "filename": "x"}, n_tces, 1, seed=0)
    return len(one_row) - n_tces * _pad(TCE_ROW) - _pad(STAT_ROW)


def dvt_size(kind: str, n_tces: int, nrows: int) -> int:
    """The exact size of a DV time series of ``n_tces`` TCEs over ``nrows`` cadences."""
    n_tces = max(1, int(n_tces))
    return _overhead(kind, n_tces) + n_tces * _pad(nrows * TCE_ROW) + _pad(nrows * STAT_ROW)


def span(kind: str, period: int) -> tuple[float, float, int]:
    """(start, days, BJDREFI) the file covers: every quarter for Kepler, the sector for TESS."""
    if kind.startswith("kepler"):
        start = fitsgen.KEPLER_QUARTERS[0][0]
        return start, KEPLER_END - start, 2454833
    return fitsgen.time_span("tess_lc", period, 0)


def tces(meta: dict, n_tces: int, start: float) -> list[tuple[float, float, float, float]]:
    """(period d, epoch, depth ppm, duration h) per TCE: the star's planets, then made-up ones."""
    found = list(meta["planets"])[:n_tces]
    found += [(3.7 * (n + 1), start + 0.9 * (n + 1), 500.0, 2.0) for n in range(len(found), n_tces)]
    return found


def _primary(kind: str, meta: dict, n_tces: int):
    from astropy.io import fits

    tess = kind.startswith("tess")
    header = fits.Header()
    header["NEXTEND"] = (n_tces + 1, "number of standard extensions")
    header["EXTNAME"] = ("PRIMARY", "name of extension")
    header["ORIGIN"] = ("NASA/Ames", "institution responsible for creating this file")
    header["DATE"] = ("2019-01-01", "file creation date.")
    header["CREATOR"] = ("DvTimeSeriesExporter", "pipeline job and program")
    header["TELESCOP"] = ("TESS" if tess else "Kepler", "telescope")
    header["INSTRUME"] = ("TESS Photometer" if tess else "Kepler Photometer", "detector type")
    header["OBJECT"] = (fitsgen.object_name(kind, meta["target"]), "string version of target id")
    header["TICID" if tess else "KEPLERID"] = (meta["target"], "unique target identifier")
    if tess:
        header["SECTOR"] = (meta["period"], "Observing sector")
    header["RADESYS"] = ("ICRS", "reference frame of celestial coordinates")
    header["RA_OBJ"] = (float(meta["ra"]), "[deg] right ascension")
    header["DEC_OBJ"] = (float(meta["dec"]), "[deg] declination")
    header["TEFF"] = (float(meta["teff"]), "[K] Effective temperature")
    header["LOGG"] = (float(meta["logg"]), "[cm/s2] log10 surface gravity")
    header["RADIUS"] = (float(meta["radius"]), "[solar radii] stellar radius")
    header["TESSMAG" if tess else "KEPMAG"] = (float(meta["mag"]), "[mag] magnitude")
    header["NUMTCES"] = (n_tces, "number of TCEs in this file")
    return fits.PrimaryHDU(header=header)


def _table(columns, arrays: dict, name: str, bjdref: int):
    from astropy.io import fits

    cols = [fits.Column(name=col, format=fmt, unit=unit.format(bjdref=bjdref) if unit else None, array=arrays[col])
            for col, fmt, unit in columns]
    hdu = fits.BinTableHDU.from_columns(cols, name=name)
    hdu.header["INHERIT"] = True
    return hdu


def build_dvt(kind: str, meta: dict, n_tces: int, nrows: int, seed: int, version: int = 0) -> bytes:
    """The bytes of one DV time series file (a later ``version``: same layout, other noise)."""
    import numpy as np

    n_tces = max(1, int(n_tces))
    rng = seeded_rng(seed, meta["filename"], version)
    start, days, bjdref = span(kind, meta["period"])
    time = start + (np.arange(nrows) + 0.5) * (days / nrows)
    gap = fitsgen.gap_mask(nrows, rng)
    noise = rng.normal(0.0, 2e-4, nrows).astype("f4")
    common = {"TIME": time, "TIMECORR": np.full(nrows, 1e-3, dtype="f4"),
              "CADENCENO": np.arange(nrows, dtype="i4") + 1000 * int(meta["period"])}
    all_planets = tces(meta, n_tces, start)
    level = fitsgen.flux_level(meta["mag"])
    total = fitsgen.transit_model(time, all_planets)
    hdus = [_primary(kind, meta, n_tces)]
    for n, planet in enumerate(all_planets, start=1):
        hdus.append(_tce_hdu(n, planet, common, time, noise, gap, bjdref))
    stats = {**common, "PDCSAP_FLUX": np.where(gap, np.nan, level * (total + noise)).astype("f4"),
             "PDCSAP_FLUX_ERR": np.full(nrows, level * 2e-4, dtype="f4"),
             "DEWEIGHTS": np.where(gap, 0.0, 1.0).astype("f4"),
             "QUALITY": np.where(gap, 32768 if kind.startswith("tess") else 2048, 0).astype("i4")}
    hdus.append(_table(STAT_COLUMNS, stats, "Statistics", bjdref))
    return fitsgen.to_bytes(hdus)


def _tce_hdu(n: int, planet, common: dict, time, noise, gap, bjdref: int):
    import numpy as np

    period, epoch, depth_ppm, duration_h = planet
    model = (fitsgen.transit_model(time, (planet,)) - 1.0).astype("f4")
    init = np.where(gap, np.nan, model + noise).astype("f4")
    arrays = {**common, "PHASE": (((time - epoch + 0.5 * period) % period) - 0.5 * period).astype("f4"),
              "LC_INIT": init, "LC_INIT_ERR": np.full(len(time), 2e-4, dtype="f4"), "LC_WHITE": init / 2e-4,
              "LC_DETREND": init, "MODEL_INIT": model, "MODEL_WHITE": model / 2e-4}
    hdu = _table(TCE_COLUMNS, arrays, f"TCE_{n}", bjdref)
    hdu.header["TPERIOD"] = (float(period), "[d] detected period")
    hdu.header["TEPOCH"] = (float(epoch), "[BJD - BJDREFI] epoch of first transit")
    hdu.header["TDUR"] = (float(duration_h), "[hr] transit duration")
    hdu.header["TDEPTH"] = (float(depth_ppm), "[ppm] transit depth")
    hdu.header["TSNR"] = (float(depth_ppm / 2e2 * math.sqrt(max(1.0, len(time) / 100))), "transit signal to noise")
    return hdu
