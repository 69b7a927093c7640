"""Kepler in the sandbox universe: stars, KOIs (the `cumulative` table) and every MAST file of a star.

A star has one long-cadence observation holding a light curve and a target pixel file per
quarter, the all-quarters tarball, a preview and the DV time series (the recorded Kepler-10
answer), and, for ~8% of stars, a short-cadence observation with one light curve and one target
pixel file per month. Stars that sat on module 3 in Q4 (about 5%: one season in four of the 20%
that lose a season to it) have a short Q4 file with another stamp, as Kepler-10 has.
"""

from __future__ import annotations

import math

from . import fitsgen, naming, pixels
from .model import Observation, Product, light_curve, other_file

N_STARS = 2400
KOI_DISPOSITIONS = (("CONFIRMED", 0.29), ("CANDIDATE", 0.20), ("FALSE POSITIVE", 0.51))
MODULE3_SEASON = 2          # the dead season (quarters 4, 8, 12, 16) in which module 3 held the star in Q4
MODULE3_Q4_ROWS = 1028      # long cadences of Q4 before the failure (21 days of 29.4 min)
# Kepler-10 as MAST lists it (recorded): position, quarters, short-cadence months per quarter; its
# pixel stamp is chosen so that its Q0 pixel file is near the recorded 902,820 bytes at scale 1.
KEPLER_10 = {"kepid": 11904151, "ra": 285.679391, "dec": 50.2413, "stamp": (9, 8),
             "quarters": (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17),
             "slc_months": {2: (3,), 3: (1, 2, 3), 4: (1,), 5: (1, 2, 3), 6: (1, 2, 3), 7: (1, 2, 3),
                            9: (1, 2, 3), 10: (1, 2, 3), 11: (1, 2, 3), 13: (1, 2, 3), 14: (1, 2, 3),
                            15: (1, 2, 3), 17: (1, 2)}}


def pick(rng, choices, size):
    """Draw labels with the given shares (a tuple of (label, probability))."""
    labels = [c[0] for c in choices]
    probs = [c[1] for c in choices]
    return [labels[i] for i in rng.choice(len(labels), size=size, p=probs)]


def unique_ids(rng, low, high, n):
    """n distinct integers in [low, high), in random order (no full permutation of the range)."""
    import numpy as np

    ids = rng.integers(low, high, size=int(n * 1.3) + 16)
    _, first = np.unique(ids, return_index=True)
    ids = ids[sorted(first)]
    return [int(x) for x in ids[:n]]


def build(rng) -> tuple[dict[int, dict], list[dict]]:
    """(stars by KIC, KOI rows in `cumulative` order). Kepler-10 takes the last star's place."""
    kics = unique_ids(rng, 1_000_000, 13_000_000, N_STARS)
    if KEPLER_10["kepid"] not in kics:
        kics[-1] = KEPLER_10["kepid"]
    n_planets = rng.choice([1, 2, 3, 4, 5], size=N_STARS, p=[0.75, 0.15, 0.06, 0.03, 0.01])
    ras, decs = rng.uniform(280.0, 301.0, N_STARS), rng.uniform(36.5, 52.0, N_STARS)
    teffs = rng.normal(5600, 700, N_STARS).clip(3200, 9000)
    loggs = rng.normal(4.35, 0.3, N_STARS).clip(2.5, 5.1)
    rads = (10 ** rng.normal(0.0, 0.2, N_STARS)).clip(0.15, 12.0)
    kepmags = rng.uniform(9.0, 16.5, N_STARS)
    stars: dict[int, dict] = {}
    for i, kic in enumerate(kics):
        quarters, dead_season = _draw_quarters(rng)
        stars[kic] = {
            "kepid": kic, "ra": round(float(ras[i]), 6), "dec": round(float(decs[i]), 6),
            "teff": round(float(teffs[i])), "logg": round(float(loggs[i]), 3),
            "radius": round(float(rads[i]), 3), "kepmag": round(float(kepmags[i]), 3),
            "quarters": quarters, "n_planets": int(n_planets[i]),
            "module3_q4": dead_season == MODULE3_SEASON and 4 in quarters,
        }
    for star in stars.values():
        star["slc_quarters"] = _draw_slc(rng, star["quarters"])
        star["slc_months"] = {q: naming.kepler_sc_months(q, star["module3_q4"]) for q in star["slc_quarters"]}
    if KEPLER_10["kepid"] in stars:
        stars[KEPLER_10["kepid"]].update(KEPLER_10, module3_q4=True, slc_quarters=tuple(KEPLER_10["slc_months"]))
    return stars, _build_kois(rng, stars, kics)


def _draw_quarters(rng) -> tuple[tuple[int, ...], int | None]:
    """A realistic subset of Q0-Q17 (late starts, early ends, module-3 seasonal gaps) and the
    star's dead season (None: not on module 3)."""
    first = 0 if rng.random() < 0.4 else (1 if rng.random() < 0.85 else int(rng.integers(2, 11)))
    last = 17 if rng.random() < 0.9 else int(rng.integers(max(first, 8), 17))
    # Module 3 failed in January 2010 (Q4); stars that fell on it lose one season in four.
    dead_season = int(rng.integers(0, 4)) if rng.random() < 0.2 else None
    quarters = [q for q in range(first, last + 1)
                if dead_season is None or q < 6 or (q - 2) % 4 != dead_season]
    return tuple(quarters or [first]), dead_season


def _draw_slc(rng, quarters) -> tuple[int, ...]:
    """About 8% of stars also have short-cadence data for one to four quarters."""
    usable = [q for q in quarters if q > 0]
    if not usable or rng.random() >= 0.08:
        return ()
    n = int(rng.integers(1, min(4, len(usable)) + 1))
    return tuple(sorted(int(q) for q in rng.choice(usable, size=n, replace=False)))


def _build_kois(rng, stars: dict, kics: list[int]) -> list[dict]:
    n_kois = sum(stars[k]["n_planets"] for k in kics)
    dispositions = pick(rng, KOI_DISPOSITIONS, n_kois)
    periods = 10 ** rng.uniform(-0.3, 2.6, n_kois)
    depths = 10 ** rng.uniform(1.5, 4.3, n_kois)
    kois: list[dict] = []
    kepler_number = 0
    at = 0
    for koi_number, kic in enumerate(kics, start=1):
        star = stars[kic]
        letters = iter("bcdefgh")
        host_number = None
        for j in range(star["n_planets"]):
            disposition = dispositions[at]
            name = None
            if disposition == "CONFIRMED":
                if host_number is None:
                    kepler_number += 1
                    host_number = kepler_number
                name = f"Kepler-{host_number} {next(letters)}"
            kois.append(_koi_row(star, koi_number, j + 1, disposition, name, float(periods[at]),
                                 float(depths[at])))
            at += 1
    # The archive's default order of `cumulative` is by KOI name.
    kois.sort(key=lambda row: row["kepoi_name"])
    return kois


def _koi_row(star, koi_number, planet, disposition, kepler_name, period, depth) -> dict:
    quarters = set(star["quarters"])
    return {
        "kepid": star["kepid"], "kepoi_name": f"K{koi_number:05d}.{planet:02d}",
        "kepler_name": kepler_name, "koi_disposition": disposition,
        "koi_pdisposition": "FALSE POSITIVE" if disposition == "FALSE POSITIVE" else "CANDIDATE",
        "koi_period": round(period, 6), "koi_depth": round(depth, 1),
        "koi_duration": round(2.0 + 1.5 * math.log10(1 + period), 4),
        "koi_time0bk": round(131.5 + (koi_number * 7.31 + planet) % period, 5),
        "koi_prad": round(star["radius"] * 109.1 * math.sqrt(depth * 1e-6), 2),
        "ra": star["ra"], "dec": star["dec"], "koi_steff": float(star["teff"]),
        "koi_slogg": star["logg"], "koi_srad": star["radius"], "koi_kepmag": star["kepmag"],
        "koi_smass": round(star["radius"] ** 0.8, 3), "koi_smet": 0.0,
        "koi_quarters": "".join("1" if q in quarters else "0" for q in range(1, 33)),
        "koi_score": 1.0 if disposition == "CONFIRMED" else 0.5,
        "koi_delivname": "q1_q17_dr25_koi", "koi_vet_stat": "Done",
    }


# ----------------------------------------------------------------- files
def obs_id(star: dict, cadence: str) -> str:
    if cadence == "long":
        return naming.kepler_obs_id(star["kepid"], "long", {q: 1 for q in star["quarters"]})
    return naming.kepler_obs_id(star["kepid"], "short", {q: len(m) for q, m in star["slc_months"].items()})


def light_curves(star: dict, cadence: str, scale: float) -> list[Product]:
    """The star's long-cadence light curves (one a quarter) or short-cadence ones (one a month)."""
    if cadence == "long":
        return [_llc(star, q, scale) for q in star["quarters"]]
    return [_slc(star, q, m, scale) for q in star["slc_quarters"] for m in star["slc_months"][q]]


def _llc(star: dict, quarter: int, scale: float) -> Product:
    kic, module3 = star["kepid"], star["module3_q4"] and quarter == 4
    stamp = naming.kepler_lc_stamp(quarter, module3)
    window = (0.0, MODULE3_Q4_ROWS / fitsgen.KEPLER_QUARTERS[4][1]) if module3 else (0.0, 1.0)
    return light_curve("kepler_llc", naming.kepler_file(kic, "lightcurves", f"kplr{kic:09d}-{stamp}_llc.fits"),
                       target=kic, period=quarter, period_text=f"Q{quarter}", obs_id=obs_id(star, "long"),
                       nrows=fitsgen.lightcurve_rows("kepler_llc", quarter, scale, window[1]),
                       month=0, window=window, stamp=stamp)


def _slc(star: dict, quarter: int, month: int, scale: float) -> Product:
    kic, module3 = star["kepid"], star["module3_q4"] and quarter == 4
    stamp = naming.kepler_sc_stamp(quarter, month, module3)
    window = (0.0, 3 * MODULE3_Q4_ROWS / fitsgen.KEPLER_QUARTERS[4][1]) if module3 else (0.0, 1.0)
    return light_curve("kepler_slc", naming.kepler_file(kic, "lightcurves", f"kplr{kic:09d}-{stamp}_slc.fits"),
                       target=kic, period=quarter, period_text=f"Q{quarter}", obs_id=obs_id(star, "short"),
                       nrows=fitsgen.lightcurve_rows("kepler_slc", quarter, scale, window[1]),
                       month=month, window=window, stamp=stamp)


def observations(star: dict, scale: float) -> list[Observation]:
    out = [Observation(obs_id(star, "long"), "Kepler", star["kepid"], "long", -999, 1800,
                       tuple(light_curves(star, "long", scale)))]
    if star["slc_quarters"]:
        out.append(Observation(obs_id(star, "short"), "Kepler", star["kepid"], "short", -999, 60,
                               tuple(light_curves(star, "short", scale))))
    return out


def preview(obs: Observation) -> Product:
    """The observation's preview (its jpegURL): the last full-length quarter's plot (Q17 is one
    month long), the first month of it for short cadence: Kepler-10 shows Q15 (recorded)."""
    kic, lcs = obs.target_id, [p for p in obs.light_curves if p.period < 17] or list(obs.light_curves)
    stamp = next(p for p in lcs if p.period == lcs[-1].period).extra["stamp"]
    name = f"kplr{kic:09d}-{stamp}_{'llc' if obs.cadence == 'long' else 'slc'}_bw_large.png"
    return other_file("kepler_preview", naming.kepler_file(kic, "previews", name), target=kic, obs_id=obs.obs_id)


def tarball(obs: Observation) -> Product:
    """All the observation's light curves in one tar (its dataURL)."""
    return other_file("kepler_tar_lc" if obs.cadence == "long" else "kepler_tar_sc",
                      naming.kepler_file(obs.target_id, "lightcurves", f"{obs.obs_id}.tar"), target=obs.target_id,
                      obs_id=obs.obs_id, members=obs.light_curves)


def observation_files(star: dict, obs: Observation, scale: float) -> list[Product]:
    """Every file of the observation, in the order MAST lists them (recorded for Kepler-10's
    long cadence: DV time series, preview, tarball, light curves, target pixel files)."""
    kic, lcs, long = star["kepid"], list(obs.light_curves), obs.cadence == "long"
    dvt = naming.kepler_file(kic, "dv_files", f"kplr{kic:09d}-{naming.KEPLER_DV_STAMP}_dvt.fits")
    files = [other_file("kepler_dvt", dvt, target=kic, obs_id=obs.obs_id, rows=sum(p.nrows for p in lcs),
                        n_tces=star["n_planets"])] if long else []
    kind = "kepler_lpd" if long else "kepler_spd"
    shape = star.get("stamp") or pixels.stamp_shape(kind, star["kepmag"])
    tpfs = [other_file(kind, naming.kepler_file(kic, "target_pixel_files",
                                                f"kplr{kic:09d}-{p.extra['stamp']}_{kind[-3:]}-targ.fits.gz"),
                       target=kic, obs_id=obs.obs_id, period=p.period, period_text=f"Q{p.period}", rows=p.nrows,
                       shape=shape, window=p.extra["window"], month=p.extra["month"])
            for p in lcs]
    return files + [preview(obs), tarball(obs)] + lcs + tpfs
