"""Named reports over the manifest, and read-only ad-hoc SQL.

Every report section is a query on one of the named views in ``schema.sql`` (so what
``ratdcs report`` prints is what a user can ask SQLite directly). Sections come back as lists
of plain dicts; the CLI renders them as a table, JSON, CSV or Markdown.

Speed (bench/report_scale.py): the default report makes two passes over ``files``, each over a
covering index: ``source_state_summary`` (index ``files_by_source_state_size``), from whose few
rows progress, states and statistics are all derived in Python; and ``target_progress`` (index
``files_by_target``), from which both the incomplete targets and the split counts are derived.
Failures read only failed rows; syncs are a small table with a ``LIMIT``.

Ad-hoc SQL (``ratdcs report --sql``) runs on its own connection that cannot write, three ways
over: the file is opened ``mode=ro``, ``PRAGMA query_only`` is on, and an authorizer refuses
every action but reading (so the refusal names what was tried, e.g. "INSERT into files").
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from pathlib import Path
from typing import Any, Sequence

from .errors import UsageError

__all__ = [
    "SECTIONS",
    "SqlResult",
    "build_report",
    "count_metadata_files",
    "failed_files",
    "run_readonly_sql",
]

# Report sections in the order they print; `ratdcs report SECTION` prints one of them.
SECTIONS = ("progress", "states", "failures", "incomplete", "syncs", "stats", "splits")

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
    states = _rows(manifest, "SELECT * FROM source_state_summary ORDER BY source, state") \
        if {"progress", "states", "stats"} & set(sections) else []
    per_target = manifest.query("SELECT * FROM target_progress") \
        if {"incomplete", "splits"} & set(sections) else []
    out: dict[str, list[dict[str, Any]]] = {}
    for section in sections:
        if section == "progress":
            out[section] = progress_from_states(states)
        elif section == "states":
            out[section] = states
        elif section == "stats":
            out[section] = seed_statistics(states, data_dir)
        elif section == "incomplete":
            out[section] = incomplete_from_targets(per_target, limit)
        elif section == "splits":
            out[section] = splits_from_targets(manifest, per_target)
        else:
            out[section] = _SECTION_QUERIES[section](manifest, limit)
    return out


def progress_from_states(states: list[dict]) -> list[dict[str, Any]]:
    """The ``source_progress`` view's rows (plus a total), computed from ``source_state_summary`` rows."""
    by_source: dict[str, dict[str, Any]] = {}
    for row in states:
        for key in (row["source"], "total"):
            p = by_source.setdefault(key, {"source": key, "files_planned": 0, "files_done": 0, "files_failed": 0,
                                           "bytes_planned": 0, "bytes_done": 0})
            p["files_planned"] += row["files"]
            p["bytes_planned"] += row["bytes"] or 0
            if row["state"] in ("done", "failed"):
                p[f"files_{row['state']}"] += row["files"]
            if row["state"] == "done":
                p["bytes_done"] += row["bytes"] or 0
    rows = [by_source[k] for k in sorted(by_source, key=lambda s: (s == "total", s))]
    if len(rows) == 2:  # one source: its total says nothing new
        rows = rows[:1]
    return [{"source": p["source"], "files_planned": p["files_planned"], "files_done": p["files_done"],
             "files_failed": p["files_failed"],
             "files_remaining": p["files_planned"] - p["files_done"],
             "planned_gb": round(p["bytes_planned"] / GB, 3), "downloaded_gb": round(p["bytes_done"] / GB, 3),
             "remaining_gb": round((p["bytes_planned"] - p["bytes_done"]) / GB, 3)} for p in rows]


def failure_reasons(manifest, limit: int | None = None) -> list[dict[str, Any]]:
    """Failed files grouped by source and kind of reason, most frequent first, with an example each."""
    return _rows(manifest, "SELECT * FROM failure_reasons ORDER BY files DESC, source, error_kind"
                 + _limit(limit))


def failed_files(manifest, limit: int | None = None, *, sources: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every failed file with its reason (the ``failed_files`` view), optionally of some sources."""
    where, params = "", list(sources)
    if sources:
        where = f" WHERE source IN ({', '.join('?' * len(sources))})"
    return _rows(manifest, f"SELECT * FROM failed_files{where} ORDER BY source, file_id" + _limit(limit), params)


def incomplete_targets(manifest, limit: int | None = None) -> list[dict[str, Any]]:
    """Targets with files still missing, the most missing first."""
    return _rows(manifest, "SELECT * FROM incomplete_targets ORDER BY files_missing DESC, source, target_id"
                 + _limit(limit))


def recent_syncs(manifest, limit: int | None = None) -> list[dict[str, Any]]:
    """The last syncs, newest first: files, bytes, elapsed seconds and MB/s."""
    return _rows(manifest, "SELECT * FROM recent_syncs" + _limit(limit))


def split_counts(manifest, limit: int | None = None) -> list[dict[str, Any]]:
    """Targets and files per source and train/val/test split (``split_summary``)."""
    return _rows(manifest, "SELECT * FROM split_summary ORDER BY source, " + _SPLIT_ORDER)


_SPLIT_ORDER = "CASE split WHEN 'train' THEN 0 WHEN 'val' THEN 1 WHEN 'test' THEN 2 ELSE 3 END"
_SECTION_QUERIES = {"failures": failure_reasons, "syncs": recent_syncs}


# The two per-target sections share one pass over files (the target_progress view); each gives
# the same rows as its own view (incomplete_targets, split_summary), which tests check.

def incomplete_from_targets(per_target: Sequence, limit: int | None) -> list[dict[str, Any]]:
    """``incomplete_targets`` rows (most files missing first) from ``target_progress`` rows."""
    missing = sorted((r for r in per_target if r["files_missing"] > 0),
                     key=lambda r: (-r["files_missing"], r["source"], r["target_id"]))
    return [{"source": r["source"], "target_id": r["target_id"], "name": r["name"],
             "files_planned": r["files_planned"], "files_done": r["files_done"], "files_missing": r["files_missing"],
             "bytes_missing": r["bytes_missing"]} for r in missing[:limit or None]]


def splits_from_targets(manifest, per_target: Sequence) -> list[dict[str, Any]]:
    """``split_summary`` rows from ``target_progress`` rows, plus targets counted from ``targets``
    (which also holds targets that have no files)."""
    rows = {(r["source"], r["split"]): {**dict(r), "files": 0, "files_done": 0} for r in manifest.query(
        f"""SELECT source, COALESCE(split, 'unassigned') AS split, COUNT(*) AS targets FROM targets
            GROUP BY source, COALESCE(split, 'unassigned') ORDER BY source, {_SPLIT_ORDER}""")}
    for r in per_target:
        row = rows.get((r["source"], r["split"] or "unassigned"))
        if row is not None:  # files whose target row is missing belong to no split
            row["files"] += r["files_planned"]
            row["files_done"] += r["files_done"]
    return list(rows.values())


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


def _rows(manifest, sql: str, params: Sequence | dict = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in manifest.query(sql, params)]


def _limit(limit: int | None) -> str:
    return f" LIMIT {int(limit)}" if limit else ""


# ---- ad-hoc read-only SQL ------------------------------------------------------------------

@dataclasses.dataclass
class SqlResult:
    """What one ad-hoc query returned: its column names and rows (as tuples)."""

    columns: list[str]
    rows: list[tuple]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]


# Pragmas that only read; the ones in _PRAGMAS_WITH_ARGUMENT may name a table or index.
# Any other pragma, and any pragma given a value (PRAGMA user_version = 3), is refused.
_PRAGMAS_WITH_ARGUMENT = {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
                          "foreign_key_list", "table_list"}
_READ_PRAGMAS = _PRAGMAS_WITH_ARGUMENT | {
    "user_version", "schema_version", "application_id", "journal_mode", "page_count", "page_size",
    "freelist_count", "encoding", "foreign_keys", "collation_list", "function_list", "pragma_list",
    "database_list", "compile_options", "integrity_check", "quick_check", "foreign_key_check", "data_version",
    "query_only"}
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                    getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
_ACTION_NAMES = {getattr(sqlite3, "SQLITE_" + n): n.replace("_", " ") for n in (
    "ALTER_TABLE", "ANALYZE", "ATTACH", "CREATE_INDEX", "CREATE_TABLE", "CREATE_TEMP_INDEX", "CREATE_TEMP_TABLE",
    "CREATE_TEMP_TRIGGER", "CREATE_TEMP_VIEW", "CREATE_TRIGGER", "CREATE_VIEW", "CREATE_VTABLE", "DELETE", "DETACH",
    "DROP_INDEX", "DROP_TABLE", "DROP_TEMP_INDEX", "DROP_TEMP_TABLE", "DROP_TEMP_TRIGGER", "DROP_TEMP_VIEW",
    "DROP_TRIGGER", "DROP_VIEW", "DROP_VTABLE", "INSERT", "REINDEX", "SAVEPOINT", "TRANSACTION", "UPDATE")
    if hasattr(sqlite3, "SQLITE_" + n)}
_PREPOSITIONS = {"INSERT": "into", "DELETE": "from", "UPDATE": "of"}


def run_readonly_sql(manifest_path: str | os.PathLike, sql: str, params: Sequence | dict = ()) -> SqlResult:
    """Run one SQL statement on a connection that cannot write; return its columns and rows.

    Writes (INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, ATTACH, PRAGMA with a value, ...) raise
    ``UsageError`` ("report --sql is read-only: ... refused"); SQLite errors raise ``UsageError``
    ("SQL error: <SQLite's message>").

    Example::

        run_readonly_sql("data/manifest.sqlite", "SELECT state, COUNT(*) FROM files GROUP BY state").rows
    """
    from .manifest import open_manifest

    manifest = open_manifest(manifest_path, readonly=True)
    try:
        return _run_guarded(manifest.conn, sql, params)
    finally:
        manifest.close()


def _run_guarded(conn: sqlite3.Connection, sql: str, params) -> SqlResult:
    conn.execute("PRAGMA query_only = ON")
    refused: list[str] = []
    conn.set_authorizer(lambda action, arg1, arg2, db, trigger: _authorize(refused, action, arg1, arg2))
    try:
        cursor = conn.execute(sql, params)
        columns = [d[0] for d in cursor.description or ()]
        rows = [tuple(r) for r in cursor.fetchall()]
    except sqlite3.ProgrammingError as exc:
        if "one statement" in str(exc):
            raise UsageError("report --sql runs one statement; found more than one",
                             hint="send the statements one at a time") from None
        raise UsageError(f"SQL error: {exc}") from None
    except sqlite3.Error as exc:
        if refused:
            raise UsageError(f"report --sql is read-only: {_main_refusal(refused, sql)} refused",
                             hint="change rows with `ratdcs retry`, `ratdcs reset`, `ratdcs verify` "
                                  "or `ratdcs split`; --sql only reads") from None
        if "readonly" in str(exc) or "read-only" in str(exc):
            raise UsageError(f"report --sql is read-only: {exc}", hint="--sql only reads") from None
        raise UsageError(f"SQL error: {exc}",
                         hint="list the tables and views with `ratdcs report --sql "
                              "\"SELECT name, type FROM sqlite_master\"`") from None
    finally:
        conn.set_authorizer(None)
    return SqlResult(columns, rows)


def _authorize(refused: list[str], action: int, arg1: str | None, arg2: str | None) -> int:
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS and (
            arg2 is None or (arg1 or "").lower() in _PRAGMAS_WITH_ARGUMENT):
        return sqlite3.SQLITE_OK
    name = _ACTION_NAMES.get(action, f"action {action}")
    if action == sqlite3.SQLITE_PRAGMA:
        what = f"PRAGMA {arg1}" + (f" = {arg2}" if arg2 is not None else "")
    else:
        what = " ".join(x for x in (name, _PREPOSITIONS.get(name), arg2 if name == "ALTER TABLE" else arg1) if x)
    refused.append(what)
    return sqlite3.SQLITE_DENY


def _main_refusal(refused: list[str], sql: str) -> str:
    """What the statement tried, in its own words (DROP TABLE files), when the authorizer only heard
    of SQLite's bookkeeping behind it (DELETE from sqlite_master)."""
    if not refused[0].endswith(("sqlite_master", "sqlite_temp_master")):
        return refused[0]
    words = []
    for word in sql.split():
        words.append(word.upper() if word.upper() in _DDL_WORDS else word)
        if word.upper() not in _DDL_WORDS:
            break
    return " ".join(words)


_DDL_WORDS = {"CREATE", "DROP", "TEMP", "TEMPORARY", "UNIQUE", "VIRTUAL", "TABLE", "VIEW", "INDEX", "TRIGGER",
              "IF", "NOT", "EXISTS", "ANALYZE"}
