"""The sandbox archive in its own process, for the astroquery and WAN comparisons.

    python bench/_sandbox_server.py N_FILES [--mission kepler|tess] [--latency 80ms]
                                    [--bandwidth 20MB/s] [--max-connections N]

Starts ``ratdcs_catalog.sandbox.Sandbox`` on 127.0.0.1 (with a network profile when asked),
picks the first N light curves of the confirmed Kepler hosts (long cadence) or of the TOI hosts
(TESS 2-min), builds their bytes once (so no client pays the sandbox's FITS generation), prints
one JSON line ``{"base_url", "kics", "targets", "target_names", "mission", "products"}`` and then
answers commands on stdin, one JSON line each:

    count   -> {"GET": n, "HEAD": n, "POST": n, "bytes": n} since the last clear
    clear   -> {"cleared": true}
    quit    -> stops the sandbox and exits

A separate process so the sandbox's server threads do not share a GIL with the client timed.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys


def pick_products(universe, n_files: int, mission: str = "kepler") -> tuple[list[int], list]:
    if mission == "tess":
        hosts, products_of = universe.toi_hosts(), lambda t: universe.tess_products(t, "120s")
    else:
        hosts, products_of = universe.confirmed_kepler_hosts(), lambda t: universe.kepler_products(t, "long")
    targets, products = [], []
    for target in hosts:
        targets.append(target)
        products += products_of(target)
        if len(products) >= n_files:
            return targets, products[:n_files]
    return targets, products


def main() -> None:
    from ratdcs_catalog.sandbox import NetworkProfile, Sandbox
    from ratdcs_catalog.sandbox.mast_rows import target_name

    parser = argparse.ArgumentParser()
    parser.add_argument("n_files", type=int)
    parser.add_argument("--mission", choices=("kepler", "tess"), default="kepler")
    parser.add_argument("--latency")
    parser.add_argument("--bandwidth")
    parser.add_argument("--max-connections", type=int)
    args = parser.parse_args()
    network = NetworkProfile.parse(latency=args.latency, bandwidth=args.bandwidth,
                                   max_connections=args.max_connections)
    with Sandbox(seed=42, scale=1.0, memory_cache_bytes=1 << 30, network=network) as sb:
        targets, products = pick_products(sb.universe, args.n_files, args.mission)
        for p in products:
            sb.file_bytes(p)
            # The lookups of Download/file and the static paths build their indexes on first use
            # (seconds): built now, so no client timed pays for them.
            sb.universe.product_by_uri(p.data_uri), sb.universe.product_by_path(p.path)
        mission = {"kepler": "Kepler", "tess": "TESS"}[args.mission]
        print(json.dumps({"base_url": sb.base_url, "kics": targets, "targets": targets, "mission": mission,
                          "target_names": [target_name(mission, t) for t in targets],
                          "products": [{"uri": p.data_uri, "filename": p.filename, "size": p.size,
                                        "kic": p.target_id, "target": p.target_id, "path": p.path}
                                       for p in products]}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                records = sb.requests
                counts = collections.Counter(r.method for r in records)
                counts["bytes"] = sum(r.bytes_sent for r in records)
                print(json.dumps(counts), flush=True)
            elif command == "times":  # time.monotonic() of the first request's arrival and the last answer's end
                records = sb.requests
                print(json.dumps({"first_started": min((r.started_at for r in records), default=None),
                                  "last_ended": max((r.ended_at for r in records), default=None)}), flush=True)
            elif command == "clear":
                sb.clear_requests()
                print(json.dumps({"cleared": True}), flush=True)
            elif command == "quit":
                break


if __name__ == "__main__":
    main()
