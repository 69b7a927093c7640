"""Threads against Dask workers: `ratdcs sync --workers 8` vs `ratdcs sync --cluster local:2 --workers 8`
(2 worker processes x 4 threads), same plan, same sandbox, ratios measured in one run. Not a test.

    python bench/cluster.py                  # 20 Kepler hosts (~320 light curves), scale 1, 3 rounds
    python bench/cluster.py --hosts 5 --rounds 1 --scale 0.2     # a quick look

The sandbox archive runs in its own process (its server threads do not share a GIL with the
client timed), warmed by one untimed sync (it builds each file's bytes once). Every round plans nothing: the manifest planned once is copied into a fresh data
directory, then one whole `python -m ratdcs_catalog sync` process is timed (interpreter start-up,
and for the cluster the LocalCluster's start-up, included); the sync's own time (the `syncs`
row: first claim to last outcome written) is reported beside it. Both runs get
`download.per_host_connections = 8`, so the politeness cap is not what separates them.

Profiles: loopback always; the WAN profile (latency and bandwidth per connection) only when the
sandbox offers it (`Sandbox(network=NetworkProfile(latency_seconds=..., bandwidth_bytes_per_second=...))`
from `ratdcs_catalog.sandbox.network`, checked at run time): without it the script says so and
measures loopback alone.
"""

from __future__ import annotations

import argparse
import inspect
import multiprocessing
import os
import shutil
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _util import PYTHON, fresh_dir, log, median, timed_run  # noqa: E402

WAN = {"latency_seconds": 0.05, "bandwidth_bytes_per_second": 20_000_000}  # 50 ms, 20 MB/s a connection


def serve(scale: float, profile: dict, pipe) -> None:
    """Child process: a sandbox until the pipe says stop."""
    from ratdcs_catalog.sandbox import Sandbox

    shaping = {}
    if profile:
        from ratdcs_catalog.sandbox.network import NetworkProfile

        shaping["network"] = NetworkProfile(**profile)
    with Sandbox(seed=42, scale=scale, **shaping) as sandbox:
        pipe.send(sandbox.endpoints())
        pipe.recv()


def wan_supported() -> bool:
    from ratdcs_catalog.sandbox import Sandbox

    try:
        from ratdcs_catalog.sandbox.network import NetworkProfile
    except ImportError:
        return False
    fields = set(inspect.signature(NetworkProfile).parameters)
    return "network" in inspect.signature(Sandbox.__init__).parameters and set(WAN) <= fields


def config_text(endpoints: dict) -> str:
    from ratdcs_catalog.sandbox import endpoint_config_yaml

    return endpoint_config_yaml(endpoints, data_dir="./data") + (
        "catalog:\n  rate_limit_delay: 0\ndownload:\n  per_host_connections: 8\n")


def plan(workdir: Path, config: Path, hosts: int) -> Path:
    data = fresh_dir(workdir / "planned")
    env = dict(os.environ, RATDCS_DATA_DIR=str(data))
    run = timed_run([PYTHON, "-m", "ratdcs_catalog", "--config", str(config), "plan", "kepler", "--n", str(hosts)],
                    env=env)
    if run.returncode:
        raise SystemExit(f"plan failed:\n{run.output_tail}")
    return data / "manifest.sqlite"


def sync_once(workdir: Path, config: Path, manifest: Path, args: list[str]) -> dict:
    data = fresh_dir(workdir / "run")
    shutil.copy(manifest, data / "manifest.sqlite")
    env = dict(os.environ, RATDCS_DATA_DIR=str(data))
    run = timed_run([PYTHON, "-m", "ratdcs_catalog", "--quiet", "--config", str(config), "sync", *args], env=env)
    with sqlite3.connect(data / "manifest.sqlite") as db:
        started, finished, done, nbytes = db.execute(
            "SELECT started_at, finished_at, files_done, bytes_received FROM syncs").fetchone()
    seconds = (datetime.fromisoformat(finished.rstrip("Z")) - datetime.fromisoformat(started.rstrip("Z")))
    return {"wall_s": run.wall_s, "sync_s": seconds.total_seconds(), "files": done, "bytes": nbytes,
            "rss_mb": run.peak_rss_mb, "ok": run.returncode == 0, "tail": run.output_tail}


def measure(workdir: Path, scale: float, profile_name: str, profile: dict, hosts: int, rounds: int) -> list[dict]:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(scale, profile, child), daemon=True)
    server.start()
    try:
        config = workdir / "sandbox.yaml"
        config.write_text(config_text(parent.recv()))
        manifest = plan(workdir, config, hosts)
        sync_once(workdir, config, manifest, ["--workers", "8"])  # untimed: the sandbox builds each file once
        runs = {"threads": [], "cluster": []}
        modes = {"threads": ["--workers", "8"], "cluster": ["--cluster", "local:2", "--workers", "8"]}
        for _ in range(rounds):
            for mode, args in modes.items():
                result = sync_once(workdir, config, manifest, args)
                log(f"{profile_name} {mode}: {result['files']} files in {result['wall_s']:.2f} s "
                    f"(sync {result['sync_s']:.2f} s){'' if result['ok'] else ' FAILED ' + result['tail']}")
                runs[mode].append(result)
    finally:
        parent.send("stop")
        server.join(10)
    return [summarise(profile_name, mode, results) for mode, results in runs.items()]


def summarise(profile: str, mode: str, results: list[dict]) -> dict:
    wall, sync_s = median([r["wall_s"] for r in results]), median([r["sync_s"] for r in results])
    return {"profile": profile, "mode": mode, "files": results[0]["files"], "mb": results[0]["bytes"] / 1e6,
            "wall_s": wall, "sync_s": sync_s, "rss_mb": median([r["rss_mb"] for r in results]),
            "ok": all(r["ok"] for r in results)}


def print_table(rows: list[dict]) -> None:
    print("| profile | run | files | MB | wall s (whole process) | sync s (syncs row) | MB/s (sync) "
          "| coordinator peak RSS MB | wall / threads | sync / threads | status |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base = {r["profile"]: r for r in rows if r["mode"] == "threads"}
    for r in rows:
        b = base[r["profile"]]
        label = "`sync --workers 8`" if r["mode"] == "threads" else "`sync --cluster local:2 --workers 8`"
        print(f"| {r['profile']} | {label} | {r['files']} | {r['mb']:.1f} | {r['wall_s']:.2f} | {r['sync_s']:.2f} "
              f"| {r['mb'] / r['sync_s']:.1f} | {r['rss_mb']:.0f} | {r['wall_s'] / b['wall_s']:.2f}x "
              f"| {r['sync_s'] / b['sync_s']:.2f}x | {'ok' if r['ok'] else 'failed'} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=20, help="Kepler planet hosts to plan (~16 files each)")
    parser.add_argument("--scale", type=float, default=1.0, help="sandbox scale (1: real-size light curves)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/ratdcs-bench-cluster"))
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    profiles = {"loopback": {}}
    if wan_supported():
        profiles["WAN (50 ms, 20 MB/s)"] = WAN
    else:
        log("WAN profile: this sandbox has no latency/bandwidth options; measuring loopback only")
    rows = []
    for name, profile in profiles.items():
        rows += measure(args.workdir, args.scale, name, profile, args.hosts, args.rounds)
    print_table(rows)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
