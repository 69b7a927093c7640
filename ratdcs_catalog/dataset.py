"""The downloaded dataset as a whole: verify it against the manifest, export it, split it.

- ``verify_dataset``: every done row's file is still there with its recorded size (fast), or also
  still hashes the same and passes the FITS checks (deep). A missing or changed file sends its
  row back to pending (or failed), so the next ``ratdcs sync`` fetches it again.
- ``export_tess_metadata`` / ``export_files`` / ``export_urls``: the manifest as the seed
  project's per-star JSON, as a flat table, or as input for aria2c / curl / wget.
- ``split_targets``: a deterministic train/val/test assignment per target (all files of one
  star share a split), stored in the manifest.

SQL writes go through ``Manifest`` methods (``requeue_files``, ``mark_verified``,
``assign_splits``); this module only reads rows and the disk.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import re
import stat
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

from .errors import DataDirError, UnsafeProductError, UsageError
from .paths import check_relative_path, check_url, destination

__all__ = [
    "EXPORT_COLUMNS",
    "SPLITS",
    "URL_FORMATS",
    "SplitSummary",
    "VerifyProblem",
    "VerifySummary",
    "atomic_output",
    "check_ratios",
    "choose_splits",
    "export_files",
    "export_tess_metadata",
    "export_urls",
    "split_targets",
    "verify_dataset",
]

SPLITS = ("train", "val", "test")
URL_FORMATS = ("aria2", "curl", "list")
NOT_DONE = ("pending", "downloading", "failed")


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
    problems = {row["file_id"]: p for row in rows if (p := _check_fast(row, data_dir))}
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


def _check_fast(row, data_dir: Path) -> VerifyProblem | None:
    def problem(kind: str, error: str) -> VerifyProblem:
        return VerifyProblem(row["file_id"], row["source"], row["rel_path"], kind, error)

    try:
        path = destination(data_dir, row["rel_path"])
        found = os.lstat(path)  # not through a link: sync never leaves one as a done file (issue 20)
    except UnsafeProductError as exc:
        return problem("unsafe_path", str(exc))
    except FileNotFoundError:
        return problem("missing_on_disk", f"{row['rel_path']} is missing from {data_dir}; row back for download")
    except OSError as exc:
        return problem("unreadable_on_disk", f"{row['rel_path']}: cannot read it ({exc.strerror})")
    if stat.S_ISLNK(found.st_mode):
        return problem("symlink_refused", f"{row['rel_path']} is a symbolic link, not the file ratdcs placed "
                                          "(ratdcs never follows a link at a file): remove it; row back for download")
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


# ---- export ---------------------------------------------------------------------------------

def _current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[TextIO]:
    """Write a text file via a temporary file in the same directory, renamed into place on success;
    a failure leaves no half-written file. Unwritable places raise ``DataDirError``."""
    path = Path(path).expanduser().absolute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # mkstemp makes the file 0600; an export is an ordinary file, made as the umask says.
        os.fchmod(fd, 0o666 & ~_current_umask())
    except OSError as exc:
        raise DataDirError(f"cannot write {path}: {exc.strerror or exc}",
                           hint="choose a writable place with --output") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # disk full, or the path is a directory
            raise DataDirError(f"cannot write {path}: {exc.strerror or exc}",
                               hint="choose a writable place with --output") from None
        raise


def export_tess_metadata(manifest, out_dir: Path) -> list[Path]:
    """Write ``TIC{id}_metadata.json`` (the seed project's schema) for every TESS target with
    downloaded files; returns the paths written.

    Schema: ``tic_id`` (int), ``stellar_parameters`` {teff, logg, radius, mass, tmag, distance},
    ``observations`` [one object per done light-curve file], ``download_timestamp`` (the latest
    file's download time, ISO-8601 UTC).

    Example::

        with open_manifest("data/manifest.sqlite", readonly=True) as m:
            export_tess_metadata(m, Path("data/tess/metadata"))
    """
    by_target: dict[str, list] = {}
    for row in manifest.done_files_of("tess"):
        by_target.setdefault(row["target_id"], []).append(row)
    targets = manifest.targets_of("tess")
    written = []
    for target_id, rows in by_target.items():
        document = tess_metadata(target_id, targets.get(target_id), rows)
        path = Path(out_dir) / f"TIC{int(target_id)}_metadata.json"
        with atomic_output(path) as fh:
            json.dump(document, fh, indent=2)
            fh.write("\n")
        written.append(path)
    return written


_SECTOR = re.compile(r"-s(\d{4})-")


def tess_metadata(target_id: str, target, files: Sequence) -> dict[str, Any]:
    """One TIC's metadata document (see ``export_tess_metadata``)."""
    def value(column: str):
        return target[column] if target is not None else None

    observations = []
    for f in files:
        name = f["rel_path"].rsplit("/", 1)[-1]
        sector = _SECTOR.search(name)
        observations.append({
            "filename": name, "sector": int(sector.group(1)) if sector else None,
            "product_kind": f["product_kind"], "path": f["rel_path"], "url": f["url"],
            "archive_uri": f["archive_uri"],
            "size_bytes": f["observed_size_bytes"] if f["observed_size_bytes"] is not None
            else f["expected_size_bytes"],
            "sha256": f["observed_sha256"], "downloaded_at": f["downloaded_at"]})
    return {
        "tic_id": int(target_id),
        "stellar_parameters": {"teff": value("teff_k"), "logg": value("logg_cgs"), "radius": value("radius_rsun"),
                               "mass": value("mass_msun"), "tmag": value("magnitude"),
                               "distance": value("distance_pc")},
        "observations": observations,
        # Every kind downloaded for this star (lc, tpf, dvt, cutout, ...), with how many files of each.
        "products": {kind: sum(1 for o in observations if o["product_kind"] == kind)
                     for kind in sorted({o["product_kind"] for o in observations})},
        "download_timestamp": max((f["downloaded_at"] for f in files if f["downloaded_at"]), default=None),
    }


EXPORT_COLUMNS = ("file_id", "source", "target_id", "product_kind", "state", "rel_path", "url", "archive_uri",
                  "expected_size_bytes", "expected_checksum", "observed_size_bytes", "observed_sha256",
                  "verify_level", "attempts", "last_error_kind", "last_error", "downloaded_at", "verified_at",
                  "split")


def _export_rows(manifest, sources: Sequence[str], states: Sequence[str]):
    return manifest.iter_files_with_split(EXPORT_COLUMNS, sources=sources, states=states)


def export_files(manifest, out: TextIO, fmt: str = "csv", *, sources: Sequence[str] = (),
                 states: Sequence[str] = ()) -> int:
    """Write the files table (with each target's split) as CSV or JSON to ``out``; returns the row count.

    Rows stream from SQLite, so a million-row manifest does not have to fit in memory.
    """
    if fmt not in ("csv", "json"):
        raise UsageError(f"export files: unknown format {fmt!r}", hint="use --format csv or --format json")
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in _export_rows(manifest, sources, states):
            writer.writerow(["" if v is None else v for v in row])
            count += 1
        return count
    out.write("[")
    for row in _export_rows(manifest, sources, states):
        out.write(("\n  " if count == 0 else ",\n  ") + json.dumps(dict(zip(EXPORT_COLUMNS, row))))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def export_urls(manifest, out: TextIO, fmt: str = "aria2", *, data_dir: Path | None = None,
                sources: Sequence[str] = (), states: Sequence[str] = NOT_DONE) -> int:
    """Write the URLs of the chosen rows for another transfer tool; returns how many.

    - ``aria2``: ``aria2c -i FILE`` input: each URL, then ``dir=``, ``out=`` (the manifest's path
      under the data directory) and ``checksum=sha-256=...`` where the manifest knows one;
    - ``curl``: a ``curl -K FILE`` config of ``url = ...`` / ``output = ...`` pairs;
    - ``list``: one URL per line (``wget -i``).
    Default rows: those not done yet (pending, downloading, failed).
    """
    if fmt not in URL_FORMATS:
        raise UsageError(f"export urls: unknown format {fmt!r}", hint=f"use one of {', '.join(URL_FORMATS)}")
    root = Path(data_dir).absolute() if data_dir is not None else None
    out.write(_URL_HEADERS[fmt].format(data_dir=root or "."))
    count = 0
    for row in _export_rows(manifest, sources, states):
        record = dict(zip(EXPORT_COLUMNS, row))
        out.write(_url_entry(fmt, record, root))
        count += 1
    return count


_URL_HEADERS = {
    "aria2": "# ratdcs export urls --format aria2; run: aria2c -i THIS_FILE --check-integrity=true "
             "--auto-file-renaming=false\n",
    "curl": "# ratdcs export urls --format curl; run: curl --fail --retry 3 --create-dirs -K THIS_FILE\n",
    "list": "",
}


def _url_entry(fmt: str, r: dict, root: Path | None) -> str:
    # Checked again here, not only when planned: each line of these files is an instruction to
    # another tool, and a manifest may come from an older ratdcs or be edited by hand.
    url, rel_path = check_url(r["url"]), check_relative_path(r["rel_path"])
    if fmt == "list":
        return url + "\n"
    if fmt == "curl":
        target = (root / rel_path) if root else Path(rel_path)
        return f'url = "{_curl_quote(url)}"\noutput = "{_curl_quote(str(target))}"\n'
    lines = [url]
    if root:
        lines.append(f"  dir={root}")
    lines.append(f"  out={rel_path}")
    checksum = _aria2_checksum(r["expected_checksum"]) or (
        f"sha-256={r['observed_sha256']}" if r["observed_sha256"] else None)
    if checksum:
        lines.append(f"  checksum={checksum}")
    return "\n".join(lines) + "\n"


def _aria2_checksum(text: str | None) -> str | None:
    """'sha256:<hex>' -> 'sha-256=<hex>' (aria2's names for hash types)."""
    from .verify import parse_checksum

    parsed = parse_checksum(text)
    if parsed is None:
        return None
    algorithm, digest = parsed
    return f"{'sha-256' if algorithm == 'sha256' else algorithm}={digest}"


def _curl_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


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


@dataclasses.dataclass
class SplitSummary:
    """Targets per split after ``split_targets``, and how many targets changed split."""

    ratios: tuple[float, float, float]
    seed: int
    targets: dict[str, int]
    changed: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_targets(manifest, *, ratios: Sequence[float], seed: int, sources: Sequence[str] = ()) -> SplitSummary:
    """Assign and store train/val/test for every target (of ``sources``, if given) that has files.

    Deterministic: the same seed and the same targets give the same splits.

    Example::

        with open_manifest("data/manifest.sqlite") as m:
            split_targets(m, ratios=(0.8, 0.1, 0.1), seed=42)
    """
    ratios = check_ratios(ratios)
    chosen = choose_splits(manifest.targets_with_files(sources=sources), ratios, seed)
    changed = manifest.assign_splits(chosen)
    counts = {s: 0 for s in SPLITS}
    for split in chosen.values():
        counts[split] += 1
    return SplitSummary(ratios, seed, counts, changed)
