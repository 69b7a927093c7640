"""The free-space policy: refuse a run that does not fit, and stop one while the manifest can still
record that it stopped.

The manifest lives on the data directory's file system by default: a run that fills the disk to
the last byte cannot even write "stopped" (SQLITE_FULL), so a margin
(``download.free_space_margin_bytes``) is kept free, and ``--force`` still keeps a few MB.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ..errors import DiskSpaceError
from ..paths import TEMP_DIR, free_bytes
from ..sizes import format_bytes

__all__ = ["FORCE_HEADROOM_BYTES", "SpaceWatch", "check_free_space", "running_margin"]

log = logging.getLogger("ratdcs.sync")

# Free space kept while running under --force (download.free_space_margin_bytes, if smaller, wins):
# enough for the manifest to record that the run stopped.
FORCE_HEADROOM_BYTES = 8 * 1000 * 1000


def check_free_space(data_dir: Path, needed_bytes: int, margin_bytes: int, *, force: bool = False) -> None:
    """Refuse (DiskSpaceError) when the selection plus the margin does not fit; ``force`` only logs."""
    free = free_bytes(data_dir)
    if needed_bytes + margin_bytes <= free:
        return
    # ratdcs's own partial files count as room: they are resumed (or replaced), not added to. Only
    # looked for when the space looks short, so a run that fits does not walk temp/.
    parts = partial_bytes(data_dir)
    if needed_bytes + margin_bytes <= free + parts:
        return
    held = f" (plus {format_bytes(parts)} in ratdcs's own partial files in {TEMP_DIR}/)" if parts else ""
    message = (f"not enough free space in {data_dir}: the selected files need {format_bytes(needed_bytes)} plus a "
               f"margin of {format_bytes(margin_bytes)}, and {format_bytes(free)} are free{held}")
    if force:
        log.warning("%s; going ahead (--force)", message)
        return
    raise DiskSpaceError(message + "; nothing was downloaded",
                         hint="free some space, select less (--source, --target, --limit, --max-bytes), "
                              "or pass --force to start anyway")


def partial_bytes(data_dir: Path) -> int:
    """Bytes held by ``.part`` files under ``<data_dir>/temp/`` (links not followed)."""
    total, stack = 0, [data_dir / TEMP_DIR]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.name.endswith(".part") and entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


def running_margin(margin_bytes: int, *, force: bool) -> int:
    """The margin a run stops at: --force starts a run that looks too big, but still must not fill
    the disk to the last byte."""
    return min(margin_bytes, FORCE_HEADROOM_BYTES) if force else margin_bytes


class SpaceWatch:
    """Free space in the data directory against the margin, looked at every 0.5 s and after
    every eighth of the margin written, so a fast transfer cannot run through the margin unseen.

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
            f"free space in {self.data_dir} fell to {format_bytes(free)}, below the margin of "
            f"{format_bytes(self.margin_bytes)} (download.free_space_margin_bytes) kept so the manifest can still be "
            "written; row back to pending - free some space and run `ratdcs sync` again")
        return self._message
