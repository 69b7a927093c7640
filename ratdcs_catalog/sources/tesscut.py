"""TESS full-frame-image cutouts from MAST's TESScut service (what astroquery's ``Tesscut`` and
lightkurve's ``search_tesscut`` use).

Per target, one request asks which sectors cover its position (``sector?ra=&dec=&radius=``);
each sector becomes one planned file whose URL asks TESScut for a ``size`` x ``size`` pixel
cutout (``astrocut?ra=&dec=&y=&x=&units=px&sector=``). TESScut answers a zip holding one
TPF-shaped FITS file; the sync unpacks it (``ratdcs_catalog/unpack.py``) and keeps the FITS
file. Its size is unknown until downloaded, as a ZTF image's is.
"""

from __future__ import annotations

from typing import Iterable
from urllib.parse import urlencode

from .. import registry
from ..errors import ArchiveError, UnsafeProductError
from ..paths import check_relative_path, check_url
from ..records import PlannedFile
from .common import PlannerContext

__all__ = ["plan_cutouts"]

# The position is one point: any sector whose footprint holds it (TESScut's radius is in degrees).
SEARCH_RADIUS_DEG = 0.0001


def plan_cutouts(ctx: PlannerContext, targets: list[dict], *, size: int, sectors: Iterable[int] = ()
                 ) -> tuple[dict[str, list[PlannedFile]], list[str]]:
    """Cutout files per target id (one per sector that covers it), and targets refused."""
    base = ctx.config["endpoints.tesscut"].rstrip("/")
    wanted, product = set(sectors), registry.source("tess").product(group="cutout")
    files: dict[str, list[PlannedFile]] = {}
    refused: list[str] = []
    for target in targets:
        tid, ra, dec = target["target_id"], target.get("ra_deg"), target.get("dec_deg")
        if ra is None or dec is None:
            refused.append(f"refused cutouts of TIC {tid}: the catalogs give no position")
            continue
        for sector in _sectors(ctx, base, ra, dec):
            if wanted and sector not in wanted:
                continue
            query = urlencode({"ra": f"{ra:.6f}", "dec": f"{dec:.6f}", "y": size, "x": size, "units": "px",
                               "sector": sector})
            name = f"tess-s{sector:04d}-{int(tid):016d}_{size}x{size}{product.filename_suffix}"
            try:
                files.setdefault(tid, []).append(PlannedFile(
                    "tess", tid, product.kind, check_url(f"{base}/astrocut?{query}"),
                    check_relative_path(f"{product.folder}/{name}"), sector=sector))
            except UnsafeProductError as exc:
                refused.append(str(exc))
    return files, refused


def _sectors(ctx: PlannerContext, base: str, ra: float, dec: float) -> list[int]:
    what = f"TESScut sectors at ra={ra:.5f} dec={dec:.5f}"
    response = ctx.http.request("GET", f"{base}/sector", what=what,
                                params={"ra": f"{ra:.6f}", "dec": f"{dec:.6f}", "radius": SEARCH_RADIUS_DEG})
    try:
        results = response.json()["results"]
        return sorted({int(str(r["sector"])) for r in results})
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"{what}: the answer is not TESScut's sector list ({type(exc).__name__}: {exc})",
                           hint="check endpoints.tesscut in `ratdcs config`; the manifest was not changed") from None
