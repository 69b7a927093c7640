"""Real `ratdcs sync` processes on one manifest: kill -9 at random moments, and two at once."""

import collections
import os
import random
import signal
import subprocess
import sys
import time

from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.verify import verify_file

LEASE_SECONDS = 1.5


def start_sync(env, *extra):
    environ = dict(os.environ, RATDCS_DOWNLOAD__LEASE_SECONDS=str(LEASE_SECONDS))
    return subprocess.Popen([sys.executable, "-m", "ratdcs_catalog", "--config", str(env.config_path), "-q",
                             "sync", *extra], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def bytes_sent_per_file(env):
    sent = collections.defaultdict(list)
    for r in env.file_requests():
        sent[r.query.rsplit("/", 1)[-1]].append(r)
    return sent


def assert_every_file_done_and_verified(env, products):
    rows = env.rows()
    assert {r["state"] for r in rows.values()} == {"done"}, [
        (rel, r["state"], r["last_error"]) for rel, r in rows.items() if r["state"] != "done"]
    for rel, row in rows.items():
        path = env.data_dir / rel
        assert path.read_bytes() == env.body(rel)
        assert verify_file(path, product_kind="lc_long", expected_size=row["expected_size_bytes"]).ok
    assert sorted(env.files_on_disk()) == sorted(rows)


def test_kill_9_at_random_moments_then_a_final_sync(sync_env):
    products = sync_env.kepler_products(28)
    sync_env.plan(products)
    # Slow bodies, so a kill lands in the middle of transfers rather than between runs.
    sync_env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=120_000))
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        proc = start_sync(sync_env)
        time.sleep(rng.uniform(0.6, 1.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        time.sleep(LEASE_SECONDS + 0.2)  # the dead process's leases expire
    sync_env.sandbox.clear_faults()
    final = start_sync(sync_env)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    assert kills >= 2
    assert_every_file_done_and_verified(sync_env, products)
    sizes = {p.filename: p.size for p in products}
    sent = bytes_sent_per_file(sync_env)
    for name, requests in sent.items():
        fresh_starts = sum(r.range_header is None for r in requests)
        assert fresh_starts <= 1 + kills, (name, [(r.range_header, r.bytes_sent) for r in requests])
    wasted = sum(r.bytes_sent for rs in sent.values() for r in rs) - sum(sizes.values())
    # At most what was in flight at each kill (4 workers) is sent twice; everything else resumes.
    assert wasted <= kills * 4 * max(sizes.values()), wasted
    assert not list((sync_env.data_dir / "temp").rglob("*.part"))
    # Rows claimed ahead by a killed sync and never started cost no attempt: each file took one.
    assert {r["attempts"] for r in sync_env.rows().values()} == {1}


def test_two_syncs_started_together_fetch_each_file_once(sync_env):
    products = sync_env.kepler_products(24)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=200_000))
    first, second = start_sync(sync_env, "--workers", "3"), start_sync(sync_env, "--workers", "3")
    results = [p.communicate(timeout=120) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), [e.decode() for _, e in results]
    sent = bytes_sent_per_file(sync_env)
    assert sorted(sent) == sorted(p.filename for p in products)
    assert all(len(requests) == 1 for requests in sent.values()), {k: len(v) for k, v in sent.items()}
    assert_every_file_done_and_verified(sync_env, products)
    from ratdcs_catalog.manifest import open_manifest

    with open_manifest(sync_env.db) as m:
        done_per_sync = [r["files_done"] for r in m.query("SELECT files_done FROM syncs ORDER BY sync_id")]
    assert sum(done_per_sync) == 24 and len(done_per_sync) == 2 and min(done_per_sync) > 0


def test_sigint_stops_cleanly_and_a_second_one_exits_at_once(sync_env):
    products = sync_env.kepler_products(8)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=20_000))
    proc = start_sync(sync_env, "--workers", "2")
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err.decode()
    rows = sync_env.rows()
    pending = sum(r["state"] == "pending" for r in rows.values())
    assert pending and f"Stopped by a signal: partial files are kept. {pending} selected files are still pending. " \
                       "Run `ratdcs sync` again to resume." in out.decode()
    assert {r["state"] for r in rows.values()} <= {"pending", "done"}
    assert all(r["lease_owner"] is None for r in rows.values())
    partials = list((sync_env.data_dir / "temp").rglob("*.part"))
    assert partials and all(p.stat().st_size > 0 for p in partials)

    # Bodies that stall mid-way keep the workers inside a read, so the first Ctrl-C's clean stop
    # cannot finish before the second arrives (with bodies that merely trickle it can).
    sync_env.sandbox.clear_faults()
    sync_env.sandbox.add_fault(Fault("stall", pattern=r"_llc\.fits", cut_at=0.5, stall_seconds=5))
    proc = start_sync(sync_env, "--workers", "2")
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    assert proc.poll() is None, "the first Ctrl-C ended the sync while its workers were inside a stalled read"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)
    assert proc.returncode == 130 and time.monotonic() - started < 2
    sync_env.sandbox.clear_faults()
    time.sleep(LEASE_SECONDS + 0.2)  # rows of the process that quit at once wait for their lease
    final = start_sync(sync_env)
    _, err = final.communicate(timeout=60)
    assert final.returncode == 0, err.decode()
    assert_every_file_done_and_verified(sync_env, products)


def test_a_sync_stopped_past_its_lease_never_writes_over_the_one_that_took_over(sync_env):
    # SIGSTOP (a laptop asleep) for longer than the lease: another sync takes the rows over while
    # the first still has the .part files open. Both must finish without tearing a file.
    products = sync_env.kepler_products(14)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=60_000))
    sleeper = start_sync(sync_env, "--workers", "4")
    time.sleep(1.2)
    sleeper.send_signal(signal.SIGSTOP)
    time.sleep(LEASE_SECONDS + 0.5)  # its leases expire while it sleeps
    taker = start_sync(sync_env, "--workers", "4")
    time.sleep(1.0)
    sleeper.send_signal(signal.SIGCONT)  # wakes up mid-transfer, on rows it no longer owns
    results = [p.communicate(timeout=120) for p in (sleeper, taker)]
    assert {sleeper.returncode, taker.returncode} <= {0, 1}, [e.decode() for _, e in results]
    sync_env.sandbox.clear_faults()
    final = start_sync(sync_env)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    assert_every_file_done_and_verified(sync_env, products)
    errors = [(t["rel_path"], t["error_kind"], t["error"]) for t in sync_env.transfers()
              if t["error_kind"] == "internal_error"]
    assert errors == []
    assert not list((sync_env.data_dir / "temp").rglob("*.part"))
