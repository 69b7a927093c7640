"""Scale: a 1,000,000-row manifest - import throughput, report, claim latency, no-op sync, size.

The rows go in through the manifest layer, as a planner's would: ``Manifest.upsert_targets``
and ``Manifest.upsert_files(PlannedFile...)`` in chunks of 10,000, all in one transaction.
Then, on that manifest:

- ``ratdcs report`` wall time, in a fresh process (Python start-up included), median of 3;
- ``Manifest.claim_batch(owner, 100, 600)`` latency, median and worst of 20 claims, first on
  the all-pending manifest and then with all but the last 10,000 rows done (the claim has to
  skip the done rows);
- a no-op ``ratdcs sync --workers 4`` with every row done (set by SQL here: a bench fixture),
  median of 3; the URLs point at a closed port, so a request would show as failed rows;
- the database's size on disk (main file + WAL).
"""

from __future__ import annotations

import time
from pathlib import Path

from _util import fresh_dir, log, median, ratdcs_cmd, ratdcs_env, timed_run

SOURCES = ("kepler", "k2", "tess", "ztf")
CHUNK = 10_000


def build(path: Path, n_files: int, n_targets: int) -> float:
    """Import ``n_files`` planned rows over ``n_targets`` targets; returns rows per second."""
    from ratdcs_catalog.manifest import Manifest
    from ratdcs_catalog.records import PlannedFile, UpsertCounts

    started = time.perf_counter()
    with Manifest.open(path) as m, m.transaction():
        plan_id = m.begin_plan("all", {"bench": "scale", "files": n_files})
        m.upsert_targets(({"source": SOURCES[t % 4], "target_id": str(t), "name": f"T {t}"}
                          for t in range(n_targets)), plan_id)
        for start in range(0, n_files, CHUNK):
            chunk = [_planned(PlannedFile, i, n_targets) for i in range(start, min(start + CHUNK, n_files))]
            m.upsert_files(chunk, plan_id)
        m.finish_plan(plan_id, n_targets, UpsertCounts(new=n_files))
    return n_files / (time.perf_counter() - started)


def _planned(cls, i: int, n_targets: int):
    t = i % n_targets
    source = SOURCES[t % 4]
    return cls(source=source, target_id=str(t), product_kind="lc_long",
               url=f"http://127.0.0.1:9/scale/{source}/{t}/{i}.fits",
               rel_path=f"{source}/{t}/{i}.fits", expected_size_bytes=400_000 + i % 100_000)


def claim_latency_ms(path: Path, claims: int = 20) -> tuple[float, float]:
    """(median, worst) milliseconds of claim_batch(owner, 100, 600); leases released after."""
    from ratdcs_catalog.manifest import Manifest

    owner = "bench:scale:1"
    times = []
    with Manifest.open(path) as m:
        for _ in range(claims):
            started = time.perf_counter()
            rows = m.claim_batch(owner, 100, 600)
            times.append((time.perf_counter() - started) * 1000)
            assert len(rows) == 100, f"claimed {len(rows)} rows, expected 100"
        m.release_leases(owner)
    return median(times), max(times)


def mark_done(path: Path, keep_pending: int) -> None:
    """Bench fixture: every row done except the last ``keep_pending`` (plain SQL, not ratdcs)."""
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:
        top = conn.execute("SELECT MAX(file_id) FROM files").fetchone()[0]
        conn.execute("UPDATE files SET state = 'done', verify_level = 'size', observed_size_bytes = "
                     "expected_size_bytes WHERE file_id <= ?", (top - keep_pending,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def run(work: Path, n_files: int, repeats: int = 3) -> dict:
    work = fresh_dir(work)
    db = work / "scale.sqlite"
    n_targets = max(1, n_files // 20)
    log(f"scale: importing {n_files:,} rows")
    result = {"rows": n_files, "import_rows_per_s": build(db, n_files, n_targets)}
    result["db_mb_after_import"] = db_bytes(db) / 1e6
    result["claim_ms_all_pending"] = claim_latency_ms(db)
    mark_done(db, keep_pending=10_000)
    result["claim_ms_mostly_done"] = claim_latency_ms(db)
    log("scale: report")
    result["report"] = _timed_median(ratdcs_cmd(db, "report"), work, repeats)
    mark_done(db, keep_pending=0)
    log("scale: no-op sync")
    result["noop_sync"] = _timed_median(ratdcs_cmd(db, "sync", "--workers", "4"), work, repeats)
    result["db_mb"] = db_bytes(db) / 1e6
    db.unlink()
    return result


def _timed_median(cmd: list[str], work: Path, repeats: int) -> dict:
    runs = [timed_run(cmd, env=ratdcs_env(work / "data"), cwd=work) for _ in range(repeats)]
    failed = [r for r in runs if r.returncode != 0]
    return {"wall_s": median(r.wall_s for r in runs), "peak_rss_mb": median(r.peak_rss_mb for r in runs),
            "ok": not failed, "note": failed[0].output_tail[-300:] if failed else ""}
