"""Plan writes: a plans row, targets and files upserted in the plan's one transaction."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Sequence

from ..records import PERIOD_FIELDS, PlannedFile, UpsertCounts, utc_now


class PlanWrites:
    """What ``ratdcs plan`` writes (methods of ``Manifest``)."""

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
        - a row whose URL changed (e.g. another endpoint configured) gets the new URL (updated);
        - a row that learns its cloud copy (``mirror_url``) gets it (updated); a plan that did not
          ask (``transport.cloud = never``) leaves a known one alone.
        """
        from .. import registry  # here, not at import: a sync opens the manifest before its first request

        unknown = sorted({f.source for f in files} - set(registry.source_names()))
        if unknown:  # a planner's bug, not a user's: the schema no longer lists the sources itself
            raise ValueError(f"no source {unknown[0]!r} in the registry; register it before planning its files")
        counts = UpsertCounts()
        existing = self._rows_by_path([f.rel_path for f in files])
        url_owners = self._paths_by_url([f.url for f in files if f.rel_path not in existing])
        now = utc_now()
        inserts, updates, upstream, periods = [], [], [], []
        for f in files:
            size = f.expected_size_bytes
            counts.bytes_total += size or 0
            old = existing.get(f.rel_path)
            if old is None and url_owners.get(f.url, f.rel_path) != f.rel_path:
                counts.refused[f.rel_path] = (f"refused {f.rel_path}: its URL {f.url[:200]} is already the "
                                              f"manifest's {url_owners[f.url]}")
                counts.bytes_total -= size or 0
                continue
            if old is None:
                counts.new += 1
                counts.bytes_new += size or 0
                inserts.append((f.source, f.target_id, f.product_kind, f.archive_uri, f.url, f.rel_path,
                                size, f.expected_checksum, now, plan_id, f.mirror_url,
                                *(getattr(f, c) for c in PERIOD_FIELDS)))
                continue
            if any(getattr(f, c) is not None and getattr(f, c) != old[c] for c in PERIOD_FIELDS):
                periods.append((*(getattr(f, c) for c in PERIOD_FIELDS), old["file_id"]))
            size_changed = size is not None and old["expected_size_bytes"] not in (None, size)
            sum_changed = f.expected_checksum is not None and old["expected_checksum"] not in (
                None, f.expected_checksum)
            if old["state"] == "done" and (size_changed or sum_changed):
                counts.changed_upstream += 1
                upstream.append(old["file_id"])
                updates.append(("pending", 1, size, f.expected_checksum, f.url, f.archive_uri, f.mirror_url,
                                old["file_id"]))
            elif size_changed or sum_changed or old["url"] != f.url or (
                    old["expected_size_bytes"] is None and size is not None) or (
                    f.mirror_url is not None and old["mirror_url"] != f.mirror_url):
                counts.updated += 1
                updates.append((old["state"], old["changed_upstream"], size, f.expected_checksum, f.url,
                                f.archive_uri, f.mirror_url, old["file_id"]))
            else:
                counts.unchanged += 1
        self.conn.executemany(
            f"""INSERT INTO files (source, target_id, product_kind, archive_uri, url, rel_path,
                   expected_size_bytes, expected_checksum, planned_at, plan_id, mirror_url,
                   {", ".join(PERIOD_FIELDS)})
               VALUES ({", ".join("?" * (11 + len(PERIOD_FIELDS)))})""", inserts)
        # A row planned before the archive's metadata was read (or before schema 4) learns when
        # it was observed; this changes no state, so it counts as unchanged.
        self.conn.executemany(
            f"""UPDATE files SET {", ".join(f"{c} = COALESCE(?, {c})" for c in PERIOD_FIELDS)}
                WHERE file_id = ?""", periods)
        self.conn.executemany(
            """UPDATE files SET state = ?, changed_upstream = ?,
                   expected_size_bytes = COALESCE(?, expected_size_bytes),
                   expected_checksum = COALESCE(?, expected_checksum), url = ?,
                   archive_uri = COALESCE(?, archive_uri), mirror_url = COALESCE(?, mirror_url)
               WHERE file_id = ?""", updates)
        # The old file's size, hash and verification describe bytes the archive no longer serves;
        # an export (aria2 checksum=) or an adoption must not hold the new file to them.
        self.conn.executemany(
            """UPDATE files SET observed_size_bytes = NULL, observed_sha256 = NULL, verify_level = NULL,
                   verified_at = NULL, checksum_source = NULL WHERE file_id = ?""", [(fid,) for fid in upstream])
        return counts

    def _paths_by_url(self, urls: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(urls), 500):
            chunk = urls[start:start + 500]
            rows = self.conn.execute(f"SELECT url, rel_path FROM files WHERE url IN ({', '.join('?' * len(chunk))})",
                                     chunk)
            found.update((r["url"], r["rel_path"]) for r in rows)
        return found

    def _rows_by_path(self, paths: list[str]) -> dict[str, sqlite3.Row]:
        found: dict[str, sqlite3.Row] = {}
        for start in range(0, len(paths), 500):
            chunk = paths[start:start + 500]
            rows = self.conn.execute(
                f"""SELECT file_id, rel_path, url, mirror_url, state, expected_size_bytes, expected_checksum,
                           changed_upstream,
                           {", ".join(PERIOD_FIELDS)}
                    FROM files WHERE rel_path IN ({", ".join("?" * len(chunk))})""", chunk)
            found.update((r["rel_path"], r) for r in rows)
        return found

