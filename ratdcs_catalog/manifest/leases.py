"""Sync writes: claims under leases, renewals, outcomes, the syncs rows; and the selection a sync would take."""

from __future__ import annotations

import json
import sqlite3
from typing import Sequence

from ..records import CLAIMED_COLUMNS, ClaimedFile, FileOutcome, utc_now


class SyncWrites:
    """What ``ratdcs sync`` reads and writes (methods of ``Manifest``); safe across processes."""

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
                    RETURNING {CLAIMED_COLUMNS}""", params).fetchall()
        return sorted((ClaimedFile(*row) for row in rows), key=lambda c: c.file_id)

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
        # Two statements per batch, not two per file: the writer thread applies every outcome of a
        # sync, so its per-row cost is paid by the whole run (issue 15). executemany's rowcount
        # is the sum over the rows.
        updates = [(o.state, o.observed_size_bytes, o.observed_sha256, o.state == "done", o.verify_level,
                    o.state == "done" and _downloaded(o), o.checksum_source, o.nan_fraction, o.error_kind, o.error,
                    o.quarantine_path, o.state == "done", o.error_kind, o.state == "done", now, o.state == "done",
                    now, o.state, o.error_kind, bool(o.transfers), o.file_id, owner) for o in outcomes]
        transfers = [(o.file_id, sync_id, t.started_at, t.ended_at, t.outcome, t.http_status, t.range_start,
                      t.bytes_received, t.error_kind, t.error, t.url) for o in outcomes for t in o.transfers]
        with self.transaction():
            cur = self.conn.executemany(
                """UPDATE files SET state = ?, lease_owner = NULL, lease_expires_at = NULL,
                       observed_size_bytes = COALESCE(?, observed_size_bytes),
                       observed_sha256 = COALESCE(?, observed_sha256),
                       verify_level = CASE WHEN ? THEN ? ELSE verify_level END,
                       checksum_source = CASE WHEN ? THEN ? ELSE checksum_source END,
                       nan_fraction = COALESCE(?, nan_fraction),
                       last_error_kind = ?, last_error = ?,
                       quarantine_path = COALESCE(?, quarantine_path),
                       changed_upstream = CASE WHEN ? THEN 0 WHEN ? = 'changed_upstream' THEN 1
                                               ELSE changed_upstream END,
                       downloaded_at = CASE WHEN ? THEN ? ELSE downloaded_at END,
                       verified_at = CASE WHEN ? THEN ? ELSE verified_at END,
                       attempts = attempts + (? <> 'pending' OR (? IS NOT NULL AND ?))
                   WHERE file_id = ? AND lease_owner = ? AND state = 'downloading'""", updates)
            applied = cur.rowcount if updates else 0
            self.conn.executemany(
                """INSERT INTO transfers (file_id, sync_id, started_at, ended_at, outcome, http_status,
                       range_start, bytes_received, error_kind, error, url)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", transfers)
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


def _downloaded(outcome: FileOutcome) -> bool:
    """A done outcome whose bytes came over the network this time (not adopted from disk): its
    checksum source replaces the row's; an adoption keeps what the download recorded."""
    return bool(outcome.transfers) and outcome.transfers[-1].outcome == "done"
