"""`download.processes`: the file pipeline in worker processes of this machine, when Python is the limit.

A sync of many small files is bound by the interpreter, not by the network or the disk: every
file costs a request, a parse of its answer, a FITS verification and a few system calls, all in
Python under one GIL, so more threads only trade the GIL among themselves (bench/README.md: one
process of 4 threads used 1.2 of 2 cores on 5,000 x 4 KB files; two processes of 2 threads, the same
4 connections, finished in 0.7 of the time). So for such runs the transfers go to worker processes.

``Run`` (the writer: claims, leases, outcomes, progress, signals) is unchanged; ``ProcessPool`` is
its executor, in the seam ``sync --cluster`` uses (``make_pool``): a dispatcher thread takes the
claimed rows off ``work``, sends batches to a ``concurrent.futures.ProcessPoolExecutor`` and puts
each batch's ``Finished`` records on ``finished`` as they come back. A worker process runs the
ordinary ``FilePipeline`` on its batch, on its share of the threads (one: its own thread), and the batch's group commit
(``commit.commit_batch``: flush, renames, directory fsyncs), as a Dask worker does
(``cluster_worker``); it never opens the manifest, so the one-writer rule holds.

- Politeness: each process's host gates allow ``per_host_connections / processes`` requests at
  once (and that share of ``requests_per_second``), so the host sees no more than one process
  would send. A Retry-After pause is written to shared memory, one slot per host (by hash), which
  every process reads before its next request to that host.
- Stopping: the processes ignore SIGINT (a terminal sends Ctrl-C to the whole process group); the
  writer's stop reaches them as a byte of shared memory (``SharedStop``) read between files, and
  rows not started come back pending. A worker that dies (killed, out of memory) breaks the pool:
  every row handed over comes back pending (``worker_lost``) and the sync stops. A process whose
  parent is gone (kill -9) exits within half a second, leaving its partial files for the next
  sync; the parent's leases expire as always.
- Start: on Linux the processes are forked when the pool is made, before any other thread of the
  sync exists (no lock held by another thread is copied into them), so they start in milliseconds
  with every module already imported; elsewhere, or when the caller already runs other threads,
  they are spawned (a fresh interpreter each, a few tenths of a second).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import os
import queue
import signal
import sys
import threading
import time
import types
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..net.gates import HostGate, HostGates
from ..records import ClaimedFile
from .commit import commit_batch
from .handover import WORKER_LOST, drop_if_lost, given_back, hand_over
from .pipeline import FilePipeline, Finished
from .run import start_import_ahead
from .space import SpaceWatch, running_margin

if TYPE_CHECKING:  # pragma: no cover
    from .run import Run

# concurrent.futures and multiprocessing are imported where a pool is made: a sync in threads (the
# default, and every light-curve sync) does not pay for them at start-up (issue 15).

__all__ = ["AUTO_MIN_FILES", "ProcessPool", "choose_processes", "process_pool"]

log = logging.getLogger("ratdcs.sync")

# auto: processes only for runs bound by Python's per-file cost: many files, each small.
AUTO_MIN_FILES = 1000
AUTO_MAX_MEAN_BYTES = 1 << 20
AUTO_MAX_PROCESSES = 4  # auto: at most this many, each with its share of the transfers
# Files per task: enough to spread the cost of a hand-over and of a group commit (each batch is one
# durability pass), few enough to spread the work. 32 rather than 16: 5,000 x 5.7 KB in 5.66 s
# against 5.96 s (4 alternating rounds; 8 took 6.37 s, 64 no less than 32; bench/README.md, eighth
# stop). BATCH_BYTES keeps a batch of larger files (--processes asked for) from holding its first
# file back from its commit for long.
BATCH_FILES = 32
BATCH_BYTES = 64 << 20
PAUSE_SLOTS = 256
WATCH_SECONDS = 0.05  # how often a worker process looks at the shared stop and at its parent


def choose_processes(setting: Any, workers: int, connection_limits: Sequence[int], files: int, known_bytes: int,
                     known_files: int) -> int:
    """How many worker processes this run gets: 1 means threads in this process (the default path).

    ``auto``: one per transfer (at most AUTO_MAX_PROCESSES) on a machine of two cores or more, when
    the selection has AUTO_MIN_FILES files or more, their known sizes average under 1 MiB, and the
    processes can be forked (Linux, called from a single thread: a spawned process imports the
    caller's script again, which a script without a ``__main__`` guard does not survive); a number
    is taken as asked. Never more than the workers (each process has at least one) or than any of
    ``connection_limits`` (per host, the cloud copy's: each process has its share).

    One per transfer rather than one per core: a process with one transfer runs its files on its
    own thread, and no thread of it waits for the GIL another holds. Two processes of two threads
    on two cores spent their time handing the GIL over (33 futex calls a file, strace -c) and
    finished 5,000 x 5.7 KB files in 5.81 s; four of one thread each in 5.44 s (bench/README.md,
    eighth stop).
    """
    if setting == "auto":
        mean = known_bytes / known_files if known_files else 0
        if files < AUTO_MIN_FILES or mean >= AUTO_MAX_MEAN_BYTES or not can_fork() or (os.cpu_count() or 1) < 2:
            return 1
        wanted = min(workers, AUTO_MAX_PROCESSES)
    else:
        wanted = int(setting)
    return max(1, min(wanted, workers, *connection_limits))


def can_fork() -> bool:
    """Forking is safe here: Linux, and no other thread whose locks a child could inherit held."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def process_pool(processes: int, *, force: bool):
    """``Run``'s ``make_pool`` for ``processes`` worker processes."""
    return lambda run: ProcessPool(run, processes, force=force)


class ProcessPool:
    """The executor ``Run`` feeds with worker processes: same ``work``/``finished`` queues as ``WorkerPool``."""

    verifies_here = False  # the workers verify: numpy is imported here only for them to inherit (fork)

    def __init__(self, run: "Run", processes: int, *, force: bool = False):
        import concurrent.futures
        import multiprocessing

        self.run, self.processes = run, processes
        self.threads_each = max(1, math.ceil(run.workers / processes))
        self.work: queue.Queue = queue.Queue()
        self.finished: queue.Queue = queue.Queue()
        self.buffer: collections.deque = collections.deque()
        self.batches: dict = {}  # concurrent.futures.Future -> the rows of its batch
        self.stopping = False
        self.count_bytes = self.learn_size = None
        # Fork only on Linux and only from a single thread (the CLI, here): forked beside other threads
        # (a notebook's, a test's server) a process could inherit a lock one of them held.
        context = multiprocessing.get_context("fork" if can_fork() else "spawn")
        if context.get_start_method() == "fork":
            _import_for_workers()
        self.stop_flag = context.RawValue("b", 0)  # SharedStop: no lock a killed worker could hold
        self.pauses = context.Array("d", PAUSE_SLOTS)
        self.executor = concurrent.futures.ProcessPoolExecutor(
            processes, mp_context=context, initializer=_start_worker,
            initargs=(dict(run.config), str(run.data_dir), force, processes, self.threads_each, self.stop_flag,
                      self.pauses, os.getpid()))
        # Made now, from Run's constructor: the processes are forked while this is the only thread.
        self.executor.submit(_ready).result()
        self.threads = [threading.Thread(target=self._dispatch, name="ratdcs-processes", daemon=True)]

    def start(self) -> None:
        # Bytes arrive per batch, counted on this thread; so do the sizes of files planned without one.
        self.count_bytes, self.learn_size = self.run.progress.counter(0), self.run.progress.sizer(0)
        self.threads[0].start()

    def close(self) -> None:
        """The worker processes, ended: for a run that fails before its dispatcher starts."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    def queued(self) -> int:
        """Rows claimed and not yet started: on ``work``, in the buffer, or in a batch behind the rows
        running. The writer claims more only when this runs low, so a second sync started on the
        same manifest finds rows left (a dispatcher that emptied ``work`` at once would look starved)."""
        in_batches = sum(len(items) for items in list(self.batches.values()))
        return self.work.qsize() + len(self.buffer) + max(0, in_batches - self.processes * self.threads_each)

    def ask_to_stop(self) -> None:
        """Rows not yet sent come back pending; batches out stop between files."""
        self.stopping = True
        self.stop_flag.value = 1

    # ---- the dispatcher thread -------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            while True:
                try:
                    self._take_work()
                    if self.run.stop.is_set() or self.stopping:
                        self.stop_flag.value = 1
                        self._give_back(self.buffer)
                    else:
                        self._submit_ready()
                    self._collect()
                except Exception as exc:  # the pool broke (a worker process was killed): every row goes back
                    self._fail(exc)
                if self.stopping and not self.batches and not self.buffer and self.work.empty():
                    return
        finally:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def _fail(self, exc: Exception) -> None:
        """The writer waits for every row it handed over: each one comes back, as pending."""
        if not self.run.stop.is_set():
            log.error("stopping the sync: the worker processes failed (%s: %s)", type(exc).__name__, exc)
            self.run.summary.stopped_by = self.run.summary.stopped_by or "error"
            self.run.stop.set()
        self.stop_flag.value = 1
        for items in self.batches.values():
            self._give_back(collections.deque(items))
        self.batches.clear()
        self._give_back(self.buffer)

    def _take_work(self) -> None:
        room = self.processes * BATCH_FILES * 2 - len(self.buffer)
        with contextlib.suppress(queue.Empty):
            while room > 0:
                item = self.work.get(timeout=0.02) if not self.buffer and not self.batches else self.work.get_nowait()
                if item is not None:
                    self.buffer.append(item)
                    room -= 1

    def _submit_ready(self) -> None:
        # Two batches per process: the next one waits in its queue while one runs. What waits is split
        # over the free places (small batches at the start, so every process gets work at once; then
        # whole ones, since each batch costs a hand-over and a durability pass of its own).
        while self.buffer and (free := self.processes * 2 - len(self.batches)) > 0:
            size = min(BATCH_FILES, max(1, math.ceil(len(self.buffer) / free)))
            items = self._next_batch(size)
            items = [item for item in items if not drop_if_lost(item, self.finished)]
            if items:
                try:
                    future = self.executor.submit(run_batch, [row for row, _ in items])
                except BaseException:  # a broken pool: _fail gives them back with the buffer
                    self.buffer.extendleft(reversed(items))
                    raise
                self.batches[future] = items

    def _next_batch(self, size: int) -> list:
        """Up to ``size`` waiting rows, and no more than BATCH_BYTES of known sizes (at least one row)."""
        items = [self.buffer.popleft()]
        planned = items[0][0].expected_size_bytes or 0
        while self.buffer and len(items) < size:
            planned += self.buffer[0][0].expected_size_bytes or 0
            if planned > BATCH_BYTES:
                break
            items.append(self.buffer.popleft())
        return items

    def _collect(self) -> None:
        if not self.batches:
            return
        import concurrent.futures  # imported by __init__: a lookup

        done, _ = concurrent.futures.wait(self.batches, timeout=0.02, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            items = self.batches.pop(future)
            hand_over(items, self._results(future, items), self.finished, self.count_bytes, self.learn_size)

    def _results(self, future, items: list) -> list[Finished]:
        try:
            return future.result()
        except Exception as exc:  # a worker process died (killed, out of memory): its rows go back
            why = (f"the worker process running this file's batch was lost ({type(exc).__name__}: {exc}); row back "
                   "to pending, any partial file kept - run `ratdcs sync` again")
            if not self.run.stop.is_set():
                log.error("stopping the sync: %s", why)
                self.run.summary.stopped_by = self.run.summary.stopped_by or "error"
                self.run.stop.set()
            return [given_back(row, error_kind=WORKER_LOST, error=why) for row, _ in items]

    def _give_back(self, items) -> None:
        while items:
            row, _ = items.popleft()
            self.finished.put(given_back(row))


# ---- in the worker process ------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _start_worker(config: dict, data_dir: str, force: bool, processes: int, threads: int, stop_flag, pauses,
                  parent_pid: int) -> None:
    """Once per worker process: signals left to the parent, the pipeline and its gates, a thread pool."""
    # Ctrl-C reaches the whole process group: the parent stops the run cleanly and tells the workers.
    # SIGTERM keeps its default: a pool that breaks terminates its remaining workers with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = SharedStop(stop_flag)
    threading.Thread(target=_watch, args=(parent_pid, stop), name="ratdcs-watch", daemon=True).start()
    root = Path(data_dir)
    space = SpaceWatch(root, running_margin(config["download.free_space_margin_bytes"], force=force))
    pipeline = FilePipeline(config, root, stop, None, space)
    rate = config["download.requests_per_second"]
    pipeline.gates = SharedPauseGates(pauses, max(1, config["download.per_host_connections"] // processes),
                                      rate / processes if rate else None,
                                      domains={prefix: max(1, limit // processes)
                                               for prefix, limit in pipeline.routes.gate_domains().items()})
    if threads == 1:  # the files run on this process's own thread (run_batch): no GIL handed over
        _worker.update(pipeline=pipeline, threads=None, fetchers=types.SimpleNamespace(fetcher=None))
    else:
        from concurrent.futures import ThreadPoolExecutor

        _worker.update(pipeline=pipeline, threads=ThreadPoolExecutor(threads, thread_name_prefix="ratdcs-sync"),
                       fetchers=threading.local())
    if "numpy" not in sys.modules:  # spawned: nothing came with the process
        start_import_ahead(stop)


def _import_for_workers() -> None:
    """numpy (the FITS sums), imported here once before the workers are forked, so each one has it
    without importing it itself: four imports of ~0.13 s of CPU each were 5% of a small-file sync's
    CPU on two cores (5,000 x 5.7 KB: 7.80 s of user CPU against 8.29 s, 5 alternating rounds;
    bench/README.md, eighth stop). It starts no Python thread (``can_fork`` still holds); the
    ``ratdcs`` command sets OPENBLAS_NUM_THREADS=1, and where a caller allows OpenBLAS its own
    threads, OpenBLAS stops them around a fork itself (its ``pthread_atfork`` handlers)."""
    with contextlib.suppress(ImportError):
        import numpy  # noqa: F401


def _ready() -> bool:
    return True


def run_batch(rows: Sequence[ClaimedFile]) -> list[Finished]:
    """Run ``rows`` through the file pipeline on this process's threads (or its own), then commit them.

    Returns one ``Finished`` per row, in order; rows not started because the sync is stopping come
    back pending. Nothing here writes the manifest. As on a Dask worker, a lease lost while the batch
    runs is not seen here: the file is still verified and durable before it is placed, the .part's
    lock keeps any other sync from writing it meanwhile, and the writer's ``record_outcomes`` leaves
    a row it no longer owns alone.
    """
    pipeline: FilePipeline = _worker["pipeline"]
    threads = _worker["threads"]
    results = [_run_one(row) for row in rows] if threads is None else list(threads.map(_run_one, rows))
    if any(f.stop_run for f in results):  # a full disk: what this process has queued goes back too
        pipeline.stop.set()
    # The group commit of this batch (commit.py): one durability pass, the renames, one fsync per
    # directory; a done outcome goes back only for a placed file.
    return commit_batch(results, on_error=pipeline.local_error)


def _run_one(row: ClaimedFile) -> Finished:
    pipeline: FilePipeline = _worker["pipeline"]
    if pipeline.stop.is_set():
        return given_back(row)
    fetchers = _worker["fetchers"]
    if getattr(fetchers, "fetcher", None) is None:  # one per thread (or for the process): its kept-alive connections
        fetchers.fetcher = pipeline.make_fetcher(lambda n: None)  # bytes are counted per batch by the parent
    return pipeline.run(row, fetchers.fetcher)


class SharedStop:
    """The run's stop as a worker process sees it: one byte of shared memory, set by the parent (or
    by a worker that finds the disk full), mirrored into a ``threading.Event`` that this process's
    threads wait on (between retries, for a busy file).

    Not a ``multiprocessing.Event``: its ``set()`` waits for every thread asleep in its ``wait()``
    to wake, and a thread killed with its process never does; a worker killed during a back-off
    hung the sync. A byte needs no lock, so a dead process cannot hold one either.
    """

    def __init__(self, flag):
        self.flag, self.local = flag, threading.Event()

    def is_set(self) -> bool:
        if self.flag.value and not self.local.is_set():
            self.local.set()
        return self.local.is_set()

    def set(self) -> None:
        self.flag.value = 1
        self.local.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Set, or ``timeout`` passed; the parent's stop wakes it within WATCH_SECONDS (``_watch``)."""
        return self.local.wait(timeout)


def _watch(parent_pid: int, stop: SharedStop) -> None:
    """Carry the parent's stop to this process's waiting threads; exit once the parent is gone."""
    while os.getppid() == parent_pid:
        stop.is_set()
        time.sleep(WATCH_SECONDS)
    os._exit(1)


class SharedPauseGate(HostGate):
    """A ``HostGate`` whose Retry-After pause is shared with the other worker processes (shared memory)."""

    def __init__(self, pauses, slot: int, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pauses, self._slot = pauses, slot

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        with self._pauses.get_lock():
            self._pauses[self._slot] = max(self._pauses[self._slot], time.time() + seconds)

    def _wait_for_pause(self, stop) -> bool:
        remaining = self._pauses[self._slot] - time.time()
        if remaining > 0:
            super().pause(remaining)
        return super()._wait_for_pause(stop)


class SharedPauseGates(HostGates):
    """One ``SharedPauseGate`` per politeness domain, its slot chosen by a hash of the domain."""

    def __init__(self, pauses, max_concurrent: int, requests_per_second: float | None, **kwargs):
        super().__init__(max_concurrent, requests_per_second, **kwargs)
        self._pauses, self._rate = pauses, requests_per_second

    def _make_gate(self, key: str, limit: int) -> HostGate:
        slot = zlib.crc32(key.encode()) % len(self._pauses)
        return SharedPauseGate(self._pauses, slot, limit, self._rate)
