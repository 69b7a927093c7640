"""What `ratdcs sync` and `ratdcs demo` draw while files arrive; the engine only counts.

Handed to the engine as ``sync(progress=TerminalProgress())`` (pooch's ``progressbar=``).
"""

from __future__ import annotations

import sys
from typing import TextIO

import click

from ..sync.progress import LogProgress

__all__ = ["TerminalProgress"]


class TerminalProgress(LogProgress):
    """A tqdm bar on a terminal. Elsewhere (cron, CI) tqdm would fill a log with carriage returns,
    so a plain line every 10 s on stderr instead, where the bar would be, and in the log file.

    The bar's total is the bytes whose size is known; files planned without one (ZTF without
    --probe-sizes) are counted apart ("+ 100 files of unknown size") and their sizes are added
    as the archive announces them, so the percentage and the ETA are about known bytes, never
    wrong ones. While the bar is drawn, log lines (a file that failed) are written above it,
    each cut to the terminal's width: the full text is in the log file and `ratdcs report failed`.
    """

    def __init__(self, stream: TextIO | None = None):
        super().__init__()
        self.stream = stream
        self.bar = None
        self.done = self.failed = 0

    def start(self, total_bytes: int, total_files: int) -> None:
        super().start(total_bytes, total_files)
        stream = self._stream()
        if stream.isatty():
            from tqdm import tqdm  # here: `ratdcs --help` and `ratdcs report` start without it

            from ..logs import route_console

            self.bar = tqdm(total=total_bytes or None, unit="B", unit_scale=True, unit_divisor=1000,
                            desc="sync", file=stream, dynamic_ncols=True, leave=True, postfix=self._postfix())
            route_console(self.write_above)

    def total_changed(self, n_bytes: int, files: int) -> None:
        super().total_changed(n_bytes, files)
        if self.bar is not None:
            # Never below what arrived (a restarted body counts twice): no bar past 100%.
            total = max((self.bar.total or 0) + n_bytes, self.bar.n)
            self.bar.total = total or None

    def update(self, n_bytes: int, files_done: int, files_failed: int) -> None:
        if self.bar is None:
            super().update(n_bytes, files_done, files_failed)
            return
        self.done, self.failed = files_done, files_failed
        self.bar.set_postfix_str(self._postfix(), refresh=False)
        self.bar.update(n_bytes)  # redraws (at most tqdm's mininterval apart), with the new counts
        if not n_bytes:
            self.bar.refresh()

    def _postfix(self) -> str:
        unknown = f", + {self.unknown_files} files of unknown size" if self.unknown_files else ""
        return f"{self.done}/{self.total_files} done, {self.failed} failed{unknown}"

    def write_above(self, line: str) -> None:
        """One line above the bar, never inside it: tqdm clears the bar, writes, draws it again."""
        import shutil

        width = shutil.get_terminal_size((100, 24)).columns
        if len(line) > width - 1:
            line = line[:max(20, width - 4)] + "..."
        self.bar.write(line, file=self._stream())

    def emit(self, line: str) -> None:
        click.echo(line, file=self._stream())
        super().emit(line)

    def close(self) -> None:
        if self.bar is not None:
            from ..logs import route_console

            route_console(None)
            self.bar.close()
            self.bar = None

    def _stream(self) -> TextIO:
        # Looked up when used, not at construction: click's test runner swaps sys.stderr per call.
        return self.stream or sys.stderr
