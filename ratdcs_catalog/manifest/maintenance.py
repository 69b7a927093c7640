"""Maintenance writes: verify's requeues, retry, reset, the train/val/test split, a portable copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Sequence

from ..records import utc_now
from .schema import schema_sql


class MaintenanceWrites:
    """What ``ratdcs verify``, ``retry``, ``reset``, ``split`` and ``export manifest`` write (methods of ``Manifest``)."""

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

    def assign_file_splits(self, source: str, splits: dict[int, str]) -> int:
        """Store a split per file (ZTF split by night or image); every other file of ``source``
        goes back to its target's split (files.split NULL). Returns how many files changed split.
        """
        bad = sorted({s for s in splits.values() if s not in ("train", "val", "test")})
        if bad:
            raise ValueError(f"unknown split name(s) {bad}: expected train, val or test")
        with self.transaction():
            if not splits:
                return self.conn.execute("UPDATE files SET split = NULL WHERE source = ? AND split IS NOT NULL",
                                         (source,)).rowcount
            return self.conn.executemany(
                "UPDATE files SET split = ? WHERE file_id = ? AND source = ? AND split IS NOT ?",
                [(split, file_id, source, split) for file_id, split in splits.items()]).rowcount

    def record_setting(self, key: str, value: str) -> None:
        """A fact about the manifest (``data_dir``: where its done files live), by plan and sync;
        inside the caller's transaction when there is one (a plan's: a dry run keeps nothing)."""
        sql = ("INSERT INTO manifest_settings (key, value, updated_at) VALUES (?, ?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at "
               "WHERE value IS NOT excluded.value")
        if self.conn.in_transaction:
            self.conn.execute(sql, (key, value, utc_now()))
            return
        with self.transaction():
            self.conn.execute(sql, (key, value, utc_now()))

    # ---- a portable copy (`ratdcs export manifest`) ----------------------------------------

    def write_portable_copy(self, path: Path, *, with_history: bool = False) -> int:
        """Fill the empty SQLite file ``path`` with a copy of this manifest another machine can sync
        from; returns how many files it lists. Every row pending, done rows' bytes pinned by
        ``expected_checksum = 'sha256:<observed>'`` (and their size, where the archive gave none);
        no leases, errors, quarantine paths or download times; syncs and transfers only with
        ``with_history``. Read through its own read-only connection: the committed state.
        """
        from urllib.parse import quote

        out = sqlite3.connect(str(path), uri=True)  # so ATTACH takes mode=ro
        try:
            out.executescript(schema_sql())
            out.execute("ATTACH DATABASE ? AS src", (f"file:{quote(str(self.path))}?mode=ro",))
            tables = ("plans", "targets") + (("syncs", "transfers") if with_history else ())
            with out:
                for table in tables[:2]:
                    _copy_table(out, table)
                out.execute(f"INSERT INTO files ({', '.join(_PORTABLE_FILES)}) "
                            f"SELECT {', '.join(_PORTABLE_FILES.values())} FROM src.files ORDER BY file_id")
                for table in tables[2:]:
                    _copy_table(out, table)
            out.execute("DETACH DATABASE src")
            return out.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        finally:
            out.close()


# What a portable copy keeps of each file: where it comes from and goes, what its bytes must be.
_PORTABLE_FILES = {c: c for c in ("file_id", "source", "target_id", "product_kind", "quarter", "campaign",
                                  "campaign_part", "sector", "archive_uri", "url", "rel_path", "planned_at",
                                  "plan_id", "split")}
_PORTABLE_FILES["expected_size_bytes"] = (
    "CASE WHEN state = 'done' THEN COALESCE(expected_size_bytes, observed_size_bytes) ELSE expected_size_bytes END")
_PORTABLE_FILES["expected_checksum"] = (
    "CASE WHEN state = 'done' AND observed_sha256 IS NOT NULL THEN 'sha256:' || lower(observed_sha256) "
    "ELSE expected_checksum END")


def _copy_table(out: sqlite3.Connection, table: str) -> None:
    """Every row of src.``table`` into the copy, by the copy's column names (a migrated manifest
    may order its columns differently)."""
    columns = ", ".join(r[1] for r in out.execute(f"PRAGMA main.table_info({table})"))
    out.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM src.{table}")
