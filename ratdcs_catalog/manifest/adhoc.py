"""Ad-hoc SQL that cannot write: ``ratdcs report --sql`` and ``ratdcs_catalog.report(sql=...)``.

The query runs on its own connection that cannot write, three ways over: the file is opened
``mode=ro``, ``PRAGMA query_only`` is on, and an authorizer refuses every action but reading
(so the refusal names what was tried, e.g. "INSERT into files").
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from typing import Any, Sequence

from ..errors import UsageError

__all__ = ["SqlResult", "run_readonly_sql"]


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
    from . import open_manifest

    from .schema import damage_error

    manifest = open_manifest(manifest_path, readonly=True)
    try:
        return _run_guarded(manifest.conn, sql, params)
    except UsageError as exc:  # a damaged page met by the query is the manifest's fault, not the SQL's
        damaged = damage_error(manifest.path, exc.__context__) if exc.__context__ is not None else None
        if damaged is not None:
            raise damaged from None
        raise
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
