"""`ratdcs sync`: download, verify and place the pending files of the manifest."""

from __future__ import annotations

import click

from ..config import MAX_WORKERS
from ..sizes import format_bytes, parse_size
from .common import App, pass_app, render_rows, source_option

__all__ = ["sync"]

DRY_RUN_LISTED = 50


@click.command("sync")
@click.option("--workers", type=click.IntRange(min=1, max=MAX_WORKERS), default=None,
              help="Parallel transfers (default: download.workers).")
@source_option("Only files of this source (repeatable).")
@click.option("--target", "target_ids", multiple=True, metavar="ID",
              help="Only files of this target: KIC, EPIC, TIC or ZTF field (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many files.")
@click.option("--max-bytes", "max_bytes", metavar="SIZE", default=None,
              help="Stop claiming files before this many expected bytes (e.g. 3GB); files of unknown size "
                   "(ZTF planned without --probe-sizes) count as 0.")
@click.option("--retry-failed", is_flag=True, help="Also take failed files that have attempts left.")
@click.option("--dry-run", is_flag=True, help="Show what would be fetched and how many bytes; fetch nothing.")
@click.option("--force", is_flag=True, help="Start even if the free disk space looks too small.")
@click.option("--no-cloud", "no_cloud", is_flag=True,
              help="Fetch every file from the archive's own URL, not from MAST's cloud copy (transport.cloud = never).")
@click.option("--processes", metavar="N|auto", default=None,
              help="Worker processes to split the transfers among (default: download.processes, auto: "
                   "one per transfer, up to 4, for 1,000 or more small files).")
@click.option("--cluster", metavar="ADDRESS", default=None,
              help="Run the transfers on Dask workers: a scheduler address (tcp://host:8786) or local:N "
                   "(N worker processes here, --workers threads in all); needs pip install 'ratdcs[dask]' "
                   "and a data directory every worker shares (docs/scale.md).")
@pass_app
def sync(app: App, workers, sources, target_ids, limit, max_bytes, retry_failed, dry_run, force, no_cloud,
         processes, cluster):
    """Download, verify and place every pending file of the manifest.

    Each file is streamed to <data_dir>/temp/, resumed with a Range request after an
    interruption, verified (size, checksum, FITS structure, FITS CHECKSUM/DATASUM) and renamed
    into place; only then is its row done. A file that fails verification is moved to
    <data_dir>/quarantine/ with its reason in the manifest. Ctrl-C stops cleanly (twice: at once);
    a second sync with nothing pending sends no request.

    With --cluster the files are fetched, verified and placed by Dask workers, and this
    process, beside the manifest, claims the rows and records every outcome.

    Exit code 0 when every selected file is done, 1 when any failed or the run was stopped.

    \b
    Example:
        ratdcs sync --workers 8 --source kepler --max-bytes 2GB
        ratdcs sync --cluster local:2 --workers 8
    """
    import ratdcs_catalog as api

    from .progress import TerminalProgress

    if not dry_run:
        app.log_to_file(may_create_dir=True)
    summary = api.sync(config=app.config(), workers=workers, sources=sources, target_ids=target_ids, limit=limit,
                       max_bytes=parse_size(max_bytes) if max_bytes is not None else None,
                       retry_failed=retry_failed, dry_run=dry_run, force=force, cloud=not no_cloud, cluster=cluster,
                       processes=processes,
                       progress=None if app.quiet else TerminalProgress())
    click.echo(render_dry_run(summary) if dry_run else render_summary(summary))
    if max_bytes is not None and summary.unknown_size_files:
        click.echo(f"Note: {summary.unknown_size_files} of the selected files have no known size; --max-bytes "
                   "counted them as 0 bytes (plan ZTF with --probe-sizes to learn their sizes).")
    if summary.exit_code:
        raise click.exceptions.Exit(summary.exit_code)


def render_dry_run(summary) -> str:
    unknown = f" ({summary.unknown_size_files} of unknown size)" if summary.unknown_size_files else ""
    lines = [f"Dry run: would fetch {summary.selected_files} files, {format_bytes(summary.selected_bytes)}{unknown}."]
    if summary.unknown_size_files:
        lines.append(f"{summary.unknown_size_files} files have no known size, so the total above leaves them out "
                     "(IRSA lists none for ZTF images): `ratdcs plan ztf --probe-sizes` with the same options asks "
                     "the archive for each (one HEAD request per file); otherwise sync learns each size as the "
                     "file arrives.")
    rows = [{"source": r["source"], "target": r["target_id"], "state": r["state"], "path": r["rel_path"],
             "bytes": format_bytes(r["size_bytes"])} for r in summary.planned[:DRY_RUN_LISTED]]
    if rows:
        lines.append(render_rows(rows))
    if summary.selected_files > DRY_RUN_LISTED:
        lines.append(f"... and {summary.selected_files - DRY_RUN_LISTED} more")
    return "\n".join(lines)


def render_summary(summary) -> str:
    if summary.selected_files == 0:
        if summary.busy_files:
            return busy_sentence(summary) + (" A sync that was killed gives its files back when the lease expires; "
                                             "run `ratdcs sync` again then.")
        if summary.beyond_max_bytes:
            return (f"Nothing to do within --max-bytes: the next pending file alone is larger "
                    f"({summary.beyond_max_bytes} pending files match without the cap).")
        if summary.failed_waiting:
            return (f"Nothing to do: no pending files match; {summary.failed_waiting} failed files wait for "
                    "`ratdcs sync --retry-failed` (while attempts are left) or `ratdcs retry` "
                    "(`ratdcs report failed` says why they failed).")
        return "Nothing to do: no pending files match (run `ratdcs report` to see the manifest)."
    s = summary
    lines = [f"Downloaded {s.files_done}, adopted {s.files_adopted}, failed {s.files_failed}"
             + (f", left pending {s.files_released}" if s.files_released and not s.stopped_by else "")
             + f" of {s.selected_files} files; {format_bytes(s.bytes_received)} in {s.elapsed_seconds:.1f} s "
             f"({format_bytes(s.throughput_bytes_per_second)}/s)."]
    lines += failure_lines(s.failures)
    pending = f" {s.still_pending} selected files are still pending." if s.still_pending else ""
    if s.stopped_by == "signal":
        lines.append(f"Stopped by a signal: partial files are kept.{pending} Run `ratdcs sync` again to resume.")
    elif s.stopped_by == "disk_full":
        lines.append(f"Stopped: the disk is full. Partial files are kept.{pending} Free some space and run "
                     "`ratdcs sync` again.")
    elif s.stopped_by == "error":
        lines.append(f"Stopped: the manifest could not be written (see the log).{pending} Run `ratdcs sync` again "
                     "once fixed.")
    if s.busy_files:
        lines.append(busy_sentence(s) + " Run `ratdcs sync` again after it ends.")
    return "\n".join(lines)


def failure_lines(failures: list[tuple[str, str, str]]) -> list[str]:
    """Failures grouped by kind: one headline, then one line per kind with one example (issue 19:
    35 failures used to print 20 lines of ~280 characters each). Each line fits the terminal."""
    import shutil

    if not failures:
        return []
    width = max(60, shutil.get_terminal_size((100, 24)).columns) - 1
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for rel_path, kind, error in failures:
        by_kind.setdefault(kind, []).append((rel_path, error))
    ranked = sorted(by_kind.items(), key=lambda item: (-len(item[1]), item[0]))
    counts = ", ".join(f"{len(items)} {kind}" for kind, items in ranked)
    lines = [f"{len(failures)} failed: {counts}; `ratdcs report failed` lists them."]
    for kind, items in ranked:
        rel_path, error = items[0]
        line = f"  {kind}: {len(items)}, e.g. {rel_path}: {error}"
        lines.append(line if len(line) <= width else line[:width - 3] + "...")
    return lines


def busy_sentence(summary) -> str:
    until = f" (lease until {summary.busy_until})" if summary.busy_until else ""
    return f"{summary.busy_files} files are being downloaded by another sync{until}."
