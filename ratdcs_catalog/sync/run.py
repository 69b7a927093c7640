"""One sync run, datasette-style: N worker threads fetch and verify files in parallel; the calling
thread is the only one that touches the manifest.

The writer (``Run``) claims rows in batches (leases, safe across processes), hands them to the
workers (``WorkerPool``) over a queue, writes their outcomes back in short batched transactions,
renews the leases of what is in flight, and stops cleanly on a signal, a full disk or a manifest
that refuses a write. Outcomes are data: one bad file never stops the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..logs import batch_log_writes
from ..manifest import Manifest
from ..records import FileOutcome
from .commit import commit_batch
from .handover import WORKER_LOST
from .pipeline import FilePipeline, Finished, given_back_untried
from .progress import ProgressFeed
from .space import SpaceWatch, running_margin

if TYPE_CHECKING:  # pragma: no cover
    from . import SyncSummary, _Selection

__all__ = ["Run"]

log = logging.getLogger("ratdcs.sync")

OUTCOME_BATCH = 256
WRITE_AFTER_SECONDS = 0.25
# Rows claimed per manifest transaction grow from max(4 x workers, 16) while the workers drain
# the queue faster than the writer tops it up (small files), up to this: a claim costs a few ms
# of the writer's time whatever its size, and 16 at a time was 5% of a 5,000-small-file sync.
MAX_CLAIM = 256
IMPORT_AHEAD_AFTER_SECONDS = 0.04  # the workers' first requests are out by then (import_ahead)


class Run:
    """One sync run. Only ``execute`` (the calling thread) uses the manifest."""

    def __init__(self, config, manifest: Manifest, data_dir: Path, selection: "_Selection", summary: "SyncSummary",
                 *, workers: int, owner: str, progress: ProgressFeed, sleep, force: bool = False,
                 make_pool: "Callable[[Run], WorkerPool] | None" = None):
        self.config, self.manifest, self.data_dir = config, manifest, data_dir
        self.selection, self.summary = selection, summary
        self.workers, self.owner = workers, owner
        self.lease_seconds = config["download.lease_seconds"]
        self.stop = threading.Event()
        self.in_flight: set[int] = set()
        self.lease_lost: dict[int, threading.Event] = {}  # set when another sync took the row over
        self.busy_ids: set[int] = set()  # handed back because another process holds the .part
        self.unwritten: list[Finished] = []  # outcomes the manifest refused (full disk)
        self.pending: list[Finished] = []
        self.pending_since: float | None = None
        self.exhausted = False
        self.claimed_files = 0
        self.claimed_bytes = 0
        self.claim_size = max(workers * 4, 16)
        self.last_written = 0  # rows in the last batch of outcomes written: what the workers finish per write
        self.expected_sizes: dict[int, int] = {}  # planned sizes of the rows in flight, for the bar's total
        self.progress, self.sleep = progress, sleep
        self.space = SpaceWatch(data_dir, running_margin(config["download.free_space_margin_bytes"], force=force))
        # Threads by default; ``make_pool`` hands the same queues to another executor (sync/cluster.py).
        self.pool = (make_pool or thread_pool)(self)

    def execute(self) -> None:
        # Before the syncs row exists: a reporter that raises leaves nothing to clean up.
        try:
            self.progress.start(self.summary.selected_bytes, self.summary.selected_files,
                                getattr(self.pool, "size", self.workers),
                                unknown_size_files=self.summary.unknown_size_files)
            self.summary.sync_id = self.manifest.start_sync(self.owner, self.workers,
                                                            _arguments(self.selection, self.workers))
        except BaseException:  # nothing started yet: worker processes made for this run end with it
            getattr(self.pool, "close", lambda: None)()
            raise
        restore = install_signal_handlers(self._stop_on_signal)
        try:
            # numpy (FITS checksums) takes a few hundred ms to import: imported while the first
            # requests wait for their answers, not after the first body (issue 15, WAN profile).
            if getattr(self.pool, "verifies_here", True):  # not when worker processes verify
                start_import_ahead(self.stop)
            self.pool.start()
            self._loop()
        except BaseException:
            self.summary.stopped_by = self.summary.stopped_by or "error"
            raise
        finally:
            self._shut_down()
            restore()

    def _loop(self) -> None:
        next_renewal = time.monotonic() + self.lease_seconds / 3
        while True:
            self._stop_if_low_on_space()
            if not self.stop.is_set():
                self._top_up()
            if not self.in_flight and (self.exhausted or self.stop.is_set()):
                break  # all written, nothing left to claim: no last wait on an empty queue
            self._drain(timeout=0.05)
            if time.monotonic() >= next_renewal:
                self._renew()
                next_renewal = time.monotonic() + self.lease_seconds / 3
            self.progress.refresh(self.summary.files_done + self.summary.files_adopted, self.summary.files_failed)

    def _top_up(self) -> None:
        """Keep rows claimed ahead of the workers: batches keep claims cheap, and small
        batches leave work for another sync started on the same manifest."""
        # Rows waiting for a worker; a pool that moves rows off ``work`` into batches counts those too.
        queued = self.pool.queued() if hasattr(self.pool, "queued") else self.pool.work.qsize()
        # And what the workers finished for the last write: no claim is made while a batch commits
        # (0.15 s for 120 x 500 KB; with 8 rows waiting the workers sat idle 39% of a sync).
        low_water = max(self.workers * 2, self.claim_size // 2, min(self.last_written, MAX_CLAIM))
        if self.exhausted or queued >= low_water:
            return
        if queued == 0 and self.claimed_files:  # the workers ran dry: claim more at a time
            self.claim_size = min(self.claim_size * 2, MAX_CLAIM)
        batch = max(self.claim_size, low_water - queued)
        limit = self.selection.limit
        if limit is not None:
            batch = min(batch, limit - self.claimed_files)
        max_bytes = self.selection.max_bytes
        remaining_bytes = None if max_bytes is None else max_bytes - self.claimed_bytes
        rows = [] if batch <= 0 or (remaining_bytes is not None and remaining_bytes < 0) else \
            self._manifest_write("claim rows", self.manifest.claim_batch, self.owner, batch, self.lease_seconds,
                                 sources=self.selection.sources, target_ids=self.selection.target_ids,
                                 max_bytes=remaining_bytes, exclude_ids=sorted(self.busy_ids))
        if not rows:
            self.exhausted = True
            return
        for row in rows:
            self.in_flight.add(row.file_id)
            self.lease_lost[row.file_id] = lost = threading.Event()
            self.claimed_files += 1
            self.claimed_bytes += row.expected_size_bytes or 0
            if row.expected_size_bytes:
                self.expected_sizes[row.file_id] = row.expected_size_bytes
            self.pool.work.put((row, lost))

    def _drain(self, timeout: float, *, force: bool = False) -> None:
        """Collect finished rows; write them when the batch is big or old enough, or when asked.

        Waiting up to WRITE_AFTER_SECONDS turns one transaction (and one directory fsync) per
        file into one per batch: with small files the writer, not the network, was the limit.
        A crash before the write loses nothing: the files are in place and the next sync
        adopts them.
        """
        with contextlib.suppress(queue.Empty):
            self.pending.append(self.pool.finished.get(timeout=timeout))
            while len(self.pending) < OUTCOME_BATCH:
                self.pending.append(self.pool.finished.get_nowait())
        if not self.pending:
            return
        self._stop_if_asked(self.pending)
        if self.pending_since is None:
            self.pending_since = time.monotonic()
        settled = len(self.pending) >= len(self.in_flight)  # nothing else is coming
        if force or settled or len(self.pending) >= OUTCOME_BATCH or self.stop.is_set() \
                or time.monotonic() - self.pending_since >= WRITE_AFTER_SECONDS:
            batch, self.pending, self.pending_since = self.pending, [], None
            self._write(batch)

    def _stop_if_asked(self, batch: list[Finished]) -> None:
        """A full disk stops every worker at once, not at the next manifest write."""
        for finished in batch:
            if finished.stop_run and not self.stop.is_set():
                self.summary.stopped_by = finished.stop_run
                log.error("stopping the sync: %s", finished.outcome.error)
                self.stop.set()

    def _write(self, batch: list[Finished]) -> None:
        self.last_written = len(batch)  # rows for the workers while this thread commits (_top_up)
        if not self.stop.is_set():
            self._top_up()
        # A server's words reach the errors (a reason phrase, an error page): a token it echoes
        # must not be stored in the manifest or printed in the summary.
        for finished in batch:
            finished.outcome = redact_outcome(finished.outcome)
        # The group commit: one durability pass, the renames, one fsync per directory; only then
        # the one transaction that marks the batch done. A row whose lease went to another sync
        # while it waited is not placed. (A cluster's batches come back committed by their worker,
        # cluster_worker.py, with nothing staged: its pool has no pipeline here.)
        pipeline = getattr(self.pool, "pipeline", None)
        commit_batch(batch, lost=self._lease_lost, on_error=pipeline.local_error if pipeline else None)
        self._stop_if_asked(batch)
        written = self._manifest_write("record outcomes", self.manifest.record_outcomes, self.owner,
                                       self.summary.sync_id, [f.outcome for f in batch])
        if written is None:  # kept, and tried once more at shut-down; their files are in place
            self.unwritten += batch
            self.in_flight.difference_update(f.outcome.file_id for f in batch)
            return
        with batch_log_writes():  # the batch's log lines, a line per file
            for finished in batch:
                self._account(finished)
                if finished.outcome.state == "failed":  # the bar counts a failure as its warning is printed
                    self.progress.refresh(self.summary.files_done + self.summary.files_adopted,
                                          self.summary.files_failed, final=True)

    def _lease_lost(self, file_id: int) -> bool:
        return (event := self.lease_lost.get(file_id)) is not None and event.is_set()

    def _manifest_write(self, what: str, write: Callable, *args, **kwargs):
        """One manifest write; SQLite refusing it (SQLITE_FULL: "database or disk is full", the
        manifest sits on the data directory's file system by default) stops the run cleanly
        instead of crashing with every claimed row left leased. None when it failed."""
        try:
            return write(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            full = getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "full" in str(exc).lower()
            if self.summary.stopped_by in (None, "signal"):
                self.summary.stopped_by = "disk_full" if full else "error"
            log.error("cannot %s in the manifest %s (%s); stopping the sync", what, self.manifest.path, exc)
            self.stop.set()
            return None

    def _stop_if_low_on_space(self) -> None:
        """Stop claiming and transferring while the manifest can still record the stop."""
        if self.stop.is_set() or (message := self.space.low()) is None:
            return
        self.summary.stopped_by = "disk_full"
        log.error("stopping the sync: %s", message)
        self.stop.set()

    def _stop_on_signal(self) -> None:
        self.summary.stopped_by = self.summary.stopped_by or "signal"
        log.warning("stopping: finishing in-flight transfers, keeping partial files (again to quit at once)")
        self.stop.set()

    def _account(self, finished: Finished) -> None:
        self.in_flight.discard(finished.outcome.file_id)
        self.lease_lost.pop(finished.outcome.file_id, None)
        # A busy row (another process holds its .part) or one whose cluster worker died is not
        # claimed again by this run: it goes to the next sync.
        if finished.busy or finished.outcome.error_kind == WORKER_LOST:
            self.busy_ids.add(finished.outcome.file_id)
        expected = self.expected_sizes.pop(finished.outcome.file_id, 0)
        self.progress.drop(expected - finished.bytes_received)  # what it planned and this run did not bring
        count_outcome(self.summary, finished)

    def _renew(self) -> None:
        if self.in_flight:
            owned = self._manifest_write("renew leases", self.manifest.renew_leases, self.owner,
                                         sorted(self.in_flight), self.lease_seconds)
            lost = set() if owned is None else self.in_flight - owned
            for file_id in lost:
                # Our lease expired (the process was stopped or asleep) and another sync took the
                # row: abandon the transfer; its bytes must not be placed or recorded by us.
                if file_id in self.lease_lost and not self.lease_lost[file_id].is_set():
                    log.warning("lost the lease on file %d to another sync; abandoning its transfer", file_id)
                    self.lease_lost[file_id].set()
        if self._manifest_write("reclaim expired leases", self.manifest.reclaim_expired_leases):
            self.exhausted = False  # a dead sync's rows are claimable again

    def _shut_down(self) -> None:
        self.stop.set()
        self.pool.ask_to_stop()
        for thread in self.pool.threads:
            while thread.is_alive():
                thread.join(timeout=0.1)
                self._drain(timeout=0, force=True)
        while not self.pool.finished.empty() or self.pending:
            self._drain(timeout=0, force=True)
        self._write_unwritten()
        self.summary.files_released += self._manifest_write("release leases", self.manifest.release_leases,
                                                            self.owner) or 0
        s = self.summary
        # Rows planned while this sync ran are claimed too: "of N files" counts what it took.
        s.selected_files = max(s.selected_files, self.claimed_files)
        self._manifest_write("finish the syncs row", self.manifest.finish_sync, s.sync_id, files_done=s.files_done,
                             files_failed=s.files_failed, files_adopted=s.files_adopted,
                             bytes_received=s.bytes_received, stopped_by=s.stopped_by)
        self.progress.refresh(s.files_done + s.files_adopted, s.files_failed, final=True)
        self.progress.close()

    def _write_unwritten(self) -> None:
        """Once more for outcomes the manifest refused: the workers have stopped writing by now."""
        if not self.unwritten:
            return
        batch, self.unwritten = self.unwritten, []
        if self._manifest_write("record outcomes", self.manifest.record_outcomes, self.owner, self.summary.sync_id,
                                [f.outcome for f in batch]) is not None:
            for finished in batch:
                self._account(finished)
            return
        placed = sum(f.outcome.state == "done" for f in batch)
        log.error("%d outcomes could not be recorded; %d of those files are verified and in place, and the "
                  "next `ratdcs sync` adopts them without downloading", len(batch), placed)


def _arguments(s: "_Selection", workers: int) -> dict:
    """The sync's selection, as its ``syncs`` row records it."""
    return {"sources": list(s.sources), "target_ids": list(s.target_ids), "limit": s.limit,
            "max_bytes": s.max_bytes, "workers": workers}


# Threads beyond the transfers: while a thread verifies the body it received, one of these has
# already sent the next request on the connection it released. On the WAN profile (80 ms to the
# first byte) a thread spent 3-4 ms per file between a body's end and its next request: 50 files
# a connection for 200 light curves on 4, a fifth of a second the connection sat idle.
SPARE_THREADS_MAX = 16


def thread_pool(run: Run) -> "WorkerPool":
    """The default executor: threads of this process, one pipeline shared by all; at most
    ``run.workers`` transfers at once, and as many threads again to verify meanwhile."""
    pipeline = FilePipeline(run.config, run.data_dir, run.stop, run.sleep, run.space)
    pipeline.transfer_slots = threading.BoundedSemaphore(run.workers)
    threads = run.workers + min(run.workers, SPARE_THREADS_MAX)
    return WorkerPool(pipeline, threads, run.stop, run.space, run.progress.counter, run.progress.sizer)


class WorkerPool:
    """The worker threads: each takes ``(row, lost)`` from ``work``, runs the file pipeline and
    puts a ``Finished`` on ``finished``. They never touch the manifest."""

    def __init__(self, pipeline: FilePipeline, size: int, stop: threading.Event, space: SpaceWatch,
                 counter: Callable[[int], Callable[[int], None]],
                 sizer: Callable[[int], Callable[[int], None]] | None = None):
        self.pipeline, self.stop, self.space, self.counter, self.sizer = pipeline, stop, space, counter, sizer
        self.work: queue.Queue = queue.Queue()
        self.finished: queue.Queue = queue.Queue()
        self.size = size  # threads, each with its own progress slot
        self.threads = [threading.Thread(target=self._work, args=(i,), name=f"ratdcs-sync-{i}", daemon=True)
                        for i in range(size)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def ask_to_stop(self) -> None:
        """One end-of-work marker per thread, behind the rows already queued (they come back pending)."""
        for _ in self.threads:
            self.work.put(None)

    def _work(self, index: int) -> None:
        # One byte counter per thread (``counter(index)``): no lock on the per-chunk path.
        fetcher = self.pipeline.make_fetcher(self.counter(index), self.sizer(index) if self.sizer else None)
        while (item := self.work.get()) is not None:
            row, lost = item
            self.finished.put(self._skipped(row, lost) or self.pipeline.run(row, fetcher, lost))
        fetcher.client.close()

    def _skipped(self, row, lost: threading.Event) -> Finished | None:
        """A queued row given back untried: the disk is low, the run is stopping, or the lease is lost."""
        return given_back_untried(row, self.stop, self.space, lost)


def count_outcome(summary: "SyncSummary", finished: Finished) -> None:
    """Add one outcome the manifest recorded to the summary, and log it."""
    outcome, s = finished.outcome, summary
    s.bytes_received += finished.bytes_received
    if outcome.state == "done":
        s.files_adopted += finished.adopted
        s.files_done += not finished.adopted
    elif outcome.state == "failed":
        s.files_failed += 1
        s.failures.append((finished.rel_path, outcome.error_kind or "unknown", outcome.error or ""))
    elif finished.busy:
        s.busy_files += 1
    else:
        s.files_released += 1
    _log_outcome(finished)


def install_signal_handlers(on_first: Callable[[], None]) -> Callable[[], None]:
    """First Ctrl-C/SIGTERM: ``on_first`` (stop cleanly). Second: exit at once (leases expire;
    partials stay). Returns the function that puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    received = 0

    def handler(signum, frame):
        nonlocal received
        received += 1
        if received > 1:
            os._exit(130)
        on_first()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def redact_outcome(outcome: FileOutcome) -> FileOutcome:
    """The outcome with known secrets hidden in its error texts (a no-op when there are none)."""
    from ..logs import redact

    if not outcome.error and not any(t.error for t in outcome.transfers):
        return outcome
    transfers = tuple(dataclasses.replace(t, error=redact(t.error)) if t.error else t for t in outcome.transfers)
    return dataclasses.replace(outcome, error=redact(outcome.error), transfers=transfers)


def start_import_ahead(stop: threading.Event) -> None:
    threading.Thread(target=import_ahead, args=(stop,), name="ratdcs-import-ahead", daemon=True).start()


def import_ahead(stop: threading.Event) -> None:
    """numpy (the FITS sums), imported on a thread of its own while the first requests wait.

    Not at once: the import holds the interpreter for ~0.12 s, handing it over every 5 ms, and
    the workers' first requests, a few ms of Python each, waited for those turns. With the
    import IMPORT_AHEAD_AFTER_SECONDS later the fourth request left 162-173 ms after start, not
    170-212 ms (set (a), 4 runs each; issue 15). A run stopped meanwhile imports nothing.
    (``stop`` is the run's Event, or a worker process's ``processes.SharedStop``.)"""
    if stop.wait(IMPORT_AHEAD_AFTER_SECONDS):
        return
    with contextlib.suppress(ImportError):
        import numpy  # noqa: F401


def _log_outcome(finished: Finished) -> None:
    o = finished.outcome
    for t in o.transfers:
        log.info("%s: %s%s, %s, %d bytes%s%s", finished.rel_path, t.outcome,
                 f" from byte {t.range_start}" if t.range_start else "",
                 f"HTTP {t.http_status}" if t.http_status is not None else "no HTTP answer", t.bytes_received,
                 f", {t.error_kind}" if t.error_kind else "", f": {t.error}" if t.error else "")
    if o.state == "failed":
        log.warning("%s failed: %s", finished.rel_path, o.error)
    elif o.state == "done" and o.error_kind:
        log.warning("%s done with a warning: %s", finished.rel_path, o.error)
