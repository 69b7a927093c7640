"""The manifest's schema: schema.sql, its version, the forward migrations, and opening the file safely.

``schema.sql`` (at the top of the repository; the package carries a copy) is the current schema.
``MIGRATIONS[v]`` turns a version-v manifest into version v+1; each step is written out in full,
so it keeps meaning "v -> v+1" when schema.sql moves on.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import ManifestError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "connect", "check_is_sqlite", "execute_script", "make_parent",
           "schema_sql"]

# Add a step here whenever schema.sql changes, and bump its PRAGMA user_version.
MIGRATIONS: dict[int, str] = {}

# 1 -> 2: targets get a train/val/test split (`ratdcs split`), summarised by split_summary;
# target_progress (per-target counts, for a one-pass report);
# files_by_target also covers expected_size_bytes (faster per-target reports).
# Written out in full (not read from schema.sql) so it keeps meaning "1 -> 2" when schema.sql moves on.
MIGRATIONS[1] = """
ALTER TABLE targets ADD COLUMN split TEXT CHECK (split IN ('train', 'val', 'test'));
DROP INDEX IF EXISTS files_by_target;
CREATE INDEX IF NOT EXISTS files_by_target ON files (source, target_id, state, expected_size_bytes);
CREATE VIEW IF NOT EXISTS split_summary AS
SELECT t.source,
       COALESCE(t.split, 'unassigned')  AS split,
       COUNT(*)                         AS targets,
       SUM(COALESCE(f.files, 0))        AS files,
       SUM(COALESCE(f.files_done, 0))   AS files_done
FROM targets t
LEFT JOIN (SELECT source, target_id, COUNT(*) AS files, SUM(state = 'done') AS files_done
           FROM files GROUP BY source, target_id) f
       ON f.source = t.source AND f.target_id = t.target_id
GROUP BY t.source, COALESCE(t.split, 'unassigned');
CREATE VIEW IF NOT EXISTS target_progress AS
SELECT f.source, f.target_id, t.name, t.split, f.files_planned, f.files_done,
       f.files_planned - f.files_done AS files_missing, f.bytes_missing
FROM (SELECT source, target_id, COUNT(*) AS files_planned, SUM(state = 'done') AS files_done,
             SUM(CASE WHEN state <> 'done' THEN expected_size_bytes END) AS bytes_missing
      FROM files GROUP BY source, target_id) f
LEFT JOIN targets t ON t.source = f.source AND t.target_id = f.target_id;
"""

# 2 -> 3: source_progress gets files_remaining and counts 0, not NULL, for a source with no
# done or failed file, so the view, `report progress` and `report --sql` agree.
MIGRATIONS[2] = """
DROP VIEW IF EXISTS source_progress;
CREATE VIEW IF NOT EXISTS source_progress AS
SELECT source,
       SUM(files)                                                           AS files_planned,
       SUM(CASE WHEN state = 'done' THEN files ELSE 0 END)                  AS files_done,
       SUM(CASE WHEN state = 'failed' THEN files ELSE 0 END)                AS files_failed,
       SUM(CASE WHEN state <> 'done' THEN files ELSE 0 END)                 AS files_remaining,
       ROUND(SUM(bytes) / 1e9, 3)                                           AS planned_gb,
       ROUND(SUM(CASE WHEN state = 'done' THEN bytes ELSE 0 END) / 1e9, 3)  AS downloaded_gb,
       ROUND(SUM(CASE WHEN state <> 'done' THEN bytes ELSE 0 END) / 1e9, 3) AS remaining_gb
FROM source_state_summary
GROUP BY source;
"""


def schema_sql() -> str:
    # The package ships schema.sql as a plain file beside this module (a symlink to the top-level
    # schema.sql in a source tree). Read directly: importlib.resources cost every command 5 ms.
    return (Path(__file__).parent.parent / "schema.sql").read_text(encoding="utf-8")


def _schema_version(sql: str) -> int:
    for line in sql.splitlines():
        if line.strip().upper().startswith("PRAGMA USER_VERSION"):
            return int(line.split("=")[1].strip(" ;"))
    raise AssertionError("schema.sql declares no PRAGMA user_version")


SCHEMA_VERSION = _schema_version(schema_sql())


def execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run a multi-statement script inside the caller's transaction.

    sqlite3's executescript() would COMMIT first, so a failed migration could leave a
    half-migrated manifest; statement by statement, the whole step rolls back together.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip() and not all(l.strip().startswith("--") or not l.strip() for l in statement.splitlines()):
        raise AssertionError(f"incomplete SQL statement at the end of a script: {statement[:80]!r}")


def make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ManifestError(f"cannot create the manifest's directory {path.parent}: {exc.strerror}",
                            hint="pass --db with a writable location") from None


_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_is_sqlite(path: Path) -> None:
    """Refuse a file that is not SQLite before sqlite3 gets a chance to touch it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest {path}: {exc.strerror}") from None
    if head and head != _SQLITE_MAGIC:
        raise ManifestError(f"{path} is not an SQLite database (it starts with {head[:8]!r})",
                            hint="pass --db with the manifest's path or a new file name; this file was left untouched")


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise ManifestError(f"cannot open the manifest {path}: {exc}",
                            hint="check the path and its permissions, or pass --db elsewhere") from None
    return conn
