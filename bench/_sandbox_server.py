"""The sandbox archive in its own process, for the astroquery comparison (run by astroquery_vs.py).

    python bench/_sandbox_server.py N_FILES

Starts ``ratdcs_catalog.sandbox.Sandbox`` on 127.0.0.1, picks the first N Kepler long-cadence
light curves of the confirmed hosts, builds their bytes once (so neither client pays the
sandbox's FITS generation), prints one JSON line ``{"base_url", "kics", "products"}`` and then
answers commands on stdin, one JSON line each:

    count   -> {"GET": n, "HEAD": n, "POST": n, "bytes": n} since the last clear
    clear   -> {"cleared": true}
    quit    -> stops the sandbox and exits

A separate process so the sandbox's server threads do not share a GIL with the client timed.
"""

from __future__ import annotations

import collections
import json
import sys


def pick_products(universe, n_files: int) -> tuple[list[int], list]:
    kics, products = [], []
    for kic in universe.confirmed_kepler_hosts():
        kics.append(kic)
        products += universe.kepler_products(kic, "long")
        if len(products) >= n_files:
            return kics, products[:n_files]
    return kics, products


def main() -> None:
    from ratdcs_catalog.sandbox import Sandbox

    n_files = int(sys.argv[1])
    with Sandbox(seed=42, scale=1.0, memory_cache_bytes=1 << 30) as sb:
        kics, products = pick_products(sb.universe, n_files)
        for p in products:
            sb.file_bytes(p)
        print(json.dumps({"base_url": sb.base_url, "kics": kics,
                          "products": [{"uri": p.data_uri, "filename": p.filename, "size": p.size,
                                        "kic": p.target_id} for p in products]}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                records = sb.requests
                counts = collections.Counter(r.method for r in records)
                counts["bytes"] = sum(r.bytes_sent for r in records)
                print(json.dumps(counts), flush=True)
            elif command == "clear":
                sb.clear_requests()
                print(json.dumps({"cleared": True}), flush=True)
            elif command == "quit":
                break


if __name__ == "__main__":
    main()
