"""Kepler and K2: confirmed planet hosts from the Exoplanet Archive, light curves from MAST."""

from __future__ import annotations

import re
from collections import OrderedDict

from .. import registry
from ..errors import NoTargetsError, UsageError
from .common import PlannerContext, SourcePlan, TargetPlan, mast_light_curves, to_float
from .periods import k2_campaign, kepler_quarter
from .tables import tap_query

__all__ = ["plan_k2", "plan_kepler"]

KEPLER_QUERY = ("select kepid,kepoi_name,kepler_name,koi_disposition,koi_period,ra,dec,"
                "koi_steff,koi_slogg,koi_srad,koi_smass,koi_kepmag from cumulative "
                "where koi_disposition = 'CONFIRMED' order by kepoi_name")

K2_QUERY = ("select pl_name,hostname,epic_hostname,disposition,default_flag,ra,dec,"
            "st_teff,st_logg,st_rad,st_mass,sy_kepmag from k2pandc "
            "where disposition = 'CONFIRMED' and default_flag = 1 order by epic_hostname,pl_name")



def plan_kepler(ctx: PlannerContext, *, n: int, cadence: str = "long", quarters: list[int] = (),
                products: list[str] = ("lc",)) -> SourcePlan:
    """The first ``n`` distinct hosts of CONFIRMED KOIs (by KIC), with their Kepler light curves."""
    if quarters and cadence != "long":
        raise UsageError("--quarter selects long-cadence quarters only",
                         hint="drop --quarter, or use --cadence long")
    hosts = _first_hosts(tap_query(ctx.http, ctx.config["endpoints.exoplanet_tap"], KEPLER_QUERY),
                         key="kepid", n=n)
    if not hosts:
        raise NoTargetsError(f"no targets matched: {KEPLER_QUERY}", hint="the Exoplanet Archive returned no rows")
    wanted = set(quarters)
    files, refused = mast_light_curves(
        ctx, source="kepler", collection="Kepler", target_names={f"kplr{int(k):09d}": k for k in hosts},
        products=registry.source("kepler").selected(products, cadence), period_of=kepler_quarter,
        keep=lambda planned: not wanted or planned.quarter in wanted)
    targets = [TargetPlan(_kepler_target(kic, rows), files.get(kic, [])) for kic, rows in hosts.items()]
    return SourcePlan("kepler", KEPLER_QUERY, targets, refused)


def plan_k2(ctx: PlannerContext, *, n: int, cadence: str = "long", campaigns: list[int] = (),
            products: list[str] = ("lc",)) -> SourcePlan:
    """The first ``n`` distinct EPIC hosts of confirmed K2 planets, with their K2 light curves."""
    rows = tap_query(ctx.http, ctx.config["endpoints.exoplanet_tap"], K2_QUERY)
    for row in rows:
        match = re.fullmatch(r"EPIC\s*(\d+)", (row.get("epic_hostname") or "").strip())
        row["epic"] = match.group(1) if match else ""
    hosts = _first_hosts([r for r in rows if r["epic"]], key="epic", n=n)
    if not hosts:
        raise NoTargetsError(f"no targets matched: {K2_QUERY}", hint="the Exoplanet Archive returned no rows")
    wanted = set(campaigns)  # --campaign 10 takes both parts of the split C10
    files, refused = mast_light_curves(
        ctx, source="k2", collection="K2", target_names={f"ktwo{int(e):09d}": e for e in hosts},
        products=registry.source("k2").selected(products, cadence), period_of=k2_campaign,
        keep=lambda planned: not wanted or planned.campaign in wanted)
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
