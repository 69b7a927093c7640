"""The errors ratdcs raises, and what the command line does with each.

Hierarchy::

    RatdcsError                  anything ratdcs refuses or cannot do (exit code 1)
    +-- UsageError               a bad argument or option value (exit code 2)
    |   +-- ConfigError          a bad configuration file, key, value or environment variable
    |   +-- OptionError          a misspelt Python API keyword; also a TypeError (registry.py)
    +-- ManifestError            the manifest cannot be opened, migrated or written (exit code 2)
    +-- DataDirError             the data directory cannot be created or written (exit code 2)
    |   +-- LinkRefusedError     a symbolic link where ratdcs writes (paths.py; per file: symlink_refused)
    +-- ArchiveError             an archive answered with an error, garbage, or not at all
    |   +-- NoTargetsError       a catalog query matched nothing
    +-- UnsafeProductError       an archive listed a file whose path or URL is not acceptable
    +-- DiskSpaceError           not enough free space for what is about to be downloaded
    +-- ClusterError             `sync --cluster`: Dask missing, the scheduler unreachable, or workers
                                 that do not share the data directory (exit code 2)

Per-file download failures are not exceptions: they are data, recorded in the manifest with a
reason, so one bad file never stops a run.

Every error carries a one-line ``message`` (what was expected, what was found) and an optional
``hint`` (what to do next). Only the CLI turns them into output and exit codes.
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "ClusterError",
    "ConfigError",
    "DataDirError",
    "DiskSpaceError",
    "ManifestError",
    "NoTargetsError",
    "RatdcsError",
    "UnsafeProductError",
    "UsageError",
]


class RatdcsError(Exception):
    """Base class: a message for the user, an optional hint, and the exit code it maps to."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(RatdcsError):
    """A command-line argument or option value that cannot be used."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file, key, value or environment variable that cannot be used."""


class ManifestError(RatdcsError):
    """The manifest database cannot be opened, migrated or written."""

    exit_code = 2


class DataDirError(RatdcsError):
    """The data directory cannot be created or written."""

    exit_code = 2


class ArchiveError(RatdcsError):
    """An archive service failed: HTTP error after retries, ERROR status, unparseable body."""


class NoTargetsError(ArchiveError):
    """A catalog query succeeded but matched nothing."""


class UnsafeProductError(RatdcsError):
    """An archive-provided file name, path or URL would escape the data directory or is not http(s)."""


class DiskSpaceError(RatdcsError):
    """The data directory's file system has less free space than the download needs."""


class ClusterError(RatdcsError):
    """`sync --cluster` cannot start: Dask distributed is not installed, the scheduler cannot be
    reached, or the workers do not see the data directory this process sees."""

    exit_code = 2
