"""Two ratdcs commits, one sync each, alternating, on one bench file set: before/after on a busy machine.

    python bench/ab_sync.py c --before 514d837 --after HEAD [--rounds 5] [--workdir /var/tmp/ratdcs-bench]
    python bench/ab_sync.py c --before HEAD --after ~/ratdcs-wip      # a working tree: its ratdcs_catalog/
    python bench/ab_sync.py c --before HEAD --after HEAD --lean-workers

Each commit is extracted with ``git archive`` and compiled, as ``run_all.py --ratdcs`` does; a
directory is taken as a working tree (its ``ratdcs_catalog`` compiled in place). The
set is served by the bench nginx and planned once; each round runs ``ratdcs sync --workers 4`` of
the before commit, then of the after commit, each on a fresh copy of the planned manifest into an
empty directory. Alternating A/B runs share whatever else the machine is doing, so their ratio is
steadier than two separate benchmark runs. Prints median wall seconds, files per second, CPU
seconds (user + system) and peak RSS of each, and the ratio.

``--lean-workers``: the after side's syncs run with ``lean_workers/`` on their PYTHONPATH, whose
``sitecustomize`` replaces the file pipeline by ``essentials.install_in_pipeline``: its worker
processes do only the work the guarantees need per file, the writer and the group commit stay.
Its time is the bound of a leaner worker inside today's design (bench/README.md, eighth stop).
Small-file sets (c) with worker processes only, into empty directories.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _util import fresh_dir, log, median, ratdcs_cmd, ratdcs_env, settle, timed_run  # noqa: E402
from fileset import ensure_set  # noqa: E402
from run_all import FULL  # noqa: E402


def extract(commit: str, target: Path) -> Path:
    """``commit``'s ratdcs, compiled; or, when ``commit`` names a directory, that working tree's."""
    if Path(commit).expanduser().is_dir():
        tree = Path(commit).expanduser().resolve()
        compileall.compile_dir(str(tree / "ratdcs_catalog"), quiet=1)
        return tree
    fresh_dir(target)
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", commit, "ratdcs_catalog", "schema.sql"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    compileall.compile_dir(str(target / "ratdcs_catalog"), quiet=1)
    return target


def main() -> int:
    import peers
    from nginx import Nginx

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set", choices=[s.name for s in FULL["sets"]])
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/ratdcs-bench"))
    parser.add_argument("--lean-workers", action="store_true",
                        help="the after side's worker processes do only bench/essentials.py's work per file")
    args = parser.parse_args()
    work = args.workdir / "ab"
    trees = {label: extract(commit, work / f"tree-{label}") for label, commit in
             (("before", args.before), ("after", args.after))}
    spec = next(s for s in FULL["sets"] if s.name == args.set)
    fileset = ensure_set(spec, args.workdir / "serve")
    runs: dict[str, list] = {"before": [], "after": []}
    with Nginx(args.workdir / "serve", work / "nginx") as server:
        prepared = peers.prepare(fileset, server, work / "plan")
        for r in range(args.rounds):
            for label, tree in trees.items():
                out = fresh_dir(work / "run")
                shutil.copyfile(prepared.manifest, out / "manifest.sqlite")
                settle()
                path = [str(tree)] + ([str(HERE / "lean_workers")] if args.lean_workers and label == "after" else [])
                env = ratdcs_env(out / "data", PYTHONPATH=os.pathsep.join(path))
                run = timed_run(ratdcs_cmd(out / "manifest.sqlite", "sync", "--workers", "4"), env=env, cwd=out)
                runs[label].append(run)
                log(f"round {r + 1}/{args.rounds} {label:6s} {run.wall_s:6.2f} s, CPU {run.cpu_s:5.2f} s, "
                    f"RSS {run.peak_rss_mb:5.1f} MB, exit {run.returncode}")
    files = len(fileset.files)
    print(f"\n| ratdcs sync --workers 4, {spec.label}, median of {args.rounds} alternating | wall s | files/s | "
          "CPU s | peak RSS MB |\n|---|---|---|---|---|")
    after = f"{args.after}, lean workers" if args.lean_workers else args.after
    for label, commit in (("before", args.before), ("after", after)):
        wall = median(r.wall_s for r in runs[label])
        print(f"| {label} ({commit}) | {wall:.2f} | {files / wall:,.0f} | {median(r.cpu_s for r in runs[label]):.2f} | "
              f"{median(r.peak_rss_mb for r in runs[label]):.1f} |")
    print(f"\nafter / before, wall: {median(r.wall_s for r in runs['after']) / median(r.wall_s for r in runs['before']):.2f}x;"
          f" CPU: {median(r.cpu_s for r in runs['after']) / median(r.cpu_s for r in runs['before']):.2f}x"
          f" (os.getloadavg at the end {os.getloadavg()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
