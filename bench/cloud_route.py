"""The cloud-copy route against MAST's Download/file (issue 16): 40 TESS light curves, same run.

Starts a sandbox (full-scale files by default), picks the first 40 TESS 2-minute light curves that
have a cloud copy, and plans them into a fresh manifest per run, each with its Download/file URL and
its mirror URL (through the manifest layer, as `ratdcs plan` writes them). Then, in alternating
order, ``--rounds`` times each:

- ``s3 x16``:   ``transport.cloud = auto``, 16 workers, ``transport.cloud_connections`` 16: every file
  from ``/stpubdata/`` (S3 headers, ETag-MD5 checked);
- ``mast x4``:  ``transport.cloud = never``, 4 workers, ``download.per_host_connections`` 4: every file
  from ``/api/v0.1/Download/file`` (what ratdcs did before the cloud route);
- ``s3 x4``:    the bucket route with MAST's 4 connections, to tell the route's own cost from the
  parallelism it allows;
- ``mast x4 +md5``: MAST's route hashing md5 too (``download.hash_md5``), as the bucket route must
  to check its ETag: the verification's cost apart from the route's.

Prints the median wall time and MB/s of each and the ratios to ``mast x4``, and checks every run
ended with 40 files done from the route it was meant to use (the sandbox's request log).

Network shaping: ``--latency`` and ``--bandwidth`` give the sandbox its network profile
(``Sandbox(network=NetworkProfile(...))``, docs/sandbox.md); without them the run is on plain
loopback and says so (with no latency, parallel connections help only as far as the cores allow).

    PYTHONPATH=. python bench/cloud_route.py [--rounds 3] [--scale 1] [--latency 80ms --bandwidth 20MB/s]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FILES = 40
VARIANTS = {  # name: (transport.cloud, workers, connections to the route's host, download.hash_md5)
    "s3 x16": ("auto", 16, 16, False),
    "mast x4": ("never", 4, 4, False),
    "s3 x4": ("auto", 4, 4, False),
    "mast x4 +md5": ("never", 4, 4, True),
}


def shaping(args) -> tuple[dict, str]:
    """Sandbox keyword arguments for the asked latency/bandwidth (``Sandbox(network=...)``)."""
    if args.latency is None and args.bandwidth is None:
        return {}, "loopback, unshaped"
    from ratdcs_catalog.sandbox import NetworkProfile

    network = NetworkProfile.parse(latency=args.latency, bandwidth=args.bandwidth)
    return {"network": network}, f"shaped: {network.describe()}"


def products(archive) -> list:
    """The first 40 TESS 2-minute light curves, in TOI order, that have a cloud copy."""
    found = []
    for tid in archive.universe.toi_hosts():
        found += [p for p in archive.universe.tess_products(tid) if archive.cloud.has_copy(p)]
        if len(found) >= FILES:
            return found[:FILES]
    raise SystemExit(f"the sandbox universe has fewer than {FILES} TESS light curves with a cloud copy")


def plan(archive, chosen, db: Path) -> None:
    from ratdcs_catalog.manifest import open_manifest
    from ratdcs_catalog.records import PlannedFile

    ends = archive.endpoints()
    files = [PlannedFile("tess", str(p.target_id), "lc", f"{ends['mast_download']}?uri={quote(p.data_uri, safe=':/')}",
                         f"tess/fits/{p.filename}", archive_uri=p.data_uri, expected_size_bytes=p.size,
                         mirror_url=ends["cloud_mirror"] + p.path[len("/stpubdata"):]) for p in chosen]
    with open_manifest(db) as manifest, manifest.transaction():
        manifest.upsert_targets([{"source": "tess", "target_id": f.target_id} for f in files], None)
        manifest.upsert_files(files, None)


def one_run(archive, chosen, variant: str, workdir: Path) -> float:
    from ratdcs_catalog.config import load_config
    from ratdcs_catalog.sandbox import endpoint_config_yaml
    from ratdcs_catalog.sync import sync

    cloud, workers, connections, md5 = VARIANTS[variant]
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "data").mkdir(parents=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(endpoint_config_yaml(archive.endpoints(), str(workdir / "data")))
    config = load_config(config_path, environ={}, cwd=workdir).with_overrides(
        {"transport.cloud": cloud, "download.workers": workers, "transport.cloud_connections": connections,
         "download.per_host_connections": connections, "download.hash_md5": md5}, origin="bench")
    plan(archive, chosen, config.manifest_path)
    archive.clear_requests()
    started = time.perf_counter()
    summary = sync(config, config.manifest_path, progress=False)
    wall = time.perf_counter() - started
    route = "/stpubdata/" if cloud != "never" else "/api/v0.1/Download/file"
    served = [r for r in archive.requests if r.method == "GET" and r.status == 200 and r.path.startswith(route)]
    if summary.files_done != FILES or len(served) != FILES:
        raise SystemExit(f"{variant}: {summary.files_done} done, {len(served)} served by {route}; expected {FILES}")
    return wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="sandbox scale (1: real-size light curves)")
    parser.add_argument("--latency", default=None, help="passed to the sandbox if it takes a latency setting")
    parser.add_argument("--bandwidth", default=None, help="passed to the sandbox if it takes a bandwidth setting")
    args = parser.parse_args(argv)
    from ratdcs_catalog.sandbox import Sandbox

    shaped, network = shaping(args)
    scratch = Path(tempfile.mkdtemp(prefix="ratdcs-bench-cloud-"))
    with Sandbox(seed=42, scale=args.scale, **shaped) as archive:
        chosen = products(archive)
        total = sum(p.size for p in chosen)
        for p in chosen:
            archive.file_bytes(p), archive.cloud.etag(p)  # built once, so runs measure transfers only
        for name in VARIANTS:  # warm-up, not counted: first imports (verify's numpy), first connections
            one_run(archive, chosen, name, scratch / "warm-up")
        times = {name: [] for name in VARIANTS}
        for round_ in range(args.rounds):
            order = list(VARIANTS) if round_ % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                times[name].append(one_run(archive, chosen, name, scratch / name.replace(" ", "")))
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"{FILES} TESS light curves, {total / 1e6:.1f} MB, sandbox scale {args.scale:g}, {args.rounds} rounds; "
          f"{network}")
    base = statistics.median(times["mast x4"])
    print(f"{'route':<13} {'median s':>9} {'MB/s':>7} {'vs mast x4':>11}   runs")
    for name, walls in times.items():
        median = statistics.median(walls)
        print(f"{name:<13} {median:>9.2f} {total / 1e6 / median:>7.1f} {base / median:>10.2f}x   "
              + " ".join(f"{w:.2f}" for w in walls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
