"""What one coordinator can do with one manifest: the figures docs/scale.md extrapolates to 10 M files.

    python bench/coordinator_rates.py                 # 200,000 rows
    python bench/coordinator_rates.py --rows 1000000

On a manifest of ``--rows`` planned rows (bench/scale.py's rows, imported the same way), through
the manifest layer ``sync`` uses:

- claims/s: ``claim_batch(owner, 256, 600)`` until every row is claimed;
- lease renewals/s: ``renew_leases`` over 4,096 claimed rows at a time;
- outcome writes/s: ``record_outcomes`` of 256 ``done`` outcomes, one transfer row each (what a
  downloaded file writes), until every row is done;
- bytes per row on disk, planned and then done (main file after a checkpoint, indexes and the
  transfers table included).

Not a test: prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _util import fresh_dir, log  # noqa: E402
from scale import build  # noqa: E402

BATCH = 256
OWNER = "bench:rates:1"


def size_bytes(path: Path) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


def claim_all(m) -> tuple[list, float, float, float]:
    """Every row claimed; (rows, claims/s overall, over the first 20 batches, over the last 20)."""
    claimed, seconds = [], []
    while True:
        started = time.perf_counter()
        rows = m.claim_batch(OWNER, BATCH, 600)
        if not rows:
            break
        seconds.append(time.perf_counter() - started)
        claimed += rows
    first, last = BATCH * 20 / sum(seconds[:20]), BATCH * 20 / sum(seconds[-20:])
    return claimed, len(claimed) / sum(seconds), first, last


def renew_rate(m, claimed: list) -> float:
    ids = [c.file_id for c in claimed[:4096]]
    started, rounds = time.perf_counter(), 5
    for _ in range(rounds):
        m.renew_leases(OWNER, ids, 600)
    return rounds * len(ids) / (time.perf_counter() - started)


def record_all(m, claimed: list) -> float:
    from ratdcs_catalog.records import FileOutcome, TransferRecord, utc_now

    now = utc_now()
    started = time.perf_counter()
    for i in range(0, len(claimed), BATCH):
        outcomes = [FileOutcome(c.file_id, "done", observed_size_bytes=c.expected_size_bytes,
                                observed_sha256=f"{c.file_id:064x}", verify_level="fits_checksum",
                                transfers=(TransferRecord(now, now, "done", 200, None, c.expected_size_bytes),))
                    for c in claimed[i:i + BATCH]]
        m.record_outcomes(OWNER, None, outcomes)
    return len(claimed) / (time.perf_counter() - started)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/ratdcs-bench-rates"))
    args = parser.parse_args(argv)
    from ratdcs_catalog.manifest import Manifest

    path = fresh_dir(args.workdir) / "manifest.sqlite"
    log(f"importing {args.rows:,} rows")
    build(path, args.rows, max(1, args.rows // 20))
    planned = size_bytes(path)
    with Manifest.open(path) as m:
        claimed, claims, first, last = claim_all(m)
        renewals = renew_rate(m, claimed)
        writes = record_all(m, claimed)
    done = size_bytes(path)
    print(f"| rows | {args.rows:,} |")
    print("|---|---|")
    print(f"| claims/s (claim_batch of {BATCH}), all rows | {claims:,.0f} |")
    print(f"| claims/s, first 20 batches / last 20 batches | {first:,.0f} / {last:,.0f} |")
    print(f"| lease renewals/s (renew_leases of 4,096) | {renewals:,.0f} |")
    print(f"| outcome writes/s (record_outcomes of {BATCH}, one transfer row each) | {writes:,.0f} |")
    print(f"| bytes per row, planned | {planned / args.rows:,.0f} |")
    print(f"| bytes per row, done (with its transfer row) | {done / args.rows:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
