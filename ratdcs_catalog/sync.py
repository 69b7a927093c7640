"""`ratdcs sync`: download, verify and place what the manifest says is pending.

Threads, datasette-style: N worker threads fetch and verify files in parallel; the calling
thread is the only one that touches the manifest. It claims rows in batches (leases, safe
across processes), hands them to the workers over a queue, and writes their outcomes back in
short batched transactions. Outcomes are data: one bad file never stops the run.

One file, crash-safe at every step (README "State machine"):

1. the destination already holds a file that verifies (and, if the row recorded a sha256 at
   download, still has it) -> adopted, no request; otherwise it goes to quarantine;
2. stream into ``<data_dir>/temp/<rel_path>.part``, resuming what is there (``transfer``), under
   an exclusive ``flock`` on the .part held until the rename (leases alone cannot stop a sync
   that slept past its lease from writing the same file as the one that took over);
3. verify (``verify``); a file that fails goes to ``<data_dir>/quarantine/<rel_path>``;
4. fsync, atomic rename into place; the directory is fsynced by the writer once per batch;
5. only then is the row marked done.

A kill at any point leaves a resumable ``.part`` file or a verified file under its final name,
and rows that the next sync takes back when their lease expires. A full disk stops the run
while the manifest can still record it (``download.free_space_margin_bytes``); a manifest
write that fails anyway (SQLITE_FULL) stops the run too, never crashes it.
"""

from __future__ import annotations

import contextlib
import errno
import dataclasses
import fcntl
import logging
import os
import queue
import secrets
import signal
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .errors import DiskSpaceError, ManifestError, UnsafeProductError
from .manifest import Manifest, open_manifest
from .net.policy import NetworkPolicy, check_ca_environment
from .records import ClaimedFile, FileOutcome, TransferRecord, utc_now
from .paths import QUARANTINE_DIR, TEMP_DIR, destination, ensure_data_dir, free_bytes
from .transfer import FetchResult, Fetcher, HostGates, TransferOptions
from .verify import hash_file, parse_checksum, verify_file

__all__ = ["SyncSummary", "check_free_space", "sync"]

log = logging.getLogger("ratdcs.sync")

# Verification failures worth one fresh download: the bytes were damaged on the way. A missing
# column or too many NaNs is the archive's file itself, and downloading it again changes nothing.
REFETCH_KINDS = ("size_mismatch", "checksum_mismatch", "fits_checksum", "fits_invalid", "fits_missing_hdu")
# Under verify.fits_checksum = warn, a file whose FITS checksums do not verify is kept with this kind.
FITS_WARNING_KIND = "fits_checksum_warning"
BUSY_PAUSE_SECONDS = 1.0
# Free space kept while running under --force (download.free_space_margin_bytes, if smaller, wins):
# enough for the manifest to record that the run stopped.
FORCE_HEADROOM_BYTES = 8 * 1000 * 1000
OUTCOME_BATCH = 256
WRITE_AFTER_SECONDS = 0.25
PROGRESS_LOG_SECONDS = 10.0


@dataclasses.dataclass
class SyncSummary:
    """What one sync did (or, with ``dry_run``, would do)."""

    sync_id: int | None = None
    dry_run: bool = False
    selected_files: int = 0
    selected_bytes: int = 0
    unknown_size_files: int = 0
    files_done: int = 0
    files_adopted: int = 0
    files_failed: int = 0
    files_released: int = 0
    bytes_received: int = 0
    elapsed_seconds: float = 0.0
    stopped_by: str | None = None  # None, 'signal', 'disk_full', 'error'
    busy_files: int = 0  # selected rows that another live sync holds (leased, or its .part locked)
    busy_until: str | None = None  # the latest lease among them
    still_pending: int = 0  # after a stopped run: selected rows still waiting for a sync
    failed_waiting: int = 0  # with nothing to do: failed rows of the selection (retry-failed / retry)
    beyond_max_bytes: int = 0  # with nothing to do: pending rows that --max-bytes left out
    failures: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # rel_path, kind, reason
    planned: list[dict] = dataclasses.field(default_factory=list)  # dry run: the rows it would fetch

    @property
    def throughput_bytes_per_second(self) -> float:
        return self.bytes_received / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: everything selected is done; 1: a file failed, the run stopped early, or another sync
        holds some of the selected files."""
        return 0 if not self.files_failed and self.stopped_by is None and not self.busy_files else 1


@dataclasses.dataclass(frozen=True)
class _Selection:
    sources: tuple[str, ...]
    target_ids: tuple[str, ...]
    limit: int | None
    max_bytes: int | None
    include_failed: bool
    max_attempts: int

    def filters(self) -> dict[str, Any]:
        return dict(sources=self.sources, target_ids=self.target_ids, include_failed=self.include_failed,
                    max_attempts=self.max_attempts)


@dataclasses.dataclass
class _Finished:
    """A worker's report on one row, for the writer."""

    outcome: FileOutcome
    rel_path: str
    placed_dir: Path | None = None
    adopted: bool = False
    bytes_received: int = 0
    stop_run: str | None = None  # 'disk_full' stops the whole run
    busy: bool = False  # another process holds the .part file: handed back, not tried


def sync(config: Mapping[str, Any], manifest_path, *, workers: int | None = None, sources: Sequence[str] = (),
         target_ids: Sequence[str] = (), limit: int | None = None, max_bytes: int | None = None,
         retry_failed: bool = False, dry_run: bool = False, force: bool = False, progress: bool = True,
         owner: str | None = None, sleep: Callable[[float], None] | None = None) -> SyncSummary:
    """Fetch, verify and place the selected pending files; return what happened.

    Raises ``DiskSpaceError`` before any transfer when the selection does not fit (unless
    ``force``), ``ManifestError`` when there is no manifest at ``manifest_path`` (a mistyped
    ``--db`` must not create an empty one). ``sleep`` replaces the back-off sleep (tests).
    """
    started = time.monotonic()
    selection = _Selection(tuple(sources), tuple(str(t) for t in target_ids), limit, max_bytes, retry_failed,
                           config["download.max_attempts"])
    with open_manifest(manifest_path, create=False) as manifest:
        # Before the dry run and the nothing-to-do check: a dead sync's rows are pending again.
        manifest.reclaim_expired_leases()
        release_dead_local_syncs(manifest)
        if dry_run:
            return _dry_run(manifest, selection, started)
        files, nbytes, unknown = manifest.selection_totals(**selection.filters(), limit=limit, max_bytes=max_bytes)
        summary = SyncSummary(selected_files=files, selected_bytes=nbytes, unknown_size_files=unknown)
        if files == 0:
            # "Nothing to do" must not hide rows that another sync (or one killed moments ago,
            # whose lease has not expired yet) is still holding.
            summary.busy_files, summary.busy_until = manifest.leased_rows(sources=selection.sources,
                                                                          target_ids=selection.target_ids)
            if max_bytes is not None:  # the first file alone is over the budget
                summary.beyond_max_bytes = manifest.selection_totals(**selection.filters(), limit=limit)[0]
            # Pending is 0 here, so this counts the failed rows, whatever their attempts.
            summary.failed_waiting = manifest.selection_totals(sources=selection.sources,
                                                               target_ids=selection.target_ids,
                                                               include_failed=True)[0]
            summary.elapsed_seconds = time.monotonic() - started
            return summary
        check_ca_environment()
        data_dir = ensure_data_dir(_data_dir(config))
        check_free_space(data_dir, nbytes, config["download.free_space_margin_bytes"], force=force)
        if retry_failed:  # only now: a refused run leaves the manifest as it was
            manifest.requeue_retryable_failed(sources=selection.sources, target_ids=selection.target_ids,
                                              max_attempts=selection.max_attempts)
            selection = dataclasses.replace(selection, include_failed=False)
        run = _Run(config, manifest, data_dir, selection, summary, workers=workers or config["download.workers"],
                   owner=owner or _make_owner(), progress=progress, sleep=sleep, force=force)
        try:
            run.execute()
        except sqlite3.OperationalError as exc:  # only start_sync is left unguarded
            raise ManifestError(f"cannot write the manifest {manifest.path}: {exc}",
                                hint="free some space on its file system (or fix its permissions) "
                                     "and run `ratdcs sync` again") from None
        if summary.stopped_by and max_bytes is None:  # under --max-bytes "how many are left" has no one answer
            with contextlib.suppress(sqlite3.Error):  # a full disk may refuse even this read
                pending = manifest.selection_totals(**selection.filters())[0]
                if limit is not None:
                    pending = min(pending, limit - summary.files_done - summary.files_adopted - summary.files_failed)
                summary.still_pending = max(pending, 0)
        summary.elapsed_seconds = time.monotonic() - started
        _log_summary(summary)
        return summary


def _data_dir(config) -> Path:
    return getattr(config, "data_dir", None) or Path(config["data_dir"]).expanduser().absolute()


def _make_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def release_dead_local_syncs(manifest: Manifest) -> int:
    """Rows leased by a sync on this machine whose process is gone come back now, not at lease expiry.

    After a kill -9 or a crash the next `ratdcs sync` would otherwise wait out the whole lease
    (download.lease_seconds) before it may finish those files. A pid that no longer exists
    cannot be transferring anything; a reused pid only means waiting for the lease, as before.
    """
    host, released = socket.gethostname(), 0
    for owner in manifest.lease_owners():
        owner_host, _, rest = owner.partition(":")
        pid = rest.split(":", 1)[0]
        if owner_host == host and pid.isdigit() and not _process_exists(int(pid)):
            released += manifest.release_leases(owner)
            log.info("took back the rows of sync %s: its process is gone", owner)
    return released


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _dry_run(manifest: Manifest, selection: _Selection, started: float) -> SyncSummary:
    rows = manifest.selection_rows(**selection.filters(), limit=selection.limit, max_bytes=selection.max_bytes)
    summary = SyncSummary(dry_run=True, selected_files=len(rows),
                          selected_bytes=sum(r["expected_size_bytes"] or 0 for r in rows),
                          unknown_size_files=sum(r["expected_size_bytes"] is None for r in rows))
    summary.planned = [{"file_id": r["file_id"], "source": r["source"], "target_id": r["target_id"],
                        "state": r["state"], "rel_path": r["rel_path"], "size_bytes": r["expected_size_bytes"],
                        "url": r["url"]} for r in rows]
    summary.elapsed_seconds = time.monotonic() - started
    return summary


def check_free_space(data_dir: Path, needed_bytes: int, margin_bytes: int, *, force: bool = False) -> None:
    """Refuse (DiskSpaceError) when the selection plus the margin does not fit; ``force`` only logs."""
    free = free_bytes(data_dir)
    if needed_bytes + margin_bytes <= free:
        return
    message = (f"not enough free space in {data_dir}: the selected files need {_size(needed_bytes)} plus a "
               f"margin of {_size(margin_bytes)}, and {_size(free)} are free")
    if force:
        log.warning("%s; going ahead (--force)", message)
        return
    raise DiskSpaceError(message + "; nothing was downloaded",
                         hint="free some space, select less (--source, --target, --limit, --max-bytes), "
                              "or pass --force to start anyway")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    raise AssertionError


def _log_summary(s: SyncSummary) -> None:
    log.info("sync %s finished: %d downloaded, %d adopted, %d failed, %d released; %d bytes in %.2f s "
             "(%.2f MB/s)%s", s.sync_id, s.files_done, s.files_adopted, s.files_failed, s.files_released,
             s.bytes_received, s.elapsed_seconds, s.throughput_bytes_per_second / 1e6,
             f"; stopped by {s.stopped_by}" if s.stopped_by else "")


# ---- the run: writer (this thread) + workers ---------------------------------------------------------


class _Run:
    """One sync run. Only ``execute`` (the calling thread) uses the manifest."""

    def __init__(self, config, manifest: Manifest, data_dir: Path, selection: _Selection, summary: SyncSummary,
                 *, workers: int, owner: str, progress: bool, sleep, force: bool = False):
        self.config, self.manifest, self.data_dir = config, manifest, data_dir
        self.selection, self.summary = selection, summary
        self.workers, self.owner = workers, owner
        self.lease_seconds = config["download.lease_seconds"]
        self.work: queue.Queue = queue.Queue()
        self.finished: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.in_flight: set[int] = set()
        self.lease_lost: dict[int, threading.Event] = {}  # set when another sync took the row over
        self.busy_ids: set[int] = set()  # handed back because another process holds the .part
        self.unwritten: list[_Finished] = []  # outcomes the manifest refused (full disk)
        self.pending: list[_Finished] = []
        self.pending_since: float | None = None
        self.exhausted = False
        self.claimed_files = 0
        self.claimed_bytes = 0
        self.signals = 0
        self.progress = _Progress(summary.selected_bytes, summary.selected_files, progress, workers)
        # --force starts a run that looks too big; it still must not fill the disk to the last byte.
        margin = config["download.free_space_margin_bytes"]
        self.space = _SpaceWatch(data_dir, min(margin, FORCE_HEADROOM_BYTES) if force else margin)
        self.fileworker = _FileWorker(config, data_dir, self.stop, sleep, self.space)

    def execute(self) -> None:
        self.summary.sync_id = self.manifest.start_sync(self.owner, self.workers, self._arguments())
        threads = [threading.Thread(target=self._worker, args=(i,), name=f"ratdcs-sync-{i}", daemon=True)
                   for i in range(self.workers)]
        restore = self._install_signal_handlers()
        try:
            for thread in threads:
                thread.start()
            self._loop()
        except BaseException:
            self.summary.stopped_by = self.summary.stopped_by or "error"
            raise
        finally:
            self._shut_down(threads)
            restore()

    def _arguments(self) -> dict:
        s = self.selection
        return {"sources": list(s.sources), "target_ids": list(s.target_ids), "limit": s.limit,
                "max_bytes": s.max_bytes, "workers": self.workers}

    def _loop(self) -> None:
        next_renewal = time.monotonic() + self.lease_seconds / 3
        while True:
            self._stop_if_low_on_space()
            if not self.stop.is_set():
                self._top_up()
            self._drain(timeout=0.05)
            if time.monotonic() >= next_renewal:
                self._renew()
                next_renewal = time.monotonic() + self.lease_seconds / 3
            self.progress.refresh(self.summary)
            if not self.in_flight and (self.exhausted or self.stop.is_set()):
                return

    def _top_up(self) -> None:
        """Keep a few rows per worker claimed ahead: batches keep claims cheap, and small
        batches leave work for another sync started on the same manifest."""
        if self.exhausted or self.work.qsize() >= self.workers * 2:
            return
        batch = max(self.workers * 4, 16)
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
            self.work.put((row, lost))

    def _drain(self, timeout: float, *, force: bool = False) -> None:
        """Collect finished rows; write them when the batch is big or old enough, or when asked.

        Waiting up to WRITE_AFTER_SECONDS turns one transaction (and one directory fsync) per
        file into one per batch: with small files the writer, not the network, was the limit.
        A crash before the write loses nothing: the files are in place and the next sync
        adopts them.
        """
        with contextlib.suppress(queue.Empty):
            self.pending.append(self.finished.get(timeout=timeout))
            while len(self.pending) < OUTCOME_BATCH:
                self.pending.append(self.finished.get_nowait())
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

    def _stop_if_asked(self, batch: list[_Finished]) -> None:
        """A full disk stops every worker at once, not at the next manifest write."""
        for finished in batch:
            if finished.stop_run and not self.stop.is_set():
                self.summary.stopped_by = finished.stop_run
                log.error("stopping the sync: %s", finished.outcome.error)
                self.stop.set()

    def _write(self, batch: list[_Finished]) -> None:
        # One fsync per directory per batch makes the renames durable before the rows say done.
        for directory in {f.placed_dir for f in batch if f.placed_dir is not None}:
            _fsync_dir(directory)
        written = self._manifest_write("record outcomes", self.manifest.record_outcomes, self.owner,
                                       self.summary.sync_id, [f.outcome for f in batch])
        if written is None:  # kept, and tried once more at shut-down; their files are in place
            self.unwritten += batch
            self.in_flight.difference_update(f.outcome.file_id for f in batch)
            return
        for finished in batch:
            self._account(finished)

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

    def _account(self, finished: _Finished) -> None:
        outcome, s = finished.outcome, self.summary
        self.in_flight.discard(outcome.file_id)
        s.bytes_received += finished.bytes_received
        self.lease_lost.pop(outcome.file_id, None)
        if outcome.state == "done":
            s.files_adopted += finished.adopted
            s.files_done += not finished.adopted
        elif outcome.state == "failed":
            s.files_failed += 1
            s.failures.append((finished.rel_path, outcome.error_kind or "unknown", outcome.error or ""))
        elif finished.busy:
            s.busy_files += 1
            self.busy_ids.add(outcome.file_id)
        else:
            s.files_released += 1
        _log_outcome(finished)

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

    def _shut_down(self, threads: list[threading.Thread]) -> None:
        self.stop.set()
        for _ in threads:
            self.work.put(None)
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.1)
                self._drain(timeout=0, force=True)
        while not self.finished.empty() or self.pending:
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
        self.progress.close(self.summary)

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

    def _worker(self, index: int) -> None:
        fetcher = self.fileworker.make_fetcher(self.progress.counter(index))
        while (item := self.work.get()) is not None:
            row, lost = item
            if not self.stop.is_set() and (message := self.space.low()) is not None:
                self.finished.put(_Finished(FileOutcome(row.file_id, "pending", error_kind="disk_full",
                                                        error=message), row.rel_path, stop_run="disk_full"))
                continue
            if self.stop.is_set() or lost.is_set():
                self.finished.put(_Finished(FileOutcome(row.file_id, "pending"), row.rel_path))
                continue
            try:
                finished = self.fileworker.process(row, fetcher, lost)
            except UnsafeProductError as exc:
                finished = _Finished(FileOutcome(row.file_id, "failed", error_kind="unsafe_path", error=str(exc)),
                                     row.rel_path)
            except OSError as exc:  # the local file system refused: permissions, a directory in the way, ...
                finished = self._local_error(row, exc)
            except Exception as exc:  # a bug in one file's handling must not lose the others
                log.exception("internal error on %s", row.rel_path)
                finished = _Finished(FileOutcome(row.file_id, "failed", error_kind="internal_error",
                                                 error=f"internal error: {type(exc).__name__}: {exc}"),
                                     row.rel_path)
            self.finished.put(finished)
        fetcher.client.close()

    def _local_error(self, row: ClaimedFile, exc: OSError) -> _Finished:
        """A file the data directory refused. A full disk stops the run (rows back to pending, as
        in a transfer); anything else fails this file with the path and the system's reason."""
        where = exc.filename or row.rel_path
        log.debug("traceback of the local error on %s", row.rel_path, exc_info=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            message = (f"no space left on the device for {where}; row back to pending - free some space and run "
                       "`ratdcs sync` again")
            return _Finished(FileOutcome(row.file_id, "pending", error_kind="disk_full", error=message),
                             row.rel_path, stop_run="disk_full")
        message = f"{where}: {exc.strerror or exc} - fix that place in the data directory, then " \
                  f"{self.fileworker.how_to_retry(row)}"
        return _Finished(FileOutcome(row.file_id, "failed", error_kind="local_error", error=message),
                         row.rel_path)

    def _install_signal_handlers(self) -> Callable[[], None]:
        """First Ctrl-C/SIGTERM: stop cleanly. Second: exit at once (leases expire; partials stay)."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, frame):
            self.signals += 1
            if self.signals > 1:
                os._exit(130)
            self.summary.stopped_by = self.summary.stopped_by or "signal"
            log.warning("stopping: finishing in-flight transfers, keeping partial files (again to quit at once)")
            self.stop.set()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore


class _SpaceWatch:
    """Free space in the data directory against the margin, looked at every 0.5 s and after
    every eighth of the margin written, so a fast transfer cannot run through the margin unseen.

    The manifest lives on the same file system by default: a run that fills the disk to the
    last byte cannot even record that it stopped (SQLITE_FULL), so stop while the margin is left.
    Looks like an Event to the Fetcher, which polls ``is_set`` after every chunk.
    """

    INTERVAL_SECONDS = 0.5

    def __init__(self, data_dir: Path, margin_bytes: int):
        self.data_dir, self.margin_bytes = data_dir, margin_bytes
        self._next = 0.0
        self._written = 0  # since the last look; updated without a lock, so approximate
        self._message: str | None = None

    def note(self, nbytes: int) -> None:
        self._written += nbytes

    def is_set(self) -> bool:
        return self.low() is not None

    def low(self) -> str | None:
        """None while there is room; otherwise the sentence for the log and the manifest."""
        if not self.margin_bytes:
            return None
        if time.monotonic() < self._next and self._written < self.margin_bytes // 8:
            return self._message
        self._next, self._written = time.monotonic() + self.INTERVAL_SECONDS, 0
        free = free_bytes(self.data_dir)
        self._message = None if free >= self.margin_bytes else (
            f"free space in {self.data_dir} fell to {_size(free)}, below the margin of {_size(self.margin_bytes)} "
            "(download.free_space_margin_bytes) kept so the manifest can still be written; row back to pending - "
            "free some space and run `ratdcs sync` again")
        return self._message


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _log_outcome(finished: _Finished) -> None:
    o = finished.outcome
    for t in o.transfers:
        log.info("%s: %s%s, HTTP %s, %d bytes%s%s", finished.rel_path, t.outcome,
                 f" from byte {t.range_start}" if t.range_start else "", t.http_status, t.bytes_received,
                 f", {t.error_kind}" if t.error_kind else "", f": {t.error}" if t.error else "")
    if o.state == "failed":
        log.warning("%s failed: %s", finished.rel_path, o.error)
    elif o.state == "done" and o.error_kind:
        log.warning("%s done with a warning: %s", finished.rel_path, o.error)


# ---- one file (worker threads) ---------------------------------------------------------------------


class _FileWorker:
    """Adopt, fetch, verify, quarantine or place one claimed row; shared by all worker threads."""

    def __init__(self, config, data_dir: Path, stop: threading.Event, sleep, space: "_SpaceWatch | None" = None):
        self.data_dir, self.stop, self.sleep = data_dir, stop, sleep
        self.space = space or _SpaceWatch(data_dir, 0)
        self.options = TransferOptions.from_config(config)
        self.gates = HostGates(config["download.per_host_connections"], config["download.requests_per_second"])
        self.fits_checksum = config["verify.fits_checksum"]
        self.max_attempts = config["download.max_attempts"]
        self.max_nan_fraction = config["verify.max_nan_fraction"]
        self.policy = NetworkPolicy.from_config(config)

    def make_fetcher(self, on_bytes: Callable[[int], None]) -> Fetcher:
        client = self.policy.file_client()
        space = self.space

        def count(n: int) -> None:
            on_bytes(n)
            space.note(n)

        return Fetcher(client, self.gates, self.options, stop=self.stop, sleep=self.sleep, on_bytes=count)

    def process(self, row: ClaimedFile, fetcher: Fetcher, lost: threading.Event | None = None) -> _Finished:
        """Adopt, or fetch-verify-place under an exclusive lock on the .part file.

        ``lost`` is set by the writer when another sync took the row over (our lease expired
        while this process was stopped or asleep): the transfer is abandoned, nothing placed.
        """
        lost = lost or threading.Event()
        dest = destination(self.data_dir, row.rel_path)
        adopted, records, set_aside = self._adopt(row, dest)
        if adopted is not None:
            return adopted
        temp = self.data_dir / TEMP_DIR / (row.rel_path + ".part")
        fetcher.stop = _AnyEvent(self.stop, lost, self.space)
        try:
            finished = self._fetch_verify_place(row, fetcher, temp, dest, records, lost)
        except FileNotFoundError as exc:
            # Our own .part vanished under us (removed by hand, or by a process that was not
            # holding the lock): an interruption to resume, not a bug.
            log.warning("%s: the temporary file vanished during the transfer (%s); row back to pending",
                        row.rel_path, exc)
            finished = _Finished(FileOutcome(row.file_id, "pending", transfers=tuple(records)), row.rel_path)
        finally:
            fetcher.stop = self.stop
        if set_aside and finished.outcome.quarantine_path is None:
            finished.outcome = dataclasses.replace(finished.outcome, quarantine_path=set_aside)
        return finished

    def _fetch_verify_place(self, row: ClaimedFile, fetcher: Fetcher, temp: Path, dest: Path, records: list,
                            lost: threading.Event) -> _Finished:
        received, previous_sha = 0, None
        for round_ in (1, 2):
            # Locked per round: a bad first copy is moved to quarantine, and the second one is a new file.
            with _part_lock(temp) as held:
                if not held:
                    return self._busy(row, records)
                fetched = fetcher.fetch(row.url, temp, expected_size=row.expected_size_bytes,
                                        want_md5=(parse_checksum(row.expected_checksum) or ("",))[0] == "md5")
                records += fetched.records
                received += fetched.bytes_received
                if lost.is_set():
                    return self._abandoned(row, records, received)
                if fetched.outcome != "done":
                    return self._not_fetched(row, fetched, records, received)
                finished = self._verify_and_place(row, temp, dest, fetched, records, received, last=round_ == 2,
                                                  lost=lost, previous_sha=previous_sha)
            if finished is not None:
                return finished
            previous_sha = fetched.hashes.get("sha256")
        raise AssertionError("unreachable: the second round always returns")

    def _busy(self, row: ClaimedFile, records: list) -> _Finished:
        """Another process holds the .part file (a sync whose lease we took over is still
        writing it): give the row back untried, after a short pause so it is not re-claimed hot."""
        log.info("%s: another sync process is still writing %s/%s.part; leaving the file to it",
                 row.rel_path, TEMP_DIR, row.rel_path)
        self.stop.wait(BUSY_PAUSE_SECONDS)
        return _Finished(FileOutcome(row.file_id, "pending", transfers=tuple(records)), row.rel_path, busy=True)

    @staticmethod
    def _abandoned(row: ClaimedFile, records: list, received: int) -> _Finished:
        """Our lease was taken over: nothing is placed, and record_outcomes leaves the row alone."""
        log.warning("%s: lease lost to another sync; transfer abandoned, partial file kept", row.rel_path)
        return _Finished(FileOutcome(row.file_id, "pending", transfers=tuple(records)), row.rel_path,
                         bytes_received=received)

    def _not_fetched(self, row: ClaimedFile, fetched: FetchResult, records: list, received: int) -> _Finished:
        fid = row.file_id
        if fetched.outcome == "interrupted":
            return _Finished(FileOutcome(fid, "pending", transfers=tuple(records)), row.rel_path,
                             bytes_received=received)
        if fetched.outcome == "disk_full":
            error = f"{fetched.error}; row back to pending - free some space and run `ratdcs sync` again"
            return _Finished(FileOutcome(fid, "pending", error_kind="disk_full", error=error, transfers=tuple(records)),
                             row.rel_path, bytes_received=received, stop_run="disk_full")
        error = (f"{fetched.error}; row marked failed, any partial file is kept in {TEMP_DIR}/ for resuming - "
                 f"{self.how_to_retry(row)}")
        return _Finished(FileOutcome(fid, "failed", error_kind=fetched.error_kind, error=error,
                                     transfers=tuple(records)), row.rel_path, bytes_received=received)

    def how_to_retry(self, row) -> str:
        """The next step for a row this sync marks failed: `--retry-failed` takes it only while
        it has attempts left (this sync's failure counts as one)."""
        if row.attempts + 1 < self.max_attempts:
            return "run `ratdcs sync --retry-failed` to try again"
        return (f"it has used its {self.max_attempts} attempts (download.max_attempts): `ratdcs retry` gives "
                "them back, then run `ratdcs sync`")

    def _verify_and_place(self, row, temp: Path, dest: Path, fetched: FetchResult, records: list, received: int,
                          *, last: bool, lost: threading.Event, previous_sha: str | None) -> _Finished | None:
        result = verify_file(temp, product_kind=row.product_kind,
                             expected_size=row.expected_size_bytes or fetched.announced_size,
                             expected_checksum=row.expected_checksum or fetched.announced_checksum,
                             observed_hashes=fetched.hashes, fits_checksum=self.fits_checksum,
                             max_nan_fraction=self.max_nan_fraction)
        fid, sha = row.file_id, fetched.hashes.get("sha256")
        if result.ok and result.warnings and not last:
            # verify.fits_checksum = warn: cards that do not verify may be damage in transit, so get a
            # second copy (as strict does); the same bytes twice means the archive's file is stale.
            result = dataclasses.replace(result, ok=False, error_kind=FITS_WARNING_KIND,
                                         error="; ".join(result.warnings))
        if result.ok:
            if lost.is_set():
                return self._abandoned(row, records, received)
            _place(temp, dest)
            warning = self._accepted_warning(row, result, sha, previous_sha)
            outcome = FileOutcome(fid, "done", observed_size_bytes=fetched.size, observed_sha256=sha,
                                  verify_level=result.level, nan_fraction=result.nan_fraction,
                                  error_kind=FITS_WARNING_KIND if warning else None, error=warning,
                                  transfers=tuple(records))
            return _Finished(outcome, row.rel_path, placed_dir=dest.parent, bytes_received=received)
        quarantined = self._quarantine(temp, row.rel_path)
        retry = not last and result.error_kind in (*REFETCH_KINDS, FITS_WARNING_KIND)
        then = ("downloading it once more" if retry else
                f"row marked failed - {self.how_to_retry(row)}")
        error = f"{result.error}; moved to {quarantined}, {then}"
        records[-1] = dataclasses.replace(records[-1], outcome="retry" if retry else "failed",
                                          error_kind=result.error_kind, error=error)
        if retry:
            return None
        outcome = FileOutcome(fid, "failed", observed_size_bytes=fetched.size,
                              observed_sha256=sha, nan_fraction=result.nan_fraction,
                              error_kind=result.error_kind, error=error, quarantine_path=quarantined,
                              transfers=tuple(records))
        return _Finished(outcome, row.rel_path, bytes_received=received)

    def _accepted_warning(self, row: ClaimedFile, result, sha: str | None, previous_sha: str | None) -> str | None:
        """The sentence kept on a done row whose FITS checksums did not verify (policy warn)."""
        if not result.warnings:
            return None
        text = "; ".join(result.warnings)
        if previous_sha is None:
            why = "kept (verify.fits_checksum = warn)"
        elif previous_sha == sha:
            # Identical twice: the archive's own file has stale cards; the first copy in quarantine
            # is byte for byte the file now in place, so it is not kept twice.
            why = ("a second download gave the same bytes, so the archive's own file carries stale cards; "
                   "kept (verify.fits_checksum = warn)")
            self._drop_duplicate(row.rel_path, sha)
        else:
            why = "a second download gave different bytes (the first is in quarantine/); kept the second " \
                  "(verify.fits_checksum = warn)"
        warning = f"{text}; {why}"
        log.warning("%s: %s", row.rel_path, warning)
        return warning

    def _drop_duplicate(self, rel_path: str, sha: str | None) -> None:
        copy = self.data_dir / QUARANTINE_DIR / rel_path
        candidates = sorted(copy.parent.glob(copy.name + "*"), key=lambda p: p.stat().st_mtime) if \
            copy.parent.exists() else []
        if candidates and sha and hash_file(candidates[-1])["sha256"] == sha:
            candidates[-1].unlink()

    def _adopt(self, row: ClaimedFile, dest: Path) -> tuple[_Finished | None, list[TransferRecord], str | None]:
        """A file already at the destination that verifies is kept without a request (e.g. a sync
        killed between the rename and the manifest commit); one that does not, or whose sha256
        differs from the one recorded at download (`ratdcs verify --deep` found it changed), is
        quarantined, logged in the transfers table, and downloaded again."""
        if not dest.exists():
            return None, [], None
        size, checksum = row.expected_size_bytes, row.expected_checksum
        started = utc_now()
        result = verify_file(dest, product_kind=row.product_kind, expected_size=size, expected_checksum=checksum,
                             fits_checksum=self.fits_checksum, max_nan_fraction=self.max_nan_fraction)
        sha = hash_file(dest)["sha256"]
        problem = self._adoption_problem(row, result, sha)
        if problem is None:
            record = TransferRecord(started, utc_now(), "adopted", error_kind=None,
                                    error=f"{row.rel_path} was already in place and verified ({result.level})")
            warning = "; ".join(result.warnings) or None
            outcome = FileOutcome(row.file_id, "done", observed_size_bytes=dest.stat().st_size,
                                  observed_sha256=sha, verify_level=result.level, nan_fraction=result.nan_fraction,
                                  error_kind=FITS_WARNING_KIND if warning else None, error=warning,
                                  transfers=(record,))
            return _Finished(outcome, row.rel_path, adopted=True), [], None
        kind, reason = problem
        quarantined = self._quarantine(dest, row.rel_path)
        error = f"{row.rel_path} was in place but {reason}; moved to {quarantined}, downloading it again"
        log.warning("%s", error)
        return None, [TransferRecord(started, utc_now(), "retry", error_kind=kind, error=error)], quarantined

    @staticmethod
    def _adoption_problem(row: ClaimedFile, result, sha: str) -> tuple[str, str] | None:
        known = row.observed_sha256
        if known and sha != known:
            return "sha256_changed_on_disk", (f"changed since download: sha256 was {known[:12]}..., "
                                              f"now {sha[:12]}...")
        if not result.ok:
            return result.error_kind or "unverifiable", f"does not verify ({result.error})"
        # Without an expected size only a checksum (ours from download, or the archive's) proves it complete.
        if row.expected_size_bytes is None and not known and result.level not in ("checksum", "fits_checksum"):
            return "unverifiable", "cannot be proven complete (no expected size or checksum)"
        return None

    def _quarantine(self, path: Path, rel_path: str) -> str:
        """Move a bad file to quarantine/<rel_path> (never delete it); return that relative path."""
        rel = f"{QUARANTINE_DIR}/{rel_path}"
        n = 0
        while (self.data_dir / rel).exists():  # an earlier bad copy stays too
            n += 1
            rel = f"{QUARANTINE_DIR}/{rel_path}.{n}"
        target = self.data_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        return rel


@contextlib.contextmanager
def _part_lock(temp: Path):
    """Hold ``flock(LOCK_EX | LOCK_NB)`` on the .part file from fetch to rename; yields False if taken.

    Leases alone cannot keep two processes off one file: a sync stopped (SIGSTOP, a sleeping
    laptop) past its lease wakes up still writing while another has taken the row over. The
    inode check covers a .part renamed or unlinked between our open and our lock.
    """
    while True:
        try:
            fd = os.open(temp, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            # The directory is made only when missing; a second failure (a dangling symlink
            # named like the .part) is raised, not retried forever.
            temp.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        with contextlib.suppress(FileNotFoundError):
            if os.stat(temp).st_ino == os.fstat(fd).st_ino:
                break
        os.close(fd)
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):  # an empty .part left by a failed first request is noise
            if os.fstat(fd).st_size == 0 and os.stat(temp).st_ino == os.fstat(fd).st_ino:
                os.unlink(temp)
        os.close(fd)


class _AnyEvent:
    """Looks like a threading.Event to the Fetcher: set when the run stops, this row's lease is
    lost, or free space falls below the margin. ``wait`` sleeps on the first (the run's stop)."""

    def __init__(self, *events):
        self.events = events

    def is_set(self) -> bool:
        return any(event.is_set() for event in self.events)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_set() and (left := deadline - time.monotonic()) > 0:
            self.events[0].wait(min(left, 0.1))
        return self.is_set()


def _place(temp: Path, dest: Path) -> None:
    """Atomic placement: the temp file was fsynced by the fetch; rename is all-or-nothing.
    The directory is made only when missing (fewer system calls per file)."""
    try:
        os.replace(temp, dest)
    except FileNotFoundError:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, dest)


# ---- progress ------------------------------------------------------------------------------------


class _Progress:
    """A tqdm bar on a terminal, a log line every few seconds otherwise, nothing when disabled."""

    def __init__(self, total_bytes: int, total_files: int, enabled: bool, workers: int):
        self.enabled, self.total_files = enabled, total_files
        self._counts = [0] * workers  # one slot per worker: no lock on the per-chunk path
        self._shown = 0
        self._next_log = time.monotonic() + PROGRESS_LOG_SECONDS
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_bytes or None, unit="B", unit_scale=True, unit_divisor=1000,
                            desc="sync", file=sys.stderr, dynamic_ncols=True, leave=True)

    def counter(self, index: int) -> Callable[[int], None]:
        counts = self._counts

        def add(n: int) -> None:
            counts[index] += n

        return add

    def refresh(self, s: SyncSummary) -> None:
        if not self.enabled:
            return
        received = sum(self._counts)
        if self.bar is not None:
            if received != self._shown:
                self.bar.update(received - self._shown)
                self._shown = received
            self.bar.set_postfix_str(f"{s.files_done + s.files_adopted}/{self.total_files} done, "
                                     f"{s.files_failed} failed", refresh=False)
        elif time.monotonic() >= self._next_log:
            # Not a terminal (cron, CI): a plain line now and then on stderr, where tqdm would draw.
            self._next_log = time.monotonic() + PROGRESS_LOG_SECONDS
            line = (f"sync: {s.files_done + s.files_adopted}/{self.total_files} files done, {s.files_failed} failed, "
                    f"{_size(received)} received")
            print(line, file=sys.stderr, flush=True)
            log.info(line)

    def close(self, s: SyncSummary) -> None:
        if self.bar is not None:
            self.refresh(s)
            self.bar.close()
