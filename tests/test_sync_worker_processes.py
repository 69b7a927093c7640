"""download.processes: the file pipeline in worker processes, the manifest written by this one (sync/processes.py)."""

import collections
import logging
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.sync import processes
from ratdcs_catalog.sync.processes import choose_processes
from ratdcs_catalog.verify import verify_file

import test_sync

LINUX = sys.platform.startswith("linux")


def assert_every_file_done_and_verified(env, products):
    rows = env.rows()
    assert {r["state"] for r in rows.values()} == {"done"}, [
        (rel, r["state"], r["last_error"]) for rel, r in rows.items() if r["state"] != "done"]
    for rel, row in rows.items():
        assert (env.data_dir / rel).read_bytes() == env.body(rel)
        assert verify_file(env.data_dir / rel, product_kind="lc_long", expected_size=row["expected_size_bytes"]).ok
    assert sorted(env.files_on_disk()) == sorted(rows) and len(rows) == len(products)
    assert not list((env.data_dir / "temp").rglob("*.part"))


def children_of(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def wait_for(condition, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        time.sleep(step)
    return condition()


def start_sync(env, *extra, **variables):
    return subprocess.Popen([sys.executable, "-m", "ratdcs_catalog", "--config", str(env.config_path), "-q",
                             "sync", *extra], env=dict(os.environ, RATDCS_DOWNLOAD__LEASE_SECONDS="1.5", **variables),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def start_sync_mid_transfer(env, n_files: int, bytes_per_second: int, *extra: str):
    """A `ratdcs sync --processes 2` of ``n_files`` slowed light curves, returned once its two worker
    processes exist and a .part is being written: (process, worker pids)."""
    products = env.kepler_products(n_files)
    env.plan(products)
    env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=bytes_per_second))
    proc = start_sync(env, "--processes", "2", *extra)
    workers = wait_for(lambda: len(children_of(proc.pid)) >= 2 and children_of(proc.pid), timeout=20)
    wait_for(lambda: any((env.data_dir / "temp").rglob("*.part")), timeout=20)
    return products, proc, workers


@pytest.mark.parametrize("setting,files,mean,expected", [
    ("auto", 5000, 5_760, 4),  # many small files: one per transfer (4 here), each on its own thread
    ("auto", 999, 5_760, 1),  # too few to pay for it
    ("auto", 5000, 2 << 20, 1),  # large files: the network and hashing (outside the GIL) are the limit
    (3, 10, 10**9, 3),  # a number is taken as asked
    (8, 10, 1, 4),  # ... but never more than the workers (4 here)
])
def test_how_many_processes_a_run_gets(setting, files, mean, expected, monkeypatch):
    monkeypatch.setattr(processes, "can_fork", lambda: True)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert choose_processes(setting, 4, (4, 16), files, files * mean, files) == expected


def test_auto_keeps_threads_on_one_core(monkeypatch):
    # Processes only run Python side by side on two cores or more; on one they would only add hand-overs.
    monkeypatch.setattr(processes, "can_fork", lambda: True)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert choose_processes("auto", 4, (4, 16), 5000, 5000 * 5760, 5000) == 1
    assert choose_processes(2, 4, (4, 16), 5000, 5000 * 5760, 5000) == 2  # asked for: taken


def test_never_more_processes_than_connections_per_host_or_to_the_cloud_copy():
    # Each process gets its share of download.per_host_connections: 2 connections cannot serve 4 processes.
    assert choose_processes(4, 8, (2, 16), 10, 10, 10) == 2
    assert choose_processes(4, 8, (8, 3), 10, 10, 10) == 3  # transport.cloud_connections: 3


def test_a_batch_holds_up_to_its_file_count_and_no_more_than_its_bytes():
    def rows(*sizes):
        return collections.deque((types.SimpleNamespace(expected_size_bytes=size), None) for size in sizes)

    def batch(waiting, size):
        return [row.expected_size_bytes for row, _ in processes.ProcessPool._next_batch(waiting, size)]

    small = types.SimpleNamespace(buffer=rows(*[5760] * 40))
    assert batch(small, processes.BATCH_FILES) == [5760] * 32 and len(small.buffer) == 8
    mib = 1 << 20
    large = types.SimpleNamespace(buffer=rows(40 * mib, 20 * mib, 10 * mib, None, 1))
    assert batch(large, 32) == [40 * mib, 20 * mib]  # a third would pass BATCH_BYTES (64 MiB)
    assert batch(large, 32) == [10 * mib, None, 1]  # an unknown size counts nothing
    huge = types.SimpleNamespace(buffer=rows(300 * mib, 1))
    assert batch(huge, 32) == [300 * mib]  # one file over the cap still goes, alone


def test_auto_keeps_threads_where_it_would_have_to_spawn(monkeypatch):
    # Spawned, a worker imports the caller's script again: a script without a __main__ guard would
    # run its sync once more in every worker. auto only forks (Linux, from a single thread).
    monkeypatch.setattr(processes, "can_fork", lambda: False)
    assert choose_processes("auto", 4, (4, 16), 5000, 5000 * 5760, 5000) == 1
    assert choose_processes(2, 4, (4, 16), 5000, 5000 * 5760, 5000) == 2  # asked for: spawned


@pytest.mark.parametrize("workers", [4, 2])  # 2 threads in each process; one transfer each, on its own thread
def test_worker_processes_fetch_verify_and_place_every_file(sync_env, caplog, workers):
    sync_env.configure(**{"download.processes": 2, "download.workers": workers})
    products = sync_env.kepler_products(24)
    sync_env.plan(products)
    with caplog.at_level(logging.INFO, logger="ratdcs.sync"):
        summary = sync_env.sync()
    assert f"sync: 2 worker processes, {workers} transfers in all" in caplog.text
    assert (summary.files_done, summary.files_failed, summary.exit_code) == (24, 0, 0)
    assert summary.bytes_received == sum(p.size for p in products)
    assert_every_file_done_and_verified(sync_env, products)
    assert sorted(r.query.rsplit("/", 1)[-1] for r in sync_env.file_requests()) == sorted(p.filename for p in products)
    transfers = sync_env.transfers()
    assert [t["outcome"] for t in transfers] == ["done"] * 24 and {t["sync_id"] for t in transfers} == {summary.sync_id}
    # A second sync sends nothing.
    sync_env.sandbox.clear_requests()
    assert sync_env.sync().selected_files == 0 and sync_env.file_requests() == []


def test_a_failed_file_in_a_worker_process_is_quarantined_with_its_reason(sync_env):
    sync_env.configure(**{"download.processes": 2, "download.max_retries": 1})
    products = sync_env.kepler_products(6)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("flip_bytes", pattern=products[2].filename))
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed) == (5, 1)
    row = sync_env.rows()[f"kepler/{products[2].target_id}/{products[2].filename}"]
    assert (row["state"], row["last_error_kind"]) == ("failed", "fits_checksum")
    assert (sync_env.data_dir / row["quarantine_path"]).exists() and "moved to quarantine/" in row["last_error"]
    assert summary.failures[0][1] == "fits_checksum"


def test_a_retry_after_pauses_the_host_for_every_worker_process(sync_env):
    # 2 processes of 1 connection each; the first answer of one file is a 503 with Retry-After: 1.
    sync_env.configure(**{"download.processes": 2, "download.workers": 2, "download.per_host_connections": 2})
    products = sync_env.kepler_products(16)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("503", pattern=products[3].filename, count=1, retry_after=1.0))
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed) == (16, 0)
    requests = sync_env.file_requests()
    refused = next(r for r in requests if r.status == 503)
    # Whatever was already on its way may finish; after that, neither process asks before the pause ends.
    later = [r for r in requests if r.started_at > refused.ended_at + 0.2]
    assert later and min(r.started_at for r in later) >= refused.ended_at + 0.9, \
        [(round(r.started_at - refused.ended_at, 3), r.status) for r in requests]
    assert_every_file_done_and_verified(sync_env, products)


@pytest.mark.skipif(not LINUX, reason="finds the worker processes in /proc")
def test_kill_9_of_the_sync_ends_its_worker_processes_and_loses_nothing(sync_env):
    products, proc, workers = start_sync_mid_transfer(sync_env, 24, 150_000)
    assert workers, proc.communicate(timeout=5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # Orphaned, each worker process notices within half a second and exits: none keeps writing.
    assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), timeout=5), workers
    sync_env.sandbox.clear_faults()
    final = sync_env.sync()  # takes back the dead sync's rows at once (its process is gone)
    assert final.exit_code == 0
    assert_every_file_done_and_verified(sync_env, products)
    assert {r["attempts"] for r in sync_env.rows().values()} == {1}


# Each process with two threads (4 workers), or with one transfer run on its own thread (2 workers).
EACH_PROCESS = pytest.mark.parametrize("transfers", ["4", "2"], ids=["two-threads", "own-thread"])


@pytest.mark.skipif(not LINUX, reason="finds the worker processes in /proc")
@EACH_PROCESS
def test_ctrl_c_to_the_terminal_stops_the_sync_and_its_worker_processes_cleanly(sync_env, transfers):
    products, proc, workers = start_sync_mid_transfer(sync_env, 12, 100_000, "--workers", transfers)
    assert workers
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err.decode()
    assert "Stopped by a signal: partial files are kept." in out.decode()
    assert "Traceback" not in err.decode()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    rows = sync_env.rows()
    assert {r["state"] for r in rows.values()} <= {"pending", "done"}
    assert all(r["lease_owner"] is None for r in rows.values())
    sync_env.sandbox.clear_faults()
    assert sync_env.sync().exit_code == 0
    assert_every_file_done_and_verified(sync_env, products)


@pytest.mark.skipif(not LINUX, reason="finds the worker processes in /proc")
@EACH_PROCESS
def test_a_killed_worker_process_stops_the_sync_and_its_rows_go_back(sync_env, transfers):
    products, proc, workers = start_sync_mid_transfer(sync_env, 24, 150_000, "--workers", transfers)
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=60)  # the sync ends: it does not wait for rows that cannot come back
    assert proc.returncode == 1, err.decode()
    assert "the worker processes failed" in err.decode() or "worker process running this file's batch" in err.decode()
    rows = sync_env.rows()
    assert {r["state"] for r in rows.values()} <= {"pending", "done"}
    assert all(r["lease_owner"] is None for r in rows.values())
    assert any(r["last_error_kind"] == "worker_lost" for r in rows.values())
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    sync_env.sandbox.clear_faults()
    assert sync_env.sync().exit_code == 0
    assert_every_file_done_and_verified(sync_env, products)


# The sync engine's fault matrix (test_sync.py), once more with the files in worker processes. Not
# ignore_range: it needs the bytes that came before a reset, and a process that reads its socket a
# moment after the reset arrived gets none of them (the kernel drops them with the RST).
ONCE_IN_PROCESSES = [case for case in test_sync.ONCE if case[0] != "ignore_range"]


@pytest.mark.parametrize("kind,params,named", ONCE_IN_PROCESSES, ids=[k for k, _, _ in ONCE_IN_PROCESSES])
def test_a_fault_once_in_a_worker_process_ends_done_and_verified(sync_env, kind, params, named):
    sync_env.configure(**{"download.processes": 2, **({"download.timeout_seconds": 0.4} if kind == "stall" else {})})
    products = sync_env.kepler_products(4)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault(kind, pattern=products[1].filename, count=1, **params))
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed) == (4, 0)
    test_sync.assert_all_verified(sync_env, sync_env.rows())
    kinds = [t["error_kind"] for t in sync_env.transfers() if t["rel_path"].endswith(products[1].filename)]
    if named:
        assert named in kinds
    test_sync.assert_no_bad_file_outside_quarantine(sync_env)


def test_sizes_learned_in_worker_processes_reach_the_progress_total(sync_env):
    from ratdcs_catalog.sync import ProgressEvent

    sync_env.configure(**{"download.processes": 2})
    u = sync_env.sandbox.universe
    products = [u.ztf_product(r) for r in u.ztf_rows([600], 0, 3e6, ["zg"], [1], [1])[:3]]
    sync_env.plan(products, source="ztf", kind="ztf_sciimg", sizes=False)  # IRSA announces no size
    events = []
    summary = sync_env.sync(progress=events.append)
    assert summary.files_done == 3
    last = [e for e in events if isinstance(e, ProgressEvent)][-1]
    assert last.total_bytes == last.bytes_received == sum(p.size for p in products)


def test_the_writer_counts_rows_the_dispatcher_holds_as_claimed_ahead(sync_env):
    # The dispatcher empties the writer's queue into batches at once: unless the writer counts those
    # rows as waiting, its queue looks starved and it claims every row, leaving none for another sync.
    products = sync_env.kepler_products(60)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=100_000))
    proc = start_sync(sync_env, "--workers", "2", "--processes", "2")
    try:
        assert wait_for(lambda: any((sync_env.data_dir / "temp").rglob("*.part")), timeout=20)
        time.sleep(1.0)
        leased = sum(r["state"] == "downloading" for r in sync_env.rows().values())
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sync and its worker processes: nothing keeps asking the sandbox
        proc.wait()
    assert 0 < leased <= 24, leased  # 16 claimed at first, a few more as they finish; never all 60


def test_two_syncs_with_worker_processes_share_the_files_and_fetch_each_once(sync_env):
    # The dispatcher empties the writer's queue into batches at once: the writer must count those
    # rows as waiting, or it would claim everything and leave the second sync nothing.
    products = sync_env.kepler_products(24)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=200_000))
    first, second = (start_sync(sync_env, "--workers", "3", "--processes", "2") for _ in range(2))
    results = [p.communicate(timeout=120) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), [e.decode() for _, e in results]
    sent = collections.Counter(r.query.rsplit("/", 1)[-1] for r in sync_env.file_requests())
    assert sorted(sent) == sorted(p.filename for p in products) and set(sent.values()) == {1}
    assert_every_file_done_and_verified(sync_env, products)
    from ratdcs_catalog.manifest import open_manifest

    with open_manifest(sync_env.db) as m:
        done_per_sync = [r["files_done"] for r in m.query("SELECT files_done FROM syncs ORDER BY sync_id")]
    assert sum(done_per_sync) == 24 and min(done_per_sync) > 0, done_per_sync


@pytest.mark.skipif(not LINUX, reason="finds the worker processes in /proc")
def test_a_worker_killed_while_its_threads_wait_out_a_back_off_does_not_hang_the_sync(sync_env):
    """A worker's threads wait between retries. Waiting on a multiprocessing Event, a thread killed
    with its process left the parent's stop (Event.set) waiting for ever for it to wake."""
    products = sync_env.kepler_products(8)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("500", pattern=r"_llc\.fits"))
    proc = start_sync(sync_env, "--processes", "2", RATDCS_DOWNLOAD__MAX_RETRIES="3",
                      RATDCS_DOWNLOAD__BACKOFF_BASE_SECONDS="5", RATDCS_DOWNLOAD__BACKOFF_MAX_SECONDS="10")
    workers = wait_for(lambda: len(children_of(proc.pid)) >= 2 and children_of(proc.pid), timeout=20)
    assert workers
    # Every transfer got its 500 and waits out its first back-off (5 s with jitter).
    assert wait_for(lambda: len(sync_env.file_requests()) >= 4, timeout=20)
    time.sleep(0.3)
    assert proc.poll() is None, proc.communicate()
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err.decode()
    assert "worker process" in err.decode()
    rows = sync_env.rows()
    assert {r["state"] for r in rows.values()} == {"pending"}
    assert all(r["lease_owner"] is None for r in rows.values())
    assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), timeout=5)
