"""Kepler and K2: confirmed planet hosts from the Exoplanet Archive, light curves from MAST."""

from __future__ import annotations

import re
from collections import OrderedDict

from .. import registry
from ..errors import NoTargetsError, UsageError
from .common import PlannerContext, SourcePlan, TargetPlan, mast_light_curves, to_float
from .tables import tap_query

__all__ = ["QUARTER_STAMPS", "plan_k2", "plan_kepler"]

# Every star shares one file stamp per long-cadence quarter (docs/archive-facts.md section 2).
QUARTER_STAMPS = {
    0: "2009131105131", 1: "2009166043257", 2: "2009259160929", 3: "2009350155506",
    4: "2010078095331", 5: "2010174085026", 6: "2010265121752", 7: "2010355172524",
    8: "2011073133259", 9: "2011177032512", 10: "2011271113734", 11: "2012004120508",
    12: "2012088054726", 13: "2012179063303", 14: "2012277125453", 15: "2013011073258",
    16: "2013098041711", 17: "2013131215648",
}

KEPLER_QUERY = ("select kepid,kepoi_name,kepler_name,koi_disposition,koi_period,ra,dec,"
                "koi_steff,koi_slogg,koi_srad,koi_smass,koi_kepmag from cumulative "
                "where koi_disposition = 'CONFIRMED' order by kepoi_name")

K2_QUERY = ("select pl_name,hostname,epic_hostname,disposition,default_flag,ra,dec,"
            "st_teff,st_logg,st_rad,st_mass,sy_kepmag from k2pandc "
            "where disposition = 'CONFIRMED' and default_flag = 1 order by epic_hostname,pl_name")



def plan_kepler(ctx: PlannerContext, *, n: int, cadence: str = "long", quarters: list[int] = ()) -> SourcePlan:
    """The first ``n`` distinct hosts of CONFIRMED KOIs (by KIC), with their Kepler light curves."""
    if quarters and cadence != "long":
        raise UsageError("--quarter selects long-cadence quarters only",
                         hint="drop --quarter, or use --cadence long")
    bad = sorted(set(quarters) - set(QUARTER_STAMPS))
    if bad:
        raise UsageError(f"--quarter: Kepler quarters are 0-17, got {', '.join(map(str, bad))}")
    hosts = _first_hosts(tap_query(ctx.http, ctx.config["endpoints.exoplanet_tap"], KEPLER_QUERY),
                         key="kepid", n=n)
    if not hosts:
        raise NoTargetsError(f"no targets matched: {KEPLER_QUERY}", hint="the Exoplanet Archive returned no rows")
    stamps = {QUARTER_STAMPS[q] for q in quarters}
    files, refused = mast_light_curves(
        ctx, source="kepler", collection="Kepler", target_names={f"kplr{int(k):09d}": k for k in hosts},
        product=registry.source("kepler").product(cadence),
        keep=lambda name: not stamps or _stamp(name) in stamps)
    targets = [TargetPlan(_kepler_target(kic, rows), files.get(kic, [])) for kic, rows in hosts.items()]
    return SourcePlan("kepler", KEPLER_QUERY, targets, refused)


def plan_k2(ctx: PlannerContext, *, n: int, cadence: str = "long", campaigns: list[int] = ()) -> SourcePlan:
    """The first ``n`` distinct EPIC hosts of confirmed K2 planets, with their K2 light curves."""
    rows = tap_query(ctx.http, ctx.config["endpoints.exoplanet_tap"], K2_QUERY)
    for row in rows:
        match = re.fullmatch(r"EPIC\s*(\d+)", (row.get("epic_hostname") or "").strip())
        row["epic"] = match.group(1) if match else ""
    hosts = _first_hosts([r for r in rows if r["epic"]], key="epic", n=n)
    if not hosts:
        raise NoTargetsError(f"no targets matched: {K2_QUERY}", hint="the Exoplanet Archive returned no rows")
    wanted = {f"c{c:02d}" for c in campaigns}
    files, refused = mast_light_curves(
        ctx, source="k2", collection="K2", target_names={f"ktwo{int(e):09d}": e for e in hosts},
        product=registry.source("k2").product(cadence),
        keep=lambda name: not wanted or _campaign(name) in wanted)
    targets = [TargetPlan(_k2_target(epic, rows), files.get(epic, [])) for epic, rows in hosts.items()]
    return SourcePlan("k2", K2_QUERY, targets, refused)


def _first_hosts(rows: list[dict], *, key: str, n: int) -> "OrderedDict[str, list[dict]]":
    """Rows grouped by host, in catalog order, first ``n`` hosts (a host may have many planets)."""
    hosts: OrderedDict[str, list[dict]] = OrderedDict()
    for row in rows:
        host = str(row.get(key) or "").strip()
        if not host.isdigit():
            continue
        host = str(int(host))
        if host not in hosts and len(hosts) == n:
            continue
        hosts.setdefault(host, []).append(row)
    return hosts


def _kepler_target(kic: str, rows: list[dict]) -> dict:
    first = rows[0]
    return {"source": "kepler", "target_id": kic, "name": f"KIC {kic}", "ra_deg": to_float(first.get("ra")),
            "dec_deg": to_float(first.get("dec")), "teff_k": to_float(first.get("koi_steff")),
            "logg_cgs": to_float(first.get("koi_slogg")), "radius_rsun": to_float(first.get("koi_srad")),
            "mass_msun": to_float(first.get("koi_smass")), "magnitude": to_float(first.get("koi_kepmag")),
            "magnitude_band": "Kp", "disposition": "CONFIRMED", "catalog_row": rows}


def _k2_target(epic: str, rows: list[dict]) -> dict:
    first = rows[0]
    return {"source": "k2", "target_id": epic, "name": f"EPIC {epic}", "ra_deg": to_float(first.get("ra")),
            "dec_deg": to_float(first.get("dec")), "teff_k": to_float(first.get("st_teff")),
            "logg_cgs": to_float(first.get("st_logg")), "radius_rsun": to_float(first.get("st_rad")),
            "mass_msun": to_float(first.get("st_mass")), "magnitude": to_float(first.get("sy_kepmag")),
            "magnitude_band": "Kp", "disposition": first.get("disposition") or "CONFIRMED",
            "catalog_row": [{k: v for k, v in r.items() if k != "epic"} for r in rows]}


def _stamp(filename: str) -> str:
    match = re.match(r"kplr\d{9}-(\d{13})_", filename)
    return match.group(1) if match else ""


def _campaign(filename: str) -> str:
    match = re.match(r"ktwo\d{9}-(c\d{2,3})_", filename)
    return match.group(1) if match else ""
