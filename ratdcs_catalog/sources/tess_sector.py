"""TESS at survey scale: every SPOC target of whole sectors (`plan tess --sector 40 --all-targets`).

No TOI list and no per-target query: one ``Mast.Caom.Filtered`` query per sector (every SPOC
time-series observation at the cadence's exposure time), followed page by page
(``catalog.page_size`` rows a page), then ``Mast.Caom.Products`` for ``catalog.obsids_per_request``
observations at a time. A sector of N targets costs about ``N / page_size + N /
obsids_per_request`` requests (41 for a 20,000-target sector with the defaults), whatever N is.
A target's row says what the observation rows say (TIC id, position); its other stellar
parameters stay empty (or as an earlier TOI plan left them).
"""

from __future__ import annotations

from ..errors import NoTargetsError, UsageError
from ..registry import Product
from .common import PlannerContext, SourcePlan, TargetPlan, mast_files, to_float
from .periods import tess_sector

__all__ = ["EXPOSURE_SECONDS", "plan_sectors"]

# t_exptime of SPOC time-series observations, by --cadence (docs/archive-facts.md section 1).
EXPOSURE_SECONDS = {"120s": 120, "20s": 20}


def plan_sectors(ctx: PlannerContext, *, sectors: list[int], cadence: str, products: list[Product]) -> SourcePlan:
    """Every target MAST has SPOC ``cadence`` observations of in ``sectors``, with its ``products``."""
    if any(p.group == "cutout" for p in products):
        raise UsageError("--all-targets plans SPOC products (lc, tpf, dv), not FFI cutouts",
                         hint="TESScut answers one target per request; drop cutout from --products "
                              "(or tess.products), or plan cutouts of a TOI list without --all-targets")
    mast = ctx.mast()
    observations = [obs for sector in dict.fromkeys(sectors)
                    for obs in mast.sector_observations("TESS", sector, EXPOSURE_SECONDS[cadence])
                    if str(obs.get("target_name") or "").strip().isdigit()]
    query = (f"MAST Mast.Caom.Filtered: obs_collection=TESS provenance_name=SPOC "
             f"sequence_number={','.join(map(str, sectors))} t_exptime={EXPOSURE_SECONDS[cadence]}")
    if not observations:
        raise NoTargetsError(f"no targets matched: {query}",
                             hint="check --sector and --cadence (20-s data exists from sector 27 on)")
    target_names = {str(obs["target_name"]).strip(): str(int(str(obs["target_name"]))) for obs in observations}
    wanted = set(sectors)
    files, refused = mast_files(ctx, observations, source="tess", target_names=target_names, products=products,
                                obsids_per_request=ctx.config["catalog.obsids_per_request"],
                                period_of=tess_sector, keep=lambda planned: planned.sector in wanted)
    first: dict[str, dict] = {}
    for obs in observations:
        first.setdefault(target_names[str(obs["target_name"]).strip()], obs)
    targets = [TargetPlan(_target(tid, obs), files.get(tid, []))
               for tid, obs in sorted(first.items(), key=lambda item: int(item[0]))]
    return SourcePlan("tess", query, targets, refused)


def _target(tid: str, obs: dict) -> dict:
    """A targets row from an observation row: its TIC id and position. No catalog_row, so a
    TOI plan's TOI and TIC rows for the same star are kept (the manifest keeps what is not None)."""
    return {"source": "tess", "target_id": tid, "name": f"TIC {tid}", "ra_deg": to_float(obs.get("s_ra")),
            "dec_deg": to_float(obs.get("s_dec"))}
