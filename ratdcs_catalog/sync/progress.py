"""Progress handed in by the caller (pooch's ``progressbar=``): the engine counts, the caller draws.

The engine counts bytes per worker thread (a list slot each: no lock on the per-chunk path) and,
from the writer thread's loop, tells a reporter what changed, at most ten times a second and at
least once a second. It never prints and draws nothing: the command line's bar lives in
``ratdcs_catalog.cli.progress``.

``sync(progress=...)`` takes:

- ``None`` or ``False``: nothing;
- ``True`` (the default for a library user): a line on the ``ratdcs.sync`` log every 10 s
  (``LogProgress``), nothing printed;
- a ``ProgressReporter``: any object with ``start``, ``update`` and ``close`` (below), and
  optionally ``unknown_sizes(files)`` (before ``start``: how many selected files have no known
  size) and ``total_changed(n_bytes, files)`` (add ``n_bytes`` to the total: sizes the archive
  announced for ``files`` such files since the last call, less the bytes that will not come this
  run for files that ended without them: failed, adopted from disk, resumed, handed back);
- a progress bar, as pooch takes one: any object with ``update(n_bytes)`` and ``close()``; its
  ``total`` is set to the bytes expected if it has one, and its ``set_postfix_str(text,
  refresh=False)``, if any, gets the file counts;
- a callable: called with a ``ProgressEvent`` at the start, on each update, and at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable, Protocol

from ..sizes import format_bytes

__all__ = ["LogProgress", "ProgressEvent", "ProgressFeed", "ProgressReporter", "as_reporter"]

log = logging.getLogger("ratdcs.sync")


class ProgressReporter(Protocol):
    """What the engine calls; all three from the thread that called ``sync()``."""

    def start(self, total_bytes: int, total_files: int) -> None:
        """Once, when transfers begin: the bytes expected (0 when no size is known) and the files
        selected. A dry run, a sync with nothing to do, or one refused before any transfer never
        starts."""

    def update(self, n_bytes: int, files_done: int, files_failed: int) -> None:
        """``n_bytes`` received since the last call; files done (adopted ones included) and failed
        so far."""

    def close(self) -> None:
        """Once, when ``sync()`` returns or raises, started or not."""


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """What a callable ``progress`` receives."""

    kind: str  # 'start', 'update' or 'close'
    total_bytes: int  # expected; grows as sizes of files planned without one are announced
    total_files: int
    bytes_received: int  # so far
    files_done: int  # adopted ones included
    files_failed: int


def as_reporter(progress: Any) -> ProgressReporter:
    """The reporter for what the caller handed in (see the module's docstring)."""
    if progress is None or progress is False:
        return _Silent()
    if progress is True:
        return LogProgress()
    if all(callable(getattr(progress, name, None)) for name in ("start", "update", "close")):
        return progress
    if all(callable(getattr(progress, name, None)) for name in ("update", "close")):
        return _Bar(progress)
    if callable(progress):
        return _Callback(progress)
    raise TypeError(f"progress: expected None, True/False, an object with start/update/close, a bar with "
                    f"update/close, or a callable taking a ProgressEvent; got {type(progress).__name__}")


class ProgressFeed:
    """The engine's side: per-worker byte counts, pushed to the reporter by the writer thread."""

    PUSH_SECONDS = 0.1  # at most this often (a terminal bar redraws no faster by default)
    HEARTBEAT_SECONDS = 1.0  # and at least this often, so a reporter's clock runs during a stall

    def __init__(self, reporter: ProgressReporter):
        self.reporter = reporter
        self._counts: list[int] = []
        self._learned: list[int] = []  # sizes announced for files planned without one, per worker
        self._learned_files: list[int] = []
        self._dropped = 0  # bytes of the total that will not come (only the writer thread adds)
        self._pushed = (0, 0, 0, 0, 0)  # bytes, files done, files failed, learned bytes, learned files
        self._pushed_at = 0.0
        self._closed = False

    def start(self, total_bytes: int, total_files: int, workers: int, *, unknown_size_files: int = 0) -> None:
        """Before the worker threads start: one counter slot each."""
        self._counts = [0] * workers
        self._learned, self._learned_files = [0] * workers, [0] * workers
        self._pushed_at = time.monotonic()
        if unknown_size_files and callable(getattr(self.reporter, "unknown_sizes", None)):
            self.reporter.unknown_sizes(unknown_size_files)
        self.reporter.start(total_bytes, total_files)

    def counter(self, index: int) -> Callable[[int], None]:
        """The per-chunk callback of worker ``index``: one list slot, no lock."""
        counts = self._counts

        def add(n: int) -> None:
            counts[index] += n

        return add

    def drop(self, n_bytes: int) -> None:
        """From the writer: bytes of the total that will not come this run (a file that failed, was
        adopted, resumed or handed back), so the bar can reach 100% and the ETA is not inflated."""
        self._dropped += max(0, n_bytes)

    def sizer(self, index: int) -> Callable[[int], None]:
        """Worker ``index``'s callback for a size the archive announced for a file planned without one."""
        learned, files = self._learned, self._learned_files

        def learn(n: int) -> None:
            learned[index] += n
            files[index] += 1

        return learn

    def refresh(self, files_done: int, files_failed: int, *, final: bool = False) -> None:
        """From the writer's loop: tell the reporter what changed since the last push."""
        now = time.monotonic()
        if not final and now - self._pushed_at < self.PUSH_SECONDS:
            return
        state = (sum(self._counts), files_done, files_failed, sum(self._learned) - self._dropped,
                 sum(self._learned_files))
        if state == self._pushed and (final or now - self._pushed_at < self.HEARTBEAT_SECONDS):
            return
        if state[3:] != self._pushed[3:] and callable(getattr(self.reporter, "total_changed", None)):
            self.reporter.total_changed(state[3] - self._pushed[3], state[4] - self._pushed[4])
        self.reporter.update(state[0] - self._pushed[0], files_done, files_failed)
        self._pushed, self._pushed_at = state, now

    def close(self) -> None:
        """Once; later calls do nothing (the run closes it, and ``sync()`` on every way out)."""
        if not self._closed:
            self._closed = True
            self.reporter.close()

    def __enter__(self) -> "ProgressFeed":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class LogProgress:
    """``progress=True``: a line on the ``ratdcs.sync`` log every 10 s, for a log file or a
    notebook that configured logging; nothing printed."""

    INTERVAL_SECONDS = 10.0

    def __init__(self) -> None:
        self.total_files = 0
        self.received = 0
        self.unknown_files = 0  # selected files whose size nobody has announced yet
        self._next = 0.0

    def unknown_sizes(self, files: int) -> None:
        self.unknown_files = files

    def total_changed(self, n_bytes: int, files: int) -> None:
        self.unknown_files = max(0, self.unknown_files - files)

    def start(self, total_bytes: int, total_files: int) -> None:
        self.total_files = total_files
        self._next = time.monotonic() + self.INTERVAL_SECONDS

    def update(self, n_bytes: int, files_done: int, files_failed: int) -> None:
        self.received += n_bytes
        if time.monotonic() >= self._next:
            self._next = time.monotonic() + self.INTERVAL_SECONDS
            unknown = f" (+ {self.unknown_files} files of unknown size)" if self.unknown_files else ""
            self.emit(f"sync: {files_done}/{self.total_files} files done, {files_failed} failed, "
                      f"{format_bytes(self.received)} received{unknown}")

    def emit(self, line: str) -> None:
        log.info(line)

    def close(self) -> None:
        pass


class _Silent:
    def start(self, total_bytes: int, total_files: int) -> None:
        pass

    def update(self, n_bytes: int, files_done: int, files_failed: int) -> None:
        pass

    def close(self) -> None:
        pass


class _Bar:
    """A progress bar handed in, pooch-style."""

    def __init__(self, bar: Any):
        self.bar, self.total_files = bar, 0

    def start(self, total_bytes: int, total_files: int) -> None:
        self.total_files = total_files
        if hasattr(self.bar, "total"):
            self.bar.total = total_bytes or None

    def total_changed(self, n_bytes: int, files: int) -> None:
        if hasattr(self.bar, "total"):
            self.bar.total = (self.bar.total or 0) + n_bytes

    def update(self, n_bytes: int, files_done: int, files_failed: int) -> None:
        if n_bytes:
            self.bar.update(n_bytes)
        if hasattr(self.bar, "set_postfix_str"):
            self.bar.set_postfix_str(f"{files_done}/{self.total_files} done, {files_failed} failed", refresh=False)

    def close(self) -> None:
        self.bar.close()


class _Callback:
    """A callable handed in: each call becomes a ``ProgressEvent`` with running totals."""

    def __init__(self, callback: Callable[[ProgressEvent], Any]):
        self.callback = callback
        self.event = ProgressEvent("start", 0, 0, 0, 0, 0)

    def start(self, total_bytes: int, total_files: int) -> None:
        self.event = ProgressEvent("start", total_bytes, total_files, 0, 0, 0)
        self.callback(self.event)

    def total_changed(self, n_bytes: int, files: int) -> None:
        """A size announced for a file planned without one: the events' total grows by it."""
        self.event = dataclasses.replace(self.event, total_bytes=self.event.total_bytes + n_bytes)

    def update(self, n_bytes: int, files_done: int, files_failed: int) -> None:
        self.event = dataclasses.replace(self.event, kind="update", bytes_received=self.event.bytes_received + n_bytes,
                                         files_done=files_done, files_failed=files_failed)
        self.callback(self.event)

    def close(self) -> None:
        self.callback(dataclasses.replace(self.event, kind="close"))
