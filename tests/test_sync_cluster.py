"""`ratdcs sync --cluster`: Dask workers (LocalCluster, separate processes) against the sandbox, with faults.

One LocalCluster of 2 worker processes serves the module (started once: a few seconds); the
test of `--cluster local:2` itself starts its own through the command line.
"""

import os
import re
import signal
import threading
import time

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.errors import ClusterError, UsageError
from ratdcs_catalog.filesystems import filesystem_of, network_filesystem_warning
from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.sync.cluster import parse_address

distributed = pytest.importorskip("distributed")

PER_HOST = 2  # below the 4 worker threads of the module's cluster, so the cap is what holds them back
N_FILES = 24


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local, distributed.Client(local) as client:
        yield local, client


def download_log(env):
    return [r for r in env.file_requests() if r.started_at]


# The server notes a request's end once it gets the GIL back after its last byte went out; under
# load the client (threads of this process too: the coordinator, the in-process scheduler) may by
# then have read that byte and sent its next request. Every body is slowed to a quarter of a
# second or so (SLOW_BYTES_PER_SECOND), so a real third request would overlap the others by far
# more than this slack; an overlap shorter than it is that skew, not a third request.
END_SLACK_SECONDS = 0.08
SLOW_BYTES_PER_SECOND = 150_000


def max_in_flight(records):
    """The most requests the server was answering at one moment (from their start and end times)."""
    events = sorted([(r.started_at, 1) for r in records]
                    + [(max(r.started_at, r.ended_at - END_SLACK_SECONDS), -1) for r in records])
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def add_faults(sandbox, products):
    """A 503 with Retry-After, a connection reset mid-body (resumed), a 500 once, a 502 for good;
    every other answer slow (a quarter of a second a file), so requests overlap measurably."""
    a, b, c, d = (p.filename for p in products[2:6])
    sandbox.clear_faults()
    sandbox.add_fault(Fault("503", pattern=re.escape(a), count=1, retry_after=1))
    sandbox.add_fault(Fault("reset", pattern=re.escape(b), count=1, cut_at=0.5))
    sandbox.add_fault(Fault("500", pattern=re.escape(c), count=1))
    sandbox.add_fault(Fault("502", pattern=re.escape(d), count=1000))
    sandbox.add_fault(Fault("slow", pattern="Download", bytes_per_second=SLOW_BYTES_PER_SECOND))  # the others
    return a, d


def planned_env(sandbox, tmp_path, name):
    from conftest import SyncEnv

    (tmp_path / name).mkdir()
    env = SyncEnv(sandbox, tmp_path / name)
    env.configure(**{"download.per_host_connections": PER_HOST})
    env.config_path.write_text(env.config_path.read_text().replace("  workers: 4\n", f"  workers: 4\n"
                                                                    f"  per_host_connections: {PER_HOST}\n"))
    env.plan(env.kepler_products(N_FILES))
    return env


def states_and_bytes(env):
    rows = env.rows()
    states = {rel: (r["state"], r["last_error_kind"], r["observed_sha256"]) for rel, r in rows.items()}
    on_disk = {rel: (env.data_dir / rel).read_bytes() for rel in env.files_on_disk()}
    return states, on_disk


def test_cluster_sync_ends_as_a_threaded_sync_sends_each_file_once_and_stays_polite(sandbox, tmp_path):
    threaded = planned_env(sandbox, tmp_path, "threaded")
    products = [threaded.products[rel] for rel in threaded.rows()]
    paused_file, broken_file = add_faults(sandbox, products)
    summary = threaded.sync(workers=4)
    threaded_log = download_log(threaded)
    assert (summary.files_done, summary.files_failed) == (N_FILES - 1, 1)

    clustered = planned_env(sandbox, tmp_path, "clustered")
    add_faults(sandbox, products)
    sandbox.clear_requests()
    result = CliRunner().invoke(cli, ["--config", str(clustered.config_path), "sync", "--cluster", "local:2",
                                      "--workers", "4"])
    assert result.exit_code == 1, result.output
    assert f"Downloaded {N_FILES - 1}, adopted 0, failed 1 of {N_FILES} files" in result.output
    assert f"  http_5xx: 1, e.g. kepler/{products[5].target_id}/{broken_file}: HTTP 502" in result.output

    # Same rows, same bytes in the same places, as the threaded sync of the same plan.
    assert states_and_bytes(clustered) == states_and_bytes(threaded)
    for rel in clustered.files_on_disk():
        assert (clustered.data_dir / rel).read_bytes() == clustered.body(rel)
    assert not list((clustered.data_dir / "temp").rglob("*.fits*"))  # nothing left half-way

    log = download_log(clustered)
    for rel, row in clustered.rows().items():
        name = clustered.products[rel].filename
        complete = [r for r in log if name in r.query and r.status in (200, 206) and r.fault in (None, "slow")]
        assert len(complete) == (1 if row["state"] == "done" else 0), name  # each file sent once
    assert max_in_flight(log) == PER_HOST  # the cap is reached, never passed
    assert max_in_flight(threaded_log) <= PER_HOST
    # The 503's Retry-After paused the host for every worker: no request started while it held.
    paused = next(r for r in log if paused_file in r.query and r.status == 503)
    started_during = [r for r in log if paused.ended_at + 0.2 < r.started_at < paused.ended_at + 0.9]
    assert started_during == []
    with open_manifest_of(clustered) as m:
        owner = m.query("SELECT owner, workers FROM syncs")[0]
    assert owner["owner"].endswith(":cluster=local:2") and owner["workers"] == 4


def open_manifest_of(env):
    from ratdcs_catalog.manifest import open_manifest

    return open_manifest(env.db)


def holder_of(path):
    """The pid holding a flock on ``path`` (from /proc/locks), or None."""
    inode = os.stat(path).st_ino
    for line in open("/proc/locks").read().splitlines():  # "1: FLOCK ADVISORY WRITE <pid> <dev>:<inode> 0 EOF"
        fields = line.split()
        if "FLOCK" in fields and "->" not in fields:
            i = fields.index("FLOCK")
            if fields[i + 4].endswith(f":{inode}"):
                return int(fields[i + 3])
    return None


def test_a_worker_killed_mid_batch_leaves_no_duplicate_or_unverified_file(cluster, sandbox, tmp_path):
    local, client = cluster
    env = planned_env(sandbox, tmp_path, "killed")
    products = [env.products[rel] for rel in env.rows()]
    victim = products[1]
    sandbox.clear_faults()
    sandbox.add_fault(Fault("stall", pattern=re.escape(victim.filename), count=1, cut_at=0.5, stall_seconds=4))
    local.scheduler.allowed_failures = 0  # the scheduler gives the batch up at once: rows back to pending
    summaries = []
    try:
        runner = threading.Thread(target=lambda: summaries.append(env.sync(cluster=local.scheduler_address)))
        runner.start()
        part = env.data_dir / "temp" / next(rel for rel in env.rows() if victim.filename in rel)
        part = part.with_name(part.name + ".part")
        deadline, pid = time.monotonic() + 30, None
        while pid is None and time.monotonic() < deadline:
            if part.exists() and part.stat().st_size > 0:
                pid = holder_of(part)
            time.sleep(0.02)
        assert pid is not None and pid != os.getpid(), "the stalled file never started on a worker"
        os.kill(pid, signal.SIGKILL)  # the worker process dies mid-body, its flock with it
        runner.join(60)
    finally:
        local.scheduler.allowed_failures = 3
    summary = summaries[0]
    rows = env.rows()
    lost = {rel for rel, r in rows.items() if r["state"] == "pending"}
    assert any(victim.filename in rel for rel in lost)
    assert all(rows[rel]["last_error_kind"] == "worker_lost" for rel in lost)
    assert summary.files_released == len(lost) and summary.files_done == N_FILES - len(lost)
    # No file under a final name that is not the archive's exact bytes; no copy of any file twice.
    on_disk = env.files_on_disk()
    assert len(on_disk) == len(set(on_disk)) and set(on_disk) <= set(rows)
    for rel in on_disk:
        assert (env.data_dir / rel).read_bytes() == env.body(rel)
    assert {rel for rel in on_disk if rows[rel]["state"] != "done"} <= lost  # placed, not yet recorded: adopted next

    again = env.sync(cluster=local.scheduler_address)
    assert again.files_done + again.files_adopted == len(lost) and again.files_failed == 0
    assert {r["state"] for r in env.rows().values()} == {"done"}
    for rel in env.files_on_disk():
        assert (env.data_dir / rel).read_bytes() == env.body(rel)


def test_workers_that_do_not_see_the_data_directory_are_refused(cluster, sandbox, tmp_path):
    local, client = cluster

    def write_elsewhere():  # each worker process writes its probe into a directory of its own
        import importlib
        import tempfile

        worker = importlib.import_module("ratdcs_catalog.sync.cluster_worker")  # ratdcs_catalog.sync is also a function

        original, own = worker.write_probe, tempfile.mkdtemp(prefix="worker-local-")
        worker.write_probe = lambda data_dir, token: original(own, token)
        worker.write_probe.original = original

    def restore():
        import importlib

        worker = importlib.import_module("ratdcs_catalog.sync.cluster_worker")

        worker.write_probe = getattr(worker.write_probe, "original", worker.write_probe)

    env = planned_env(sandbox, tmp_path, "refused")
    client.run(write_elsewhere)
    try:
        with pytest.raises(ClusterError) as refused:
            env.sync(cluster=local.scheduler_address)
    finally:
        client.run(restore)
    message = str(refused.value)
    assert message.startswith(f"the Dask workers do not see the data directory {env.data_dir}")
    assert message.count("which this machine cannot find there") == 2
    assert "shared storage" in message and "docs/scale.md" in refused.value.hint
    assert {r["state"] for r in env.rows().values()} == {"pending"}
    assert env.file_requests() == []
    with open_manifest_of(env) as m:
        assert m.query("SELECT COUNT(*) AS n FROM syncs")[0]["n"] == 0


def test_without_dask_the_cluster_option_names_the_extra(sync_env, monkeypatch):
    import sys

    sync_env.plan(sync_env.kepler_products(1))
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = CliRunner().invoke(cli, ["--config", str(sync_env.config_path), "sync", "--cluster", "local:2"])
    assert result.exit_code == 2
    assert "Error: `sync --cluster` needs Dask distributed, which is not installed" in result.output
    assert "pip install 'ratdcs[dask]'" in result.output
    assert {r["state"] for r in sync_env.rows().values()} == {"pending"}


@pytest.mark.parametrize("address, parsed", [("local:3", ("local", 3)),
                                             ("tcp://10.0.0.5:8786", ("tcp://10.0.0.5:8786", None))])
def test_cluster_addresses(address, parsed):
    assert parse_address(address) == parsed


@pytest.mark.parametrize("address", ["local:0", "local:", "10.0.0.5", "tcp://host"])
def test_bad_cluster_addresses_are_usage_errors(address):
    with pytest.raises(UsageError, match=re.escape(f"--cluster {address}: expected")):
        parse_address(address)


MOUNTINFO = r"""22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /home rw,relatime shared:9 - nfs4 filer:/export/home rw,vers=4.2
31 22 0:41 / /lustre/scratch rw shared:10 - lustre 10.0.0.1@o2ib:/scratch rw,flock
32 31 8:2 / /lustre/scratch/local\040disk rw shared:11 - xfs /dev/sdb1 rw
33 22 0:42 / /mnt/lab rw shared:12 - cifs //nas/lab rw,vers=3.0
"""


@pytest.mark.parametrize("path, expected", [
    ("/home/me/data/manifest.sqlite", "NFS (nfs4 filer:/export/home mounted at /home)"),
    ("/lustre/scratch/me/manifest.sqlite", "Lustre (lustre 10.0.0.1@o2ib:/scratch mounted at /lustre/scratch)"),
    ("/mnt/lab/manifest.sqlite", "CIFS/SMB (cifs //nas/lab mounted at /mnt/lab)"),
    ("/lustre/scratch/local disk/manifest.sqlite", None),  # a local disk mounted inside Lustre
    ("/homework/manifest.sqlite", None),  # /home is not a prefix of /homework
])
def test_a_manifest_on_a_network_file_system_is_named_with_the_fix(path, expected):
    warning = network_filesystem_warning(path, MOUNTINFO)
    if expected is None:
        assert warning is None
        return
    assert f"is on {expected}, a network file system where SQLite's locking is not safe" in warning
    assert "keep the manifest on a local disk" in warning and "data directory on the shared storage" in warning


def test_the_mount_of_a_path_is_the_longest_matching_mount_point():
    assert filesystem_of("/lustre/scratch/local disk/x", MOUNTINFO)[1] == "xfs"
    assert filesystem_of("/etc/passwd", MOUNTINFO) == ("/", "ext4", "/dev/sda1")


def test_sync_warns_when_the_manifest_is_on_nfs(sync_env, monkeypatch, caplog, tmp_path):
    import ratdcs_catalog.filesystems as filesystems

    sync_env.plan(sync_env.kepler_products(1))
    table = tmp_path / "mountinfo"
    table.write_text("22 1 0:40 / / rw shared:1 - nfs4 filer:/export rw\n")
    monkeypatch.setattr(filesystems, "MOUNTINFO", str(table))
    with caplog.at_level("WARNING", logger="ratdcs.sync"):
        summary = sync_env.sync()
    assert summary.files_done == 1
    assert any("is on NFS (nfs4 filer:/export mounted at /)" in r.getMessage() for r in caplog.records)



def test_sizes_learned_on_dask_workers_reach_the_progress_total(cluster, sync_env):
    from ratdcs_catalog.sync import ProgressEvent

    local, _ = cluster
    u = sync_env.sandbox.universe
    products = [u.ztf_product(r) for r in u.ztf_rows([600], 0, 3e6, ["zg"], [1], [1])[:3]]
    sync_env.plan(products, source="ztf", kind="ztf_sciimg", sizes=False)  # IRSA announces no size
    events = []
    summary = sync_env.sync(cluster=local.scheduler_address, progress=events.append)
    assert summary.files_done == 3
    last = [e for e in events if isinstance(e, ProgressEvent)][-1]
    assert last.total_bytes == last.bytes_received == sum(p.size for p in products)
