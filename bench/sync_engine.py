"""The sync engine's own speed targets (issue 5), printed as ratios to each target. Not a test.

    python bench/sync_engine.py                      # full: 5,000 small files, 2 x 256 MB, 10,000-row no-op
    python bench/sync_engine.py --quick              # 1,000 small files, 2 x 64 MB
    python bench/sync_engine.py --profile            # also cProfile the small-file run in-process

Files are real FITS images (bench/fileset.py) served by a private nginx (bench/nginx.py), so
sync does its whole job: claim, GET, stream + sha256, fsync, verify (size, sha256, FITS
structure, CHECKSUM/DATASUM), rename, batched manifest writes.

Targets: small files >= 300 files/s; peak RSS < 150 MB whatever the file size; a sync with
nothing pending over 10,000 done rows < 1 s and zero requests. Each is measured as a whole
`python -m ratdcs_catalog sync` process (interpreter start-up included) and, for the small
files, also in-process (the engine alone).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _util import fresh_dir, log, ratdcs_cmd, ratdcs_env, settle, timed_run  # noqa: E402
from fileset import SetSpec, ensure_set  # noqa: E402
from nginx import Nginx  # noqa: E402
from peers import plan_manifest  # noqa: E402

TARGET_FILES_PER_S = 300.0
TARGET_RSS_MB = 150.0
TARGET_NOOP_S = 1.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/ratdcs-bench-sync"))
    parser.add_argument("--workers", type=int, default=4)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    small = SetSpec("c", "1,000 x 4 KB" if args.quick else "5,000 x 4 KB", 1000 if args.quick else 5000, 4096)
    big = SetSpec("b", "2 x 64 MB" if args.quick else "2 x 256 MB", 2, (64 if args.quick else 256) << 20)
    root = args.workdir / "serve"
    sets = {s.name: ensure_set(s, root) for s in (small, big)}
    rows = []
    with Nginx(root, args.workdir / "nginx") as server:
        rows.append(run_process(server, sets["c"], args, "small files, whole process"))
        rows.append(run_in_process(server, sets["c"], args))
        rows.append(run_process(server, sets["b"], args, "large files, whole process"))
    rows.append(run_noop(args))
    print_table(rows)
    return 0


def prepare(server, fileset, work: Path) -> Path:
    urls = [server.url(f"{fileset.spec.name}/{f.name}") for f in fileset.files]
    db = work / "manifest.sqlite"
    plan_manifest(db, fileset, urls)
    return db


def run_process(server, fileset, args, label: str) -> dict:
    work = fresh_dir(args.workdir / "runs" / fileset.spec.name)
    db = prepare(server, fileset, work)
    settle()
    run = timed_run(ratdcs_cmd(db, "-q", "sync", "--workers", str(args.workers)), env=ratdcs_env(work / "data"))
    if run.returncode != 0:
        raise SystemExit(f"sync failed: {run.output_tail}")
    n, total = len(fileset.files), fileset.total_bytes
    log(f"{label}: {n} files, {total / 1e6:.1f} MB in {run.wall_s:.2f} s, peak RSS {run.peak_rss_mb:.0f} MB")
    row = {"what": f"{label} ({fileset.spec.label})", "seconds": run.wall_s, "files/s": n / run.wall_s,
           "MB/s": total / 1e6 / run.wall_s, "peak RSS MB": run.peak_rss_mb}
    row["ratio"] = (f"{row['files/s'] / TARGET_FILES_PER_S:.2f}x of 300 files/s" if fileset.spec.name == "c"
                    else f"{run.peak_rss_mb / TARGET_RSS_MB:.2f}x of the 150 MB RSS cap")
    shutil.rmtree(work)
    return row


def run_in_process(server, fileset, args) -> dict:
    from ratdcs_catalog.config import load_config
    from ratdcs_catalog.sync import sync

    work = fresh_dir(args.workdir / "runs" / "inproc")
    db = prepare(server, fileset, work)
    config = load_config(None, environ={}, cwd=work).with_overrides({"data_dir": str(work / "data")})
    import numpy  # noqa: F401 - imports are start-up, not engine time
    import ratdcs_catalog.transfer  # noqa: F401
    import ratdcs_catalog.verify  # noqa: F401

    settle()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    summary = sync(config, db, workers=args.workers, progress=False)
    elapsed = time.perf_counter() - started
    if profiler:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    assert summary.files_done == len(fileset.files), summary
    n = len(fileset.files)
    log(f"engine in-process: {n} files in {elapsed:.2f} s")
    shutil.rmtree(work)
    return {"what": f"small files, engine in-process ({fileset.spec.label})", "seconds": elapsed,
            "files/s": n / elapsed, "MB/s": fileset.total_bytes / 1e6 / elapsed, "peak RSS MB": None,
            "ratio": f"{n / elapsed / TARGET_FILES_PER_S:.2f}x of 300 files/s"}


def run_noop(args) -> dict:
    from ratdcs_catalog.manifest import Manifest
    from ratdcs_catalog.records import PlannedFile

    work = fresh_dir(args.workdir / "runs" / "noop")
    db = work / "manifest.sqlite"
    files = [PlannedFile("kepler", str(i % 100), "lc_long", f"http://127.0.0.1:9/{i}.fits", f"kepler/{i}.fits",
                         expected_size_bytes=1000) for i in range(10_000)]
    with Manifest.open(db) as m, m.transaction():
        m.upsert_targets([{"source": "kepler", "target_id": str(i)} for i in range(100)], None)
        m.upsert_files(files, None)
        m.conn.execute("UPDATE files SET state = 'done'")
    # Port 9 (discard) on loopback: any request would fail loudly, and the exit code would say so.
    run = timed_run(ratdcs_cmd(db, "sync"), env=ratdcs_env(work / "data"))
    from ratdcs_catalog.config import load_config
    from ratdcs_catalog.sync import sync

    config = load_config(None, environ={}, cwd=work).with_overrides({"data_dir": str(work / "data")})
    started = time.perf_counter()
    sync(config, db, progress=False)
    engine = time.perf_counter() - started
    log(f"no-op over 10,000 done rows: process {run.wall_s:.3f} s (exit {run.returncode}), engine {engine * 1e3:.1f} ms")
    shutil.rmtree(work)
    return {"what": "no-op sync, 10,000 done rows (process; engine alone in ratio)", "seconds": run.wall_s,
            "files/s": None, "MB/s": None, "peak RSS MB": run.peak_rss_mb,
            "ratio": f"{run.wall_s / TARGET_NOOP_S:.2f}x of 1 s (engine {engine * 1e3:.1f} ms)"}


def print_table(rows: list[dict]) -> None:
    print("| measurement | seconds | files/s | MB/s | peak RSS MB | vs target |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["what"], f"{r['seconds']:.3f}"] + [
            "-" if r[k] is None else f"{r[k]:,.1f}" for k in ("files/s", "MB/s", "peak RSS MB")] + [r["ratio"]]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
