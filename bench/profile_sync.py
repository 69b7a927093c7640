"""Where `ratdcs sync` spends its time on one bench file set: py-spy over every thread.

    python bench/profile_sync.py c            # 5,000 x 4 KB
    python bench/profile_sync.py b --idle     # 4 x 256 MB, waiting threads included
    python bench/profile_sync.py c --yappi    # in-process, one worker, CPU seconds per function

Plans the set (as run_all does), serves it from the private nginx, runs
``python -m ratdcs_catalog --db M sync --workers 4`` under ``py-spy record`` (installed with
``pip install --target <workdir>/py-spy py-spy`` when missing) and prints the functions with the
most samples: by self time (the frame on top) and by inclusive time (frames anywhere in the
stack), as shares of all samples. Without ``--idle`` a sample is a thread on CPU.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _util import PYTHON, fresh_dir, log, ratdcs_cmd, ratdcs_env  # noqa: E402
from fileset import ensure_set  # noqa: E402
from run_all import FULL  # noqa: E402

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy(workdir: Path) -> str:
    found = shutil.which("py-spy") or (workdir / "py-spy" / "bin" / "py-spy")
    if not Path(found).exists():
        log("installing py-spy")
        subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--target", str(workdir / "py-spy"), "py-spy"],
                       check=True)
    return str(found)


def record(set_name: str, workdir: Path, idle: bool, native: bool = False, gil: bool = False) -> Path:
    from nginx import Nginx

    spec = next(s for s in FULL["sets"] if s.name == set_name)
    fileset = ensure_set(spec, workdir / "serve")
    with Nginx(workdir / "serve", workdir / "nginx") as server:
        return record_on(fileset, server, workdir, idle=idle, native=native, gil=gil)


def record_on(fileset, server, workdir: Path, *, idle=False, native=False, gil=False) -> Path:
    """py-spy raw samples of one ratdcs sync of ``fileset`` (planned afresh) from ``server``."""
    import peers

    name = fileset.spec.name
    prepared = peers.prepare(fileset, server, workdir / "plan")
    out = fresh_dir(workdir / "run")
    db = out / "manifest.sqlite"
    shutil.copyfile(prepared.manifest, db)
    raw = workdir / f"profile-{name}{'-idle' if idle else ''}{'-gil' if gil else ''}.txt"
    # --subprocesses: with download.processes (auto on the 5,000-file set) the transfers run in
    # worker processes, whose samples count as the sync's.
    cmd = [py_spy(workdir), "record", "--subprocesses", "--format", "raw", "--rate", "250", "--output", str(raw),
           *(["--idle"] if idle else []), *(["--native"] if native else []), *(["--gil"] if gil else []),
           "--", *ratdcs_cmd(db, "sync", "--workers", "4")]
    subprocess.run(cmd, check=True, env=ratdcs_env(out / "data"), cwd=out, capture_output=True)
    shutil.rmtree(out)
    return raw


# Frames that every sample passes through and that say nothing about where the time goes.
PLUMBING = ("(threading.py)", "(<frozen runpy>)", "(concurrent/futures/", "(multiprocessing/", "(click/", "cli/", "__main__.py)", "WorkerPool._work",
            "Run.execute", "sync (sync/__init__.py)", "process_", "thread_run", "FilePipeline.run",
            "FilePipeline.process", "Fetcher.fetch", "Fetcher._attempt")


def counts(raw: Path) -> tuple[int, collections.Counter, collections.Counter]:
    """(samples, self counts, inclusive counts) per function of a py-spy raw file."""
    self_counts, incl_counts = collections.Counter(), collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_name(f) for f in stack.split(";") if f and not f.startswith("process ")]  # the pid frame
        n = int(count)
        total += n
        if frames:
            self_counts[frames[-1]] += n
        for name in set(frames):
            incl_counts[name] += n
    return total, self_counts, incl_counts


def hot_functions(raw: Path, top: int = 14) -> dict:
    """The functions with the most inclusive samples (plumbing left out), with self shares."""
    total, self_counts, incl = counts(raw)
    rows = [{"function": k, "inclusive": v / total, "self": self_counts[k] / total}
            for k, v in incl.most_common() if not any(p in k for p in PLUMBING)]
    return {"samples": total, "seconds_sampled": total / 250, "rows": rows[:top]}


def summarize(raw: Path, top: int = 18) -> str:
    total, self_counts, incl_counts = counts(raw)
    lines = [f"{total} samples", "", "self (on top of the stack):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in self_counts.most_common(top)]
    lines += ["", "inclusive (anywhere in the stack), plumbing left out:"]
    interesting = [(k, v) for k, v in incl_counts.most_common() if not any(p in k for p in PLUMBING)]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in interesting[:top * 2]]
    return "\n".join(lines)


# Ablation: the same sync with one cost taken away, to turn profile shares into seconds.
VARIANTS = {
    "as benchmarked": ([], {}),
    "fsync made a no-op (eatmydata)": (["eatmydata"], {}),
    "FITS CHECKSUM/DATASUM off": ([], {"RATDCS_VERIFY__FITS_CHECKSUM": "off"}),
    "both": (["eatmydata"], {"RATDCS_VERIFY__FITS_CHECKSUM": "off"}),
    "--workers 2": ([], {"RATDCS_DOWNLOAD__WORKERS": "2"}),
    "--workers 1": ([], {"RATDCS_DOWNLOAD__WORKERS": "1"}),
}


def ablation(prepared, workdir: Path, repeats: int) -> dict:
    """Median wall seconds of ``ratdcs sync`` per variant, variants alternating within a round."""
    from _util import median, settle, timed_run

    walls = collections.defaultdict(list)
    for _ in range(repeats):
        for name, (prefix, env) in VARIANTS.items():
            out = fresh_dir(workdir / "ablation")
            db = out / "manifest.sqlite"
            shutil.copyfile(prepared.manifest, db)
            settle()
            run = timed_run([*prefix, *ratdcs_cmd(db, "sync")], env=ratdcs_env(out / "data", **env), cwd=out)
            walls[name].append(run.wall_s if run.returncode == 0 else None)
            shutil.rmtree(out)
    # The fixed cost of any sync: interpreter, ratdcs's sync modules and what a transfer imports
    # (its http.client transport and numpy for the FITS sums; urllib3 only behind a proxy).
    startup = [timed_run([PYTHON, "-c", "import ratdcs_catalog.cli, ratdcs_catalog.sync, ratdcs_catalog.transfer, numpy"],
                         cwd=workdir) for _ in range(repeats)]
    walls["start-up only: python + imports of sync, transfer, numpy"] = [r.wall_s for r in startup]
    return {name: median(w) for name, w in walls.items()}


def _name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"] or ""
    short = path.split("site-packages/")[-1].split("/ratdcs_catalog/")[-1].split("/lib/python3")[-1]
    return f"{match['func']} ({short})"


def yappi_cpu(set_name: str, workdir: Path, workers: int, top: int = 40) -> str:
    """In-process sync of a set under yappi (CPU clock, every thread): CPU seconds per function.

    yappi is deterministic, so code made of many small calls (header parsing, HTTP header
    handling) is inflated; read the shares as rough. Installed like py-spy when missing.
    """
    import os
    import shutil as _shutil

    import peers
    from nginx import Nginx

    target = workdir / "yappi"
    if not (target / "yappi.py").exists():
        subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--target", str(target), "yappi"], check=True)
    sys.path.insert(0, str(target))
    import yappi

    spec = next(s for s in FULL["sets"] if s.name == set_name)
    fileset = ensure_set(spec, workdir / "serve")
    with Nginx(workdir / "serve", workdir / "nginx") as server:
        prepared = peers.prepare(fileset, server, workdir / "plan")
        out = fresh_dir(workdir / "run")
        db = out / "manifest.sqlite"
        _shutil.copyfile(prepared.manifest, db)
        os.environ.update(ratdcs_env(out / "data"))
        os.chdir(out)
        import numpy  # noqa: F401 - imported before the profile: start-up is measured elsewhere
        from ratdcs_catalog.config import load_config
        from ratdcs_catalog.sync import sync

        config = load_config()
        yappi.set_clock_type("cpu")
        yappi.start()
        summary = sync(config, db, workers=workers, progress=False)
        yappi.stop()
    threads = yappi.get_thread_stats()
    total = sum(t.ttot for t in threads)
    lines = [f"{summary.files_done} files done; {total:.1f} CPU s under yappi over "
             + ", ".join(f"{t.name} {t.ttot:.1f}" for t in threads), "", "  share  CPU s   calls  function"]
    for f in sorted(yappi.get_func_stats(), key=lambda f: -f.ttot)[:top]:
        where = f.module.split("site-packages/")[-1].split("ratdcs_catalog/")[-1].split("/lib/python3.11/")[-1]
        lines.append(f"{f.ttot / total:6.1%} {f.ttot:6.2f} {f.ncall:7d}  {f.name} ({where})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set", choices=[s.name for s in FULL["sets"]])
    parser.add_argument("--idle", action="store_true", help="count waiting threads too (wall-time view)")
    parser.add_argument("--native", action="store_true",
                        help="show C frames too (attributes time inside fsync, hashing, numpy's sums)")
    parser.add_argument("--gil", action="store_true",
                        help="only samples holding the GIL (pure-Python work that cannot run in parallel)")
    parser.add_argument("--yappi", action="store_true",
                        help="instead of py-spy: an in-process sync under yappi, CPU seconds per function")
    parser.add_argument("--workers", type=int, default=1, help="workers of the --yappi sync (default 1)")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/ratdcs-bench-profile"))
    args = parser.parse_args()
    if args.yappi:
        print(yappi_cpu(args.set, args.workdir, args.workers))
        return 0
    print(summarize(record(args.set, args.workdir, args.idle, args.native, args.gil)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
