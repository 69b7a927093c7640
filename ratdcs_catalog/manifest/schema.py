"""The manifest's schema: schema.sql, its version, the forward migrations, and opening the file safely.

``schema.sql`` (at the top of the repository; the package carries a copy) is the current schema.
``MIGRATIONS[v]`` turns a version-v manifest into version v+1; each step is written out in full,
so it keeps meaning "v -> v+1" when schema.sql moves on.
"""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

from ..errors import ManifestError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "check_is_sqlite", "connect", "damage_error", "damaged_manifest",
           "execute_script", "make_parent", "schema_sql"]

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


# 3 -> 4: the source CHECK constraints go (registry.py names the sources; a new source needs no
# migration); files get quarter, campaign, campaign_part and sector (from the archive's own
# metadata; NULL for rows planned before, until a re-plan fills them); a kind_progress view. SQLite
# cannot drop a constraint, so targets and files are rebuilt as its manual says: views dropped,
# new tables filled, old ones dropped, renamed, indexes and views made again. Run with foreign
# keys off (``Connection._prepare``), checked with foreign_key_check before the commit.
MIGRATIONS[3] = """
DROP VIEW IF EXISTS source_state_summary;
DROP VIEW IF EXISTS source_progress;
DROP VIEW IF EXISTS kind_progress;
DROP VIEW IF EXISTS failed_files;
DROP VIEW IF EXISTS failure_reasons;
DROP VIEW IF EXISTS incomplete_targets;
DROP VIEW IF EXISTS recent_syncs;
DROP VIEW IF EXISTS split_summary;
DROP VIEW IF EXISTS target_progress;
CREATE TABLE targets_v4 (
    source              TEXT NOT NULL,                  -- a source of ratdcs_catalog/registry.py: kepler, k2, tess, ztf
    target_id           TEXT NOT NULL,                  -- KIC, EPIC, TIC number, or ZTF field id
    name                TEXT,                           -- 'KIC 11904151', 'TIC 261136679', ...
    ra_deg              REAL,
    dec_deg             REAL,
    teff_k              REAL,
    logg_cgs            REAL,
    radius_rsun         REAL,
    mass_msun           REAL,
    magnitude           REAL,                           -- Kepler mag, Tmag, ...
    magnitude_band      TEXT,                           -- 'Kp', 'Tmag', ...
    distance_pc         REAL,
    disposition         TEXT,                           -- CONFIRMED, PC, CP, KP, ...
    catalog_row_json    TEXT,                           -- the raw catalog row(s), as fetched
    plan_id             INTEGER REFERENCES plans (plan_id),
    updated_at          TEXT NOT NULL,
    split               TEXT CHECK (split IN ('train', 'val', 'test')),  -- `ratdcs split`; NULL = not assigned
    PRIMARY KEY (source, target_id)
);
INSERT INTO targets_v4 (source, target_id, name, ra_deg, dec_deg, teff_k, logg_cgs, radius_rsun, mass_msun, magnitude, magnitude_band, distance_pc, disposition, catalog_row_json, plan_id, updated_at, split)
    SELECT source, target_id, name, ra_deg, dec_deg, teff_k, logg_cgs, radius_rsun, mass_msun, magnitude, magnitude_band, distance_pc, disposition, catalog_row_json, plan_id, updated_at, split FROM targets;
DROP TABLE targets;
ALTER TABLE targets_v4 RENAME TO targets;
CREATE TABLE files_v4 (
    file_id              INTEGER PRIMARY KEY,
    source               TEXT NOT NULL,                 -- a registry source (the manifest refuses others)
    target_id            TEXT NOT NULL,
    product_kind         TEXT NOT NULL,                 -- a registry product kind: lc_long, lc, lc_fast, ztf_sciimg, ...
    -- When the file was observed, as the archive's own metadata says (MAST's product description
    -- "... - Q4" / "... - C10-2", the observation's sequence_number), NULL where it does not apply:
    quarter              INTEGER,                       -- Kepler quarter 0-17
    campaign             INTEGER,                       -- K2 campaign 0-19 (both parts of a split one)
    campaign_part        INTEGER,                       -- 1 or 2 for the split campaigns C9, C10, C11
    sector               INTEGER,                       -- TESS sector
    archive_uri          TEXT,                          -- mast:Kepler/url/..., or NULL for IRSA
    url                  TEXT NOT NULL UNIQUE,          -- what sync fetches
    rel_path             TEXT NOT NULL UNIQUE,          -- destination under the data directory
    expected_size_bytes  INTEGER,                       -- NULL where the archive does not say (IRSA)
    expected_checksum    TEXT,                          -- 'sha256:<hex>' or 'md5:<hex>', NULL if unknown
    state                TEXT NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'downloading', 'done', 'failed')),
    attempts             INTEGER NOT NULL DEFAULT 0,    -- syncs that claimed this row
    last_error_kind      TEXT,                          -- http_503, size_mismatch, fits_checksum, ...
    last_error           TEXT,                          -- the full reason, for people
    observed_size_bytes  INTEGER,
    observed_sha256      TEXT,
    verify_level         TEXT CHECK (verify_level IN ('size', 'checksum', 'fits', 'fits_checksum')),
    nan_fraction         REAL,                          -- of the flux column, light curves only
    changed_upstream     INTEGER NOT NULL DEFAULT 0,    -- 1 when a re-plan found a new archive size
    quarantine_path      TEXT,                          -- where a failed file's bytes were kept
    planned_at           TEXT NOT NULL,
    downloaded_at        TEXT,
    verified_at          TEXT,
    lease_owner          TEXT,                          -- '<host>:<pid>:<random>' of the claiming sync
    lease_expires_at     TEXT,
    plan_id              INTEGER REFERENCES plans (plan_id),
    FOREIGN KEY (source, target_id) REFERENCES targets (source, target_id)
);
INSERT INTO files_v4 (file_id, source, target_id, product_kind, archive_uri, url, rel_path, expected_size_bytes, expected_checksum, state, attempts, last_error_kind, last_error, observed_size_bytes, observed_sha256, verify_level, nan_fraction, changed_upstream, quarantine_path, planned_at, downloaded_at, verified_at, lease_owner, lease_expires_at, plan_id)
    SELECT file_id, source, target_id, product_kind, archive_uri, url, rel_path, expected_size_bytes, expected_checksum, state, attempts, last_error_kind, last_error, observed_size_bytes, observed_sha256, verify_level, nan_fraction, changed_upstream, quarantine_path, planned_at, downloaded_at, verified_at, lease_owner, lease_expires_at, plan_id FROM files;
DROP TABLE files;
ALTER TABLE files_v4 RENAME TO files;
-- Sync claims pending rows in file_id order, per source; report groups by source and state.
CREATE INDEX IF NOT EXISTS files_by_state ON files (state, file_id);
CREATE INDEX IF NOT EXISTS files_by_source_state_size
    ON files (source, state, expected_size_bytes, observed_size_bytes);
-- Covers expected_size_bytes too, so per-target reports (incomplete_targets, split_summary)
-- never read the table itself: 0.4 s -> 0.2 s on a 1M-row manifest (bench/report_scale.py).
CREATE INDEX IF NOT EXISTS files_by_target ON files (source, target_id, state, expected_size_bytes);
CREATE INDEX IF NOT EXISTS files_by_lease ON files (lease_expires_at) WHERE state = 'downloading';
CREATE INDEX IF NOT EXISTS transfers_by_file ON transfers (file_id);
CREATE INDEX IF NOT EXISTS transfers_by_sync ON transfers (sync_id);
-- Per product kind (light curves, target pixel files, DV files, cutouts): covers kind_progress.
CREATE INDEX IF NOT EXISTS files_by_kind_state_size
    ON files (source, product_kind, state, expected_size_bytes, observed_size_bytes);
-- The files of one quarter, campaign or sector: `SELECT ... WHERE sector = 27`, per source.
CREATE INDEX IF NOT EXISTS files_by_period ON files (source, quarter, campaign, sector);

-- Files and bytes per source and state. Bytes are the archive's expected size where known,
-- else what was observed on disk; files_unknown_size counts rows that have neither.
CREATE VIEW IF NOT EXISTS source_state_summary AS
SELECT source,
       state,
       COUNT(*)                                                      AS files,
       SUM(COALESCE(expected_size_bytes, observed_size_bytes, 0))    AS bytes,
       SUM(COALESCE(expected_size_bytes, observed_size_bytes) IS NULL) AS files_unknown_size
FROM files
GROUP BY source, state;

-- Files and gigabytes planned, downloaded and remaining per source: the rows of `ratdcs report
-- progress` (which adds a total row when there are several sources).
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

-- Files and gigabytes planned, downloaded and remaining per source and product kind (lc, tpf,
-- dvt, cutout, ...: ratdcs_catalog/registry.py); the rows of `ratdcs report kinds`.
CREATE VIEW IF NOT EXISTS kind_progress AS
SELECT source,
       product_kind,
       COUNT(*)                                                                   AS files_planned,
       SUM(state = 'done')                                                        AS files_done,
       SUM(state = 'failed')                                                      AS files_failed,
       SUM(COALESCE(expected_size_bytes, observed_size_bytes) IS NULL)            AS files_unknown_size,
       ROUND(SUM(COALESCE(expected_size_bytes, observed_size_bytes, 0)) / 1e9, 3) AS planned_gb,
       ROUND(SUM(CASE WHEN state = 'done' THEN COALESCE(expected_size_bytes, observed_size_bytes, 0) ELSE 0 END)
             / 1e9, 3)                                                            AS downloaded_gb
FROM files
GROUP BY source, product_kind;

-- Every failed file with its reason.
CREATE VIEW IF NOT EXISTS failed_files AS
SELECT file_id, source, target_id, rel_path, url, attempts, last_error_kind, last_error,
       quarantine_path
FROM files
WHERE state = 'failed';

-- Failures grouped by kind of reason, with one example each.
CREATE VIEW IF NOT EXISTS failure_reasons AS
SELECT source,
       COALESCE(last_error_kind, 'unknown') AS error_kind,
       COUNT(*)                             AS files,
       MIN(rel_path)                        AS example_path,
       MIN(last_error)                      AS example_error
FROM files
WHERE state = 'failed'
GROUP BY source, error_kind;

-- Targets that still have files not done.
CREATE VIEW IF NOT EXISTS incomplete_targets AS
SELECT t.source, t.target_id, t.name,
       COUNT(*)                                            AS files_planned,
       SUM(f.state = 'done')                               AS files_done,
       SUM(f.state <> 'done')                              AS files_missing,
       SUM(CASE WHEN f.state <> 'done' THEN f.expected_size_bytes END) AS bytes_missing
FROM targets t
JOIN files f ON f.source = t.source AND f.target_id = t.target_id
GROUP BY t.source, t.target_id
HAVING SUM(f.state <> 'done') > 0;

-- The last syncs, with their throughput.
CREATE VIEW IF NOT EXISTS recent_syncs AS
SELECT sync_id, started_at, finished_at, workers, files_done, files_failed, files_adopted,
       bytes_received,
       ROUND((julianday(finished_at) - julianday(started_at)) * 86400, 3) AS elapsed_seconds,
       ROUND(bytes_received / 1e6 / NULLIF((julianday(finished_at) - julianday(started_at)) * 86400, 0), 3)
                                                                       AS mb_per_second,
       stopped_by
FROM syncs
ORDER BY sync_id DESC;

-- Targets and files per train/val/test split (`ratdcs split`), per source. Per-target counts
-- come from the files_by_target index alone, so this stays fast on large manifests.
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

-- Files planned, done and missing per target, with its name and split. Aggregated first over
-- the covering index files_by_target, then joined to targets: `ratdcs report` derives both
-- "targets with files still missing" and the split counts from this one pass over files.
CREATE VIEW IF NOT EXISTS target_progress AS
SELECT f.source, f.target_id, t.name, t.split, f.files_planned, f.files_done,
       f.files_planned - f.files_done AS files_missing, f.bytes_missing
FROM (SELECT source, target_id, COUNT(*) AS files_planned, SUM(state = 'done') AS files_done,
             SUM(CASE WHEN state <> 'done' THEN expected_size_bytes END) AS bytes_missing
      FROM files GROUP BY source, target_id) f
LEFT JOIN targets t ON t.source = f.source AND t.target_id = f.target_id;
"""

# 4 -> 5: files get their own split (ZTF split by night or image, below the field that is its
# target), and split_summary counts files by the effective split COALESCE(files.split, targets.split).
MIGRATIONS[4] = """
ALTER TABLE files ADD COLUMN split TEXT CHECK (split IN ('train', 'val', 'test'));
DROP INDEX IF EXISTS files_by_target;
CREATE INDEX IF NOT EXISTS files_by_target ON files (source, target_id, split, state, expected_size_bytes);
DROP VIEW IF EXISTS split_summary;
CREATE VIEW IF NOT EXISTS split_summary AS
SELECT source, split, COUNT(DISTINCT target_id) AS targets, SUM(files) AS files, SUM(files_done) AS files_done
FROM (SELECT g.source, g.target_id, COALESCE(g.split, t.split, 'unassigned') AS split, g.files, g.files_done
      FROM (SELECT source, target_id, split, COUNT(*) AS files, SUM(state = 'done') AS files_done
            FROM files GROUP BY source, target_id, split) g
      LEFT JOIN targets t ON t.source = g.source AND t.target_id = g.target_id
      UNION ALL
      SELECT t.source, t.target_id, COALESCE(t.split, 'unassigned'), 0, 0
      FROM targets t
      WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.source = t.source AND f.target_id = t.target_id))
GROUP BY source, split;
"""

# 5 -> 6: files get the cloud copy's URL (mirror_url) and where their checksum came from
# (checksum_source); transfers record the URL each attempt asked; manifest_settings records
# facts about the manifest such as its data directory.
MIGRATIONS[5] = """
ALTER TABLE files ADD COLUMN mirror_url TEXT;
ALTER TABLE files ADD COLUMN checksum_source TEXT;
ALTER TABLE transfers ADD COLUMN url TEXT;
CREATE TABLE IF NOT EXISTS manifest_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
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
                            hint="pass --db with a writable location for the manifest; by default it lives in "
                                 "the data directory, so setting data_dir (--data-dir, RATDCS_DATA_DIR or data_dir "
                                 "in config.yaml) to a writable directory moves both") from None


_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_is_sqlite(path: Path) -> None:
    """Refuse a file that is not SQLite before sqlite3 gets a chance to touch it.

    An empty file too, for every command, ``plan`` included: SQLite would take it for a new
    database, so a manifest cut to 0 bytes (a full disk, a failed copy, ``> manifest.sqlite``)
    would come back silently as an empty one - ``sync`` saying "Nothing to do", ``plan``
    starting a new history over the lost one. Removing the file is the one step a real new
    manifest costs; ratdcs itself never leaves one (``Connection.open`` removes its own).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest {path}: {exc.strerror}") from None
    if not head:
        raise ManifestError(f"{path} is empty (0 bytes): not a manifest - if it was one, it was cut short "
                            "(a full disk, a copy that failed)",
                            hint=f"restore it from a backup; or remove the empty file (rm {shlex.quote(str(path))}) "
                                 "and run `ratdcs plan ...` to start a new manifest - `ratdcs sync` then adopts "
                                 "the verified files already on disk instead of downloading them again")
    if head != _SQLITE_MAGIC:
        raise ManifestError(f"{path} is not an SQLite database (it starts with {head[:8]!r})",
                            hint="pass --db with the manifest's path or a new file name; this file was left untouched")


def damage_error(path: Path, exc: Exception) -> ManifestError | None:
    """SQLite's "database disk image is malformed" / "file is not a database" as the
    ``damaged_manifest`` error; None for any other error (a lock, a full disk, ...)."""
    name = getattr(exc, "sqlite_errorname", "")  # Python 3.11+
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(exc) \
            or "not a database" in str(exc):
        return damaged_manifest(path, str(exc))
    return None


def damaged_manifest(path, sqlite_says: str) -> ManifestError:
    """A manifest SQLite cannot read, named as such, with the two ways out.

    ``.recover`` keeps what SQLite can still read (history, failures, splits); re-planning into
    a new manifest always works, and sync adopts the files already on disk that verify.
    """
    quoted = shlex.quote(str(path))
    return ManifestError(
        f"the manifest {path} is damaged: SQLite says {sqlite_says!r}",
        hint=f"keep its history by recovering what SQLite can still read: `sqlite3 {quoted} \".recover\" | "
             "sqlite3 recovered.sqlite` (needs a sqlite3 with .recover, such as sqlite.org's), then pass --db "
             "recovered.sqlite; or start a new manifest: `ratdcs --db new.sqlite plan ...` as before, then "
             "`ratdcs --db new.sqlite sync` adopts the verified files already on disk instead of downloading "
             "them again")


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
