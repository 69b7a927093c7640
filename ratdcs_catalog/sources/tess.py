"""TESS: TOI hosts from the Exoplanet Archive, TIC stellar parameters and SPOC light curves from MAST."""

from __future__ import annotations

from collections import OrderedDict

from .. import registry
from ..errors import NoTargetsError, UsageError
from .common import PlannerContext, SourcePlan, TargetPlan, batched, mast_light_curves, to_float
from .periods import tess_sector
from .tables import tap_query

__all__ = ["DISPOSITIONS", "plan_tess"]

# TFOPWG dispositions in the `toi` table (docs/archive-facts.md section 3).
DISPOSITIONS = ("PC", "CP", "KP", "APC", "FP", "FA")


def toi_query(dispositions: list[str]) -> str:
    listed = ",".join(f"'{d}'" for d in dispositions)
    return ("select toi,tid,tfopwg_disp,pl_orbper,ra,dec,st_tmag,st_teff,st_logg,st_rad,st_dist from toi "
            f"where tfopwg_disp in ({listed}) order by toi")


def plan_tess(ctx: PlannerContext, *, n: int, dispositions: list[str], cadence: str = "120s",
              sectors: list[int] = (), products: list[str] = ("lc",), cutout_size: int = 10,
              all_targets: bool = False) -> SourcePlan:
    """The first ``n`` distinct TIC hosts of TOIs with these dispositions, their TIC rows, and their
    SPOC products (light curves; with ``products``, target pixel files, DV time series and FFI
    cutouts from TESScut, ``cutout_size`` pixels square). With ``all_targets``: every SPOC target
    of ``sectors`` instead, from MAST's observations of the sectors (``tess_sector``)."""
    if all_targets:
        from .tess_sector import plan_sectors

        return plan_sectors(ctx, sectors=list(sectors), cadence=cadence,
                            products=registry.source("tess").selected(products, cadence))
    dispositions = check_dispositions(dispositions)
    query = toi_query(dispositions)
    hosts: OrderedDict[str, list[dict]] = OrderedDict()
    toi_rows = tap_query(ctx.http, ctx.config["endpoints.exoplanet_tap"], query)
    # Sorted here as numbers too: a service that types `toi` as text would put 1000.01 before 101.01.
    toi_rows.sort(key=lambda r: to_float(r.get("toi")) or 0.0)
    for row in toi_rows:
        tid = str(row.get("tid") or "").strip()
        if tid.isdigit() and (tid in hosts or len(hosts) < n):
            hosts.setdefault(str(int(tid)), []).append(row)
    if not hosts:
        raise NoTargetsError(f"no targets matched: {query}", hint="try other --disposition values")
    tic = _tic_parameters(ctx, list(hosts))
    wanted = set(sectors)
    mast_products = [p for p in registry.source("tess").selected(products, cadence) if p.group != "cutout"]
    files, refused = mast_light_curves(
        ctx, source="tess", collection="TESS", target_names={tid: tid for tid in hosts},
        products=mast_products, period_of=tess_sector, keep=lambda planned: not wanted or planned.sector in wanted)
    targets = [TargetPlan(_tess_target(tid, rows, tic.get(tid)), files.get(tid, [])) for tid, rows in hosts.items()]
    if "cutout" in products:
        from .tesscut import plan_cutouts

        cutouts, more_refused = plan_cutouts(ctx, [t.target for t in targets], size=cutout_size, sectors=wanted)
        for target in targets:
            target.files += cutouts.get(target.target["target_id"], [])
        refused += more_refused
    return SourcePlan("tess", query, targets, refused)


def check_dispositions(dispositions: list[str]) -> list[str]:
    chosen = [d.strip().upper() for d in dispositions if d.strip()]
    unknown = [d for d in chosen if d not in DISPOSITIONS]
    if unknown or not chosen:
        raise UsageError(f"--disposition: unknown TOI disposition {', '.join(unknown) or '(none given)'}",
                         hint=f"choose from {', '.join(DISPOSITIONS)}")
    return chosen


def _tic_parameters(ctx: PlannerContext, tic_ids: list[str]) -> dict[str, dict]:
    """TIC rows by id, fetched ``catalog.batch_size`` ids per request."""
    mast = ctx.mast()
    found: dict[str, dict] = {}
    for ids in batched(tic_ids, ctx.batch_size):
        for row in mast.tic_rows(ids):
            found[str(row.get("ID"))] = row
    return found


def _tess_target(tid: str, toi_rows: list[dict], tic_row: dict | None) -> dict:
    """Stellar parameters from the TIC where it has them, else from the TOI table."""
    toi = toi_rows[0]
    tic_row = tic_row or {}

    def pick(tic_key: str, toi_key: str | None) -> float | None:
        value = to_float(tic_row.get(tic_key))
        return value if value is not None or toi_key is None else to_float(toi.get(toi_key))

    return {"source": "tess", "target_id": tid, "name": f"TIC {tid}", "ra_deg": pick("ra", "ra"),
            "dec_deg": pick("dec", "dec"), "teff_k": pick("Teff", "st_teff"), "logg_cgs": pick("logg", "st_logg"),
            "radius_rsun": pick("rad", "st_rad"), "mass_msun": pick("mass", None),
            "magnitude": pick("Tmag", "st_tmag"), "magnitude_band": "Tmag", "distance_pc": pick("d", "st_dist"),
            "disposition": toi.get("tfopwg_disp"), "catalog_row": {"toi": toi_rows, "tic": tic_row or None}}
