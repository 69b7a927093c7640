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
    so a plain line every 10 s on stderr instead, where the bar would be, and in the log file."""

    def __init__(self, stream: TextIO | None = None):
        super().__init__()
        self.stream = stream
        self.bar = None

    def start(self, total_bytes: int, total_files: int) -> None:
        super().start(total_bytes, total_files)
        stream = self._stream()
        if stream.isatty():
            from tqdm import tqdm  # here: `ratdcs --help` and `ratdcs report` start without it

            self.bar = tqdm(total=total_bytes or None, unit="B", unit_scale=True, unit_divisor=1000,
                            desc="sync", file=stream, dynamic_ncols=True, leave=True)

    def update(self, n_bytes: int, files_done: int, files_failed: int) -> None:
        if self.bar is None:
            super().update(n_bytes, files_done, files_failed)
            return
        if n_bytes:
            self.bar.update(n_bytes)
        self.bar.set_postfix_str(f"{files_done}/{self.total_files} done, {files_failed} failed", refresh=False)

    def emit(self, line: str) -> None:
        click.echo(line, file=self._stream())
        super().emit(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _stream(self) -> TextIO:
        # Looked up when used, not at construction: click's test runner swaps sys.stderr per call.
        return self.stream or sys.stderr
