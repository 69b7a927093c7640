"""The manifest: the only module that writes SQL.

A manifest is one SQLite file (schema in ``schema.sql``). Opening one applies the schema to a
new database, migrates an older one forward, and refuses one written by a newer ratdcs.
Connections use WAL (readers never block the writer), a busy timeout (several ``ratdcs sync``
processes may share one manifest) and foreign keys.

Writers:
- planning: ``Manifest.plan_transaction`` -> ``upsert_targets`` / ``upsert_files`` -> counts;
- sync: ``claim_batch`` (atomic, lease-based, safe across processes), ``renew_leases``,
  ``record_outcomes`` (one short transaction per batch), ``release_leases``,
  ``reclaim_expired_leases``;
- maintenance: ``requeue_files``, ``retry_failed``, ``reset_files``, ``assign_splits``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .errors import ManifestError
from .records import ClaimedFile, FileOutcome, PlannedFile, UpsertCounts, utc_now

__all__ = ["Manifest", "SCHEMA_VERSION", "open_manifest"]

FILE_STATES = ("pending", "downloading", "done", "failed")
SOURCES = ("kepler", "k2", "tess", "ztf")

# Forward migrations: MIGRATIONS[v] turns a version-v manifest into version v+1.
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


def _schema_sql() -> str:
    # The package ships schema.sql as a plain file beside this module (a symlink to the top-level
    # schema.sql in a source tree). Read directly: importlib.resources cost every command 5 ms.
    return Path(__file__).with_name("schema.sql").read_text(encoding="utf-8")


def _schema_version(sql: str) -> int:
    for line in sql.splitlines():
        if line.strip().upper().startswith("PRAGMA USER_VERSION"):
            return int(line.split("=")[1].strip(" ;"))
    raise AssertionError("schema.sql declares no PRAGMA user_version")


SCHEMA_VERSION = _schema_version(_schema_sql())


def open_manifest(path: str | os.PathLike, *, create: bool = True, readonly: bool = False) -> "Manifest":
    """Open (and, if ``create``, make or migrate) the manifest at ``path``."""
    return Manifest.open(path, create=create, readonly=readonly)


class Manifest:
    """A connection to one manifest. Not shared between threads: sync keeps one writer thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike, *, create: bool = True, readonly: bool = False) -> "Manifest":
        path = Path(path).expanduser().absolute()
        if not path.exists():
            if readonly or not create:
                raise ManifestError(f"no manifest at {path}",
                                    hint="run `ratdcs plan ...` first, or pass --db with the right path")
            _make_parent(path)
        elif path.is_dir():
            raise ManifestError(f"{path} is a directory, not a manifest file", hint="pass --db with a file path")
        else:
            _check_is_sqlite(path)
        conn = _connect(path, readonly)
        manifest = cls(conn, path)
        try:
            manifest._prepare(readonly)
        except BaseException:
            conn.close()
            raise
        return manifest

    def _prepare(self, readonly: bool) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ManifestError(
                f"{self.path} was written by a newer ratdcs (manifest schema version {version}; "
                f"this ratdcs knows up to {SCHEMA_VERSION})",
                hint="upgrade ratdcs (pip install -U ratdcs) to use this manifest; it was left untouched")
        if version == 0 and self._has_tables():
            raise ManifestError(f"{self.path} is an SQLite database but not a ratdcs manifest "
                                "(it has tables and no schema version)",
                                hint="pass --db with a new file name; this file was left untouched")
        if not readonly:
            # Only now, after the version check: switching to WAL rewrites the file header,
            # and a manifest we refuse must be left byte-for-byte untouched.
            self.conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives a process crash; only a power cut can lose the
            # last transactions, and the files they describe are fsynced before the commit.
            self.conn.execute("PRAGMA synchronous = NORMAL")
        if version == SCHEMA_VERSION or readonly:
            if readonly and version < SCHEMA_VERSION:
                raise ManifestError(f"{self.path} has schema version {version}; it needs migrating to "
                                    f"{SCHEMA_VERSION}", hint="run any writing command (e.g. `ratdcs report` "
                                    "without --sql) once to migrate it")
            return
        try:
            with self.transaction():
                if version == 0:
                    _execute_script(self.conn, _schema_sql())
                else:
                    self._migrate(version)
        except sqlite3.OperationalError as exc:
            raise ManifestError(f"cannot write the manifest {self.path}: {exc}",
                                hint="check the directory's permissions and free space, or pass --db elsewhere"
                                ) from None

    def _has_tables(self) -> bool:
        return self.conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='table'").fetchone()[0] > 0

    def _migrate(self, version: int) -> None:
        for step in range(version, SCHEMA_VERSION):
            _execute_script(self.conn, MIGRATIONS[step])
        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Manifest":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (Ctrl-C included).

        IMMEDIATE takes the write lock up front, so two processes claiming rows serialize here
        instead of failing later with "database is locked" on upgrade from a read lock.
        """
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ---- planning ------------------------------------------------------------------------

    def begin_plan(self, source: str, arguments: dict) -> int:
        """Insert a plans row (call inside ``transaction()``); returns its plan_id."""
        cur = self.conn.execute(
            "INSERT INTO plans (source, arguments_json, started_at) VALUES (?, ?, ?)",
            (source, json.dumps(arguments, sort_keys=True, default=str), utc_now()))
        return cur.lastrowid

    def finish_plan(self, plan_id: int, targets_count: int, counts: UpsertCounts) -> None:
        self.conn.execute(
            """UPDATE plans SET finished_at = ?, targets_count = ?, files_new = ?, files_updated = ?,
                   files_unchanged = ?, files_changed_upstream = ?, bytes_total = ?, bytes_new = ?
               WHERE plan_id = ?""",
            (utc_now(), targets_count, counts.new, counts.updated, counts.unchanged,
             counts.changed_upstream, counts.bytes_total, counts.bytes_new, plan_id))

    def upsert_targets(self, targets: Iterable[dict[str, Any]], plan_id: int | None) -> None:
        """Insert or refresh targets rows (keys: the ``targets`` columns; ``catalog_row`` -> JSON)."""
        columns = ("name", "ra_deg", "dec_deg", "teff_k", "logg_cgs", "radius_rsun", "mass_msun",
                   "magnitude", "magnitude_band", "distance_pc", "disposition")
        now = utc_now()
        rows = [(t["source"], str(t["target_id"]), *(t.get(c) for c in columns),
                 json.dumps(t.get("catalog_row"), sort_keys=True, default=str) if t.get("catalog_row") else None,
                 plan_id, now) for t in targets]
        updates = ", ".join(f"{c} = COALESCE(excluded.{c}, {c})" for c in (*columns, "catalog_row_json"))
        self.conn.executemany(
            f"""INSERT INTO targets (source, target_id, {", ".join(columns)}, catalog_row_json, plan_id, updated_at)
                VALUES ({", ".join("?" * (len(columns) + 5))})
                ON CONFLICT (source, target_id) DO UPDATE SET {updates}, updated_at = excluded.updated_at""",
            rows)

    def upsert_files(self, files: Sequence[PlannedFile], plan_id: int | None) -> UpsertCounts:
        """Add new planned files; refresh known ones. Identity is the destination path.

        - a new path is inserted as pending;
        - a pending/failed/downloading row whose archive size changed gets the new size (updated);
        - a done row whose archive size changed goes back to pending, flagged changed_upstream;
        - a row whose URL changed (e.g. another endpoint configured) gets the new URL (updated).
        """
        counts = UpsertCounts()
        existing = self._rows_by_path([f.rel_path for f in files])
        now = utc_now()
        inserts, updates, upstream = [], [], []
        for f in files:
            size = f.expected_size_bytes
            counts.bytes_total += size or 0
            old = existing.get(f.rel_path)
            if old is None:
                counts.new += 1
                counts.bytes_new += size or 0
                inserts.append((f.source, f.target_id, f.product_kind, f.archive_uri, f.url, f.rel_path,
                                size, f.expected_checksum, now, plan_id))
                continue
            size_changed = size is not None and old["expected_size_bytes"] not in (None, size)
            sum_changed = f.expected_checksum is not None and old["expected_checksum"] not in (
                None, f.expected_checksum)
            if old["state"] == "done" and (size_changed or sum_changed):
                counts.changed_upstream += 1
                upstream.append(old["file_id"])
                updates.append(("pending", 1, size, f.expected_checksum, f.url, f.archive_uri, old["file_id"]))
            elif size_changed or sum_changed or old["url"] != f.url or (
                    old["expected_size_bytes"] is None and size is not None):
                counts.updated += 1
                updates.append((old["state"], old["changed_upstream"], size, f.expected_checksum, f.url,
                                f.archive_uri, old["file_id"]))
            else:
                counts.unchanged += 1
        self.conn.executemany(
            """INSERT INTO files (source, target_id, product_kind, archive_uri, url, rel_path,
                   expected_size_bytes, expected_checksum, planned_at, plan_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", inserts)
        self.conn.executemany(
            """UPDATE files SET state = ?, changed_upstream = ?,
                   expected_size_bytes = COALESCE(?, expected_size_bytes),
                   expected_checksum = COALESCE(?, expected_checksum), url = ?,
                   archive_uri = COALESCE(?, archive_uri)
               WHERE file_id = ?""", updates)
        # The old file's size, hash and verification describe bytes the archive no longer serves;
        # an export (aria2 checksum=) or an adoption must not hold the new file to them.
        self.conn.executemany(
            """UPDATE files SET observed_size_bytes = NULL, observed_sha256 = NULL, verify_level = NULL,
                   verified_at = NULL WHERE file_id = ?""", [(fid,) for fid in upstream])
        return counts

    def _rows_by_path(self, paths: list[str]) -> dict[str, sqlite3.Row]:
        found: dict[str, sqlite3.Row] = {}
        for start in range(0, len(paths), 500):
            chunk = paths[start:start + 500]
            rows = self.conn.execute(
                f"""SELECT file_id, rel_path, url, state, expected_size_bytes, expected_checksum, changed_upstream
                    FROM files WHERE rel_path IN ({", ".join("?" * len(chunk))})""", chunk)
            found.update((r["rel_path"], r) for r in rows)
        return found

    # ---- sync: leases and outcomes ---------------------------------------------------------

    def reclaim_expired_leases(self) -> int:
        """Rows whose sync died (lease expired) go back to pending, so another sync takes them."""
        with self.transaction():
            cur = self.conn.execute(
                """UPDATE files SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
                   WHERE state = 'downloading' AND lease_expires_at < ?""", (utc_now(),))
        return cur.rowcount

    def claim_batch(
        self,
        owner: str,
        limit: int,
        lease_seconds: float,
        *,
        sources: Sequence[str] = (),
        target_ids: Sequence[str] = (),
        include_failed: bool = False,
        max_attempts: int | None = None,
        max_bytes: int | None = None,
        exclude_ids: Sequence[int] = (),
    ) -> list[ClaimedFile]:
        """Atomically move up to ``limit`` claimable rows to 'downloading' under ``owner``.

        Claimable: pending rows, plus failed rows with attempts left when ``include_failed``,
        minus ``exclude_ids``. ``max_bytes`` bounds the summed expected size of the claimed rows
        (unknown sizes count 0). Safe across processes: the select and the update happen under
        one write lock. A claim is not an attempt: rows claimed ahead may never be started
        (``record_outcomes`` counts attempts).
        """
        where, params = self._claimable_where(sources, target_ids, include_failed, max_attempts)
        if exclude_ids:
            where += " AND file_id NOT IN (SELECT value FROM json_each(:exclude_ids))"
            params["exclude_ids"] = json.dumps([int(i) for i in exclude_ids])
        inner = f"SELECT file_id FROM files WHERE {where} ORDER BY file_id LIMIT :limit"
        if max_bytes is not None:
            inner = (f"""SELECT file_id FROM (SELECT file_id, SUM(COALESCE(expected_size_bytes, 0))
                         OVER (ORDER BY file_id) AS running FROM files WHERE {where} ORDER BY file_id)
                         WHERE running <= :max_bytes LIMIT :limit""")
        params.update(owner=owner, limit=limit, max_bytes=max_bytes, expires=utc_now(lease_seconds))
        with self.transaction():
            rows = self.conn.execute(
                f"""UPDATE files SET state = 'downloading', lease_owner = :owner, lease_expires_at = :expires
                    WHERE file_id IN ({inner})
                    RETURNING *""", params).fetchall()
        return sorted((ClaimedFile.from_row(r) for r in rows), key=lambda c: c.file_id)

    @staticmethod
    def _claimable_where(sources, target_ids, include_failed, max_attempts) -> tuple[str, dict]:
        states = "state = 'pending'"
        if include_failed:
            states = "(state = 'pending' OR (state = 'failed' AND attempts < :max_attempts))"
        clauses, params = [states], {"max_attempts": max_attempts if max_attempts is not None else 1 << 30}
        for column, values in (("source", sources), ("target_id", target_ids)):
            if values:
                names = [f"{column}{i}" for i in range(len(values))]
                clauses.append(f"{column} IN ({', '.join(':' + n for n in names)})")
                params.update(zip(names, map(str, values)))
        return " AND ".join(clauses), params

    def renew_leases(self, owner: str, file_ids: Sequence[int], lease_seconds: float) -> set[int]:
        """Push the lease of in-flight files forward, so a long transfer is not taken over.

        Returns the ids still ours: one missing was taken over after our lease expired (the
        process was stopped or asleep), and its transfer must be abandoned.
        """
        expires = utc_now(lease_seconds)
        owned: set[int] = set()
        with self.transaction():
            for fid in file_ids:
                cur = self.conn.execute(
                    """UPDATE files SET lease_expires_at = ?
                       WHERE file_id = ? AND lease_owner = ? AND state = 'downloading'""", (expires, fid, owner))
                if cur.rowcount:
                    owned.add(fid)
        return owned

    def leased_rows(self, *, sources: Sequence[str] = (), target_ids: Sequence[str] = ()) -> tuple[int, str | None]:
        """(rows of this selection under a live lease, the latest expiry): what another sync holds."""
        where, params = self._claimable_where(sources, target_ids, False, None)
        where = where.replace("state = 'pending'", "state = 'downloading' AND lease_expires_at >= :now", 1)
        params["now"] = utc_now()
        row = self.conn.execute(f"SELECT COUNT(*), MAX(lease_expires_at) FROM files WHERE {where}", params).fetchone()
        return row[0], row[1]

    def lease_owners(self) -> list[str]:
        """The syncs (owner strings) that hold rows right now."""
        rows = self.conn.execute("SELECT DISTINCT lease_owner FROM files WHERE state = 'downloading'")
        return [r[0] for r in rows if r[0]]

    def release_leases(self, owner: str) -> int:
        """Every row still claimed by ``owner`` goes back to pending (stop, Ctrl-C, disk full)."""
        with self.transaction():
            cur = self.conn.execute(
                """UPDATE files SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
                   WHERE state = 'downloading' AND lease_owner = ?""", (owner,))
        return cur.rowcount

    def record_outcomes(self, owner: str, sync_id: int | None, outcomes: Sequence[FileOutcome]) -> int:
        """Apply a batch of outcomes in one transaction; returns how many rows were still ours.

        A row whose lease another process took over (ours expired) is not touched: that process
        now owns the file, and our transfer log rows are still kept. An outcome counts one attempt
        when it is done or failed, or pending with a reason after a transfer began (a full disk);
        a row handed back untried or interrupted by a stop does not count.
        """
        now = utc_now()
        applied = 0
        with self.transaction():
            for o in outcomes:
                done = o.state == "done"
                cur = self.conn.execute(
                    """UPDATE files SET state = ?, lease_owner = NULL, lease_expires_at = NULL,
                           observed_size_bytes = COALESCE(?, observed_size_bytes),
                           observed_sha256 = COALESCE(?, observed_sha256),
                           verify_level = CASE WHEN ? THEN ? ELSE verify_level END,
                           nan_fraction = COALESCE(?, nan_fraction),
                           last_error_kind = ?, last_error = ?,
                           quarantine_path = COALESCE(?, quarantine_path),
                           changed_upstream = CASE WHEN ? THEN 0 ELSE changed_upstream END,
                           downloaded_at = CASE WHEN ? THEN ? ELSE downloaded_at END,
                           verified_at = CASE WHEN ? THEN ? ELSE verified_at END,
                           attempts = attempts + (? <> 'pending' OR (? IS NOT NULL AND ?))
                       WHERE file_id = ? AND lease_owner = ? AND state = 'downloading'""",
                    (o.state, o.observed_size_bytes, o.observed_sha256, done, o.verify_level,
                     o.nan_fraction, o.error_kind, o.error, o.quarantine_path, done, done, now, done, now,
                     o.state, o.error_kind, bool(o.transfers), o.file_id, owner))
                applied += cur.rowcount
                self.conn.executemany(
                    """INSERT INTO transfers (file_id, sync_id, started_at, ended_at, outcome, http_status,
                           range_start, bytes_received, error_kind, error)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [(o.file_id, sync_id, t.started_at, t.ended_at, t.outcome, t.http_status, t.range_start,
                      t.bytes_received, t.error_kind, t.error) for t in o.transfers])
        return applied

    def start_sync(self, owner: str, workers: int, arguments: dict) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO syncs (owner, arguments_json, started_at, workers) VALUES (?, ?, ?, ?)",
                (owner, json.dumps(arguments, sort_keys=True, default=str), utc_now(), workers))
        return cur.lastrowid

    def finish_sync(self, sync_id: int, *, files_done: int, files_failed: int, files_adopted: int,
                    bytes_received: int, stopped_by: str | None = None) -> None:
        with self.transaction():
            self.conn.execute(
                """UPDATE syncs SET finished_at = ?, files_done = ?, files_failed = ?, files_adopted = ?,
                       bytes_received = ?, stopped_by = ? WHERE sync_id = ?""",
                (utc_now(), files_done, files_failed, files_adopted, bytes_received, stopped_by, sync_id))

    # ---- sync: selection (what a sync would take) ---------------------------------------

    def _selection_sql(self, sources, target_ids, include_failed, max_attempts, limit, max_bytes
                       ) -> tuple[str, dict]:
        """The rows claim_batch would take, in its order, as a sub-select (same window for max_bytes)."""
        where, params = self._claimable_where(sources, target_ids, include_failed, max_attempts)
        params.update(limit=-1 if limit is None else limit, max_bytes=max_bytes)
        if max_bytes is None:
            return f"SELECT * FROM files WHERE {where} ORDER BY file_id LIMIT :limit", params
        return (f"""SELECT * FROM (SELECT *, SUM(COALESCE(expected_size_bytes, 0)) OVER (ORDER BY file_id)
                        AS running FROM files WHERE {where} ORDER BY file_id)
                    WHERE running <= :max_bytes LIMIT :limit""", params)

    def selection_totals(self, *, sources=(), target_ids=(), include_failed=False, max_attempts=None,
                         limit=None, max_bytes=None) -> tuple[int, int, int]:
        """(files, known expected bytes, files of unknown size) a sync with these options would take.

        One aggregate query, so a sync with nothing to do costs one COUNT, not a row walk.
        """
        inner, params = self._selection_sql(sources, target_ids, include_failed, max_attempts, limit, max_bytes)
        row = self.conn.execute(
            f"""SELECT COUNT(*), COALESCE(SUM(expected_size_bytes), 0), COALESCE(SUM(expected_size_bytes IS NULL), 0)
                FROM ({inner})""", params).fetchone()
        return row[0], row[1], row[2]

    def selection_rows(self, *, sources=(), target_ids=(), include_failed=False, max_attempts=None,
                       limit=None, max_bytes=None) -> list[sqlite3.Row]:
        """The rows themselves (for `sync --dry-run`), in claim order."""
        inner, params = self._selection_sql(sources, target_ids, include_failed, max_attempts, limit, max_bytes)
        return self.conn.execute(inner, params).fetchall()

    def requeue_retryable_failed(self, *, sources=(), target_ids=(), max_attempts: int) -> int:
        """Failed rows with attempts left back to pending (`sync --retry-failed`), attempts kept.

        Done once at the start of a run, so a file that fails again in this run stays failed
        instead of being claimed over and over until its attempts run out.
        """
        where, params = self._claimable_where(sources, target_ids, False, max_attempts)
        where = where.replace("state = 'pending'", "state = 'failed' AND attempts < :max_attempts", 1)
        with self.transaction():
            cur = self.conn.execute(f"UPDATE files SET state = 'pending' WHERE {where}", params)
        return cur.rowcount

    # ---- maintenance: verify, retry, reset, split ---------------------------------------------

    def requeue_files(self, reasons: dict[int, tuple[str, str]], *, to_state: str = "pending") -> int:
        """Done rows whose file went missing or changed go back to ``to_state`` with the reason.

        ``reasons`` maps file_id -> (error_kind, error). Used by ``ratdcs verify``.
        """
        if to_state not in ("pending", "failed"):
            raise ValueError(f"requeue to {to_state!r}")
        with self.transaction():
            cur = self.conn.executemany(
                """UPDATE files SET state = ?, last_error_kind = ?, last_error = ?, verify_level = NULL,
                       verified_at = NULL WHERE file_id = ? AND state = 'done'""",
                [(to_state, kind, error, fid) for fid, (kind, error) in reasons.items()])
        return cur.rowcount

    def mark_verified(self, file_ids: Sequence[int], verify_level: str | None = None) -> None:
        """Record that ``ratdcs verify`` found these done files intact now."""
        now = utc_now()
        with self.transaction():
            self.conn.executemany(
                "UPDATE files SET verified_at = ?, verify_level = COALESCE(?, verify_level) WHERE file_id = ?",
                [(now, verify_level, fid) for fid in file_ids])

    def retry_failed(self, *, sources: Sequence[str] = (), reason_like: str | None = None) -> int:
        """Failed rows (optionally of some sources, with last_error matching a LIKE pattern) back
        to pending with attempts reset; returns how many moved."""
        clauses, params = ["state = 'failed'"], []
        if sources:
            clauses.append(f"source IN ({', '.join('?' * len(sources))})")
            params += list(sources)
        if reason_like:
            clauses.append("(last_error LIKE ? OR last_error_kind LIKE ?)")
            params += [reason_like, reason_like]
        with self.transaction():
            cur = self.conn.execute(
                f"UPDATE files SET state = 'pending', attempts = 0 WHERE {' AND '.join(clauses)}", params)
        return cur.rowcount

    def reset_files(self, *, sources: Sequence[str] = (), target_ids: Sequence[str] = (),
                    states: Sequence[str] = (), file_ids: Sequence[int] = ()) -> int:
        """Chosen rows (never rows under a live lease) back to pending with attempts and errors cleared."""
        clauses, params = ["state <> 'downloading'"], []
        for column, values in (("source", sources), ("target_id", target_ids), ("state", states),
                               ("file_id", file_ids)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params += [str(v) if column == "target_id" else v for v in values]
        with self.transaction():
            cur = self.conn.execute(
                f"""UPDATE files SET state = 'pending', attempts = 0, last_error_kind = NULL, last_error = NULL,
                        verify_level = NULL, verified_at = NULL WHERE {' AND '.join(clauses)}""", params)
        return cur.rowcount

    # ---- split ----------------------------------------------------------------------------

    def assign_splits(self, splits: dict[tuple[str, str], str | None]) -> int:
        """Store each target's train/val/test split; ``splits`` maps (source, target_id) -> split.

        Returns how many targets changed split. Used by ``ratdcs split`` (library: ``dataset.split_targets``).
        """
        bad = sorted({s for s in splits.values() if s not in ("train", "val", "test", None)})
        if bad:
            raise ValueError(f"unknown split name(s) {bad}: expected train, val or test")
        with self.transaction():
            cur = self.conn.executemany(
                "UPDATE targets SET split = ? WHERE source = ? AND target_id = ? AND split IS NOT ?",
                [(split, source, str(target_id), split) for (source, target_id), split in splits.items()])
        return cur.rowcount

    # ---- reading --------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()


def _execute_script(conn: sqlite3.Connection, script: str) -> None:
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


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ManifestError(f"cannot create the manifest's directory {path.parent}: {exc.strerror}",
                            hint="pass --db with a writable location") from None


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_is_sqlite(path: Path) -> None:
    """Refuse a file that is not SQLite before sqlite3 gets a chance to touch it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest {path}: {exc.strerror}") from None
    if head and head != _SQLITE_MAGIC:
        raise ManifestError(f"{path} is not an SQLite database (it starts with {head[:8]!r})",
                            hint="pass --db with the manifest's path or a new file name; this file was left untouched")


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
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
