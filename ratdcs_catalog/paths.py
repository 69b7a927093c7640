"""Where files go: the data directory and the checks that keep archive-provided names inside it.

Archives hand us file names and URLs; a hostile or broken answer could name ``../../.bashrc``,
``/etc/passwd`` or a ``file://`` URL. Everything that becomes a path or a URL passes here first.

Symbolic links under the data directory (issue 20). An archive cannot make one and ratdcs never
does, so every link there was made by the user or by someone else who can write in the
directory. The rule:

- A link to a **directory of the product tree** (``tess/``, ``kepler/011904151/``) is followed:
  linking a folder to another disk is a normal way to spread a large dataset. ratdcs only ever
  puts a file there by renaming a verified one into place under the archive's plain file name
  (copied first when the link leads to another file system), so the link decides where the
  dataset lives, never which existing file is written.
- A link is **never followed at a file** ratdcs writes, resumes, adopts or quarantines (the
  ``.part``, its ``.validator``, the destination, a quarantined copy), nor at ``temp/``,
  ``quarantine/`` or any directory below them: ratdcs makes everything there itself, so a link
  there is someone else's, and following it would truncate, overwrite, read or move a file
  outside the data directory. Such a link is refused and named (``LinkRefusedError``); the
  file fails with ``symlink_refused`` and the link is left for the user to look at.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import stat
from pathlib import Path
from urllib.parse import urlsplit

from .errors import DataDirError, UnsafeProductError

__all__ = ["LinkRefusedError", "OwnDirs", "check_own_dirs", "check_relative_path", "check_url", "destination",
           "ensure_data_dir", "refuse_link", "safe_filename"]

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
    # On the string, not a PurePosixPath (checked per file, issue 15): an absolute path's first
    # part is "", so the one test refuses it along with "..", "." and "a//b".
    parts = rel_path.split("/")
    if any(part in ("..", ".", "") for part in parts):
        raise UnsafeProductError(f"refused destination {rel_path!r}: it would escape the data directory")
    if parts[0] in (TEMP_DIR, QUARANTINE_DIR):
        raise UnsafeProductError(f"refused destination {rel_path!r}: {parts[0]}/ is ratdcs's own")
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

    The archive's names cannot leave the data directory (no '..', not absolute). A link to a
    directory of the product tree is followed on purpose: linking ``tess/`` to another disk is
    a normal way to spread a large dataset. A link at the file itself is not (the pipeline
    refuses it), nor anything in ``temp/`` or ``quarantine/``: see this module's docstring.
    """
    return data_dir.absolute() / check_relative_path(rel_path)


def ensure_data_dir(data_dir: Path) -> Path:
    """Create the data directory if needed and prove we can write there."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create the data directory {data_dir}: {exc.strerror}",
                           hint="set data_dir in config.yaml or RATDCS_DATA_DIR to a writable location "
                                "(or pass --data-dir DIR; --db moves the manifest)") from None
    if not data_dir.is_dir():
        raise DataDirError(f"data directory {data_dir} exists but is not a directory",
                           hint="set data_dir in config.yaml or RATDCS_DATA_DIR to a directory (or pass --data-dir DIR)")
    # A file of our own, made and removed, as tempfile would (importing tempfile cost 8 ms of
    # every command's start-up). O_EXCL and a random name: never someone else's file.
    probe = data_dir / f".ratdcs-write-test-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise DataDirError(f"cannot write in the data directory {data_dir}: {exc.strerror}",
                           hint="fix its permissions, or set data_dir / RATDCS_DATA_DIR elsewhere (or pass --data-dir "
                                "DIR; --db moves the manifest)") from None
    return data_dir


class LinkRefusedError(DataDirError):
    """A symbolic link where ratdcs writes, resumes, adopts or quarantines a file (issue 20).

    Per file, not per run: the pipeline records it as the row's ``symlink_refused`` failure.
    """

    error_kind = "symlink_refused"


def refuse_link(path: Path, what: str) -> LinkRefusedError:
    """The error for a link found at ``path``, naming it and where it points."""
    try:
        target = f" to {os.readlink(path)}"
    except OSError:
        target = ""
    return LinkRefusedError(f"{path} is a symbolic link{target}; ratdcs never follows a link at {what}, "
                            "so nothing was written through it",
                            hint=f"remove the link (rm {shlex.quote(str(path))}; what it points to stays as it is)")


def check_own_dirs(data_dir: Path) -> None:
    """Before any download: ``temp/`` and ``quarantine/`` are real directories on the data
    directory's file system, or not there yet (they are made on first use, inside it).

    Every verified file is renamed from ``temp/`` into place and every bad one into
    ``quarantine/``: a rename cannot cross file systems, so a ``temp/`` mounted elsewhere
    failed each file only after downloading it ("Invalid cross-device link"); a link there
    would send the bytes out of the data directory (issue 20).
    """
    home = os.stat(data_dir).st_dev
    for name in (TEMP_DIR, QUARANTINE_DIR):
        path = data_dir / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            error = refuse_link(path, f"ratdcs's own {name}/")
            raise DataDirError(error.message, hint=f"{error.hint}, then run `ratdcs sync` again: ratdcs makes a "
                                                   f"new {name}/ itself. Nothing was downloaded") from None
        if not stat.S_ISDIR(st.st_mode):
            raise DataDirError(f"{path} is not a directory; ratdcs keeps its own files in {name}/",
                               hint="move that file away and run `ratdcs sync` again. Nothing was downloaded")
        if st.st_dev != home:
            raise DataDirError(f"{path} is on another file system than the data directory {data_dir} (a mount "
                               f"point?): files are renamed from {name}/ into place, and a rename cannot cross "
                               "file systems",
                               hint=f"unmount it, or remove it so that ratdcs makes {name}/ inside the data "
                                    "directory; to use another disk, point data_dir at it. Nothing was downloaded")


class OwnDirs:
    """The directories below ``temp/`` and ``quarantine/``: made when missing, a link refused,
    each checked once per sync (a cache, so a file costs no system call once its directory is known)."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.checked: set[Path] = set()

    def ensure(self, directory: Path) -> Path:
        """Make or check every component of ``directory`` below the data directory; return it."""
        if directory in self.checked:
            return directory
        current = self.data_dir
        for part in directory.relative_to(self.data_dir).parts:
            current = current / part
            if current not in self.checked:
                _make_or_check_dir(current)
                self.checked.add(current)  # a set add is atomic under the GIL: workers share this
        return directory


def _make_or_check_dir(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):  # another worker made it first
            os.mkdir(path)  # one level at a time: mkdir(parents=True) would follow a link above
        st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise refuse_link(path, "a directory of temp/ or quarantine/")
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))


def free_bytes(path: Path) -> int:
    """Free bytes available to this user on the file system holding ``path``."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def follow_recorded_data_dir(config):
    """The configuration with the data directory its existing manifest recorded (issue 19).

    plan and sync record the data directory in the manifest; a command run from another directory,
    or with another configuration, on that manifest then works on the same files. What wins:

    - ``--data-dir``, or ``RATDCS_DATA_DIR`` set in the environment (each says what this one
      command is for): it, with a warning;
    - else the recorded directory, while it exists, with a warning naming both;
    - else (the recorded directory is gone: the data moved) the configured one, with a warning.

    The manifest path is pinned first: by default it lives in the data directory, and it must
    stay the manifest that was asked for.
    """
    import logging

    path = config.manifest_path
    if not path.is_file():
        return config
    recorded = _recorded_data_dir(path)
    configured, origin = config.data_dir, config.origin("data_dir")
    if recorded is None or Path(recorded) == configured:
        return config
    log = logging.getLogger("ratdcs.paths")
    # A flag, a keyword of the Python API, or the environment variable (not a .env file's line).
    if origin in ("--data-dir", "python") or origin.startswith("environment $"):
        log.warning("using the data directory %s (from %s), not %s recorded in the manifest %s",
                    configured, origin, recorded, path)
        return config
    if not Path(recorded).is_dir():
        log.warning("the data directory %s recorded in the manifest %s is gone; using %s (from %s)",
                    recorded, path, configured, origin)
        return config
    log.warning("using the data directory %s recorded in the manifest %s, not %s (from %s); "
                "pass --data-dir %s to use that one instead", recorded, path, configured, origin, configured)
    if config["manifest"] is None:
        config = config.with_overrides({"manifest": str(path)}, origin=f"default (<data_dir>/{path.name})")
    return config.with_overrides({"data_dir": recorded}, origin=f"manifest {path}")


def _recorded_data_dir(manifest_path: Path) -> str | None:
    from .errors import ManifestError
    from .manifest import open_manifest

    try:
        with open_manifest(manifest_path, create=False, readonly=True) as manifest:
            return manifest.recorded_setting("data_dir")
    except ManifestError:  # damaged or foreign: the command itself says so when it opens it
        return None
