"""One claimed file, on a worker thread: adopt, lock, fetch, verify, quarantine, place.

Crash-safe at every step (README "State machine"):

1. the destination already holds a file that verifies (and, if the row recorded a sha256 at
   download, still has it) -> adopted, no request; otherwise it goes to quarantine;
2. stream into ``<data_dir>/temp/<rel_path>.part``, resuming what is there (``transfer``), under
   an exclusive ``flock`` on the .part held until the rename (leases alone cannot stop a sync
   that slept past its lease from writing the same file as the one that took over);
3. verify (``verify``); a file that fails goes to ``<data_dir>/quarantine/<rel_path>``;
4. hand the verified .part over *staged*, its descriptor (and so its lock) still open: the batch's
   group commit (``commit``) makes it durable with the others, renames it into place, fsyncs the
   directories;
5. only then (by the writer, ``run``) is the row marked done.

Nothing here touches the manifest: the result is a ``Finished`` for the writer to record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import logging
import os
import stat
import threading
import time
import types
from pathlib import Path
from typing import Callable, Sequence

from ..errors import UnsafeProductError
from ..paths import QUARANTINE_DIR, TEMP_DIR, LinkRefusedError, OwnDirs, destination, refuse_link
from ..records import ClaimedFile, FileOutcome, TransferRecord, utc_now
from ..net.policy import NetworkPolicy
from ..net.gates import HostGates
from ..partials import forget_validator, validator_path
from ..transfer import FetchResult, Fetcher, TransferOptions
from ..verify import VerifyResult, hash_file, parse_checksum, verify_file
from .routes import Routes, checksum_source, fetch_by_route
from .space import SpaceWatch
from .writeback import start_writeback

__all__ = ["FilePipeline", "Finished", "Staged"]

log = logging.getLogger("ratdcs.sync")

# Verification failures worth one fresh download: the bytes were damaged on the way. A missing
# column or too many NaNs is the archive's file itself, and downloading it again changes nothing.
REFETCH_KINDS = ("size_mismatch", "checksum_mismatch", "fits_checksum", "fits_invalid", "fits_missing_hdu",
                 "gzip_corrupt", "gzip_truncated", "zip_invalid")
# Under verify.fits_checksum = warn, a file whose FITS checksums do not verify is kept with this kind.
FITS_WARNING_KIND = "fits_checksum_warning"
BUSY_PAUSE_SECONDS = 1.0
# The lease of a row run without one (worker processes, Dask): never set. One for all, not an
# Event per file (issue 15: a Condition and a lock made for every file).
_NEVER_LOST = threading.Event()


@dataclasses.dataclass
class Staged:
    """A verified .part waiting for its batch's commit; ``fd`` holds the flock until the rename."""

    temp: Path
    dest: Path
    fd: int


def given_back_untried(row: ClaimedFile, stop: threading.Event, space: "SpaceWatch",
                       lost: threading.Event | None = None, records: Sequence[TransferRecord] = ()) -> Finished | None:
    """A row not to start now, back to pending (with the ``records`` of its earlier attempts): the
    disk is low (the run stops), the run is stopping, or another sync took the row over. None: go ahead.
    Asked before a row is started, and again once a transfer slot is free (the wait may be long)."""
    if not stop.is_set() and (message := space.low()) is not None:
        return Finished(FileOutcome(row.file_id, "pending", error_kind="disk_full", error=message,
                                    transfers=tuple(records)), row.rel_path, stop_run="disk_full")
    if stop.is_set() or (lost is not None and lost.is_set()):
        return Finished(FileOutcome(row.file_id, "pending", transfers=tuple(records)), row.rel_path)
    return None


class SharedTransport:
    """One transport for all the threads of a pipeline, made at the first fetcher: a connection one
    thread released carries another thread's next request, so there are no more connections than
    transfers however many threads there are."""

    def __init__(self, policy: NetworkPolicy, connections_kept: int):
        self.policy, self.connections_kept = policy, connections_kept
        self._transport = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._transport is None:
                from ..net.direct import DirectTransport

                self._transport = DirectTransport(self.policy, pool_size=self.connections_kept)
            return self._transport


@dataclasses.dataclass
class Finished:
    """A worker's report on one row, for the writer."""

    outcome: FileOutcome
    rel_path: str
    placed_dir: Path | None = None
    adopted: bool = False
    bytes_received: int = 0
    stop_run: str | None = None  # 'disk_full' stops the whole run
    busy: bool = False  # another process holds the .part file: handed back, not tried
    staged: Staged | None = None  # verified, waiting for the group commit (``commit``) to place it


class FilePipeline:
    """Adopt, fetch, verify, quarantine or place one claimed row; shared by all worker threads."""

    def __init__(self, config, data_dir: Path, stop: threading.Event, sleep, space: "SpaceWatch | None" = None):
        self.data_dir, self.stop, self.sleep = data_dir, stop, sleep
        self.own_dirs = OwnDirs(data_dir)  # temp/ and quarantine/ directories, checked once per sync
        self.temp_dir = data_dir / TEMP_DIR
        self.space = space or SpaceWatch(data_dir, 0)
        # No fsync per file: the group commit flushes a batch of verified files at once (commit.py).
        self.options = dataclasses.replace(TransferOptions.from_config(config), fsync=False)
        self.routes = Routes.from_config(config)  # the cloud copy first (issue 16), its own host gate
        self.gates = HostGates(config["download.per_host_connections"], config["download.requests_per_second"],
                               domains=self.routes.gate_domains())
        self.fits_checksum, self.max_nan_fraction = config["verify.fits_checksum"], config["verify.max_nan_fraction"]
        self.max_attempts = config["download.max_attempts"]
        self.policy = NetworkPolicy.from_config(config)
        # At most this many fetches at once (None: one per thread): see run.thread_pool's spare threads.
        self.transfer_slots: threading.Semaphore | None = None
        self.transport = SharedTransport(self.policy, max(config["download.per_host_connections"],
                                                          config["transport.cloud_connections"]))  # kept idle

    def make_fetcher(self, on_bytes: Callable[[int], None], on_size: Callable[[int], None] | None = None) -> Fetcher:
        client = self.policy.file_client(transport=self.transport.get())
        space = self.space

        def count(n: int) -> None:
            on_bytes(n)
            space.note(n)

        return Fetcher(client, self.gates, self.options, stop=self.stop, sleep=self.sleep, on_bytes=count,
                       on_size=on_size)

    def run(self, row: ClaimedFile, fetcher: Fetcher, lost: threading.Event | None = None) -> Finished:
        """``process``, with whatever it raises turned into this row's outcome: one bad file
        (or a bug in its handling) must not lose the others. A ``done`` file comes back staged
        (verified, not yet durable or placed): hand the batch to ``commit.commit_batch``."""
        try:
            return self.process(row, fetcher, lost)
        except UnsafeProductError as exc:
            return Finished(FileOutcome(row.file_id, "failed", error_kind="unsafe_path", error=str(exc)),
                            row.rel_path)
        except LinkRefusedError as exc:  # paths.py: links ratdcs never follows (issue 20)
            error = f"{exc}; row marked failed - {exc.hint}, then {self.how_to_retry(row)}"
            log.warning("%s: %s", row.rel_path, error)
            return Finished(FileOutcome(row.file_id, "failed", error_kind=exc.error_kind, error=error), row.rel_path)
        except OSError as exc:  # the local file system refused: permissions, a directory in the way, ...
            return local_error(row, exc, self.how_to_retry(row))
        except Exception as exc:
            log.exception("internal error on %s", row.rel_path)
            return Finished(FileOutcome(row.file_id, "failed", error_kind="internal_error",
                                        error=f"internal error: {type(exc).__name__}: {exc}"), row.rel_path)

    def process(self, row: ClaimedFile, fetcher: Fetcher, lost: threading.Event | None = None) -> Finished:
        """Adopt, or fetch-verify-place under an exclusive lock on the .part file.

        ``lost`` is set by the writer when another sync took the row over (our lease expired
        while this process was stopped or asleep): the transfer is abandoned, nothing placed.
        """
        lost = lost or _NEVER_LOST
        dest = destination(self.data_dir, row.rel_path)
        adopted, records, set_aside = self._adopt(row, dest)
        if adopted is not None:
            return adopted
        temp = self.temp_dir / (row.rel_path + ".part")
        self.own_dirs.ensure(temp.parent)
        fetcher.stop = _AnyEvent(self.stop, lost, self.space)
        try:
            finished = self._fetch_verify_place(row, fetcher, temp, dest, records, lost)
        except FileNotFoundError as exc:
            # Our own .part vanished under us (removed by hand, or by a process that was not
            # holding the lock): an interruption to resume, not a bug.
            log.warning("%s: the temporary file vanished during the transfer (%s); row back to pending",
                        row.rel_path, exc)
            finished = Finished(FileOutcome(row.file_id, "pending", transfers=tuple(records)), row.rel_path)
        finally:
            fetcher.stop = self.stop
        if set_aside and finished.outcome.quarantine_path is None:
            finished.outcome = dataclasses.replace(finished.outcome, quarantine_path=set_aside)
        return finished

    def _fetch_verify_place(self, row: ClaimedFile, fetcher: Fetcher, temp: Path, dest: Path, records: list,
                            lost: threading.Event) -> Finished:
        received, previous_sha = 0, None
        for round_ in (1, 2):
            # Locked per round: a bad first copy is moved to quarantine, and the second one is a new file.
            fd = _lock_part(temp)
            if fd is None:
                return self._busy(row, records)
            finished = None
            try:
                with self.transfer_slots or contextlib.nullcontext():
                    untried = self.transfer_slots and given_back_untried(row, self.stop, self.space, lost, records)
                    if untried:
                        return untried
                    fetched = fetch_by_route(fetcher, row, temp, self.routes, fd=fd,
                                             want_md5=(parse_checksum(row.expected_checksum) or ("",))[0] == "md5")
                records += fetched.records
                received += fetched.bytes_received
                if lost.is_set():
                    return _abandoned(row, records, received)
                if fetched.outcome != "done":
                    return self._not_fetched(row, fetched, records, received)
                finished = self._verify_and_place(row, temp, dest, fetched, records, received, last=round_ == 2,
                                                  lost=lost, previous_sha=previous_sha)
                if finished is not None and finished.outcome.state == "done":
                    finished.staged = Staged(temp, dest, fd)  # the lock travels with it to the commit
                    # A body held in memory is at most 64 KiB: the commit's fdatasync pass starts it as
                    # soon, and the call was system CPU on the worker's thread for every small file.
                    if fetched.body is None:
                        start_writeback(fd)
            finally:
                if finished is None or finished.staged is None:
                    _unlock_part(fd, temp)
            if finished is not None:
                return finished
            previous_sha = fetched.hashes.get("sha256")
        raise AssertionError("unreachable: the second round always returns")

    def _busy(self, row: ClaimedFile, records: list) -> Finished:
        """Another process holds the .part file (a sync whose lease we took over is still
        writing it): give the row back untried, after a short pause so it is not re-claimed hot."""
        log.info("%s: another sync process is still writing %s/%s.part; leaving the file to it",
                 row.rel_path, TEMP_DIR, row.rel_path)
        self.stop.wait(BUSY_PAUSE_SECONDS)
        return Finished(FileOutcome(row.file_id, "pending", transfers=tuple(records)), row.rel_path, busy=True)

    def _not_fetched(self, row: ClaimedFile, fetched: FetchResult, records: list, received: int) -> Finished:
        fid = row.file_id
        if fetched.outcome == "interrupted":
            if (low := self.space.low()) is not None:  # stopped for space: the run stops and says so
                return Finished(FileOutcome(fid, "pending", error_kind="disk_full", error=low, transfers=tuple(records)),
                                row.rel_path, bytes_received=received, stop_run="disk_full")
            return Finished(FileOutcome(fid, "pending", transfers=tuple(records)), row.rel_path,
                            bytes_received=received)
        if fetched.outcome == "disk_full":
            error = f"{fetched.error}; row back to pending - free some space and run `ratdcs sync` again"
            return Finished(FileOutcome(fid, "pending", error_kind="disk_full", error=error, transfers=tuple(records)),
                            row.rel_path, bytes_received=received, stop_run="disk_full")
        error = (f"{fetched.error}; row marked failed, any partial file is kept in {TEMP_DIR}/ for resuming - "
                 f"{self.how_to_retry(row)}")
        return Finished(FileOutcome(fid, "failed", error_kind=fetched.error_kind, error=error,
                                    transfers=tuple(records)), row.rel_path, bytes_received=received)

    def how_to_retry(self, row) -> str:
        """The next step for a row this sync marks failed: `--retry-failed` takes it only while
        it has attempts left (this sync's failure counts as one)."""
        if row.attempts + 1 < self.max_attempts:
            return "run `ratdcs sync --retry-failed` to try again"
        return (f"it has used its {self.max_attempts} attempts (download.max_attempts): `ratdcs retry` gives "
                "them back, then run `ratdcs sync`")

    def _verify_and_place(self, row, temp: Path, dest: Path, fetched: FetchResult, records: list, received: int,
                          *, last: bool, lost: threading.Event, previous_sha: str | None) -> Finished | None:
        fetched, result = _unpacked(row, temp, fetched)
        result = result or verify_file(temp, product_kind=row.product_kind,
                                       expected_size=row.expected_size_bytes or fetched.announced_size,
                                       expected_checksum=row.expected_checksum or fetched.announced_checksum,
                                       observed_hashes=fetched.hashes, fits_checksum=self.fits_checksum,
                                       max_nan_fraction=self.max_nan_fraction, contents=fetched.body)
        fid, sha = row.file_id, fetched.hashes.get("sha256")
        if result.ok and result.warnings and (not last or previous_sha != sha):
            # verify.fits_checksum = warn: cards that do not verify may be damage in transit, so get a
            # second copy (as strict does). Only the same bytes twice prove the archive's own file
            # carries stale cards; a second copy that differs is damage again, failed as strict fails it.
            why = "; ".join(result.warnings)
            if last:
                why += ("; a second download gave different bytes, so neither copy is known to be the archive's "
                        "(verify.fits_checksum = warn keeps a file only when the same bytes come twice)")
            result = dataclasses.replace(result, ok=False, error_kind=FITS_WARNING_KIND if not last else "fits_checksum",
                                         error=why)
        if result.ok:
            if lost.is_set():
                return _abandoned(row, records, received)
            _forget_version(temp, fetched, self.options.chunk_size)
            warning = self._accepted_warning(row, result, sha, previous_sha)
            outcome = FileOutcome(fid, "done", observed_size_bytes=fetched.size, observed_sha256=sha,
                                  verify_level=result.level, nan_fraction=result.nan_fraction,
                                  error_kind=FITS_WARNING_KIND if warning else None, error=warning,
                                  transfers=tuple(records), checksum_source=checksum_source(row, fetched))
            return Finished(outcome, row.rel_path, bytes_received=received)
        quarantined = quarantine(self.own_dirs, temp, row.rel_path)
        _forget_version(temp, fetched, self.options.chunk_size)
        retry = not last and result.error_kind in (*REFETCH_KINDS, FITS_WARNING_KIND)
        then = ("downloading it once more" if retry else
                f"row marked failed - {self.how_to_retry(row)}")
        error = f"{result.error}; moved to {quarantined}, {then}"
        records[-1] = dataclasses.replace(records[-1], outcome="retry" if retry else "failed",
                                          error_kind=result.error_kind, error=error)
        if retry:
            return None
        outcome = FileOutcome(fid, "failed", observed_size_bytes=fetched.size,
                              observed_sha256=sha, nan_fraction=result.nan_fraction,
                              error_kind=result.error_kind, error=error, quarantine_path=quarantined,
                              transfers=tuple(records))
        return Finished(outcome, row.rel_path, bytes_received=received)

    def _accepted_warning(self, row: ClaimedFile, result, sha: str | None, previous_sha: str | None) -> str | None:
        """The sentence kept on a done row whose FITS checksums did not verify (policy warn)."""
        if not result.warnings:
            return None
        # Identical twice (the only way here): the archive's own file has stale cards; the first
        # copy in quarantine is byte for byte the file now in place, so it is not kept twice.
        why = ("a second download gave the same bytes, so the archive's own file carries stale cards; "
               "kept (verify.fits_checksum = warn)")
        _drop_duplicate(self.data_dir, row.rel_path, sha)
        warning = f"{'; '.join(result.warnings)}; {why}"
        log.warning("%s: %s", row.rel_path, warning)
        return warning

    def local_error(self, finished: Finished, exc: OSError) -> Finished:
        """A staged file whose rename the file system refused: that row's outcome (commit.py)."""
        row = types.SimpleNamespace(file_id=finished.outcome.file_id, rel_path=finished.rel_path, attempts=0)
        return local_error(row, exc, self.how_to_retry(row))

    def _adopt(self, row: ClaimedFile, dest: Path) -> tuple[Finished | None, list[TransferRecord], str | None]:
        """A file already at the destination that verifies is kept without a request (e.g. a sync
        killed between the rename and the manifest commit); one that does not, or whose sha256
        differs from the one recorded at download (`ratdcs verify --deep` found it changed), is
        quarantined, logged in the transfers table, and downloaded again. A link there is refused:
        adopting it would record as done a file outside the data directory (issue 20)."""
        try:
            if stat.S_ISLNK(os.lstat(dest).st_mode):
                raise refuse_link(dest, "a downloaded file's destination")
        except FileNotFoundError:
            return None, [], None
        size, checksum = row.expected_size_bytes, row.expected_checksum
        started = utc_now()
        result = verify_file(dest, product_kind=row.product_kind, expected_size=size, expected_checksum=checksum,
                             fits_checksum=self.fits_checksum, max_nan_fraction=self.max_nan_fraction)
        sha = hash_file(dest)["sha256"]
        checked = os.lstat(dest)
        if stat.S_ISLNK(checked.st_mode):  # swapped for a link while it was read: never left as done
            raise refuse_link(dest, "a downloaded file's destination")
        problem = _adoption_problem(row, result, sha)
        if problem is None:
            record = TransferRecord(started, utc_now(), "adopted", error_kind=None,
                                    error=f"{row.rel_path} was already in place and verified ({result.level})")
            warning = "; ".join(result.warnings) or None
            outcome = FileOutcome(row.file_id, "done", observed_size_bytes=checked.st_size,
                                  observed_sha256=sha, verify_level=result.level, nan_fraction=result.nan_fraction,
                                  error_kind=FITS_WARNING_KIND if warning else None, error=warning,
                                  transfers=(record,))
            return Finished(outcome, row.rel_path, adopted=True), [], None
        kind, reason = problem
        quarantined = quarantine(self.own_dirs, dest, row.rel_path)
        error = f"{row.rel_path} was in place but {reason}; moved to {quarantined}, downloading it again"
        log.warning("%s", error)
        return None, [TransferRecord(started, utc_now(), "retry", error_kind=kind, error=error)], quarantined


def _forget_version(temp: Path, fetched: FetchResult, chunk_size: int) -> None:
    """The .part is gone: so is the record of its version. Only a body of more than one chunk
    has one (transfer records it for those alone), so small files cost no unlink call."""
    if fetched.size > chunk_size or fetched.announced_size is None:
        forget_validator(temp)


def abandoned_outcome(finished: Finished) -> FileOutcome:
    """A staged file whose lease went to another sync before its commit: not placed, not recorded."""
    log.warning("%s: lease lost to another sync before the commit; not placed, partial file kept", finished.rel_path)
    return FileOutcome(finished.outcome.file_id, "pending", transfers=finished.outcome.transfers)


def _abandoned(row: ClaimedFile, records: list, received: int) -> Finished:
    """Our lease was taken over: nothing is placed, and record_outcomes leaves the row alone."""
    log.warning("%s: lease lost to another sync; transfer abandoned, partial file kept", row.rel_path)
    return Finished(FileOutcome(row.file_id, "pending", transfers=tuple(records)), row.rel_path,
                    bytes_received=received)


def _adoption_problem(row: ClaimedFile, result, sha: str) -> tuple[str, str] | None:
    """Why a file found at the destination cannot be adopted as it is: (kind, reason), or None."""
    known = row.observed_sha256
    if known and sha != known:
        return "sha256_changed_on_disk", (f"changed since download: sha256 was {known[:12]}..., "
                                          f"now {sha[:12]}...")
    if not result.ok:
        return result.error_kind or "unverifiable", f"does not verify ({result.error})"
    # Without an expected size only a checksum (ours from download, or the archive's) proves it complete.
    if row.expected_size_bytes is None and not known and result.level not in ("checksum", "fits_checksum"):
        return "unverifiable", "cannot be proven complete (no expected size or checksum)"
    return None


def _unpacked(row: ClaimedFile, temp: Path, fetched: FetchResult) -> tuple[FetchResult, VerifyResult | None]:
    """For a kind that arrives packed (a TESScut zip), the .part rewritten to hold its one FITS file,
    with the size and sha256 of what is kept; or the reason it is refused."""
    from ..registry import kind

    if kind(row.product_kind).unpack != "zip":
        return fetched, None
    from ..unpack import unpack_single_fits
    from ..verify import VerifyFailed

    try:
        size, sha, _member = unpack_single_fits(temp)
    except VerifyFailed as failed:
        return fetched, VerifyResult(False, None, failed.kind, failed.message)
    # The zip's size and any digest the server announced were of the zip, not of the file kept.
    return dataclasses.replace(fetched, size=size, hashes={"sha256": sha}, announced_size=None,
                               announced_checksum=None, body=None), None


def quarantine(dirs: OwnDirs, path: Path, rel_path: str) -> str:
    """Move a bad file to quarantine/<rel_path> (never delete it); return that relative path.

    No link is followed on the way or at the name (issue 20): the bad bytes stay in the data directory.
    """
    rel = f"{QUARANTINE_DIR}/{rel_path}"
    dirs.ensure((dirs.data_dir / rel).parent)
    n = 0
    while _occupied(dirs.data_dir / rel):  # an earlier bad copy stays too
        n += 1
        rel = f"{QUARANTINE_DIR}/{rel_path}.{n}"
    os.replace(path, dirs.data_dir / rel)
    return rel


def _occupied(path: Path) -> bool:
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise refuse_link(path, "a quarantined copy")
    except FileNotFoundError:
        return False
    return True


def _drop_duplicate(data_dir: Path, rel_path: str, sha: str | None) -> None:
    """Remove the newest quarantined copy of ``rel_path`` if it has the sha256 of the file placed."""
    copy = data_dir / QUARANTINE_DIR / rel_path
    # Only our own copies: a link named like one is neither hashed through nor counted.
    candidates = sorted((p for p in copy.parent.glob(copy.name + "*") if not p.is_symlink()),
                        key=lambda p: p.lstat().st_mtime) if copy.parent.exists() else []
    if candidates and sha and hash_file(candidates[-1])["sha256"] == sha:
        candidates[-1].unlink()


def local_error(row: ClaimedFile, exc: OSError, how_to_retry: str) -> Finished:
    """A file the data directory refused. A full disk stops the run (rows back to pending, as
    in a transfer); anything else fails this file with the path and the system's reason."""
    where = exc.filename or row.rel_path
    log.debug("traceback of the local error on %s", row.rel_path, exc_info=True)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        message = (f"no space left on the device for {where}; row back to pending - free some space and run "
                   "`ratdcs sync` again")
        return Finished(FileOutcome(row.file_id, "pending", error_kind="disk_full", error=message),
                        row.rel_path, stop_run="disk_full")
    message = f"{where}: {exc.strerror or exc} - fix that place in the data directory, then {how_to_retry}"
    return Finished(FileOutcome(row.file_id, "failed", error_kind="local_error", error=message), row.rel_path)


@contextlib.contextmanager
def _part_lock(temp: Path):
    """``_lock_part`` and ``_unlock_part`` around a block; yields False if another process holds it."""
    fd = _lock_part(temp)
    if fd is None:
        yield False
        return
    try:
        yield True
    finally:
        _unlock_part(fd, temp)


def _lock_part(temp: Path) -> int | None:
    """``flock(LOCK_EX | LOCK_NB)`` on the .part file's own descriptor, held from fetch to rename
    (the group commit closes it after the rename); None if another process holds it.

    Leases alone cannot keep two processes off one file: a sync stopped (SIGSTOP, a sleeping
    laptop) past its lease wakes up still writing while another has taken the row over. The
    inode check covers a .part renamed or unlinked between our open and our lock.

    A link at the .part or at its .validator is refused (``LinkRefusedError``), never followed
    (issue 20): the .part is opened with O_NOFOLLOW, and the check that it is still the file we
    locked uses lstat, so a link put there after the open is not taken for it either.
    """
    while True:
        fd = _open_part(temp)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        with contextlib.suppress(FileNotFoundError):
            if os.lstat(temp).st_ino == os.fstat(fd).st_ino:
                break
        os.close(fd)
    try:
        _refuse_link_at(validator_path(temp), "a partial download's .validator")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unlock_part(fd: int, temp: Path) -> None:
    """Close the .part's descriptor (releasing the lock); an empty .part left by a failed first
    request is noise, removed first."""
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_size == 0 and os.lstat(temp).st_ino == os.fstat(fd).st_ino:
            os.unlink(temp)
    os.close(fd)


_PART_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW


def _open_part(temp: Path) -> int:
    """The .part's descriptor, never through a link. Its directory is made only when missing
    (it was checked once by ``OwnDirs``; this covers a temp/ removed during the run)."""
    try:
        try:
            return os.open(temp, _PART_FLAGS, 0o644)
        except FileNotFoundError:
            temp.parent.mkdir(parents=True, exist_ok=True)
            return os.open(temp, _PART_FLAGS, 0o644)
    except OSError as exc:
        # O_NOFOLLOW on a link (dangling or not): ELOOP on Linux and macOS, EMLINK on FreeBSD.
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise refuse_link(temp, "a partial download") from None
        raise


def _refuse_link_at(path: Path, what: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise refuse_link(path, what)


class _AnyEvent:
    """Looks like a threading.Event to the Fetcher: set when the run stops, this row's lease is
    lost, or free space falls below the margin. ``wait`` sleeps on the first (the run's stop)."""

    def __init__(self, *events):
        self.events = events

    def is_set(self) -> bool:
        return any(event.is_set() for event in self.events)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_set() and (left := deadline - time.monotonic()) > 0:
            self.events[0].wait(min(left, 0.1))
        return self.is_set()


def _place(temp: Path, dest: Path) -> None:
    """Atomic placement: the temp file was made durable by the group commit; rename is all-or-nothing.
    The directory is made only when missing (fewer system calls per file).

    The rename replaces a link at the destination instead of writing through it. A folder the
    user linked to another disk (paths.py) cannot take a rename from temp/, so the file is
    copied beside its destination first and renamed there: the final name still only ever
    holds a complete, fsynced file.
    """
    try:
        _rename_or_copy(temp, dest)
    except FileNotFoundError:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _rename_or_copy(temp, dest)


def _rename_or_copy(temp: Path, dest: Path) -> None:
    try:
        os.replace(temp, dest)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    import shutil  # a folder linked to another disk only

    beside = dest.with_name(f".{dest.name}.ratdcs-copy")  # hidden; a crash leaves it to the next copy
    with open(temp, "rb") as src, open(beside, "wb", opener=_create_no_follow) as out:
        shutil.copyfileobj(src, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
    os.replace(beside, dest)
    os.unlink(temp)


def _create_no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW, 0o644)
