"""`ratdcs sync --cluster ADDRESS`: the same run, with Dask distributed workers doing the transfers.

The coordinator is the sync process beside the manifest. It is ``run.Run`` unchanged (claims
under leases, renewals, batched outcome writes, progress, signals, the summary); only the pool
it feeds differs: ``ClusterPool`` takes the claimed rows off the same queue, groups them by
archive host, sends batches to the workers as Dask tasks (``client.submit`` of
``cluster_worker.run_batch``) and puts the ``Finished`` records on the same queue the writer
drains, as they complete (``as_completed``). Workers never open SQLite.

- Politeness across the cluster: at most ``download.per_host_connections`` batches of one host
  are out at once, and a batch runs its files one after the other, so no more requests than that
  reach a host, whatever the number of workers. A Retry-After a worker saw is published in a Dask
  ``Variable`` per host: the coordinator sends nothing more to that host until it passes, and
  every worker waits for it before its next request there.
- A worker that dies mid-batch: Dask runs the batch again on another worker (the .part is
  resumed, a file already placed is adopted), or, once the scheduler gives up on it
  (``KilledWorker``), its rows go back to pending (``worker_lost``) for the next sync.
- A coordinator that dies: its leases expire, and the next sync takes the rows over, as always.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import queue
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlsplit

from ..errors import ClusterError, UsageError
from .cluster_worker import pause_variable_name, run_batch, stop_event_name, write_probe
from .handover import WORKER_LOST, drop_if_lost, given_back, hand_over
from .pipeline import Finished

if TYPE_CHECKING:  # pragma: no cover
    from .run import Run

__all__ = ["ClusterPool", "check_shared_data_dir", "cluster_pool", "connect", "parse_address", "require_dask"]

log = logging.getLogger("ratdcs.sync")

BATCH_FILES = 8  # files per Dask task: few enough to spread work and lose little to a dead worker
PAUSE_READ_SECONDS = 0.5
INSTALL_HINT = "install the extra: pip install 'ratdcs[dask]' (dask and distributed)"


def parse_address(address: str) -> tuple[str, int | None]:
    """``("local", N)`` for ``local:N``, ``(address, None)`` for a scheduler address; else UsageError."""
    if address.startswith("local:"):
        n = address.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise UsageError(f"--cluster {address}: expected local:N with N worker processes (e.g. local:2)")
        return "local", int(n)
    if "://" in address and urlsplit(address).port:
        return address, None
    raise UsageError(f"--cluster {address}: expected a Dask scheduler address (tcp://host:8786) or local:N",
                     hint="start a scheduler with `dask scheduler` (docs/scale.md), or try local:2 on this machine")


def require_dask() -> None:
    """Raise ``ClusterError`` naming the extra to install when Dask distributed is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ClusterError(f"`sync --cluster` needs Dask distributed, which is not installed ({exc})",
                           hint=INSTALL_HINT) from None


@contextlib.contextmanager
def connect(address: str, *, threads: int) -> Iterator:
    """A Dask ``Client``: on a ``LocalCluster`` of N processes bound to 127.0.0.1 (``local:N``,
    ``threads`` split over them), or on the scheduler at ``address``."""
    require_dask()
    from distributed import Client, LocalCluster

    kind, n = parse_address(address)
    if kind == "local":
        with LocalCluster(n_workers=n, processes=True, threads_per_worker=max(1, math.ceil(threads / n)),
                          host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}",
                           hint="start it (`dask scheduler`) and its workers (`dask worker ADDRESS`), "
                                "or check the address (docs/scale.md)") from None
    with client:
        yield client


def check_shared_data_dir(client, data_dir: Path) -> int:
    """Every worker writes a probe under ``data_dir/temp``; this process must read each one back.

    Returns the number of workers. Raises ``ClusterError`` when there are none, or when some
    cannot write there or write somewhere this machine does not see (their own local disk).
    """
    token = secrets.token_hex(4)
    answers = client.run(write_probe, str(data_dir), token)
    if not answers:
        raise ClusterError(f"the Dask cluster at {client.scheduler.address} has no workers",
                           hint="start workers (`dask worker ADDRESS`) and run `ratdcs sync --cluster` again")
    problems = [problem for worker, answer in sorted(answers.items())
                if (problem := _probe_problem(worker, answer, data_dir)) is not None]
    if problems:
        raise ClusterError(
            f"the Dask workers do not see the data directory {data_dir} that this sync writes the manifest "
            f"beside: {'; '.join(problems)}",
            hint="put the data directory on storage every worker mounts at the same path (a parallel or network "
                 "file system), keep the manifest on this machine's local disk, and run again (docs/scale.md)")
    return len(answers)


def _probe_problem(worker: str, answer: dict, data_dir: Path) -> str | None:
    if answer["error"]:
        return f"worker {worker} on {answer['host']} cannot write {data_dir}/temp ({answer['error']})"
    path = data_dir / "temp" / answer["name"]
    try:
        seen = path.read_text()
    except OSError:
        seen = None
    with contextlib.suppress(OSError):
        path.unlink()
    if seen != answer["text"]:
        return (f"worker {worker} on {answer['host']} wrote its probe file {path}, which this machine cannot "
                "find there (a directory of the worker's own, not shared storage)")
    return None


class ClusterPool:
    """The executor ``Run`` feeds in cluster mode: same ``work``/``finished`` queues as ``WorkerPool``.

    One dispatcher thread (``threads``) moves rows from ``work`` into per-host buffers, submits
    batches while the host has room and is not paused, and puts each batch's results on
    ``finished`` as it completes. ``Run`` joins the thread at shut-down.
    """

    verifies_here = False  # the workers verify: no numpy import in this process

    def __init__(self, client, run: "Run", *, force: bool = False, batch_files: int = BATCH_FILES):
        from distributed import as_completed

        self.client, self.run, self.force, self.batch_files = client, run, force, batch_files
        self.config, self.data_dir, self.owner = dict(run.config), str(run.data_dir), run.owner
        self.per_host = run.config["download.per_host_connections"]
        self.work: queue.Queue = queue.Queue()
        self.finished: queue.Queue = queue.Queue()
        self.buffers: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.outstanding: collections.Counter = collections.Counter()  # batches in flight per host
        self.batches: dict = {}  # future -> (host, [(row, lost), ...])
        self.completed = as_completed(loop=client.loop)
        self.paused_until: dict[str, tuple[float, float]] = {}  # host -> (wall-clock end, read at)
        self.count_bytes = self.learn_size = None  # the progress slots exist once the run has started
        self.stopping = False
        self.threads = [threading.Thread(target=self._dispatch, name="ratdcs-cluster", daemon=True)]

    def start(self) -> None:
        # Bytes arrive per batch, counted on this thread; so do the sizes of files planned without one.
        self.count_bytes, self.learn_size = self.run.progress.counter(0), self.run.progress.sizer(0)
        self.threads[0].start()

    def queued(self) -> int:
        """Rows claimed and not yet sent to a worker: on ``work`` or in the per-host buffers (``Run``
        claims more only when this runs low; the dispatcher empties ``work`` at once)."""
        return self.work.qsize() + sum(len(buffer) for buffer in list(self.buffers.values()))

    def ask_to_stop(self) -> None:
        """Batches not yet sent come back pending; those out stop between files (a Dask Event)."""
        self.stopping = True

    # ---- the dispatcher thread -------------------------------------------------------------

    def _dispatch(self) -> None:
        signalled = False
        while True:
            try:
                self._take_work()
                if self.run.stop.is_set() or self.stopping:
                    self._give_back_buffered()
                    if not signalled:
                        signalled = self._signal_stop()
                else:
                    self._submit_ready()
                self._collect()
            except Exception as exc:  # the scheduler went away, ...: stop, and every row goes back
                self._fail(exc)
            if self.stopping and not self.batches and self.work.empty() and not any(self.buffers.values()):
                self._forget_shared_state()
                return

    def _fail(self, exc: Exception) -> None:
        """The writer waits for every row it handed over: each one comes back, as pending."""
        log.error("stopping the sync: the Dask cluster failed (%s: %s)", type(exc).__name__, exc)
        self.run.summary.stopped_by = self.run.summary.stopped_by or "error"
        self.run.stop.set()
        for _host, items in self.batches.values():
            for row, _ in items:
                self.finished.put(given_back(row))
        self.batches.clear()
        self.completed.clear()
        self._give_back_buffered()

    def _take_work(self) -> None:
        room = self.per_host * self.batch_files * 2 - sum(map(len, self.buffers.values()))
        with contextlib.suppress(queue.Empty):
            while room > 0:
                item = self.work.get_nowait()
                if item is None:
                    continue
                self.buffers[(urlsplit(item[0].url).hostname or "").lower()].append(item)
                room -= 1

    def _submit_ready(self) -> None:
        for host, buffer in self.buffers.items():
            while buffer and self.outstanding[host] < self.per_host and not self._paused(host):
                # Split what waits evenly over the free connections, at most batch_files a batch.
                size = min(self.batch_files, max(1, math.ceil(len(buffer) / self.per_host)))
                items = [buffer.popleft() for _ in range(min(size, len(buffer)))]
                items = [item for item in items if not drop_if_lost(item, self.finished)]
                if items:
                    self._submit(host, items)

    def _submit(self, host: str, items: list) -> None:
        if host not in self.paused_until:  # the Variable must exist before a worker reads it
            self._variable(host).set(0.0)
            self.paused_until[host] = (0.0, time.monotonic())
        rows = [row for row, _ in items]
        future = self.client.submit(run_batch, self.config, self.data_dir, self.owner, rows, force=self.force,
                                    pure=False, key=f"ratdcs-batch-{rows[0].file_id}-{secrets.token_hex(4)}")
        self.batches[future] = (host, items)
        self.outstanding[host] += 1
        self.completed.add(future)

    def _paused(self, host: str) -> bool:
        """Whether a worker's Retry-After still holds ``host`` (read from the scheduler twice a second)."""
        until, read_at = self.paused_until.get(host, (0.0, -PAUSE_READ_SECONDS))
        if host in self.paused_until and time.monotonic() - read_at >= PAUSE_READ_SECONDS:
            with contextlib.suppress(Exception):
                until = float(self._variable(host).get(timeout=1))
            self.paused_until[host] = (until, time.monotonic())
        return until > time.time()

    def _variable(self, host: str):
        from distributed import Variable

        return Variable(pause_variable_name(self.owner, host), client=self.client)

    def _collect(self) -> None:
        if not self.completed.has_ready():
            time.sleep(0.02)
            return
        for future in self.completed.next_batch(block=False):
            host, items = self.batches.pop(future)
            self.outstanding[host] -= 1
            hand_over(items, self._results(future, items), self.finished, self.count_bytes, self.learn_size)
            future.release()

    def _results(self, future, items: list) -> list[Finished]:
        try:
            return future.result()
        except Exception as exc:  # KilledWorker, a lost connection: the rows go to the next sync
            why = (f"the Dask worker running this file's batch was lost ({type(exc).__name__}: {exc}); row back to "
                   "pending, any partial file kept - run `ratdcs sync` again")
            log.warning("%s", why)
            return [given_back(row, error_kind=WORKER_LOST, error=why) for row, _ in items]

    def _give_back_buffered(self) -> None:
        for buffer in self.buffers.values():
            while buffer:
                row, _ = buffer.popleft()
                self.finished.put(given_back(row))

    def _signal_stop(self) -> bool:
        from distributed import Event

        with contextlib.suppress(Exception):
            Event(stop_event_name(self.owner), client=self.client).set()
        return True

    def _forget_shared_state(self) -> None:
        """This sync's Variables and Event would otherwise stay on a long-lived scheduler."""
        from distributed import Event

        with contextlib.suppress(Exception):
            for host in self.paused_until:
                self._variable(host).delete()
            Event(stop_event_name(self.owner), client=self.client).clear()


def cluster_pool(client, *, force: bool):
    """``Run``'s ``make_pool`` for this client."""
    return lambda run: ClusterPool(client, run, force=force)
