"""Group commit: a batch of verified temporary files made durable, renamed into place, together.

Workers fetch and verify into ``temp/<rel_path>.part`` and hand the file over *staged*: verified,
not yet flushed, still locked (the ``flock`` on the .part's descriptor travels with it, so no
other process can write into it before the rename). Per batch, ``commit_batch`` then does:

1. one durability pass: ``fdatasync`` of every staged file at once, from a few threads, so the
   file system commits its journal once for the lot instead of once per file (measured in
   bench/README.md: parallel ``fdatasync`` beat one ``fdatasync`` after another by 5-7x and
   ``syncfs``, which also flushes every other process's writes on the file system, was slower
   and far less predictable on a shared disk);
2. the renames into place (``os.replace``, all or nothing per file);
3. one ``fsync`` per directory a file was renamed into;

and only then may the caller mark the batch done, in one transaction. So no row is done before
its verified bytes are durable under their final name. A crash before step 2 leaves complete,
verified .part files that the next sync finishes without a request; a crash after it leaves
files in place that the next sync adopts.

Nothing here touches the manifest: a Dask worker (``cluster_worker.run_batch``) runs the pipeline
on its batch and commits it here before it hands the outcomes back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import pipeline as _pipeline
from ..records import FileOutcome
from .pipeline import Finished, abandoned_outcome

__all__ = ["commit_batch", "fsync_dir"]

log = logging.getLogger("ratdcs.sync")

SYNC_THREADS = 8
# Tests only: the process exits (os._exit) right after a batch's durability pass, before its renames.
EXIT_AFTER_DURABILITY_ENV = "RATDCSTEST_EXIT_AFTER_DURABILITY"


def commit_batch(batch: Sequence[Finished], *, lost: Callable[[int], bool] = lambda file_id: False,
                 on_error: Callable[[Finished, OSError], Finished] | None = None) -> list[Finished]:
    """Make the staged files of ``batch`` durable and place them; return the batch, updated.

    ``lost(file_id)`` says a row's lease went to another sync while it waited: its file is not
    placed (the complete .part is kept) and its outcome becomes pending. ``on_error`` turns a
    rename the file system refused into that row's outcome.
    """
    staged = [f for f in batch if f.staged is not None]
    if not staged:
        return list(batch)
    try:
        try:
            _flush_all(f.staged.fd for f in staged)
        except OSError as exc:  # ENOSPC can surface only here (delayed allocation), or EIO
            if on_error is None:
                raise
            for finished in staged:
                replaced = on_error(finished, exc)
                finished.outcome, finished.stop_run = replaced.outcome, replaced.stop_run
            return list(batch)
        if os.environ.get(EXIT_AFTER_DURABILITY_ENV):
            os._exit(int(os.environ[EXIT_AFTER_DURABILITY_ENV]))
        directories = {d for f in staged if (d := _place_one(f, lost, on_error)) is not None}
        for directory in directories:
            fsync_dir(directory)
    finally:
        for finished in staged:
            _release(finished)
    return list(batch)


def _place_one(finished: Finished, lost: Callable[[int], bool], on_error) -> Path | None:
    """Rename one staged file into place; the directory to fsync, or None when not placed."""
    stage = finished.staged
    if lost(finished.outcome.file_id):
        finished.outcome = abandoned_outcome(finished)
        return None
    try:
        _pipeline._place(stage.temp, stage.dest)
    except OSError as exc:
        if on_error is None:
            raise
        replaced = _vanished(finished, exc) or on_error(finished, exc)
        finished.outcome, finished.stop_run = replaced.outcome, replaced.stop_run
        return None
    finished.placed_dir = stage.dest.parent
    return finished.placed_dir


def _vanished(finished: Finished, exc: OSError) -> Finished | None:
    """A staged .part gone when its rename came (removed by hand after its check: a small file's
    is checked in memory, never read again): an interruption to resume, as the pipeline takes a
    .part that vanishes during the transfer, not a failure. None: the rename failed otherwise."""
    if not isinstance(exc, FileNotFoundError) or os.path.lexists(finished.staged.temp):
        return None
    log.warning("%s: the temporary file vanished before it was placed (%s); row back to pending",
                finished.rel_path, exc)
    return Finished(FileOutcome(finished.outcome.file_id, "pending", transfers=finished.outcome.transfers),
                    finished.rel_path)


def _flush_all(fds: Iterable[int]) -> None:
    """fdatasync every descriptor, several at once: concurrent syncs share journal commits.

    The descriptors are dealt into at most SYNC_THREADS lists, one task each, on threads kept for
    the process's life: a thread pool made per batch (and a future per file) cost thread starts
    and futex traffic on every batch of small files."""
    fds = list(fds)
    if len(fds) == 1:
        os.fdatasync(fds[0])
        return
    lanes = min(SYNC_THREADS, len(fds))
    for _ in _flush_pool().map(_fdatasync_each, [fds[i::lanes] for i in range(lanes)]):
        pass


def _fdatasync_each(fds: list[int]) -> None:
    for fd in fds:
        os.fdatasync(fd)


_pool: tuple[int, object] | None = None  # (pid, executor): a forked child makes its own
_pool_lock = threading.Lock()


def _flush_pool():
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            from concurrent.futures import ThreadPoolExecutor  # here: a no-op sync does not import it

            _pool = (os.getpid(), ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="ratdcs-fdatasync"))
        return _pool[1]


def _release(finished: Finished) -> None:
    stage, finished.staged = finished.staged, None
    with contextlib.suppress(OSError):
        os.close(stage.fd)


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
