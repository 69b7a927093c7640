"""The downloaded dataset as a whole: verify it against the manifest, split it.

- ``verify_dataset``: every done row's file is still there with its recorded size (fast), or also
  still hashes the same and passes the FITS checks (deep). A missing or changed file sends its
  row back to pending (or failed), so the next ``ratdcs sync`` fetches it again.
- ``split_targets``: a deterministic train/val/test assignment per split unit (a star for the
  light-curve missions; a ZTF image, night or field), stored in the manifest.

Exports (TESS metadata, the files table, URL lists, a portable manifest) live in ``exports``.

SQL writes go through ``Manifest`` methods (``requeue_files``, ``mark_verified``,
``assign_splits``, ``assign_file_splits``); this module only reads rows and the disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from .errors import DataDirError, UnsafeProductError, UsageError
from .paths import destination

__all__ = [
    "SPLITS",
    "SPLIT_UNITS",
    "SplitSummary",
    "VerifyProblem",
    "VerifySummary",
    "check_ratios",
    "check_splits",
    "choose_splits",
    "split_targets",
    "split_unit_key",
    "split_units",
    "split_warnings",
    "verify_dataset",
]

SPLITS = ("train", "val", "test")
# What one ZTF split unit is (data_pipeline.validation.ztf_split_unit); docs/commands.md, `split`.
SPLIT_UNITS = ("image", "night", "field")


# ---- verify ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class VerifyProblem:
    """One done file that is no longer what the manifest says."""

    file_id: int
    source: str
    rel_path: str
    error_kind: str  # missing_on_disk, size_changed_on_disk, sha256_changed_on_disk, or a verify_file kind
    error: str


@dataclasses.dataclass
class VerifySummary:
    """What ``verify_dataset`` checked and found; ``intact`` is the dataset-level verdict."""

    mode: str  # fast | deep
    checked: int = 0
    problems: list[VerifyProblem] = dataclasses.field(default_factory=list)
    # Deep: files that pass only because verify.fits_checksum = warn keeps them (their FITS
    # checksums do not verify); listed apart so "intact" never hides them.
    warnings: list[VerifyProblem] = dataclasses.field(default_factory=list)
    requeued: int = 0
    requeued_to: str = "pending"

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def files_ok(self) -> int:
        return self.checked - len(self.problems)

    def counts(self) -> dict[str, int]:
        """Problems per kind, e.g. {'missing_on_disk': 1, 'sha256_changed_on_disk': 1}."""
        counts: dict[str, int] = {}
        for p in self.problems:
            counts[p.error_kind] = counts.get(p.error_kind, 0) + 1
        return dict(sorted(counts.items()))

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "intact": self.intact, "checked": self.checked, "files_ok": self.files_ok,
                "problems": [dataclasses.asdict(p) for p in self.problems], "counts": self.counts(),
                "accepted_with_warning": [dataclasses.asdict(w) for w in self.warnings],
                "requeued": self.requeued, "requeued_to": self.requeued_to}


def verify_dataset(manifest, data_dir: Path, *, deep: bool = False, sources: Sequence[str] = (),
                   on_problem: str = "pending", fits_checksum: str = "strict",
                   max_nan_fraction: float | None = None, workers: int = 2) -> VerifySummary:
    """Check every done row's file on disk; rows whose file is missing or changed go to ``on_problem``.

    Fast: the file exists with the recorded size. Deep: also its sha256 is the one recorded at
    download, and ``verify.verify_file`` passes (expected checksum, FITS structure, FITS
    CHECKSUM/DATASUM per ``fits_checksum``). Refuses (``DataDirError``) to requeue anything when
    none of the done files is under ``data_dir``: that is a moved data directory, not data loss.

    Example::

        with open_manifest("data/manifest.sqlite") as m:
            summary = verify_dataset(m, Path("data"), deep=True)
        print(summary.intact, summary.counts())
    """
    if on_problem not in ("pending", "failed"):
        raise UsageError(f"on_problem must be pending or failed, found {on_problem!r}")
    data_dir = Path(data_dir).absolute()
    rows = manifest.done_files(sources=sources)
    summary = VerifySummary("deep" if deep else "fast", checked=len(rows), requeued_to=on_problem)
    # What the row's reason says was done with it: what is really done (issue 19).
    then = "row back for download" if on_problem == "pending" else "row marked failed"
    problems = {row["file_id"]: p for row in rows if (p := _check_fast(row, data_dir, then))}
    _refuse_moved_data_dir(manifest, data_dir, rows, problems)
    survivors = [row for row in rows if row["file_id"] not in problems]
    levels: dict[int, str | None] = {row["file_id"]: None for row in survivors}
    if deep:
        # verify_file is thread-safe (it reads FITS headers itself, no process-wide state), and
        # hashing and numpy's sums release the GIL: a thread pool.
        def check(row):
            return _check_deep(row, data_dir, _hash(data_dir, row), fits_checksum, max_nan_fraction)

        with ThreadPoolExecutor(max(1, workers)) as pool:
            results = list(pool.map(check, survivors))
        for row, (problem, level, warning) in zip(survivors, results):
            if problem:
                problems[row["file_id"]] = problem
                del levels[row["file_id"]]
            else:
                levels[row["file_id"]] = level
            if warning:
                summary.warnings.append(warning)
    summary.problems = sorted(problems.values(), key=lambda p: p.file_id)
    summary.requeued = manifest.requeue_files({p.file_id: (p.error_kind, p.error) for p in summary.problems},
                                              to_state=on_problem) if problems else 0
    for level in set(levels.values()):
        manifest.mark_verified([fid for fid, lv in levels.items() if lv == level], level)
    return summary


def _recorded_size(row) -> int | None:
    return row["observed_size_bytes"] if row["observed_size_bytes"] is not None else row["expected_size_bytes"]


def _check_fast(row, data_dir: Path, then: str = "row back for download") -> VerifyProblem | None:
    def problem(kind: str, error: str) -> VerifyProblem:
        return VerifyProblem(row["file_id"], row["source"], row["rel_path"], kind, error)

    try:
        path = destination(data_dir, row["rel_path"])
        found = os.lstat(path)  # not through a link: sync never leaves one as a done file (issue 20)
    except UnsafeProductError as exc:
        return problem("unsafe_path", str(exc))
    except FileNotFoundError:
        return problem("missing_on_disk", f"{row['rel_path']} is missing from {data_dir}; {then}")
    except OSError as exc:
        return problem("unreadable_on_disk", f"{row['rel_path']}: cannot read it ({exc.strerror})")
    if stat.S_ISLNK(found.st_mode):
        return problem("symlink_refused", f"{row['rel_path']} is a symbolic link, not the file ratdcs placed "
                                          f"(ratdcs never follows a link at a file): remove it; {then}")
    size, recorded = found.st_size, _recorded_size(row)
    if recorded is not None and size != recorded:
        return problem("size_changed_on_disk", f"size of {row['rel_path']} changed on disk: the manifest "
                                               f"records {recorded} bytes, found {size}")
    return None


def _hash(data_dir: Path, row) -> str | OSError:
    from .verify import hash_file

    try:
        return hash_file(destination(data_dir, row["rel_path"]), ("sha256",))["sha256"]
    except OSError as exc:
        return exc


def _check_deep(row, data_dir: Path, digest: str | OSError, fits_checksum: str, max_nan_fraction: float | None
                ) -> tuple[VerifyProblem | None, str | None, VerifyProblem | None]:
    """(problem, None, None) or (None, the verification level reached, a warning the policy accepted)."""
    from .verify import verify_file

    path = destination(data_dir, row["rel_path"])
    if isinstance(digest, OSError):
        return VerifyProblem(row["file_id"], row["source"], row["rel_path"], "unreadable_on_disk",
                             f"{row['rel_path']}: cannot read it ({digest.strerror})"), None, None
    if row["observed_sha256"] and digest != row["observed_sha256"].lower():
        return VerifyProblem(row["file_id"], row["source"], row["rel_path"], "sha256_changed_on_disk",
                             f"{row['rel_path']} changed on disk since download: sha256 was "
                             f"{row['observed_sha256']}, now {digest}"), None, None
    result = verify_file(path, product_kind=row["product_kind"], expected_size=_recorded_size(row),
                         expected_checksum=row["expected_checksum"], observed_hashes={"sha256": digest},
                         fits_checksum=fits_checksum, max_nan_fraction=max_nan_fraction)
    if not result.ok:
        return VerifyProblem(row["file_id"], row["source"], row["rel_path"], result.error_kind or "verify_failed",
                             result.error or "failed verification"), None, None
    warning = VerifyProblem(row["file_id"], row["source"], row["rel_path"], "fits_checksum_warning",
                            "; ".join(result.warnings)) if result.warnings else None
    return None, result.level or ("checksum" if row["observed_sha256"] else None), warning


def _refuse_moved_data_dir(manifest, data_dir: Path, rows: list, problems: dict) -> None:
    """Every done file missing at once means the data directory moved (or is not mounted):
    requeueing would throw away the whole dataset's state, so stop and name both places."""
    missing = [p for p in problems.values() if p.error_kind == "missing_on_disk"]
    if not rows or len(missing) < len(rows) or (len(rows) == 1 and data_dir.is_dir()):
        return
    found_at = _find_moved_data(manifest.path.parent, rows[0]["rel_path"], data_dir)
    where = f"; they are under {found_at}" if found_at else ""
    raise DataDirError(
        f"data directory {data_dir} holds none of the {len(rows)} files that the manifest {manifest.path} "
        f"lists as done{where}",
        hint=(f"point data_dir at {found_at} (RATDCS_DATA_DIR={found_at} or data_dir in config.yaml)"
              if found_at else "if the data moved, point data_dir (RATDCS_DATA_DIR) at its new place")
        + "; if the files are really gone, `ratdcs reset --state done` queues them all again. Nothing was changed")


def _find_moved_data(candidate: Path, rel_path: str, data_dir: Path) -> Path | None:
    """The manifest lives in its data directory by default: look for the files beside it."""
    if candidate.resolve() != data_dir.resolve() and (candidate / rel_path).is_file():
        return candidate
    return None


def reason_like(reason: str | None) -> str | None:
    """Containment as an SQL LIKE pattern: 'expected*found' -> '%expected%found%' ('*' is the wildcard;
    LIKE's '_' matching any one character only ever widens a kind like http_503 by nothing real)."""
    return f"%{reason.replace('*', '%')}%" if reason else None


# ---- split ----------------------------------------------------------------------------------

def check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Three fractions (train, val, test), each 0 or more, summing to 1."""
    hint = "set data_pipeline.validation.split_ratio in config.yaml, or pass --ratio 0.8,0.1,0.1"
    ratios = list(ratios)
    if len(ratios) != 3:
        raise UsageError(f"split ratio needs three numbers (train, val, test), found {len(ratios)}: {ratios}",
                         hint=hint)
    for name, r in zip(SPLITS, ratios):
        if r < 0:
            raise UsageError(f"split ratio for {name} must be 0 or more, found {r:g}", hint=hint)
    total = sum(ratios)
    if abs(total - 1.0) > 1e-6:
        raise UsageError(f"split ratios must sum to 1, found {' + '.join(f'{r:g}' for r in ratios)} = {total:g}",
                         hint=hint)
    return ratios[0], ratios[1], ratios[2]


def choose_splits(target_keys: Sequence[tuple[str, str]], ratios: Sequence[float], seed: int
                  ) -> dict[tuple[str, str], str]:
    """Assign each (source, target_id) a split; per source, counts follow ``ratios`` exactly
    (largest remainder), and which target goes where follows a seeded hash of its id.

    Ranking by hash (not shuffling a list) keeps the assignment stable as a manifest grows:
    adding targets moves at most a few targets at the split boundaries, not the whole set.
    """
    ratios = check_ratios(ratios)
    by_source: dict[str, list[str]] = {}
    for source, target_id in target_keys:
        by_source.setdefault(source, []).append(str(target_id))
    chosen: dict[tuple[str, str], str] = {}
    for source, ids in by_source.items():
        ranked = sorted(ids, key=lambda t: hashlib.sha256(f"{seed}:{source}:{t}".encode()).hexdigest())
        start = 0
        for split, count in zip(SPLITS, _split_counts(len(ranked), ratios)):
            chosen.update(((source, t), split) for t in ranked[start:start + count])
            start += count
    return chosen


def _split_counts(n: int, ratios: Sequence[float]) -> list[int]:
    exact = [n * r for r in ratios]
    counts = [int(e) for e in exact]
    by_remainder = sorted(range(len(ratios)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[:n - sum(counts)]:
        counts[i] += 1
    return counts


_ZTF_NIGHT = re.compile(r"ztf_(\d{8})\d{6}_")


def split_unit_key(source: str, row, ztf_unit: str) -> str:
    """The unit a file is split with: its target, or for ZTF its image, its night or its field.

    A ZTF night is the UTC date in the file name (ztf_YYYYMMDDffffff_...): Palomar's night falls
    within one UTC date, so every exposure of a night shares it.
    """
    if source != "ztf" or ztf_unit == "field":
        return str(row["target_id"])
    if ztf_unit == "image":
        return row["rel_path"]
    night = _ZTF_NIGHT.search(row["rel_path"].rsplit("/", 1)[-1])
    return night.group(1) if night else row["rel_path"]


@dataclasses.dataclass
class SplitSummary:
    """Units per split after ``split_targets``, how many changed split, and what looks wrong.

    ``targets`` counts units over every source (a target, or a ZTF image/night/field);
    ``units`` names each source's unit; ``warnings`` says which split came out empty or far
    from the ratios, and why.
    """

    ratios: tuple[float, float, float]
    seed: int
    targets: dict[str, int]
    changed: int
    units: dict[str, str] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_targets(manifest, *, ratios: Sequence[float], seed: int, sources: Sequence[str] = (),
                  ztf_unit: str = "night") -> SplitSummary:
    """Assign and store train/val/test per split unit for every target (of ``sources``) with files.

    Light-curve missions split by target (all files of a star share a split: targets.split).
    ZTF splits by ``ztf_unit``: ``field`` (targets.split), or ``night`` / ``image`` (files.split,
    since one field's files then fall in several splits). Deterministic: the same seed and the
    same units give the same splits.

    Example::

        with open_manifest("data/manifest.sqlite") as m:
            split_targets(m, ratios=(0.8, 0.1, 0.1), seed=42, ztf_unit="night")
    """
    ratios = check_ratios(ratios)
    if ztf_unit not in SPLIT_UNITS:
        raise UsageError(f"ZTF split unit must be one of {', '.join(SPLIT_UNITS)}, found {ztf_unit!r}",
                         hint="set data_pipeline.validation.ztf_split_unit in config.yaml")
    keys = manifest.targets_with_files(sources=sources)
    per_file = ztf_unit != "field" and any(source == "ztf" for source, _ in keys)
    target_keys = [k for k in keys if not (per_file and k[0] == "ztf")]
    chosen = choose_splits(target_keys, ratios, seed)
    # Split below the field: the field itself has no one split, its files carry theirs.
    cleared = {k: None for k in keys if per_file and k[0] == "ztf"}
    changed = manifest.assign_splits({**chosen, **cleared})
    if per_file:
        unit_of = {row["file_id"]: split_unit_key("ztf", row, ztf_unit) for row in manifest.files_of_source("ztf")}
        by_unit = choose_splits([("ztf", u) for u in sorted(set(unit_of.values()))], ratios, seed)
        changed += manifest.assign_file_splits("ztf", {fid: by_unit[("ztf", u)] for fid, u in unit_of.items()})
    elif any(k[0] == "ztf" for k in keys):  # by field now: drop the per-file splits of a split by night
        changed += manifest.assign_file_splits("ztf", {})
    units, unit_counts, file_counts = split_units(manifest, sources=sources, ztf_unit=ztf_unit)
    counts = {s: sum(c[s] for c in unit_counts.values()) for s in SPLITS}
    warnings = [w for source in units
                for w in split_warnings(source, units[source], unit_counts[source], ratios, file_counts[source])]
    return SplitSummary(ratios, seed, counts, changed, units, warnings)


def split_units(manifest, *, sources: Sequence[str] = (), ztf_unit: str = "night"
                ) -> tuple[dict[str, str], dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Per source: its split unit, units per split and files per split, read back from the manifest
    (the effective split, COALESCE(files.split, targets.split)); unassigned units are not counted."""
    units: dict[str, str] = {}
    split_of: dict[str, dict[str, str]] = {}
    file_counts: dict[str, dict[str, int]] = {}
    for source, target_id, rel_path, split in manifest.iter_files_with_split(
            ("source", "target_id", "rel_path", "split"), sources=sources):
        unit = units.setdefault(source, "target" if source != "ztf" else ztf_unit)
        counts = file_counts.setdefault(source, {s: 0 for s in SPLITS})
        if split:
            key = split_unit_key(source, {"target_id": target_id, "rel_path": rel_path}, unit)
            split_of.setdefault(source, {})[key] = split
            counts[split] += 1
    unit_counts = {source: _count(split_of.get(source, {}).values()) for source in units}
    return units, unit_counts, file_counts


def check_splits(manifest, *, ratios: Sequence[float], ztf_unit: str = "night",
                 summary: Sequence[dict] | None = None) -> list[str]:
    """The warnings of ``split_warnings`` for the splits stored now (``ratdcs report splits``).

    Sources split by target are counted from the ``split_summary`` view (``summary``, if the
    report read it already): one indexed pass, not a walk over a million rows in Python. Only ZTF,
    split by night or image, walks its own rows (its unit is not a column).
    """
    ratios = check_ratios(ratios)
    units: dict[str, str] = {}
    unit_counts: dict[str, dict[str, int]] = {}
    file_counts: dict[str, dict[str, int]] = {}
    # ZTF as it was split: by night or image only where its files carry splits of their own.
    ztf_unit = ztf_unit if ztf_unit != "field" and manifest.ztf_split_by_file() else "field"
    for row in summary if summary is not None else manifest.split_summary():
        if row["source"] == "ztf" and ztf_unit != "field":
            continue
        units[row["source"]] = "target" if row["source"] != "ztf" else "field"
        unit_counts.setdefault(row["source"], {s: 0 for s in SPLITS})
        file_counts.setdefault(row["source"], {s: 0 for s in SPLITS})
        if row["split"] in SPLITS:
            unit_counts[row["source"]][row["split"]] += row["targets"]
            file_counts[row["source"]][row["split"]] += row["files"]
    if ztf_unit != "field":
        for row in manifest.ztf_split_units(ztf_unit):
            units["ztf"] = ztf_unit
            unit_counts.setdefault("ztf", {s: 0 for s in SPLITS})[row["split"]] = row["units"]
            file_counts.setdefault("ztf", {s: 0 for s in SPLITS})[row["split"]] = row["files"]
    return [w for source in units if sum(unit_counts[source].values())
            for w in split_warnings(source, units[source], unit_counts[source], ratios, file_counts[source])]


def _count(splits) -> dict[str, int]:
    counts = {s: 0 for s in SPLITS}
    for split in splits:
        counts[split] += 1
    return counts


def _plural(unit: str, n: int) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def split_warnings(source: str, unit: str, counts: dict[str, int], ratios: Sequence[float],
                   file_counts: dict[str, int] | None = None) -> list[str]:
    """Why a source's split is not what the ratios ask: an empty part, or files far from the ratios.

    "Far" is more than 10 percentage points off: units of unequal size (nights with many images
    and nights with few) can pull the file shares away from the unit shares.
    """
    n = sum(counts.values())
    asked = "/".join(f"{r:g}" for r in ratios)
    empty = [s for s, r in zip(SPLITS, ratios) if r > 0 and counts[s] == 0]
    if empty:
        parts = " and ".join(empty)
        return [f"{source}: {_plural(unit, n)} cannot give {asked} with a {parts} part: "
                f"{parts} {'is' if len(empty) == 1 else 'are'} empty (plan more, or split by a smaller unit)"]
    total = sum((file_counts or {}).values())
    if file_counts and total:
        shares = [file_counts[s] / total for s in SPLITS]
        if any(abs(share - r) > 0.10 for share, r in zip(shares, ratios)):
            found = "/".join(f"{share:.2f}" for share in shares)
            return [f"{source}: files split {found}, far from {asked}: its {_plural(unit, n)} differ in size "
                    f"(split by a smaller unit, or plan more)"]
    return []
