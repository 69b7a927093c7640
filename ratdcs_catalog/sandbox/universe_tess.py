"""TESS in the sandbox universe: TIC rows, TOIs (the `toi` table) and every MAST file of a star.

One observation per sector and cadence: 120 s (light curve, target pixel file and the DV
products: time series, full report as PDF and XML, mini report, one TCE summary per TOI of the
star) and, for about 8% of stars from sector 27 on, 20 s (light curve and target pixel file),
as the recorded AU Mic sector-27 answer lists them.
"""

from __future__ import annotations

import math

from . import fitsgen, naming, pixels
from .model import Observation, Product, light_curve, other_file
from .universe_kepler import pick, unique_ids

N_HOSTS = 1800
TOI_DISPOSITIONS = (("PC", 0.58), ("CP", 0.11), ("KP", 0.09), ("APC", 0.05), ("FP", 0.13), ("FA", 0.04))
# AU Mic (TIC 441420236) as the recording shows it: sectors 1 and 27, 20 s data in sector 27, two
# TCEs, and a 13x11 stamp: its recorded pixel files (50,711,040 and 304,773,120 bytes) are 2,888
# bytes a cadence over its light curves' cadences, which is 143 pixels.
AU_MIC = {"tid": 441420236, "ra": 311.289718192023, "dec": -31.3409004606736, "sectors": (1, 27),
          "fast_sectors": (27,), "n_tces": 2, "stamp": (13, 11)}


def build(rng) -> tuple[dict[int, dict], dict[int, dict], list[dict]]:
    """(TIC rows by id, stars by id with their sectors, `toi` rows). AU Mic takes the last place."""
    tids = unique_ids(rng, 10_000_000, 470_000_000, N_HOSTS)
    if AU_MIC["tid"] not in tids:
        tids[-1] = AU_MIC["tid"]
    dispositions = pick(rng, TOI_DISPOSITIONS, N_HOSTS * 3)
    tic: dict[int, dict] = {}
    stars: dict[int, dict] = {}
    tois: list[dict] = []
    at = 0
    for n, tid in enumerate(tids):
        star = _tic_row(rng, tid)
        tic[tid] = star
        sectors = draw_sectors(rng)
        fast = tuple(s for s in sectors if s >= 27) if rng.random() < 0.08 else ()
        stars[tid] = {"tid": tid, "sectors": sectors, "fast_sectors": fast,
                      "stamp": pixels.stamp_shape("tess_tp", star["Tmag"])}
        if tid == AU_MIC["tid"]:
            star.update(ra=AU_MIC["ra"], dec=AU_MIC["dec"])
            stars[tid].update(sectors=AU_MIC["sectors"], fast_sectors=AU_MIC["fast_sectors"], stamp=AU_MIC["stamp"])
        for j in range(int(rng.choice([1, 2, 3], p=[0.9, 0.08, 0.02]))):
            tois.append(_toi_row(rng, star, 101 + n, j + 1, dispositions[at]))
            at += 1
    for row in tois:  # one TCE summary (DVS) per TOI of the star; AU Mic has two (recorded)
        stars[row["tid"]]["n_tces"] = stars[row["tid"]].get("n_tces", 0) + 1
    if AU_MIC["tid"] in stars:
        stars[AU_MIC["tid"]]["n_tces"] = AU_MIC["n_tces"]
    return tic, stars, tois


def draw_sectors(rng) -> tuple[int, ...]:
    """Most stars fall in one or two sectors; a few near the ecliptic poles in dozens."""
    n = int(rng.choice([1, 2, 3, 4, 6, 9, 13, 26], p=[0.35, 0.25, 0.12, 0.1, 0.07, 0.05, 0.04, 0.02]))
    return tuple(sorted(int(s) for s in rng.choice(range(1, 84), size=n, replace=False)))


def _tic_row(rng, tid) -> dict:
    teff = float(rng.normal(5700, 900))
    return {
        "ID": tid, "version": "20190415", "objType": "STAR", "typeSrc": "tmgaia2",
        "ra": round(float(rng.uniform(0, 360)), 6),
        "dec": round(float(math.degrees(math.asin(rng.uniform(-1, 1)))), 6),
        "Tmag": round(float(rng.uniform(6.0, 13.5)), 3), "Teff": round(teff),
        "logg": round(float(rng.normal(4.3, 0.3)), 3),
        "rad": round(float(10 ** rng.normal(0.0, 0.25)), 3),
        "mass": round(float(10 ** rng.normal(0.0, 0.15)), 3),
        "d": round(float(10 ** rng.uniform(1.0, 3.0)), 2),
        "MH": round(float(rng.normal(0.0, 0.2)), 3), "lumclass": "DWARF",
        "disposition": None, "objID": str(400_000_000 + tid % 1_000_000_000),
    }


def _toi_row(rng, star, prefix, planet, disposition) -> dict:
    tid = star["ID"]
    return {
        "tid": tid, "tidstr": f"TIC {tid}", "toi": round(prefix + planet / 100.0, 2),
        "toipfx": str(prefix), "toipfxstr": f"TOI {prefix}",
        "ctoi_alias": f"{tid}.{planet:02d}", "pl_pnum": 1, "tfopwg_disp": disposition,
        "st_tmag": star["Tmag"], "ra": star["ra"], "dec": star["dec"],
        "pl_orbper": round(float(10 ** rng.uniform(-0.5, 1.7)), 6),
        "st_teff": float(star["Teff"]), "st_logg": star["logg"], "st_rad": star["rad"],
        "st_dist": star["d"], "toi_created": "2019-01-01 00:00:00",
        "rowupdate": "2024-06-01 00:00:00",
    }


# ----------------------------------------------------------------- files
def _obs_id(tid: int, sector: int, cadence: str) -> str:
    return naming.tess_base(tid, sector) + ("-s" if cadence == "120s" else "-a_fast")


def _lc(tid: int, sector: int, cadence: str, scale: float) -> Product:
    kind = "tess_lc" if cadence == "120s" else "tess_fast"
    name = naming.tess_base(tid, sector) + ("-s_lc.fits" if cadence == "120s" else "-a_fast-lc.fits")
    return light_curve(kind, naming.tess_file(tid, sector, name), target=tid, period=sector, period_text="",
                       obs_id=_obs_id(tid, sector, cadence), nrows=fitsgen.lightcurve_rows(kind, sector, scale),
                       month=0)


def light_curves(star: dict, cadence: str, scale: float) -> list[Product]:
    sectors = star["sectors"] if cadence == "120s" else star["fast_sectors"]
    return [_lc(star["tid"], s, cadence, scale) for s in sectors]


def observations(star: dict, scale: float) -> list[Observation]:
    """By sector; in a sector the 20-s observation first (its obsid is the lower in the recording)."""
    found = [Observation(_obs_id(star["tid"], lc.period, cadence), "TESS", star["tid"], cadence, lc.period,
                         120 if cadence == "120s" else 20, (lc,))
             for cadence in ("120s", "20s") for lc in light_curves(star, cadence, scale)]
    return sorted(found, key=lambda o: (o.sequence_number, o.cadence == "120s"))


def observation_files(star: dict, obs: Observation, scale: float) -> list[Product]:
    """120 s: DV reports, DV time series, light curve, pixels; 20 s: light curve, pixels
    (the recorded order for AU Mic's sector 27)."""
    tid, sector, (lc,) = star["tid"], obs.sequence_number, obs.light_curves
    files = []
    if obs.cadence == "120s" and star.get("n_tces", 1):  # a survey star (n_tces 0) has no DV products
        for kind, names in naming.tess_dv_names(tid, sector, star.get("n_tces", 1)).items():
            files += [other_file(kind, naming.tess_file(tid, sector, name), target=tid, obs_id=obs.obs_id,
                                 period=sector, rows=lc.nrows, scale=scale, n_tces=star.get("n_tces", 1))
                      for name in names]
    name = naming.tess_base(tid, sector) + ("-s_tp.fits" if obs.cadence == "120s" else "-a_fast-tp.fits")
    return files + [lc, other_file("tess_tp" if obs.cadence == "120s" else "tess_fast_tp",
                                   naming.tess_file(tid, sector, name), target=tid, obs_id=obs.obs_id,
                                   period=sector, rows=lc.nrows, shape=star["stamp"], month=0)]
