"""Named reports over the manifest, and read-only ad-hoc SQL.

Every report section is one of the named views in ``schema.sql``, read through the manifest's
named reads (so what ``ratdcs report`` prints is what a user gets from ``SELECT * FROM
<view>``); only the progress section's total row and the dataset statistics are added here.
Sections come back as lists of plain dicts; the CLI renders them as a table, JSON, CSV or
Markdown. Speed on a 1,000,000-row manifest: bench/report_scale.py.

Ad-hoc SQL (``ratdcs report --sql``) runs on a connection that cannot write
(``manifest/adhoc.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from .errors import UsageError
from .manifest.adhoc import SqlResult, run_readonly_sql

__all__ = [
    "SECTIONS",
    "SqlResult",
    "build_report",
    "count_metadata_files",
    "failed_files",
    "run_readonly_sql",
]

# Report sections in the order they print; `ratdcs report SECTION` prints one of them.
SECTIONS = ("progress", "kinds", "states", "failures", "incomplete", "syncs", "stats", "splits")

GB = 1e9


def build_report(manifest, *, data_dir: Path | None = None, sections: Sequence[str] = SECTIONS,
                 limit: int = 10) -> dict[str, list[dict[str, Any]]]:
    """The report as {section: rows}; ``limit`` caps the rows of the long sections.

    Example::

        with open_manifest("data/manifest.sqlite", readonly=True) as m:
            print(build_report(m, sections=["progress"])["progress"])
    """
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise UsageError(f"unknown report section {unknown[0]!r}: expected one of {', '.join(SECTIONS)}")
    readers = {
        "progress": lambda m: with_total(m.source_progress()),
        "kinds": lambda m: m.kind_progress(),
        "states": lambda m: m.source_state_summary(),
        "failures": lambda m: m.failure_reasons(limit),
        "incomplete": lambda m: m.incomplete_targets(limit),
        "syncs": lambda m: m.recent_syncs(limit),
        "splits": lambda m: m.split_summary(),
    }
    wanted = [s for s in sections if s != "stats"] + (["states"] if "stats" in sections else [])
    rows = _read_in_parallel(manifest, {s: readers[s] for s in dict.fromkeys(wanted)})
    if "stats" in sections:
        rows["stats"] = seed_statistics(rows["states"], data_dir)
    return {section: rows[section] for section in sections}


def _read_in_parallel(manifest, readers: dict) -> dict[str, list[dict[str, Any]]]:
    """Each view is one pass over a covering index of ``files`` (~0.1-0.3 s at a million rows);
    SQLite runs without the GIL, so two connections read two views at once. The second
    connection is read-only and sees the same committed state (WAL)."""
    from concurrent.futures import ThreadPoolExecutor

    from .manifest import open_manifest

    if len(readers) < 2:
        return {name: read(manifest) for name, read in readers.items()}
    mine, other_ones, load = [], [], [0.0, 0.0]
    for name in sorted(readers, key=lambda n: -_PASS_SECONDS.get(n, 0.0)):  # the heaviest first, to the lighter side
        side = 0 if load[0] <= load[1] else 1
        (mine, other_ones)[side].append(name)
        load[side] += _PASS_SECONDS.get(name, 0.0)
    with open_manifest(manifest.path, readonly=True) as other, ThreadPoolExecutor(1) as pool:
        theirs = {name: pool.submit(readers[name], other) for name in other_ones}
        ours = {name: readers[name](manifest) for name in mine}
        return {**ours, **{name: future.result() for name, future in theirs.items()}}


# Seconds of each section's query on a 1,000,000-row manifest (bench/report_scale.py), to share them out.
_PASS_SECONDS = {"incomplete": 0.27, "splits": 0.21, "kinds": 0.15, "progress": 0.12, "states": 0.12,
                 "failures": 0.08}


def with_total(progress: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``source_progress`` rows plus a total row when there are several sources."""
    if len(progress) < 2:
        return progress
    total: dict[str, Any] = {"source": "total"}
    for key in progress[0]:
        if key != "source":
            total[key] = sum(r[key] or 0 for r in progress)
            if key.endswith("_gb"):
                total[key] = round(total[key], 3)
    return progress + [total]


def failed_files(manifest, limit: int | None = None, *, sources: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every failed file with its reason (the ``failed_files`` view), optionally of some sources."""
    return manifest.failed_files(sources=sources, limit=limit)


def seed_statistics(states: list[dict], data_dir: Path | None) -> list[dict[str, Any]]:
    """The seed project's dataset statistics: downloaded files and GB per source and in total,
    and TESS light-curve FITS files (done rows) against TESS metadata JSON files on disk."""
    rows: dict[str, dict[str, Any]] = {}
    for row in states:
        if row["state"] != "done":
            continue
        for key in (row["source"], "total"):
            r = rows.setdefault(key, {"source": key, "files": 0, "bytes": 0})
            r["files"] += row["files"]
            r["bytes"] += row["bytes"] or 0
    rows.setdefault("total", {"source": "total", "files": 0, "bytes": 0})
    stats = [{"statistic": f"{'total' if key == 'total' else key} files", "value": r["files"]}
             for key, r in sorted(rows.items(), key=lambda kv: (kv[0] == "total", kv[0]))]
    stats += [{"statistic": f"{key} size GB", "value": round(r["bytes"] / GB, 3)}
              for key, r in sorted(rows.items(), key=lambda kv: (kv[0] == "total", kv[0]))]
    # Every TESS row is a light-curve FITS file (metadata JSON is written by export, not planned).
    stats.append({"statistic": "tess light-curve FITS files", "value": rows.get("tess", {}).get("files", 0)})
    stats.append({"statistic": "tess metadata JSON files",
                  "value": count_metadata_files(data_dir) if data_dir is not None else None})
    return stats


def count_metadata_files(data_dir: Path) -> int:
    """``TIC*_metadata.json`` files under ``<data_dir>/tess/metadata/`` (written by ``ratdcs export``)."""
    try:
        with os.scandir(Path(data_dir) / "tess" / "metadata") as entries:
            return sum(1 for e in entries if e.name.startswith("TIC") and e.name.endswith("_metadata.json"))
    except (FileNotFoundError, NotADirectoryError):  # nothing exported yet
        return 0
