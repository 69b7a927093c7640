"""Where files go: the data directory and the checks that keep archive-provided names inside it.

Archives hand us file names and URLs; a hostile or broken answer could name ``../../.bashrc``,
``/etc/passwd`` or a ``file://`` URL. Everything that becomes a path or a URL passes here first.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from .errors import DataDirError, UnsafeProductError

__all__ = ["check_relative_path", "check_url", "destination", "ensure_data_dir", "safe_filename"]

# Directories ratdcs keeps under the data directory for its own bookkeeping.
TEMP_DIR = "temp"
QUARANTINE_DIR = "quarantine"
# The longest archive file name taken, in bytes of its UTF-8 encoding: file systems take 255
# (NAME_MAX), and ratdcs adds ".part" in temp/ and ".N" to a second copy in quarantine/.
NAME_MAX_BYTES = 240
# Control characters (C0, DEL, C1) and the Unicode line separators: a name holding one would break
# every line-based file it is written to (the log, `export urls` input for aria2c and curl) and
# could smuggle extra options into them. Bidirectional overrides would let a name display as
# another ("x\u202egol.fits" shows as "xstif.log") in reports and terminals.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_filename(name: str) -> str:
    """An archive-provided file name, refused unless it is one plain path component."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name \
            or name in (".", "..") or name.startswith("."):
        raise UnsafeProductError(f"refused archive file name {name!r}: not a plain file name")
    _check_characters(name, "archive file name")
    return name


def check_relative_path(rel_path: str) -> str:
    """A destination relative to the data directory: forward slashes, no '..', not absolute."""
    if not isinstance(rel_path, str) or not rel_path or "\\" in rel_path:
        raise UnsafeProductError(f"refused destination {rel_path!r}: empty or a backslash")
    _check_characters(rel_path, "destination")
    pure = PurePosixPath(rel_path)
    if pure.is_absolute() or any(part in ("..", ".", "") for part in rel_path.split("/")):
        raise UnsafeProductError(f"refused destination {rel_path!r}: it would escape the data directory")
    if pure.parts[0] in (TEMP_DIR, QUARANTINE_DIR):
        raise UnsafeProductError(f"refused destination {rel_path!r}: {pure.parts[0]}/ is ratdcs's own")
    return rel_path


def _check_characters(text: str, what: str) -> None:
    if _CONTROL.search(text):
        raise UnsafeProductError(f"refused {what} {text!r}: it holds a control character (NUL, newline, ...)")
    if any(len(part.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES for part in text.split("/")):
        raise UnsafeProductError(f"refused {what} {text[:60]!r}...: a name longer than {NAME_MAX_BYTES} bytes, "
                                 "which file systems do not take once ratdcs adds .part")


def check_url(url: str) -> str:
    """Only http(s) URLs with a host are fetched."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or "\x00" in url \
            or any(c in url for c in "\r\n "):
        raise UnsafeProductError(f"refused URL {url!r}: only http(s) URLs with a host are fetched")
    return url


def destination(data_dir: Path, rel_path: str) -> Path:
    """The absolute destination of a manifest row: ``data_dir / rel_path``, checked.

    The archive's names cannot leave the data directory (no '..', not absolute). Symlinks that
    the user put inside it are followed on purpose: linking ``tess/`` to another disk is a
    normal way to spread a large dataset, and only the user can make them.
    """
    return data_dir.absolute() / check_relative_path(rel_path)


def ensure_data_dir(data_dir: Path) -> Path:
    """Create the data directory if needed and prove we can write there."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create the data directory {data_dir}: {exc.strerror}",
                           hint="set data_dir in config.yaml or RATDCS_DATA_DIR to a writable location") from None
    if not data_dir.is_dir():
        raise DataDirError(f"data directory {data_dir} exists but is not a directory",
                           hint="set data_dir in config.yaml or RATDCS_DATA_DIR to a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".ratdcs-write-test-"):
            pass
    except OSError as exc:
        raise DataDirError(f"cannot write in the data directory {data_dir}: {exc.strerror}",
                           hint="fix its permissions, or set data_dir / RATDCS_DATA_DIR elsewhere") from None
    return data_dir


def free_bytes(path: Path) -> int:
    """Free bytes available to this user on the file system holding ``path``."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize
