"""How fast is `ratdcs report` on a large manifest? Builds one and prints timings (not a test).

    python bench/report_scale.py                    # 1,000,000 files, 50,000 targets, in a temp dir
    python bench/report_scale.py --files 200000 --keep /tmp/m.sqlite
    python bench/report_scale.py --html             # also `ratdcs report --html`: seconds and bytes
    python bench/report_scale.py --html --targets 1000000   # a sky map of a million targets

The manifest is made by ratdcs (schema, indexes, views) and then filled with plain executemany
in one transaction, because 1M rows through the planner would time the planner, not the report.
States: 70% done, 24% pending, 5% failed (six kinds of reason), 1% downloading; 20 syncs, one
transfer row per file that is not pending (spread over the syncs' windows, a failed file's last
attempt and a retry before it); every target has a position spread evenly over the sky.
Each line printed is the best of --repeat runs: the whole command in a fresh process
(Python start-up included), then each report section in-process.
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCES = ("kepler", "k2", "tess", "ztf")
ERRORS = (("http_503", "503 Service Unavailable after 3 retries"),
          ("size_mismatch", "archive says 2039040 bytes, got 1024"),
          ("fits_checksum", "HDU 1 DATASUM does not verify"), ("http_404", "404 Not Found"),
          ("timeout", "read timed out after 60 s"), ("truncated", "connection closed at byte 1048576"))


def build(path: Path, n_files: int, n_targets: int, seed: int = 1) -> None:
    from ratdcs_catalog.manifest import open_manifest

    open_manifest(path).close()  # schema, indexes and views, exactly as ratdcs makes them
    rng = random.Random(seed)
    now = "2026-11-25T09:00:00.000000Z"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    with conn:
        conn.executemany(
            """INSERT INTO targets (source, target_id, name, ra_deg, dec_deg, teff_k, updated_at, split)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            ((SOURCES[t % 4], str(t), f"T {t}", 360 * rng.random(), math.degrees(math.asin(2 * rng.random() - 1)),
              5000 + t % 1000, now, _split(t)) for t in range(n_targets)))
        conn.executemany(
            """INSERT INTO files (source, target_id, product_kind, url, rel_path, expected_size_bytes, state,
                   attempts, last_error_kind, last_error, observed_size_bytes, planned_at)
               VALUES (?, ?, 'lc_long', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (_file_row(i, n_targets, rng, now) for i in range(n_files)))
        conn.executemany(
            """INSERT INTO syncs (owner, arguments_json, started_at, finished_at, workers, files_done, bytes_received)
               VALUES ('bench', '{}', ?, ?, 4, 1000, 450000000)""",
            [(f"2026-11-{d:02d}T10:00:00.000000Z", f"2026-11-{d:02d}T10:07:30.000000Z") for d in range(1, 21)])
        conn.executemany(
            """INSERT INTO transfers (file_id, sync_id, started_at, ended_at, outcome, http_status, bytes_received,
                   error_kind, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""", _transfer_rows(conn, rng))
    conn.close()


def _transfer_rows(conn: sqlite3.Connection, rng: random.Random):
    """One attempt per file that is not pending (a failed one: a retry, then the attempt that gave
    up), in the 450 s window of one of the 20 syncs."""
    rows = conn.execute("SELECT file_id, state, expected_size_bytes, last_error_kind, last_error FROM files "
                        "WHERE state <> 'pending'")
    for file_id, state, size, kind, error in rows:
        sync = file_id % 20 + 1
        second = rng.randrange(450)
        when = f"2026-11-{sync:02d}T10:{second // 60:02d}:{second % 60:02d}.000000Z"
        if state == "failed":
            yield file_id, sync, when, when, "retry", 503, 0, kind, error
            yield file_id, sync, when, when, "failed", 503, 0, kind, error
        else:
            yield file_id, sync, when, when, "done" if state == "done" else "interrupted", 200, size, None, None


def _split(target: int) -> str:
    bucket = target // 4 % 10  # not target % 10: sources take target % 4
    return "train" if bucket < 8 else "val" if bucket == 8 else "test"


def _file_row(i: int, n_targets: int, rng: random.Random, now: str) -> tuple:
    target = i % n_targets
    source = SOURCES[target % 4]
    size = 450_000 + rng.randrange(10_000)
    r = rng.random()
    state = "done" if r < 0.70 else "pending" if r < 0.94 else "failed" if r < 0.99 else "downloading"
    kind, error = ERRORS[rng.randrange(len(ERRORS))] if state == "failed" else (None, None)
    return (source, str(target), f"http://archive.test/{i}.fits", f"{source}/{target}/{i}.fits", size, state,
            1 if state != "pending" else 0, kind, error, size if state == "done" else None, now)


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--targets", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the manifest here instead of a temp dir")
    parser.add_argument("--html", action="store_true", help="also time `ratdcs report --html` (needs matplotlib)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "manifest.sqlite"
        if not path.exists():
            start = time.perf_counter()
            build(path, args.files, args.targets)
            print(f"built {args.files:,} files / {args.targets:,} targets in {time.perf_counter() - start:.1f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB)")
        cmd = [sys.executable, "-m", "ratdcs_catalog", "--db", str(path), "report"]
        subprocess.run(cmd, check=True, capture_output=True)  # warm the page cache once
        for extra in ([], ["--json"], ["failed"]):
            seconds = best_of(args.repeat, lambda: subprocess.run(cmd + extra, check=True, capture_output=True))
            print(f"ratdcs report {' '.join(extra):<8} {seconds:6.3f} s  (whole process, best of {args.repeat})")
        baseline = best_of(args.repeat, lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
        print(f"python -c pass           {baseline:6.3f} s  (interpreter start-up alone)")
        if args.html:
            _time_html(cmd, Path(tmp) / "report.html", args.repeat)
        _time_sections(path, args.repeat)


def _time_html(cmd: list[str], out: Path, repeat: int) -> None:
    """`ratdcs report --html` in a fresh process (matplotlib's import included), the file's size, and
    the process's CPU seconds (user + system, best of ``repeat``): on a shared machine the wall time
    follows the load, the CPU time much less."""
    import resource

    html = cmd + ["--html", str(out)]
    cpu = []

    def run() -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(html, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

    seconds = best_of(repeat, run)
    print(f"ratdcs report --html     {seconds:6.3f} s  (whole process, best of {repeat}; CPU {min(cpu):.2f} s); "
          f"{out.stat().st_size / 1e6:.2f} MB")


def _time_sections(path: Path, repeat: int) -> None:
    from ratdcs_catalog.manifest import open_manifest
    from ratdcs_catalog.report import SECTIONS, build_report

    with open_manifest(path, readonly=True) as m:
        for section in SECTIONS:
            seconds = best_of(repeat, lambda: build_report(m, data_dir=path.parent, sections=[section]))
            print(f"  section {section:<12} {seconds:6.3f} s")
        seconds = best_of(repeat, lambda: build_report(m, data_dir=path.parent))
        print(f"  all sections         {seconds:6.3f} s")


if __name__ == "__main__":
    main()
