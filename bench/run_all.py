"""Run every ratdcs benchmark and print one table of medians and ratios (issue 7).

    python bench/run_all.py                 # full run (< 15 min on 2 cores), writes bench/README.md
    python bench/run_all.py --quick         # smoke check (~1.5 min), smaller sets, one round
    python bench/run_all.py --only peers,limits --workdir /var/tmp/rb

Parts: limits (the machine's ceilings), peers (ratdcs sync vs aria2c, wget, curl on nginx),
verify (ratdcs's verification alone on the same files: where sync's time goes), astroquery
(stock astroquery vs ratdcs on the sandbox), wan (the sandbox with an 80 ms / 20 MB/s network
profile: ratdcs vs astroquery, wget, aria2c, curl), scale (a 1,000,000-row manifest). Not a test: no
assertions on timings; a developer runs it by hand. Needs root or the peer tools installed
(nginx, aria2, wget, curl, time from apt).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import machine  # noqa: E402
import report_table  # noqa: E402
import verify_cost  # noqa: E402
from _util import fresh_dir, log  # noqa: E402
from fileset import SetSpec, ensure_set  # noqa: E402

PARTS = ("limits", "peers", "profile", "verify", "astroquery", "wan", "scale")
SLOWER = 1.10  # ratdcs more than 10% behind the best peer: profile it
FULL = {
    "sets": [SetSpec("a", "400 x 500 KB", 400, 500 * 1024), SetSpec("b", "4 x 256 MB", 4, 256 << 20),
             SetSpec("c", "5,000 x 4 KB", 5000, 4 * 1024)],
    "rounds": {"a": 7, "b": 5, "c": 5}, "astroquery_files": 200, "astroquery_rounds": 3,
    "scale_rows": 1_000_000, "wan_sets": None, "wan_rounds": 2, "quick": False,
}
QUICK = {
    "sets": [SetSpec("a", "100 x 500 KB", 100, 500 * 1024), SetSpec("b", "2 x 64 MB", 2, 64 << 20),
             SetSpec("c", "500 x 4 KB", 500, 4 * 1024)],
    "rounds": {"a": 1, "b": 1, "c": 1}, "astroquery_files": 50, "astroquery_rounds": 1,
    "scale_rows": 100_000, "wan_sets": (("kepler", "40 Kepler long-cadence light curves", 40),
                                        ("tess", "8 TESS 2-min light curves", 8)), "wan_rounds": 1, "quick": True,
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sets, one round (~2 minutes)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="generated files, downloads and manifests, on the disk being measured "
                             "(default /var/tmp/ratdcs-bench, or /var/tmp/ratdcs-bench-quick with --quick)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    parser.add_argument("--ratdcs", default="worktree", metavar="worktree|COMMIT",
                        help="which ratdcs to measure: a copy of the working tree (default) or a git commit "
                             "such as HEAD, extracted with git archive")
    parser.add_argument("--rounds", type=int, default=None, metavar="N",
                        help="at most N rounds per set, astroquery and WAN comparison (a shorter run on a busy machine)")
    parser.add_argument("--readme", choices=("auto", "yes", "no"), default="auto",
                        help="write the results into bench/README.md (auto: full runs of every part only)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    mode = QUICK if args.quick else FULL
    if args.rounds:
        mode = {**mode, "rounds": {k: min(v, args.rounds) for k, v in mode["rounds"].items()},
                "astroquery_rounds": min(mode["astroquery_rounds"], args.rounds),
                "wan_rounds": min(mode["wan_rounds"], args.rounds)}
    args.workdir = args.workdir or Path("/var/tmp/ratdcs-bench-quick" if args.quick else "/var/tmp/ratdcs-bench")
    args.lock = lock_workdir(args.workdir)  # held (open) until the process exits
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s) {sorted(unknown)}: choose from {PARTS}")
    started = time.perf_counter()
    results = {"mode": "quick" if args.quick else "full", "parts": parts,
               "command": "python bench/run_all.py" + (" --quick" if args.quick else ""),
               "machine": machine.describe(args.workdir), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    results["machine"]["ratdcs_snapshot"] = snapshot_ratdcs(args.workdir, args.ratdcs)
    results["machine"]["ratdcs_source"] = args.ratdcs
    if args.ratdcs != "worktree":
        results["machine"]["ratdcs_uncommitted"] = False
        results["machine"]["ratdcs_commit"] = machine.commit_of(args.ratdcs)
        results["command"] += f" --ratdcs {args.ratdcs}"
    if args.rounds:
        results["command"] += f" --rounds {args.rounds}"
    run_parts(parts, mode, args.workdir, results)
    results["elapsed_s"] = time.perf_counter() - started
    results["machine"]["load_avg_at_end"] = __import__("os").getloadavg()
    text = report_table.render(results)
    print(text)
    (args.workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    problems = report_table.failures(results)
    if args.readme == "auto" and problems:
        log(f"{len(problems)} run(s) failed: bench/README.md left as it was (--readme yes writes it anyway)")
    if args.readme == "yes" or (args.readme == "auto" and not args.quick and set(parts) == set(PARTS)
                                and not problems):
        report_table.write_readme(HERE / "README.md", results, text)
        (HERE / "results-latest.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
        log("wrote bench/README.md and bench/results-latest.json")
    return 0


def snapshot_ratdcs(workdir: Path, source: str = "worktree") -> str:
    """Measure a copy of the package as it is now, not a tree others may edit mid-run.

    Engineers share one working tree; a sync edited halfway through a run once failed half of
    it. The copy goes first on PYTHONPATH (ahead of the editable install's finder) for every
    child process, and on sys.path here. Returns the copy's directory.
    """
    import os
    import shutil

    target = workdir / "snapshot"
    if target.exists():
        shutil.rmtree(target)
    if source == "worktree":
        shutil.copytree(HERE.parent / "ratdcs_catalog", target / "ratdcs_catalog",
                        ignore=shutil.ignore_patterns("__pycache__"))
    else:  # a commit: exactly what is in git, whatever the working tree holds
        import subprocess

        target.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", source, "ratdcs_catalog", "schema.sql"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    # Children run with PYTHONDONTWRITEBYTECODE; without compiled files every ratdcs run would
    # compile its modules from source (about 30 ms), which no installed copy does.
    import compileall

    compileall.compile_dir(str(target / "ratdcs_catalog"), quiet=1)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, str(target))
    import subprocess

    found = subprocess.run([sys.executable, "-c", "import ratdcs_catalog; print(ratdcs_catalog.__file__)"],
                           cwd=workdir, capture_output=True, text=True, check=True).stdout.strip()
    if not found.startswith(str(target)):
        raise SystemExit(f"a child process imports ratdcs from {found}, not the snapshot in {target}")
    return str(target)


def lock_workdir(workdir: Path):
    """Refuse to share a work directory with another run: it would regenerate or delete our files."""
    import fcntl

    workdir.mkdir(parents=True, exist_ok=True)
    handle = open(workdir / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another benchmark is using {workdir}: wait for it, or pass --workdir elsewhere") from None
    return handle


def run_parts(parts: list[str], mode: dict, workdir: Path, results: dict) -> None:
    from nginx import Nginx, ensure_packages

    workdir.mkdir(parents=True, exist_ok=True)
    needs_sets = {"limits", "peers", "verify"} & set(parts)
    if needs_sets:
        ensure_packages()
        log("generating file sets (reused when already there)")
        sets = [ensure_set(spec, workdir / "serve") for spec in mode["sets"]]
        results["sets"] = {s.spec.name: {"label": s.spec.label, "files": len(s.files), "bytes": s.total_bytes,
                                         "file_bytes": s.spec.file_bytes()} for s in sets}
        with Nginx(workdir / "serve", workdir / "nginx") as server:
            if "limits" in parts:
                results["limits_before"] = _limits(sets, server, workdir, mode["quick"])
            if "peers" in parts:
                results["peers"] = _peers(sets, server, workdir, mode["rounds"])
            if "limits" in parts:
                # Measured again after the transfers: other load on the machine moves them, and the
                # fractions use the better of the two (what the machine can do).
                results["limits_after"] = _limits(sets, server, workdir, mode["quick"])
                results["limits"] = {k: max(v, results["limits_after"][k]) for k, v in results["limits_before"].items()}
            if "profile" in parts and "peers" in results:
                results["profile"] = _profile(sets, server, workdir, results)
            if "verify" in parts:
                results["verify"] = _verify(sets)
                smallest = min(sets, key=lambda s: s.spec.file_bytes())
                log(f"per-file costs on set {smallest.spec.name}")
                results["per_file_costs"] = {"set": smallest.spec.name, "ms": verify_cost.per_file_costs(
                    smallest, lambda f: server.url(f"{smallest.spec.name}/{f.name}"), workdir / "per-file")}
    if "astroquery" in parts:
        results["astroquery"] = _astroquery(workdir, mode)
    if "wan" in parts:
        results["wan"] = _wan(workdir, mode)
    if "scale" in parts:
        import scale

        results["scale"] = scale.run(workdir / "scale", mode["scale_rows"])


def _limits(sets, server, workdir: Path, quick: bool) -> dict:
    import limits

    log("measuring the machine's limits")
    largest = max((f for s in sets for f in s.files), key=lambda f: f.size_bytes)
    owner = next(s for s in sets if largest in s.files)
    return limits.measure_all(server.url(f"{owner.spec.name}/{largest.name}"), workdir / "limits", quick)


def _peers(sets, server, workdir: Path, rounds: dict) -> dict:
    import peers

    work = fresh_dir(workdir / "peers")
    prepared = [peers.prepare(s, server, work) for s in sets]
    runs = peers.run_rounds(prepared, work, rounds)
    return {"import_rows_per_s": {p.fileset.spec.name: p.import_rows_per_s for p in prepared},
            "runs": [{"tool": r.tool, "set": r.set_name, "round": r.round, "wall_s": r.run.wall_s,
                      "peak_rss_mb": r.run.peak_rss_mb, "cpu_s": r.run.cpu_s, "ok": r.ok, "note": r.note} for r in runs]}


def _profile(sets, server, workdir: Path, results: dict) -> dict:
    """py-spy over one extra ratdcs sync of every set where ratdcs is > 10% behind the best peer."""
    import profile_sync

    behind = {r["set"] for r in report_table.transfer_summary(results)
              if r["tool"] == "ratdcs" and (r["vs_best_peer"] or 0) > SLOWER}
    out = {}
    for fileset in (s for s in sets if s.spec.name in behind):
        log(f"profiling ratdcs sync on set {fileset.spec.name} with py-spy (threads on CPU, then GIL holders)")
        try:
            out[fileset.spec.name] = {
                view: profile_sync.hot_functions(profile_sync.record_on(fileset, server, workdir / "profile",
                                                                        gil=view == "gil"))
                for view in ("active", "gil")}
            prepared = __import__("peers").prepare(fileset, server, workdir / "profile" / "plan")
            repeats = 2 if len(fileset.files) > 1000 else 3  # a 5,000-file run takes ~12 s
            log(f"ablation runs on set {fileset.spec.name} ({repeats} round(s))")
            out[fileset.spec.name]["ablation"] = profile_sync.ablation(prepared, workdir / "profile", repeats)
            out[fileset.spec.name]["ablation_rounds"] = repeats
        except Exception as exc:  # py-spy missing or not permitted here: say so, keep the other results
            out[fileset.spec.name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _verify(sets) -> dict:
    log("timing ratdcs verification alone")
    return {s.spec.name: verify_cost.measure(s) for s in sets}


def _astroquery(workdir: Path, mode: dict) -> dict:
    import astroquery_vs

    log(f"astroquery comparison: {mode['astroquery_files']} light curves")
    try:
        return astroquery_vs.run(workdir / "astroquery", mode["astroquery_files"], mode["astroquery_rounds"])
    except Exception as exc:  # the sandbox or astroquery not usable: report it, run the rest
        return {"error": f"{type(exc).__name__}: {exc}"}


def _wan(workdir: Path, mode: dict) -> dict:
    import wan

    try:
        return wan.run(workdir / "wan", mode["wan_rounds"], mode["wan_sets"] or wan.SETS)
    except Exception as exc:  # the sandbox or a peer not usable: report it, run the rest
        return {"error": f"{type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    sys.exit(main())
