"""download.processes: the file pipeline in worker processes, the manifest written by this one (sync/processes.py)."""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.sync.processes import choose_processes
from ratdcs_catalog.verify import verify_file

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


def start_sync(env, *extra):
    return subprocess.Popen([sys.executable, "-m", "ratdcs_catalog", "--config", str(env.config_path), "-q",
                             "sync", *extra], env=dict(os.environ, RATDCS_DOWNLOAD__LEASE_SECONDS="1.5"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


@pytest.mark.parametrize("setting,files,mean,expected", [
    ("auto", 5000, 5_760, min(os.cpu_count() or 1, 4)),  # many small files: one per core
    ("auto", 999, 5_760, 1),  # too few to pay for it
    ("auto", 5000, 2 << 20, 1),  # large files: the network and hashing (outside the GIL) are the limit
    (3, 10, 10**9, 3),  # a number is taken as asked
    (8, 10, 1, 4),  # ... but never more than the workers (4 here)
])
def test_how_many_processes_a_run_gets(setting, files, mean, expected):
    assert choose_processes(setting, 4, 4, files, files * mean, files) == expected


def test_never_more_processes_than_connections_per_host():
    # Each process gets its share of download.per_host_connections: 2 connections cannot serve 4 processes.
    assert choose_processes(4, 8, 2, 10, 10, 10) == 2


def test_worker_processes_fetch_verify_and_place_every_file(sync_env, caplog):
    sync_env.configure(**{"download.processes": 2})
    products = sync_env.kepler_products(24)
    sync_env.plan(products)
    with caplog.at_level(logging.INFO, logger="ratdcs.sync"):
        summary = sync_env.sync()
    assert "sync: 2 worker processes, 4 transfers in all" in caplog.text
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
    products = sync_env.kepler_products(24)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=150_000))
    proc = start_sync(sync_env, "--processes", "2")
    workers = wait_for(lambda: len(children_of(proc.pid)) >= 2 and children_of(proc.pid), timeout=20)
    assert workers, proc.communicate(timeout=5)
    wait_for(lambda: any((sync_env.data_dir / "temp").rglob("*.part")), timeout=20)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # Orphaned, each worker process notices within half a second and exits: none keeps writing.
    assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), timeout=5), workers
    sync_env.sandbox.clear_faults()
    final = sync_env.sync()  # takes back the dead sync's rows at once (its process is gone)
    assert final.exit_code == 0
    assert_every_file_done_and_verified(sync_env, products)
    assert {r["attempts"] for r in sync_env.rows().values()} == {1}


@pytest.mark.skipif(not LINUX, reason="finds the worker processes in /proc")
def test_ctrl_c_to_the_terminal_stops_the_sync_and_its_worker_processes_cleanly(sync_env):
    products = sync_env.kepler_products(12)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=100_000))
    proc = start_sync(sync_env, "--processes", "2")
    workers = wait_for(lambda: len(children_of(proc.pid)) >= 2 and children_of(proc.pid), timeout=20)
    assert workers
    wait_for(lambda: any((sync_env.data_dir / "temp").rglob("*.part")), timeout=20)
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
def test_a_killed_worker_process_stops_the_sync_and_its_rows_go_back(sync_env):
    products = sync_env.kepler_products(24)
    sync_env.plan(products)
    sync_env.sandbox.add_fault(Fault("slow", pattern=r"_llc\.fits", bytes_per_second=150_000))
    proc = start_sync(sync_env, "--processes", "2")
    workers = wait_for(lambda: len(children_of(proc.pid)) >= 2 and children_of(proc.pid), timeout=20)
    assert workers
    wait_for(lambda: any((sync_env.data_dir / "temp").rglob("*.part")), timeout=20)
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
