"""A partial download's own files in temp/: its ``.part``, written from an offset, and beside it the
version its bytes are of (resume with If-Range).

A resume that appends the rest of a *new* version to the start of an old one splices two files;
MAST gives no checksum to catch it. So the version (strong ETag, else Last-Modified) the first
bytes came from is kept in ``<file>.part.validator``, written and read without following links,
and a resume asks for the rest only if the archive still serves that version.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Mapping

__all__ = ["PositionalWriter", "forget_validator", "load_validator", "no_follow", "open_for_writing", "save_validator",
           "validator_of", "validator_path", "write_through"]


def validator_of(headers: Mapping[str, str]) -> str | None:
    """The version a response is of: its strong ETag, else Last-Modified (what If-Range takes).

    MAST's Download/file sends both (docs/archive-facts.md section 1); a weak ETag (W/"...")
    may not be used in If-Range.
    """
    etag = (headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return (headers.get("Last-Modified") or "").strip() or None


def validator_path(temp: Path) -> Path:
    return temp.with_name(temp.name + ".validator")


def load_validator(temp: Path) -> str | None:
    """The version the partial file's bytes are of, as recorded beside it (a kill keeps it)."""
    try:  # not through a link: its target's first line would go to the server as If-Range (issue 20)
        with open(no_follow(validator_path(temp), os.O_RDONLY), encoding="ascii", errors="replace") as fh:
            text = fh.read(1024).strip()
    except OSError:
        return None
    # One header value, from a server: anything else is not sent back as a header.
    return text if text and len(text) <= 256 and text.isprintable() else None


def save_validator(temp: Path, value: str | None) -> None:
    """Record (or, with None, forget) which version the bytes being written to ``temp`` are of."""
    if value is None or not value.isprintable() or len(value) > 256:
        forget_validator(temp)
        return
    path = validator_path(temp)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:  # not through a link: it would overwrite the file it points to (issue 20)
        fd = no_follow(path, flags)
    except FileNotFoundError:  # the .part's folder is made on first use
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = no_follow(path, flags)
    with open(fd, "w", encoding="ascii", errors="replace") as fh:
        fh.write(value + "\n")


def forget_validator(temp: Path) -> None:
    """The partial file is gone (placed, quarantined or emptied): so is its version."""
    with contextlib.suppress(FileNotFoundError):
        validator_path(temp).unlink()


def no_follow(path: Path, flags: int) -> int:
    """A descriptor of one of ratdcs's own files in temp/, never through a link (issue 20).

    Handed to ``open`` as a descriptor, not as ``opener=``: CPython sets close-on-exec again on
    what an opener returns, one more system call per file (os.open has set it already)."""
    return os.open(path, flags | os.O_NOFOLLOW, 0o666)


# ---- the .part, written from an offset -------------------------------------------------------------

def open_for_writing(temp: Path, offset: int):
    """The temp file, unbuffered (chunks are large; a buffer would only copy them), cut to ``offset``.

    Its directory is made only when missing: a sync opens thousands of files in a few
    directories, and every extra system call is a GIL hand-off between the workers. A link at
    ``temp`` is not followed (O_NOFOLLOW, no extra system call): it fails the open (issue 20).
    """
    flags = os.O_RDWR if offset else os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = no_follow(temp, flags)
    except FileNotFoundError:
        temp.parent.mkdir(parents=True, exist_ok=True)
        fd = no_follow(temp, flags)
    fh = open(fd, "r+b" if offset else "wb", buffering=0)
    fh.name = str(temp)  # as open(temp) would name it: messages and tests read it
    if offset:
        try:
            fh.seek(offset)
            fh.truncate()
        except BaseException:
            fh.close()
            raise
    return fh


def write_through(fd: int, temp: Path, offset: int, cut: bool = True):
    """The caller's descriptor of the temp file as a writer from ``offset`` (not closed with it);
    the file cut there first unless the caller knows it ends there (``cut=False``)."""
    if cut:
        os.ftruncate(fd, offset)
    return PositionalWriter(fd, str(temp), offset)


class PositionalWriter:
    """Writes to a descriptor at an explicit position (``os.pwrite``): no seek before the first
    write and no ``fstat`` that wrapping the descriptor in a file object costs, two system calls
    fewer per file for sync's many small ones. Looks like the unbuffered file it replaces."""

    def __init__(self, fd: int, name: str, position: int):
        self.fd, self.name, self.position = fd, name, position

    def write(self, data) -> int:
        written = os.pwrite(self.fd, data, self.position)
        self.position += written
        return written

    def tell(self) -> int:
        return self.position

    def fileno(self) -> int:
        return self.fd

    def flush(self) -> None:
        """Nothing is buffered."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        """The descriptor is the caller's (it holds the .part's lock): left open."""
