"""Progress of a sync run: bytes per worker, files done and failed."""

from __future__ import annotations

import logging
import sys
import time
from typing import Callable

from .space import size_text

log = logging.getLogger("ratdcs.sync")

PROGRESS_LOG_SECONDS = 10.0


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

    def refresh(self, s) -> None:
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
                    f"{size_text(received)} received")
            print(line, file=sys.stderr, flush=True)
            log.info(line)

    def close(self, s) -> None:
        if self.bar is not None:
            self.refresh(s)
            self.bar.close()
