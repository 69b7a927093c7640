"""`ratdcs plan`: ask the catalogs, then write every intended file into the manifest at once.

All network work happens first; the manifest is written afterwards in one transaction, so an
archive error (or Ctrl-C) at any point leaves the manifest exactly as it was. ``--dry-run``
runs the same upsert and rolls it back, so its counts are the real ones.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from . import registry
from .errors import UsageError
from .manifest import Manifest, open_manifest
from .records import UpsertCounts
from .sources.common import PlannerContext, SourcePlan
from .net.catalog import CatalogHTTP

__all__ = ["PlanSummary", "SourceSummary", "plan"]

log = logging.getLogger("ratdcs.plan")

@dataclasses.dataclass
class SourceSummary:
    source: str
    targets: int
    files: int
    counts: UpsertCounts
    refused: list[str]
    files_unknown_size: int
    targets_skipped_by_max_bytes: int = 0
    probes_failed: int = 0
    files_from_mast: int = 0  # of ``files``: MAST products (mast: URIs), the ones a cloud copy is looked up for
    files_with_cloud_copy: int = 0  # of ``files``: those with a mirror_url (MAST's cloud copy)
    cloud_lookup_failed: int = 0
    cloud_lookup: bool = False  # whether the cloud copies were asked for (transport.cloud != never)

    def as_dict(self) -> dict[str, Any]:
        """One flat row: the source's numbers and its upsert counts side by side."""
        row = dataclasses.asdict(self)
        del row["counts"]
        return {**row, **_counts(self.counts)}


@dataclasses.dataclass
class PlanSummary:
    sources: list[SourceSummary]
    dry_run: bool
    requests_sent: int
    manifest_path: Path

    @property
    def total(self) -> UpsertCounts:
        total = UpsertCounts()
        for s in self.sources:
            total.add(s.counts)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "manifest": str(self.manifest_path), "requests_sent": self.requests_sent,
                "sources": [s.as_dict() for s in self.sources], "total": _counts(self.total)}


def _counts(counts: UpsertCounts) -> dict[str, int]:
    """The numbers of an upsert (its refusals are listed per source)."""
    return {k: v for k, v in dataclasses.asdict(counts).items() if k != "refused"}


def plan(config, source: str, *, n: int | None = None, dry_run: bool = False, max_bytes: int | None = None,
         http: CatalogHTTP | None = None, **options: Any) -> PlanSummary:
    """Plan one source (or ``all``) into the manifest named by ``config``; see ``ratdcs plan --help``.

    ``options`` are the source's options in the registry (``registry.source(name).options``:
    kepler ``cadence``, ``quarters``; k2 ``cadence``, ``campaigns``; tess ``dispositions``,
    ``cadence``, ``sectors``, ``products``, ``all_targets``; ztf ``start_date``, ``end_date``, ``fields``, ``filters``, ``ccds``,
    ``probe_sizes``). An unknown or misspelt option raises ``OptionError`` (a TypeError) naming
    the closest valid one; ``plan all`` takes none.
    """
    names = registry.PLAN_ALL if source == "all" else (registry.source(source).name,)
    if source == "all":
        registry.check_keywords("plan('all')", options, ())
    resolved = {name: registry.source(name).resolve_options(options, config, n=n) for name in names}
    if n is not None and n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    if config.manifest_path.exists():
        open_manifest(config.manifest_path).close()  # refuse a foreign or newer --db before asking any archive
    http = http or CatalogHTTP.from_config(config)
    ctx = PlannerContext(config, http)
    arguments = {"source": source, "n": n, "max_bytes": max_bytes, **options}
    plans = [_plan_one(ctx, name, n, resolved[name]) for name in names]
    skipped = {}
    if max_bytes is not None:
        remaining = max_bytes
        for p in plans:  # `plan all`: one budget, spent in the order the sources are listed
            skipped[p.source], remaining = _apply_max_bytes(p, remaining)
    _refuse_shared_places(plans)
    lookup = config["transport.cloud"] != "never"
    if lookup:
        from .sources.cloud import attach_cloud_copies

        attach_cloud_copies(ctx, plans)
    summaries = _write(config.manifest_path, source, arguments, plans, dry_run, config.data_dir)
    for s, p in zip(summaries, plans):
        s.targets_skipped_by_max_bytes = skipped.get(s.source, 0)
        s.probes_failed = p.probes_failed
        s.cloud_lookup, s.cloud_lookup_failed = lookup, p.cloud_lookup_failed
    return PlanSummary(summaries, dry_run, http.requests_sent, config.manifest_path)


def _plan_one(ctx: PlannerContext, name: str, n: int | None, options: dict[str, Any]) -> SourcePlan:
    spec = registry.source(name)
    return registry.load(spec.planner)(ctx, n=n or ctx.config[spec.size_key], **options)


def _apply_max_bytes(p: SourcePlan, max_bytes: int) -> tuple[int, int]:
    """Keep whole targets, in order, while their known bytes fit under ``max_bytes``;
    returns (targets left out, bytes of the budget left)."""
    kept, total = [], 0
    for target in p.targets:
        if total + target.known_bytes > max_bytes:
            break
        kept.append(target)
        total += target.known_bytes
    skipped = len(p.targets) - len(kept)
    p.targets = kept
    return skipped, max_bytes - total


def _refuse_shared_places(plans: list[SourcePlan]) -> None:
    """A product whose URL or destination another product of this plan already took is refused and
    listed; the plan goes on. (Two products sharing one dataURI once aborted the whole plan with
    a UNIQUE constraint error.) The same file listed twice is one file, kept once."""
    by_url: dict[str, str] = {}
    by_path: dict[str, str] = {}
    for p in plans:
        for target in p.targets:
            kept = []
            for f in target.files:
                if by_path.get(f.rel_path) == f.url:
                    continue  # listed twice: one row
                taken = ("URL", f.url, by_url.get(f.url)) if f.url in by_url else \
                    ("destination", f.rel_path, by_path.get(f.rel_path)) if f.rel_path in by_path else None
                if taken:
                    what, value, first = taken
                    other = first if what == "URL" else first.rsplit("?uri=", 1)[-1]
                    p.refused.append(f"refused {f.rel_path}: its {what} {value[:200]} is already taken by "
                                     f"{other[:200]} in this plan")
                    continue
                by_url[f.url], by_path[f.rel_path] = f.rel_path, f.url
                kept.append(f)
            target.files = kept


class _RollBack(Exception):
    """Raised inside the transaction of a dry run, so nothing it did is kept."""


def _write(manifest_path: Path, source: str, arguments: dict, plans: list[SourcePlan],
           dry_run: bool, data_dir: Path) -> list[SourceSummary]:
    if dry_run and not manifest_path.exists():
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:  # counts against an empty manifest
            return _write_into(Path(scratch) / "dry-run.sqlite", source, arguments, plans, dry_run, data_dir)
    new = not manifest_path.exists()
    try:
        return _write_into(manifest_path, source, arguments, plans, dry_run, data_dir)
    except BaseException:
        if new:  # a failed first plan leaves no schema-only manifest where there was none
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{manifest_path}{suffix}").unlink(missing_ok=True)
        raise


def _write_into(manifest_path: Path, source: str, arguments: dict, plans: list[SourcePlan],
                dry_run: bool, data_dir: Path) -> list[SourceSummary]:
    summaries: list[SourceSummary] = []
    with open_manifest(manifest_path) as manifest:
        try:
            with manifest.transaction():
                plan_id = manifest.begin_plan(source, arguments)
                total = UpsertCounts()
                for p in plans:
                    summaries.append(_write_source(manifest, p, plan_id))
                    total.add(summaries[-1].counts)
                manifest.finish_plan(plan_id, sum(s.targets for s in summaries), total)
                # Where this manifest's files go: a command run from elsewhere finds them (issue 19).
                manifest.record_setting("data_dir", str(data_dir))
                if dry_run:
                    raise _RollBack
        except _RollBack:
            pass
    return summaries


def _write_source(manifest: Manifest, p: SourcePlan, plan_id: int) -> SourceSummary:
    manifest.upsert_targets([t.target for t in p.targets], plan_id)
    files = [f for t in p.targets for f in t.files]
    counts = manifest.upsert_files(files, plan_id)
    from .logs import redact

    taken, counts.refused = counts.refused, {}
    refused = [redact(r) for r in [*p.refused, *taken.values()]]
    for reason in refused:
        log.warning("%s: %s", p.source, reason)
    written = [f for f in files if f.rel_path not in taken]
    return SourceSummary(p.source, len(p.targets), len(written), counts, refused,
                         sum(1 for f in written if f.expected_size_bytes is None),
                         files_from_mast=sum(1 for f in written if (f.archive_uri or "").startswith("mast:")),
                         files_with_cloud_copy=sum(1 for f in written if f.mirror_url))
