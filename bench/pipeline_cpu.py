"""CPU per file of ratdcs's file pipeline, on one thread: the cost a sync of many small files pays per file.

    python bench/pipeline_cpu.py c [--files 2000] [--rounds 3] [--profile] [--essentials] [--workdir /var/tmp/ratdcs-bench]

A whole sync on set (c) is bound by the CPU of two cores shared by the writer, the worker
processes and nginx, and its wall time moves by 10-20% within the hour. This measures the
workers' part alone, steadily: the bench nginx serves the set, a planned manifest is claimed in
this process, and one thread runs ``FilePipeline.run`` on each row (request, streaming, FITS and
checksum verification, the .part's lock) with ``commit_batch`` every 16 files (fdatasync pass,
renames), as a worker process does. The first 50 files warm the connection and the imports.

Prints, per round, the process's user and system CPU per file (``RUSAGE_SELF``: the pipeline's
thread and the commit's fdatasync threads; nginx is another process) and the wall time per file;
then the best round. ``--profile`` adds cProfile's top functions for one more
round (cProfile roughly doubles the time of call-heavy code, so read its shares, not its times).
Each round writes into a new directory, and nothing is removed: removing files shortly before a
round (this script's earlier run included) bills ext4's scan of recently freed inodes to it
(bench/README.md, fourth stop: the work disk is ext4 without a journal). Remove the work directory when done.

``--essentials`` (sets of small files): each round also runs the same rows through
``essentials.EssentialFetcher``, the work of the same guarantees without the pipeline around it
(adoption check, locked .part, GET, sha256, ``verify_file``, group commit; see essentials.py),
and prints both, alternating. Their difference is what the pipeline's own code costs per file:
retries, resume, redirects, politeness, deadlines, size caps, answer checks, records.

To compare two trees, run it with ``PYTHONPATH`` pointing at each (a ``git archive`` of a
commit, as ``ab_sync.py`` extracts one); ``python -m ratdcs_catalog`` is not involved.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _util import median  # noqa: E402
from fileset import ensure_set  # noqa: E402
from run_all import FULL  # noqa: E402

BATCH = 16  # files per commit, as processes.BATCH_FILES
WARM = 50


def one_round(manifest: Path, out: Path, files: int, profile: bool = False, essentials: bool = False) -> dict:
    os.environ["RATDCS_DATA_DIR"] = str(out / "data")  # the configuration's data_dir, for load_config
    from ratdcs_catalog.config import load_config
    from ratdcs_catalog.manifest import open_manifest
    from ratdcs_catalog.sync.commit import commit_batch
    from ratdcs_catalog.sync.pipeline import FilePipeline

    out.mkdir(parents=True)
    shutil.copyfile(manifest, out / "m.sqlite")
    (out / "data").mkdir()
    with open_manifest(out / "m.sqlite") as m:
        rows = m.claim_batch("pipeline-cpu", files + WARM, 3600)
    if len(rows) < files + WARM:
        raise SystemExit(f"the set has {len(rows)} files; ask for at most {len(rows) - WARM} with --files")
    if essentials:
        from essentials import EssentialFetcher

        essential = EssentialFetcher(out / "data", out / "temp")

        def run_batch(batch) -> int:  # it stops the script on any file that is not done
            for row in batch:
                essential.run(row)
            return len(batch)
    else:
        pipeline = FilePipeline(load_config(), out / "data", threading.Event(), time.sleep)
        fetcher = pipeline.make_fetcher(lambda n: None)

        def run_batch(batch) -> int:
            finished = commit_batch([pipeline.run(row, fetcher) for row in batch])
            return sum(f.outcome.state == "done" for f in finished)
    for row in rows[:WARM]:
        run_batch([row])
    rows = rows[WARM:]
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    done = 0
    for start in range(0, len(rows), BATCH):
        done += run_batch(rows[start:start + BATCH])
    if essentials:
        essential.close()  # the last group commit
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    if not essentials:
        fetcher.client.close()
    if done != len(rows):
        raise SystemExit(f"only {done} of {len(rows)} files done: see {out}")
    n = len(rows)
    return {"user_us": (after.ru_utime - before.ru_utime) / n * 1e6,
            "sys_us": (after.ru_stime - before.ru_stime) / n * 1e6, "wall_us": wall / n * 1e6}


def report(label: str, rounds: list[dict]) -> None:
    best = min(rounds, key=lambda x: x["user_us"])
    print(f"{label}, best of {len(rounds)}: user {best['user_us']:.0f} us, system {best['sys_us']:.0f} us per file "
          f"(median user {median([x['user_us'] for x in rounds]):.0f} us, system "
          f"{median([x['sys_us'] for x in rounds]):.0f} us)")


def main() -> int:
    import peers
    from nginx import Nginx

    from _util import fresh_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set", choices=[s.name for s in FULL["sets"]])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--essentials", action="store_true",
                        help="also time the essential work of the same rows without the pipeline (essentials.py)")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/ratdcs-bench"))
    args = parser.parse_args()
    if args.rounds < 1 or args.files < 1:
        parser.error("--rounds and --files take a number of at least 1")
    import ratdcs_catalog

    spec = next(s for s in FULL["sets"] if s.name == args.set)
    if args.essentials and spec.file_bytes() > 64 << 10:
        parser.error("--essentials reads each body into memory: use it on a set of small files (c)")
    fileset = ensure_set(spec, args.workdir / "serve")
    # A directory of its own per run, never removed here: a removal bills the next run (see above).
    work = fresh_dir(args.workdir / "pipeline-cpu" / f"run-{time.time_ns()}")
    print(f"ratdcs from {Path(ratdcs_catalog.__file__).parent}; set {spec.label}, {args.files} files a round")
    rounds: list[dict] = []
    essential_rounds: list[dict] = []
    with Nginx(args.workdir / "serve", work / "nginx") as server:
        prepared = peers.prepare(fileset, server, work / "plan")
        for r in range(args.rounds + args.profile):
            profile = args.profile and r == args.rounds
            result = one_round(prepared.manifest, work / f"round-{r}", args.files, profile)
            if not profile:
                rounds.append(result)
                print(f"round {r + 1}: user {result['user_us']:.0f} us, system {result['sys_us']:.0f} us, "
                      f"wall {result['wall_us']:.0f} us per file")
                if args.essentials:
                    result = one_round(prepared.manifest, work / f"essentials-{r}", args.files, essentials=True)
                    essential_rounds.append(result)
                    print(f"  essentials: user {result['user_us']:.0f} us, system {result['sys_us']:.0f} us, "
                          f"wall {result['wall_us']:.0f} us per file")
    report("pipeline", rounds)
    if essential_rounds:
        report("essentials", essential_rounds)
        pipeline_user = median([x["user_us"] for x in rounds])
        essentials_user = median([x["user_us"] for x in essential_rounds])
        print(f"the pipeline's own code: {pipeline_user - essentials_user:.0f} us of user CPU per file "
              f"({pipeline_user / essentials_user:.2f}x the essentials', medians)")
    print(f"files kept in {work}: remove {args.workdir / 'pipeline-cpu'} when done measuring")
    return 0


if __name__ == "__main__":
    sys.exit(main())
