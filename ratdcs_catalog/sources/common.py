"""What every source planner shares: the plan it returns, and MAST light-curve products.

A planner turns catalog answers into a ``SourcePlan``: targets in a deterministic order, each
with the files it needs. It never touches the manifest; ``ratdcs_catalog.plan`` writes.
Unsafe archive-provided names and URLs are refused here, one product at a time, and reported.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import quote

from ..errors import UnsafeProductError
from ..records import PlannedFile
from ..registry import Product
from ..paths import check_relative_path, check_url, safe_filename
from ..net.catalog import CatalogHTTP
from .mast import MastClient

__all__ = ["PlannerContext", "SourcePlan", "TargetPlan", "archive_size", "batched", "files_from_mast",
           "mast_files", "mast_light_curves", "to_float"]

log = logging.getLogger("ratdcs.plan")


@dataclasses.dataclass
class TargetPlan:
    target: dict[str, Any]  # a targets row (see Manifest.upsert_targets)
    files: list[PlannedFile]

    @property
    def known_bytes(self) -> int:
        return sum(f.expected_size_bytes or 0 for f in self.files)


@dataclasses.dataclass
class SourcePlan:
    source: str
    query: str  # the catalog query that chose the targets, shown when it matches nothing
    targets: list[TargetPlan]
    refused: list[str] = dataclasses.field(default_factory=list)
    probes_failed: int = 0  # size probes (HEAD) that got no usable answer
    cloud_lookup_failed: int = 0  # files whose cloud copy could not be looked up (sources/cloud.py)


@dataclasses.dataclass
class PlannerContext:
    """Everything a planner needs from outside: endpoints, HTTP, batch size."""

    config: Any
    http: CatalogHTTP

    @property
    def batch_size(self) -> int:
        return self.config["catalog.batch_size"]

    def mast(self) -> MastClient:
        return MastClient(self.http, self.config["endpoints.mast"],
                          executing_polls=self.config["catalog.executing_polls"],
                          page_size=self.config["catalog.page_size"])


def batched(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def to_float(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# More than any archive file (a petabyte), and far inside SQLite's 64-bit integers.
MAX_FILE_BYTES = 10**15


def archive_size(value: Any) -> int | None | bool:
    """A size the archive gave: bytes; None when it gave none (or 0: unknown until downloaded);
    False when it is not a whole number of bytes from 0 to MAX_FILE_BYTES ("abc", -1, 1e30, NaN)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return False
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdecimal():
        value = int(value.strip())  # ASCII only: "²".isdigit() is true and int() refuses it
    if not isinstance(value, int) or not 0 <= value <= MAX_FILE_BYTES:
        return False
    return value or None


def mast_light_curves(
    ctx: PlannerContext,
    *,
    source: str,
    collection: str,
    target_names: dict[str, str],
    products: list[Product],
    period_of: Callable[[dict, dict | None], dict] = lambda product, observation: {},
    keep: Callable[[PlannedFile], bool] = lambda planned: True,
) -> tuple[dict[str, list[PlannedFile]], list[str]]:
    """The files of ``products`` (light curves, target pixel files, DV time series) per target id,
    from MAST, in ``2 * ceil(targets / batch)`` requests whatever the number of products.

    ``target_names`` maps MAST ``target_name`` (kplr011904151, ktwo201367065, 261136679) to our
    target id. The answers are turned into files by ``files_from_mast`` (see there).
    """
    mast = ctx.mast()
    observations: list[dict] = []
    for names in batched(list(target_names), ctx.batch_size):
        observations += [obs for obs in mast.observations(collection, names)
                         if str(obs.get("target_name")) in target_names]
    return mast_files(ctx, observations, source=source, target_names=target_names, products=products,
                      period_of=period_of, keep=keep, obsids_per_request=ctx.batch_size)


def mast_files(
    ctx: PlannerContext,
    observations: list[dict],
    *,
    source: str,
    target_names: dict[str, str],
    products: list[Product],
    obsids_per_request: int,
    period_of: Callable[[dict, dict | None], dict] = lambda product, observation: {},
    keep: Callable[[PlannedFile], bool] = lambda planned: True,
) -> tuple[dict[str, list[PlannedFile]], list[str]]:
    """The files of ``products`` among these observations' products, asked of MAST
    ``obsids_per_request`` observations at a time (each answer followed page by page)."""
    mast = ctx.mast()
    obsids = sorted({str(obs["obsid"]) for obs in observations}, key=_numeric_first)
    rows = [row for batch in batched(obsids, obsids_per_request) for row in mast.products(batch)] if products else []
    files: dict[str, list[PlannedFile]] = {}
    refused: list[str] = []
    for product in products:
        found, refusals = files_from_mast(observations, rows, source=source, target_names=target_names,
                                          product=product, download_url=ctx.config["endpoints.mast_download"],
                                          period_of=period_of, keep=keep)
        for target_id, target_files in found.items():
            files.setdefault(target_id, []).extend(target_files)
        refused += [r for r in refusals if r not in refused]  # the same bad row is seen once per product
    return files, refused


def files_from_mast(
    observations: list[dict],
    products: list[dict],
    *,
    source: str,
    target_names: dict[str, str],
    product: Product,
    download_url: str,
    period_of: Callable[[dict, dict | None], dict] = lambda product, observation: {},
    keep: Callable[[PlannedFile], bool] = lambda planned: True,
) -> tuple[dict[str, list[PlannedFile]], list[str]]:
    """MAST's observation and product rows as planned files per target id, and the refusals.

    A product is kept when its ``productSubGroupDescription`` is the registry product's
    subgroup, its file name ends as that product's files do, and ``keep(planned)`` agrees (a
    quarter, campaign or sector subset, read by ``period_of`` from the product's description
    and its observation's sequence_number). A product belongs to the observation named by its
    ``obsID``, else its ``parent_obsid`` (MAST ids are JSON integers; compared as text). A file
    listed twice (MAST repeats products shared by observations) becomes one row.
    """
    by_obsid = {str(obs.get("obsid")): obs for obs in observations}
    files: dict[str, list[PlannedFile]] = {}
    seen: set[str] = set()
    refused: list[str] = []
    for row in products:
        if row.get("productSubGroupDescription") != product.mast_subgroup:
            continue
        observation = by_obsid.get(str(row.get("obsID"))) or by_obsid.get(str(row.get("parent_obsid")))
        target_id = target_names.get(str(observation.get("target_name"))) if observation else None
        try:
            planned = _light_curve_file(row, source, target_id, product.kind, product.folder, download_url)
        except UnsafeProductError as exc:
            refused.append(str(exc))
            continue
        planned = dataclasses.replace(planned, **period_of(row, observation))
        if planned.rel_path in seen or not planned.rel_path.endswith(product.filename_suffix or "") \
                or not keep(planned):
            continue
        seen.add(planned.rel_path)
        files.setdefault(target_id, []).append(planned)
    for target_files in files.values():
        target_files.sort(key=lambda f: f.rel_path)
    return files, refused


def _light_curve_file(product: dict, source: str, target_id: str | None, product_kind: str, subdir: str,
                      download_url: str) -> PlannedFile:
    filename = safe_filename(str(product.get("productFilename") or ""))
    uri = str(product.get("dataURI") or "")
    if not uri.startswith("mast:") or "\x00" in uri or ".." in uri.split("/"):
        raise UnsafeProductError(f"refused archive URI {uri!r} for {filename}: not a mast: URI")
    if target_id is None:
        raise UnsafeProductError(f"refused {filename}: its obsID {product.get('obsID')!r} is none we asked for")
    size = archive_size(product.get("size"))
    if size is False:
        raise UnsafeProductError(f"refused {filename}: its size {product.get('size')!r} is not a byte count")
    return PlannedFile(
        source=source, target_id=target_id, product_kind=product_kind, archive_uri=uri,
        url=check_url(f"{download_url}?uri={quote(uri, safe=':/')}"),
        rel_path=check_relative_path(f"{subdir}/{filename}"),
        expected_size_bytes=size,
    )


def _numeric_first(value: str):
    return (0, int(value), "") if value.isdigit() else (1, 0, value)
