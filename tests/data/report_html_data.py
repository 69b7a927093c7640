"""A small manifest for the HTML report's tests: targets on the sky (one without a position), files
in every state, a transfer log over two minutes with retries, splits, and names and messages
full of HTML's special characters."""

from __future__ import annotations

from pathlib import Path

from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.records import FileOutcome, PlannedFile, TransferRecord

EVIL_NAME = "<script>alert('x')</script> & co"
EVIL_ERROR = "503 <b>Service</b> Unavailable after 3 retries"
SIZE = 1_000_000

TARGETS = [
    {"source": "kepler", "target_id": "1", "name": "KIC 1", "ra_deg": 290.0, "dec_deg": 44.5},
    {"source": "kepler", "target_id": "2", "name": 'KIC "two" <b>', "ra_deg": 285.0, "dec_deg": 40.0},
    {"source": "tess", "target_id": "3", "name": EVIL_NAME, "ra_deg": 10.0, "dec_deg": -60.0},
    {"source": "ztf", "target_id": "600", "name": "ZTF field 600"},
]

# (source, target, rel_path, final state, transfer records as (second, outcome, bytes, error kind))
FILES = [
    ("kepler", "1", "kepler/a.fits", "done", [(0, "done", SIZE, None)]),
    ("kepler", "1", "kepler/b.fits", "done", [(10, "done", SIZE, None)]),
    ("kepler", "2", "kepler/c.fits", "done", [(20, "retry", 0, "timeout"), (40, "done", SIZE, None)]),
    ("kepler", "2", "kepler/d.fits", "failed", [(60, "retry", 0, "http_503"), (119, "failed", 0, "http_503")]),
    ("tess", "3", "tess/e.fits", "done", [(90, "done", SIZE, None)]),
    ("tess", "3", "tess/f.fits", "pending", []),
    ("ztf", "600", "ztf/g.fits", "pending", []),
]


def at(second: int) -> str:
    return f"2026-11-25T10:{second // 60:02d}:{second % 60:02d}.000000Z"


def build_report_manifest(path: Path) -> Path:
    with open_manifest(path) as m:
        with m.transaction():
            m.upsert_targets(TARGETS, None)
            m.upsert_files([PlannedFile(src, tid, "ztf_sciimg" if src == "ztf" else "lc", f"http://archive.test/{rel}",
                                        rel, expected_size_bytes=None if src == "ztf" else SIZE)
                            for src, tid, rel, _state, _t in FILES], None)
        m.assign_splits({("kepler", "1"): "train", ("kepler", "2"): "val", ("tess", "3"): "test"})
        sync_id = m.start_sync("test:1", 2, {})
        claimed = {c.rel_path: c.file_id for c in m.claim_batch("test:1", 100, 60)}
        outcomes = [_outcome(claimed[rel], state, records) for _s, _t, rel, state, records in FILES if records]
        m.record_outcomes("test:1", sync_id, outcomes)
        m.release_leases("test:1")
        m.finish_sync(sync_id, files_done=4, files_failed=1, files_adopted=0, bytes_received=4 * SIZE)
    return path


def _outcome(file_id: int, state: str, records) -> FileOutcome:
    transfers = tuple(TransferRecord(at(s), at(s), outcome, 200 if outcome == "done" else 503, None, n, kind,
                                     EVIL_ERROR if kind else None) for s, outcome, n, kind in records)
    if state == "done":
        return FileOutcome(file_id, "done", SIZE, "0" * 64, "size", transfers=transfers)
    return FileOutcome(file_id, "failed", error_kind="http_503", error=EVIL_ERROR, transfers=transfers)
