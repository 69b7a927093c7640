"""Named reads: what the report, dataset and sync modules ask of the manifest, so no SQL lives outside it.

Report sections read the schema's views (``schema.sql``): what ``ratdcs report`` prints is what
a user gets from ``SELECT * FROM <view>``. Long lists stream from SQLite (``iter_*``) so a
million-row manifest never has to fit in memory.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterator, Sequence

# Report order of the train/val/test split names.
_SPLIT_ORDER = "CASE split WHEN 'train' THEN 0 WHEN 'val' THEN 1 WHEN 'test' THEN 2 ELSE 3 END"

# The split a file belongs to: its own (a ZTF file split by night or image), else its target's.
_EFFECTIVE_SPLIT = "COALESCE(f.split, t.split)"


def _in(column: str, values: Sequence) -> tuple[str, list]:
    """' AND column IN (?, ...)' and its parameters; nothing when ``values`` is empty."""
    if not values:
        return "", []
    return f" AND {column} IN ({', '.join('?' * len(values))})", [str(v) for v in values]


def _limit(limit: int | None) -> str:
    return f" LIMIT {int(limit)}" if limit else ""


class Reads:
    """Read methods of ``Manifest``."""

    def query(self, sql: str, params: Sequence | dict = ()) -> list[sqlite3.Row]:
        """Any read-only query (the Python API's escape hatch; ratdcs's own code uses the named reads)."""
        return self.conn.execute(sql, params).fetchall()

    def recorded_setting(self, key: str) -> str | None:
        """What ``record_setting`` stored (None: never recorded, or a manifest older than schema 6
        opened read-only, which has no such table)."""
        try:
            row = self.conn.execute("SELECT value FROM manifest_settings WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError:
            return None
        return row[0] if row else None

    def _dicts(self, sql: str, params: Sequence = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params)]

    # ---- report sections: the schema's views -------------------------------------------

    def source_state_summary(self) -> list[dict[str, Any]]:
        """Files and bytes per source and state (view ``source_state_summary``)."""
        return self._dicts("SELECT * FROM source_state_summary ORDER BY source, state")

    def source_progress(self) -> list[dict[str, Any]]:
        """Planned, done and remaining files and GB per source (view ``source_progress``)."""
        return self._dicts("SELECT * FROM source_progress ORDER BY source")

    def kind_progress(self) -> list[dict[str, Any]]:
        """Planned and downloaded files and GB per source and product kind (view ``kind_progress``)."""
        return self._dicts("SELECT * FROM kind_progress ORDER BY source, product_kind")

    def failure_reasons(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Failed files grouped by source and kind, most frequent first (view ``failure_reasons``)."""
        return self._dicts("SELECT * FROM failure_reasons ORDER BY files DESC, source, error_kind" + _limit(limit))

    def failed_files(self, *, sources: Sequence[str] = (), limit: int | None = None) -> list[dict[str, Any]]:
        """Every failed file with its reason (view ``failed_files``)."""
        where, params = _in("source", sources)
        return self._dicts(f"SELECT * FROM failed_files WHERE 1{where} ORDER BY source, file_id" + _limit(limit),
                           params)

    def incomplete_targets(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Targets with files still missing, the most missing first (view ``incomplete_targets``)."""
        return self._dicts("SELECT * FROM incomplete_targets ORDER BY files_missing DESC, source, target_id"
                           + _limit(limit))

    def recent_syncs(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The last syncs, newest first (view ``recent_syncs``)."""
        return self._dicts("SELECT * FROM recent_syncs" + _limit(limit))

    def split_summary(self) -> list[dict[str, Any]]:
        """Targets and files per source and split (view ``split_summary``)."""
        return self._dicts(f"SELECT * FROM split_summary ORDER BY source, {_SPLIT_ORDER}")

    # ---- dataset: verify, export, split --------------------------------------------------

    def done_files(self, *, sources: Sequence[str] = ()) -> list[sqlite3.Row]:
        """Done rows with what ``ratdcs verify`` compares the disk against, in file_id order."""
        where, params = _in("source", sources)
        return self.conn.execute(
            f"""SELECT file_id, source, product_kind, rel_path, expected_size_bytes, expected_checksum,
                       observed_size_bytes, observed_sha256
                FROM files WHERE state = 'done'{where} ORDER BY file_id""", params).fetchall()

    def iter_files_with_split(self, columns: Sequence[str], *, sources: Sequence[str] = (),
                              states: Sequence[str] = ()) -> Iterator[tuple]:
        """``files`` rows (these columns; ``split`` is the file's own, else its target's) in file_id order."""
        where_source, p1 = _in("f.source", sources)
        where_state, p2 = _in("f.state", states)
        selected = ", ".join("COALESCE(f.split, t.split)" if c == "split" else f"f.{c}" for c in columns)
        return self.conn.execute(
            f"""SELECT {selected} FROM files f
                LEFT JOIN targets t ON t.source = f.source AND t.target_id = f.target_id
                WHERE 1{where_source}{where_state} ORDER BY f.file_id""", p1 + p2)

    def ztf_split_by_file(self) -> bool:
        """Whether some ZTF file has a split of its own (split by night or image, not by field)."""
        return self.conn.execute("SELECT 1 FROM files WHERE source = 'ztf' AND split IS NOT NULL LIMIT 1"
                                 ).fetchone() is not None

    def ztf_split_units(self, unit: str) -> list[dict[str, Any]]:
        """Per effective split of the ZTF files: how many units (``image``: files; ``night``: the
        distinct UTC dates in the file names, ztf_YYYYMMDD...) and how many files. One pass in
        SQLite: a report on a manifest of a million ZTF images must not walk them in Python."""
        counted = "COUNT(*)" if unit == "image" else \
            "COUNT(DISTINCT substr(f.rel_path, instr(f.rel_path, '/ztf_') + 5, 8))"
        return self._dicts(
            f"""SELECT {_EFFECTIVE_SPLIT} AS split, {counted} AS units, COUNT(*) AS files
                FROM files f LEFT JOIN targets t ON t.source = f.source AND t.target_id = f.target_id
                WHERE f.source = 'ztf' AND {_EFFECTIVE_SPLIT} IS NOT NULL GROUP BY 1""")

    def done_files_of(self, source: str) -> list[sqlite3.Row]:
        """A source's done files, by target and path (the TESS metadata export)."""
        return self.conn.execute(
            """SELECT target_id, rel_path, url, archive_uri, product_kind, observed_size_bytes, expected_size_bytes,
                      observed_sha256, downloaded_at, sector
               FROM files WHERE source = ? AND state = 'done' ORDER BY target_id, rel_path""", (source,)).fetchall()

    def files_of_source(self, source: str) -> list[sqlite3.Row]:
        """file_id, target_id and rel_path of a source's files, in file_id order (split units)."""
        return self.conn.execute("SELECT file_id, target_id, rel_path FROM files WHERE source = ? ORDER BY file_id",
                                 (source,)).fetchall()

    def targets_of(self, source: str) -> dict[str, sqlite3.Row]:
        """A source's targets rows by target_id."""
        return {r["target_id"]: r for r in self.conn.execute("SELECT * FROM targets WHERE source = ?", (source,))}

    def targets_with_files(self, *, sources: Sequence[str] = ()) -> list[tuple[str, str]]:
        """(source, target_id) of every target that has a file, in order (what ``split`` assigns)."""
        where, params = _in("t.source", sources)
        return [(r[0], r[1]) for r in self.conn.execute(
            f"""SELECT t.source, t.target_id FROM targets t
                WHERE EXISTS (SELECT 1 FROM files f WHERE f.source = t.source AND f.target_id = t.target_id){where}
                ORDER BY t.source, t.target_id""", params)]

    # ---- loaders: the done files as a training set -----------------------------------------

    def iter_done_file_records(self, *, sources: Sequence[str] = (), splits: Sequence[str] = (),
                               kinds: Sequence[str] = ()) -> Iterator[sqlite3.Row]:
        """Done files with their effective split and their target's label and catalog parameters,
        in file_id order, streamed (what ``ratdcs_catalog.files()`` and ``export index`` list)."""
        where_source, p1 = _in("f.source", sources)
        where_split, p2 = _in(_EFFECTIVE_SPLIT, splits)
        where_kind, p3 = _in("f.product_kind", kinds)
        return self.conn.execute(
            f"""SELECT f.file_id, f.rel_path, f.source, f.target_id, f.product_kind, f.quarter, f.campaign,
                       f.campaign_part, f.sector, COALESCE(f.observed_size_bytes, f.expected_size_bytes) AS size_bytes,
                       f.observed_sha256 AS sha256, f.verify_level, {_EFFECTIVE_SPLIT} AS split,
                       t.disposition AS label, t.ra_deg, t.dec_deg, t.teff_k, t.logg_cgs, t.radius_rsun, t.mass_msun,
                       t.magnitude, t.distance_pc, t.catalog_row_json
                FROM files f LEFT JOIN targets t ON t.source = f.source AND t.target_id = f.target_id
                WHERE f.state = 'done'{where_source}{where_split}{where_kind} ORDER BY f.file_id""", p1 + p2 + p3)


# A transfer's moment on the time axis: when it ended (an attempt cut short has only its start).
_TRANSFER_MOMENT = "COALESCE(ended_at, started_at)"


class ChartReads:
    """Aggregates the HTML report draws (``report_html.py``). Each is one GROUP BY in SQLite, so
    what reaches Python is a few hundred rows however large the manifest (bench/report_scale.py)."""

    def transfer_time_span(self) -> tuple[str | None, str | None, int]:
        """First and last moment of the transfer log (its ISO-8601 text) and how many attempts it holds."""
        first, last, attempts = self.conn.execute(
            f"SELECT MIN({_TRANSFER_MOMENT}), MAX({_TRANSFER_MOMENT}), COUNT(*) FROM transfers").fetchone()
        return first, last, attempts

    def transfers_by_moment(self, prefix_chars: int) -> list[dict[str, Any]]:
        """Bytes received, attempts and failed attempts per ``moment``: the first ``prefix_chars``
        characters of when each attempt ended (ISO-8601 text: 10 a day, 13 an hour, 16 a minute,
        19 a second). Grouping on text, not on parsed times: a million rows in a fraction of the time."""
        return self._dicts(
            f"""SELECT substr({_TRANSFER_MOMENT}, 1, ?) AS moment, SUM(bytes_received) AS bytes,
                       COUNT(*) AS attempts, SUM(outcome IN ('retry', 'failed')) AS failed_attempts
                FROM transfers GROUP BY moment ORDER BY moment""", (int(prefix_chars),))

    def transfer_failures(self) -> list[dict[str, Any]]:
        """Failed attempts of the transfer log by kind, most frequent first: every ``retry`` and
        ``failed`` attempt (``attempts``), and those that gave up on the file (``gave_up``)."""
        return self._dicts(
            """SELECT COALESCE(error_kind, 'unknown') AS error_kind, COUNT(*) AS attempts,
                      SUM(outcome = 'failed') AS gave_up
               FROM transfers WHERE outcome IN ('retry', 'failed')
               GROUP BY 1 ORDER BY attempts DESC, error_kind""")

    def targets_with_position(self) -> int:
        """How many targets have both RA and Dec."""
        return self.conn.execute(
            "SELECT COUNT(*) FROM targets WHERE ra_deg IS NOT NULL AND dec_deg IS NOT NULL").fetchone()[0]

    def target_positions(self, limit: int) -> list[tuple[str, float, float]]:
        """(source, ra_deg, dec_deg) of up to ``limit`` targets (a sky map small enough to draw point by point)."""
        return [tuple(r) for r in self.conn.execute(
            """SELECT source, ra_deg, dec_deg FROM targets WHERE ra_deg IS NOT NULL AND dec_deg IS NOT NULL
               ORDER BY source, target_id LIMIT ?""", (int(limit),))]

    def target_sky_bins(self, step_deg: float) -> list[tuple[int, int, int]]:
        """(ra_bin, dec_bin, targets) on a grid of ``step_deg`` cells (ra_bin 0 at RA 0, dec_bin 0
        at Dec -90): a sky map of a million targets in a few thousand cells."""
        return [tuple(r) for r in self.conn.execute(
            """SELECT CAST(ra_deg / ? AS INTEGER) AS i, CAST((dec_deg + 90) / ? AS INTEGER) AS j, COUNT(*)
               FROM targets WHERE ra_deg IS NOT NULL AND dec_deg IS NOT NULL GROUP BY i, j""",
            (float(step_deg), float(step_deg)))]

    def target_completeness(self, buckets: int = 10) -> list[dict[str, Any]]:
        """Targets per source and completeness bucket: ``bucket`` is floor(buckets x done / planned),
        so ``buckets`` means every file done and 0 means less than 1/buckets of them. One pass over
        the covering index files_by_target."""
        return self._dicts(
            """SELECT source, files_done * ? / files_planned AS bucket, COUNT(*) AS targets
               FROM (SELECT source, target_id, COUNT(*) AS files_planned, SUM(state = 'done') AS files_done
                     FROM files GROUP BY source, target_id)
               GROUP BY source, bucket ORDER BY source, bucket""", (int(buckets),))
