"""Threads beyond the transfers (run.thread_pool): the next request goes out while a body is verified,
yet never more transfers, nor connections, than --workers."""

import pytest

from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.sync import run as run_module

from child_python import last_line_printed
from test_sync_cluster import max_in_flight


def test_more_threads_than_transfers_but_never_more_requests_or_connections_than_workers(sync_env, monkeypatch):
    products = sync_env.kepler_products(12)
    sync_env.plan(products)
    sync_env.configure(**{"download.per_host_connections": 8})  # the cap here is --workers, not the host's
    sync_env.sandbox.add_fault(Fault("slow", pattern="Download", bytes_per_second=400_000))
    threads = []
    original = run_module.WorkerPool.__init__

    def counting(self, pipeline, size, *args, **kwargs):
        threads.append(size)
        original(self, pipeline, size, *args, **kwargs)

    monkeypatch.setattr(run_module.WorkerPool, "__init__", counting)
    summary = sync_env.sync(workers=2)
    assert summary.files_done == 12 and threads == [4]  # 2 transfers, 2 threads to verify meanwhile
    log = [r for r in sync_env.file_requests() if r.started_at]
    assert len(log) == 12
    assert max_in_flight(log) == 2  # reached, never passed
    assert len({r.client_port for r in log}) == 2  # the threads share the two kept-alive connections
    for rel in sync_env.files_on_disk():
        assert (sync_env.data_dir / rel).read_bytes() == sync_env.body(rel)


@pytest.mark.parametrize("stopped, imported", [(True, False), (False, True)])
def test_numpy_is_imported_ahead_unless_the_run_stopped_first(stopped, imported):
    """import_ahead waits for the first requests to leave, then imports numpy; a run stopped
    meanwhile imports nothing."""
    code = ("import sys, threading\nfrom ratdcs_catalog.sync.run import import_ahead\n"
            f"stop = threading.Event()\nif {stopped}:\n    stop.set()\n"
            "import_ahead(stop)\nprint('numpy' in sys.modules)\n")
    assert last_line_printed(code) == str(imported)
