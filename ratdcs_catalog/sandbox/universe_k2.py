"""K2 in the sandbox universe: hosts, planets (the `k2pandc` table) and every MAST file of a host.

One observation per campaign (``ktwo<epic>-c05_lc``), holding the light curve, the target pixel
file and a preview; short cadence (about one host campaign in five) adds ``_sc`` observations.
Campaigns 9, 10 and 11 were downlinked in two parts (recorded for C10 and C11): C10 is one
observation whose light curve is part 2 only (``-c102_llc.fits``) and whose pixels come in both
parts; C11 is two observations, ``-c111_lc`` and ``-c112_lc``, each with its own light curve.
C9 is assumed to come as C11 does (``-c91``/``-c92``).
"""

from __future__ import annotations

from . import fitsgen, naming, pixels
from .model import Observation, Product, light_curve, other_file
from .universe_kepler import pick, unique_ids

N_HOSTS = 420
K2_DISPOSITIONS = (("CONFIRMED", 0.50), ("CANDIDATE", 0.40), ("FALSE POSITIVE", 0.08), ("REFUTED", 0.02))
SECOND_CAMPAIGN = {5: 16, 16: 18, 6: 17, 4: 13, 3: 12, 8: 19}
# (start, length) of each part as fractions of the campaign: C10 part 1 was six days before a
# module failure (its recorded pixel file is 6% the size of part 2's); C9, C11 splits assumed.
SPLIT_WINDOWS = {9: {1: (0.0, 0.45), 2: (0.45, 0.55)}, 10: {1: (0.0, 0.08), 2: (0.08, 0.92)},
                 11: {1: (0.0, 0.33), 2: (0.33, 0.67)}}
# Recorded hosts (lightkurve's split-campaign cassette) take the last two hosts' places.
RECORDED_HOSTS = {228725972: {"campaigns": (10,), "ra": 189.704085, "dec": -10.060654},
                  203830112: {"campaigns": (11,)}}


def build(rng) -> tuple[dict[int, dict], list[dict]]:
    """(hosts by EPIC, `k2pandc` rows)."""
    epics = unique_ids(rng, 201_000_000, 251_810_000, N_HOSTS)
    for at, epic in enumerate(e for e in RECORDED_HOSTS if e not in epics):
        epics[-1 - at] = epic
    hosts: dict[int, dict] = {}
    planets: list[dict] = []
    k2_number = 0
    for epic in epics:
        campaign = int(rng.integers(0, 20))
        campaigns = [campaign]
        if campaign in SECOND_CAMPAIGN and rng.random() < 0.3:
            campaigns.append(SECOND_CAMPAIGN[campaign])
        host = {"epic": epic, "ra": round(float(rng.uniform(0, 360)), 6),
                "dec": round(float(rng.uniform(-28, 25)), 6),
                "teff": round(float(rng.normal(5400, 800))),
                "radius": round(float(rng.uniform(0.3, 2.5)), 3),
                "campaigns": tuple(sorted(campaigns))}
        host.update(RECORDED_HOSTS.get(epic, {}))
        # About one host campaign in five also has a short-cadence file. Chosen by the ids,
        # not drawn: a draw here would shift every later draw and change the whole universe.
        host["slc_campaigns"] = tuple(c for c in host["campaigns"] if (epic + c) % 5 == 0)
        hosts[epic] = host
        n_planets = int(rng.choice([1, 2, 3], p=[0.8, 0.15, 0.05]))
        dispositions = pick(rng, K2_DISPOSITIONS, n_planets)
        if "CONFIRMED" in dispositions:
            k2_number += 1
        for j, disposition in enumerate(dispositions):
            planets.extend(_k2_rows(rng, host, j, disposition, k2_number))
    return hosts, planets


def _k2_rows(rng, host, j, disposition, k2_number) -> list[dict]:
    """k2pandc keeps one row per planet and reference; exactly one is the default."""
    epic = host["epic"]
    confirmed = disposition == "CONFIRMED"
    name = f"K2-{k2_number} {'bcd'[j]}" if confirmed else f"EPIC {epic}.{j + 1:02d}"
    period = round(float(10 ** rng.uniform(-0.2, 1.8)), 6)
    n_refs = int(rng.integers(1, 4))
    rows = []
    for ref in range(n_refs):
        rows.append({
            "pl_name": name, "hostname": f"K2-{k2_number}" if confirmed else f"EPIC {epic}",
            "epic_hostname": f"EPIC {epic}", "epic_candname": f"EPIC {epic}.{j + 1:02d}",
            "disposition": disposition, "disp_refname": f"Reference {ref + 1}",
            "default_flag": 1 if ref == 0 else 0,
            "k2_campaigns": ",".join(str(c) for c in host["campaigns"]),
            "k2_campaigns_num": len(host["campaigns"]), "pl_orbper": period,
            "ra": host["ra"], "dec": host["dec"], "st_teff": float(host["teff"]),
            "st_rad": host["radius"], "st_logg": 4.4, "st_mass": round(host["radius"] ** 0.8, 3),
            "sy_kepmag": kepmag(epic), "rowupdate": "2024-05-01",
        })
    return rows


# ----------------------------------------------------------------- files
def _parts(campaign: int) -> tuple[int, ...]:
    """The observations of a campaign, by part: (0,) unsplit, (1, 2) for C9 and C11, (0,) for C10."""
    return (1, 2) if campaign in (9, 11) else (0,)


def _light_curve_parts(campaign: int, part: int) -> tuple[int, ...]:
    """Which parts an observation's light curves (and pixel files) come in."""
    if campaign == 10:
        return (2,)
    return (part,)


def _lc(host: dict, campaign: int, part: int, cadence: str, scale: float) -> Product:
    kind, epic = ("k2_llc", "llc") if cadence == "long" else ("k2_slc", "slc"), host["epic"]
    window = SPLIT_WINDOWS[campaign][part] if part else (0.0, 1.0)
    return light_curve(kind[0], naming.k2_file(epic, "lightcurves", campaign, part, f"{kind[1]}.fits"),
                       target=epic, period=campaign, period_text=naming.k2_period(campaign, part),
                       obs_id=naming.k2_obs_id(epic, campaign, part, cadence),
                       nrows=fitsgen.lightcurve_rows(kind[0], campaign, scale, window[1]),
                       month=0, window=window, part=part)


def light_curves(host: dict, cadence: str, scale: float) -> list[Product]:
    """The host's light curves of every campaign (split campaigns: one per part listed)."""
    campaigns = host["campaigns"] if cadence == "long" else host["slc_campaigns"]
    return [_lc(host, c, part, cadence, scale) for c in campaigns for obs_part in _parts(c)
            for part in _light_curve_parts(c, obs_part)]


def observations(host: dict, scale: float) -> list[Observation]:
    out = []
    for cadence, campaigns in (("long", host["campaigns"]), ("short", host["slc_campaigns"])):
        for c in campaigns:
            for part in _parts(c):
                lcs = tuple(_lc(host, c, p, cadence, scale) for p in _light_curve_parts(c, part))
                out.append(Observation(naming.k2_obs_id(host["epic"], c, part, cadence), "K2", host["epic"],
                                       cadence, c, 1800 if cadence == "long" else 60, lcs, part))
    return sorted(out, key=lambda o: (o.cadence != "long", o.sequence_number, o.part))


def preview(obs: Observation) -> Product:
    """The observation's preview (its jpegURL), of the part its light curve covers."""
    c, part = obs.sequence_number, obs.light_curves[0].extra["part"]
    return other_file("k2_preview", naming.k2_file(obs.target_id, "previews", c, part, "llc_bw_large.png"),
                      target=obs.target_id, obs_id=obs.obs_id, period=c)


def observation_files(host: dict, obs: Observation, scale: float) -> list[Product]:
    """Preview, light curve, target pixel files (recorded order for EPIC 228725972's C10)."""
    epic, c, long = host["epic"], obs.sequence_number, obs.cadence == "long"
    pixel_parts = (1, 2) if c == 10 else (obs.part,)
    files = ([preview(obs)] if long else []) + list(obs.light_curves)
    kind, suffix = ("k2_lpd", "lpd-targ.fits.gz") if long else ("k2_spd", "spd-targ.fits.gz")
    shape = pixels.stamp_shape(kind, kepmag(epic))
    for part in pixel_parts:
        window = SPLIT_WINDOWS[c][part] if part else (0.0, 1.0)
        rows = fitsgen.lightcurve_rows("k2_llc" if long else "k2_slc", c, scale, window[1])
        files.append(other_file(kind, naming.k2_file(epic, "target_pixel_files", c, part, suffix), target=epic,
                                obs_id=obs.obs_id, period=c, period_text=naming.k2_period(c, part), rows=rows,
                                shape=shape, window=window, month=0))
    return files


def kepmag(epic: int) -> float:
    """A host's Kepler magnitude (``sy_kepmag`` of its k2pandc rows): fixed by the EPIC id."""
    return round(10.0 + epic % 600 / 100.0, 3)
