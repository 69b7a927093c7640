"""`ratdcs sync`: download, verify and place what the manifest says is pending.

This module chooses the rows (``--source``, ``--target``, ``--limit``, ``--max-bytes``,
``--retry-failed``), takes back the rows of syncs that died, answers a dry run, refuses a run
that does not fit on the disk, and hands the rest to one run:

- ``run``: the writer loop, the only thread that touches the manifest (datasette's single
  writer), and the worker threads it feeds;
- ``pipeline``: one file on a worker thread: adopt, lock, fetch, verify, quarantine, place;
- ``space``: the free-space policy;
- ``progress``: what the run tells a progress reporter handed in by the caller.

A kill at any point leaves a resumable ``.part`` file or a verified file under its final name,
and rows that the next sync takes back when their lease expires. A full disk stops the run
while the manifest can still record it (``download.free_space_margin_bytes``); a manifest
write that fails anyway (SQLITE_FULL) stops the run too, never crashes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..net.policy import check_ca_environment
from ..errors import ManifestError
from ..filesystems import network_filesystem_warning
from ..manifest import Manifest, open_manifest
from ..paths import check_own_dirs, ensure_data_dir
from .processes import choose_processes, process_pool
from .progress import ProgressEvent, ProgressFeed, ProgressReporter, as_reporter
from .run import Run
from .space import check_free_space

__all__ = ["ProgressEvent", "ProgressReporter", "SyncSummary", "check_free_space", "sync"]

log = logging.getLogger("ratdcs.sync")


@dataclasses.dataclass
class SyncSummary:
    """What one sync did (or, with ``dry_run``, would do)."""

    sync_id: int | None = None
    dry_run: bool = False
    selected_files: int = 0
    selected_bytes: int = 0
    unknown_size_files: int = 0
    files_done: int = 0
    files_adopted: int = 0
    files_failed: int = 0
    files_released: int = 0
    bytes_received: int = 0
    elapsed_seconds: float = 0.0
    stopped_by: str | None = None  # None, 'signal', 'disk_full', 'error'
    busy_files: int = 0  # selected rows that another live sync holds (leased, or its .part locked)
    busy_until: str | None = None  # the latest lease among them
    still_pending: int = 0  # after a stopped run: selected rows still waiting for a sync
    failed_waiting: int = 0  # with nothing to do: failed rows of the selection (retry-failed / retry)
    beyond_max_bytes: int = 0  # with nothing to do: pending rows that --max-bytes left out
    failures: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # rel_path, kind, reason
    planned: list[dict] = dataclasses.field(default_factory=list)  # dry run: the rows it would fetch

    @property
    def throughput_bytes_per_second(self) -> float:
        return self.bytes_received / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: everything selected is done; 1: a file failed, the run stopped early, or another sync
        holds some of the selected files."""
        return 0 if not self.files_failed and self.stopped_by is None and not self.busy_files else 1


@dataclasses.dataclass(frozen=True)
class _Selection:
    sources: tuple[str, ...]
    target_ids: tuple[str, ...]
    limit: int | None
    max_bytes: int | None
    include_failed: bool
    max_attempts: int

    def filters(self) -> dict[str, Any]:
        return dict(sources=self.sources, target_ids=self.target_ids, include_failed=self.include_failed,
                    max_attempts=self.max_attempts)


def sync(config: Mapping[str, Any], manifest_path, *, workers: int | None = None, sources: Sequence[str] = (),
         target_ids: Sequence[str] = (), limit: int | None = None, max_bytes: int | None = None,
         retry_failed: bool = False, dry_run: bool = False, force: bool = False, progress: Any = True,
         owner: str | None = None, sleep: Callable[[float], None] | None = None,
         cluster: str | None = None) -> SyncSummary:
    """Fetch, verify and place the selected pending files; return what happened.

    Raises ``DiskSpaceError`` before any transfer when the selection does not fit (unless
    ``force``), ``ManifestError`` when there is no manifest at ``manifest_path`` (a mistyped
    ``--db`` must not create an empty one), ``DataDirError`` when ``temp/`` or ``quarantine/``
    is a link or on another file system than the data directory. ``sleep`` replaces the
    back-off sleep (tests).

    ``progress`` is told what arrives; the engine itself never prints. None or False: nothing;
    True: a line on the ``ratdcs.sync`` log every 10 s; a ``ProgressReporter`` (``start``,
    ``update``, ``close``); a progress bar (``update(n_bytes)``, ``close()``); or a callable
    taking a ``ProgressEvent``. See ``ratdcs_catalog.sync.progress``.

    ``cluster``: a Dask scheduler address (``tcp://host:8786``) or ``local:N``; the transfers run
    on its workers, this process stays the only one that writes the manifest (``sync/cluster.py``).
    Raises ``ClusterError`` when Dask is not installed, the scheduler cannot be reached, or the
    workers do not see the data directory.
    """
    started = time.monotonic()
    if cluster is not None:  # a typo or a missing extra fails before the manifest is touched
        from .cluster import parse_address, require_dask

        parse_address(cluster)
        require_dask()
    selection = _Selection(tuple(sources), tuple(str(t) for t in target_ids), limit, max_bytes, retry_failed,
                           config["download.max_attempts"])
    with ProgressFeed(as_reporter(progress)) as feed, open_manifest(manifest_path, create=False) as manifest:
        # Before the dry run and the nothing-to-do check: a dead sync's rows are pending again.
        manifest.reclaim_expired_leases()
        release_dead_local_syncs(manifest)
        if (warning := network_filesystem_warning(manifest.path)) is not None:  # SQLite's locks cannot be trusted
            log.warning("%s", warning)
        if dry_run:
            return _dry_run(manifest, selection, started)
        files, nbytes, unknown = manifest.selection_totals(**selection.filters(), limit=limit, max_bytes=max_bytes)
        summary = SyncSummary(selected_files=files, selected_bytes=nbytes, unknown_size_files=unknown)
        if files == 0:
            _explain_nothing_to_do(manifest, selection, summary)
            summary.elapsed_seconds = time.monotonic() - started
            return summary
        check_ca_environment()
        data_dir = ensure_data_dir(_data_dir(config))
        check_own_dirs(data_dir)  # temp/ and quarantine/: no link, same file system (issue 20)
        check_free_space(data_dir, nbytes, config["download.free_space_margin_bytes"], force=force)
        if retry_failed:  # only now: a refused run leaves the manifest as it was
            manifest.requeue_retryable_failed(sources=selection.sources, target_ids=selection.target_ids,
                                              max_attempts=selection.max_attempts)
            selection = dataclasses.replace(selection, include_failed=False)
        manifest.record_setting("data_dir", str(data_dir))  # where the done rows' files are (issue 19)
        workers = workers or config["download.workers"]
        processes = 1 if cluster is not None else choose_processes(
            config["download.processes"], workers,
            (config["download.per_host_connections"], config["transport.cloud_connections"]), files, nbytes,
            files - unknown)
        with _executor(cluster, workers, data_dir, force, processes) as (make_pool, workers):
            run = Run(config, manifest, data_dir, selection, summary, workers=workers,
                      owner=owner or _make_owner(cluster), progress=feed, sleep=sleep, force=force, make_pool=make_pool)
            try:
                run.execute()
            except sqlite3.OperationalError as exc:  # only start_sync is left unguarded
                raise ManifestError(f"cannot write the manifest {manifest.path}: {exc}",
                                    hint="free some space on its file system (or fix its permissions) "
                                         "and run `ratdcs sync` again") from None
        if summary.stopped_by and max_bytes is None:  # under --max-bytes "how many are left" has no one answer
            _count_still_pending(manifest, selection, summary)
        summary.elapsed_seconds = time.monotonic() - started
        _log_summary(summary)
        return summary


def _explain_nothing_to_do(manifest: Manifest, selection: _Selection, summary: SyncSummary) -> None:
    # "Nothing to do" must not hide rows that another sync (or one killed moments ago,
    # whose lease has not expired yet) is still holding.
    summary.busy_files, summary.busy_until = manifest.leased_rows(sources=selection.sources,
                                                                  target_ids=selection.target_ids)
    if selection.max_bytes is not None:  # the first file alone is over the budget
        summary.beyond_max_bytes = manifest.selection_totals(**selection.filters(), limit=selection.limit)[0]
    # Pending is 0 here, so this counts the failed rows, whatever their attempts.
    summary.failed_waiting = manifest.selection_totals(sources=selection.sources, target_ids=selection.target_ids,
                                                       include_failed=True)[0]


def _count_still_pending(manifest: Manifest, selection: _Selection, summary: SyncSummary) -> None:
    with contextlib.suppress(sqlite3.Error):  # a full disk may refuse even this read
        pending = manifest.selection_totals(**selection.filters())[0]
        if selection.limit is not None:
            s = summary
            pending = min(pending, selection.limit - s.files_done - s.files_adopted - s.files_failed)
        summary.still_pending = max(pending, 0)


def _data_dir(config) -> Path:
    return getattr(config, "data_dir", None) or Path(config["data_dir"]).expanduser().absolute()


def _make_owner(cluster: str | None = None) -> str:
    """host:pid:random, the lease owner; a cluster sync names its cluster after it."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
    return owner if cluster is None else f"{owner}:cluster={cluster}"


@contextlib.contextmanager
def _executor(cluster: str | None, workers: int, data_dir: Path, force: bool, processes: int = 1):
    """(make_pool, workers) for ``Run``: threads here by default; worker processes of this machine
    when ``processes`` > 1 (``processes.py``); with ``cluster``, a Dask client whose workers passed
    the shared-directory probe (``workers``: their threads in all)."""
    if cluster is None:
        if processes > 1:
            log.info("sync: %d worker processes, %d transfers in all", processes, workers)
            yield process_pool(processes, force=force), workers
            return
        yield None, workers
        return
    from .cluster import check_shared_data_dir, cluster_pool, connect

    with connect(cluster, threads=workers) as client:
        check_shared_data_dir(client, data_dir)
        yield cluster_pool(client, force=force), sum(client.nthreads().values())


def release_dead_local_syncs(manifest: Manifest) -> int:
    """Rows leased by a sync on this machine whose process is gone come back now, not at lease expiry.

    After a kill -9 or a crash the next `ratdcs sync` would otherwise wait out the whole lease
    (download.lease_seconds) before it may finish those files. A pid that no longer exists
    cannot be transferring anything; a reused pid only means waiting for the lease, as before.
    """
    host, released = socket.gethostname(), 0
    for owner in manifest.lease_owners():
        owner_host, _, rest = owner.partition(":")
        pid = rest.split(":", 1)[0]
        if owner_host == host and pid.isdigit() and not _process_exists(int(pid)):
            released += manifest.release_leases(owner)
            log.info("took back the rows of sync %s: its process is gone", owner)
    return released


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _dry_run(manifest: Manifest, selection: _Selection, started: float) -> SyncSummary:
    rows = manifest.selection_rows(**selection.filters(), limit=selection.limit, max_bytes=selection.max_bytes)
    summary = SyncSummary(dry_run=True, selected_files=len(rows),
                          selected_bytes=sum(r["expected_size_bytes"] or 0 for r in rows),
                          unknown_size_files=sum(r["expected_size_bytes"] is None for r in rows))
    summary.planned = [{"file_id": r["file_id"], "source": r["source"], "target_id": r["target_id"],
                        "state": r["state"], "rel_path": r["rel_path"], "size_bytes": r["expected_size_bytes"],
                        "url": r["url"]} for r in rows]
    summary.elapsed_seconds = time.monotonic() - started
    return summary


def _log_summary(s: SyncSummary) -> None:
    log.info("sync %s finished: %d downloaded, %d adopted, %d failed, %d released; %d bytes in %.2f s "
             "(%.2f MB/s)%s", s.sync_id, s.files_done, s.files_adopted, s.files_failed, s.files_released,
             s.bytes_received, s.elapsed_seconds, s.throughput_bytes_per_second / 1e6,
             f"; stopped by {s.stopped_by}" if s.stopped_by else "")
