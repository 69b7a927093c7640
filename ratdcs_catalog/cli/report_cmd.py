"""`ratdcs report | verify | retry | reset | export | split`: ask the manifest, check the disk, fix rows."""

from __future__ import annotations

import json
import sys

import click

from ..config import MAX_WORKERS
from .common import App, pass_app, render_rows
from .common import source_option as source_option_with
from .data_cmd import export_index_command
from .fit import cut_end, fit_rows, terminal_width

__all__ = ["export", "report", "reset", "retry", "split", "verify"]

STATES = ("pending", "downloading", "done", "failed")
_TITLES = {"progress": "Progress per source (GB = 10^9 bytes)",
           "kinds": "Progress per source and product kind", "states": "Files and bytes per source and state",
           "failures": "Failures by reason", "incomplete": "Targets with files still missing",
           "syncs": "Recent syncs", "stats": "Dataset statistics", "splits": "Train/val/test splits",
           "failed": "Failed files"}


def format_options(func):
    """--json / --csv / --markdown, all writing into ``fmt`` (default: an aligned table)."""
    for flag, name in (("markdown", "Markdown"), ("csv", "CSV"), ("json", "JSON")):
        func = click.option(f"--{flag}", "fmt", flag_value=flag, help=f"Print as {name}.")(func)
    return func


source_option = source_option_with()


@click.command("report")
@click.argument("section", required=False, type=click.Choice(["failed", "progress", "kinds", "states", "failures",
                                                              "incomplete", "syncs", "stats", "splits"]))
@click.option("--sql", metavar="QUERY", help="Run one read-only SQL query on the manifest instead.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Rows per long section (default 10; `report failed` lists all).")
@source_option_with("With `report failed`: only this source (repeatable).")
@click.option("--wide", is_flag=True,
              help="With `report failed`: every column in full, however wide (default: cut to the terminal).")
@click.option("--html", "html_path", metavar="PATH", type=click.Path(dir_okay=False),
              help="Write the whole report, with plots, as one self-contained HTML file (needs matplotlib).")
@format_options
@pass_app
def report(app: App, section, sql, limit, sources, wide, html_path, fmt):
    """What is planned, done, failed and why, from the manifest's named views.

    Sections: progress (planned/downloaded/remaining GB per source), kinds (the same per product
    kind: light curves, target pixel files, DV files, cutouts), states, failures (by
    reason, with an example), incomplete (targets with files missing), syncs (throughput),
    stats (dataset totals; TESS FITS vs metadata files), splits. `report failed` lists every
    failed file, its path and message cut to the terminal's width (--wide or --json: in full).
    --sql runs one read-only query (writes are refused, exit 2). --html PATH writes the report
    with plots (progress, bytes, throughput, failures, a sky map, completeness, splits) as one
    HTML file that opens offline (pip install 'ratdcs[plots]').

    \b
    Example:
        ratdcs report
        ratdcs report failed --csv
        ratdcs report --sql "SELECT state, COUNT(*) FROM files GROUP BY state"
        ratdcs report --html report.html
    """
    import ratdcs_catalog as api

    if html_path is not None:
        _write_html(app, html_path, section=section, sql=sql, limit=limit, sources=sources, fmt=fmt)
        return
    fmt = fmt or "table"
    if sql is not None:
        rows = api.report(section, config=app.config(), sql=sql)
        click.echo(render_rows(rows, list(rows[0]) if rows else _sql_columns(app, sql), fmt))
        return
    rows = api.report(section, config=app.config(), limit=limit, sources=sources)
    if section == "failed" and fmt == "table" and rows and not wide:
        click.echo(_render_failed(rows, terminal_width()))
        return
    click.echo(_render_sections(rows if section is None else {section: rows}, fmt, single=section is not None))
    if section in (None, "splits"):
        splits = rows["splits"] if section is None else rows
        _echo_warnings(api.split_warnings(config=app.config(), splits=splits), fmt)


def _write_html(app: App, path: str, *, fmt, **options) -> None:
    import ratdcs_catalog as api
    from ..errors import UsageError

    if fmt:
        raise UsageError(f"--html and --{fmt} ask for two outputs: give one of them",
                         hint="`ratdcs report --html report.html`")
    written = api.report(config=app.config(), html=path, **options)
    click.echo(f"Wrote the report ({written.figures} plots, {written.size_bytes / 1e3:,.0f} KB) to {written.path}")


# `report failed` on a terminal: these columns, the path and message cut to fit (--wide: all of the
# view's; the target is in the path, and at 80 columns every character goes to the path and message).
_FAILED_COLUMNS = ("file_id", "source", "last_error_kind", "rel_path", "last_error")
_FAILED_CUTS = {"rel_path": "middle", "last_error": "end"}


def _render_failed(rows: list[dict], width: int) -> str:
    fitted = fit_rows(rows, _FAILED_COLUMNS, width, _FAILED_CUTS)
    note = (f"{len(rows)} failed file{'s' if len(rows) != 1 else ''}; targets, attempts, URLs and full messages: "
            "--wide or --json")
    return render_rows(fitted, _FAILED_COLUMNS) + "\n" + cut_end(note, width)


def _echo_warnings(warnings: list[str], fmt: str | None) -> None:
    """A split that came out empty or far from the ratios; beside a table, on stderr beside data."""
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=fmt not in (None, "table"))


def _sql_columns(app: App, sql: str) -> list[str]:
    """The columns of a query that returned no rows (a table shows its header even then)."""
    from ..report import run_readonly_sql

    return run_readonly_sql(app.config().manifest_path, sql).columns


def _render_sections(sections: dict[str, list[dict]], fmt: str, single: bool) -> str:
    if single:
        (name, rows), = sections.items()
        return render_rows(rows, None, fmt) if rows or fmt != "table" else f"{_TITLES[name]}: none"
    if fmt == "json":
        return json.dumps(sections, indent=2, default=str)
    blocks = []
    for name, rows in sections.items():
        if fmt == "csv":
            blocks.append(f"# {name}\n" + render_rows(rows, None, "csv"))
        elif fmt == "markdown":
            blocks.append(f"### {_TITLES[name]}\n\n" + (render_rows(rows, None, "markdown") if rows else "(none)"))
        else:
            blocks.append(f"{_TITLES[name]}\n" + (render_rows(rows) if rows else "(none)"))
    return "\n\n".join(blocks)


@click.command("verify")
@click.option("--deep", is_flag=True, help="Also re-hash every file and re-run the FITS checks.")
@source_option
@click.option("--on-problem", type=click.Choice(["pending", "failed"]), default="pending", show_default=True,
              help="Where a missing or changed file's row goes: pending (sync fetches it again) or failed.")
@click.option("--workers", type=click.IntRange(min=1, max=MAX_WORKERS), default=2, show_default=True,
              help="Files checked in parallel by --deep.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def verify(app: App, deep, sources, on_problem, workers, as_json):
    """Check that every done file is still on disk as recorded; requeue those that are not.

    Fast mode checks each done row's file exists with the recorded size; --deep also re-hashes
    it (sha256 recorded at download) and re-runs the FITS checks. Exit code 0 when the dataset
    is intact, 1 when a file was missing or changed (its row is counted and requeued).

    \b
    Example:
        ratdcs verify --deep --source tess
    """
    import ratdcs_catalog as api

    app.log_to_file()
    summary = api.verify(deep=deep, sources=sources, on_problem=on_problem, workers=workers, config=app.config())
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        if summary.problems and not app.quiet:
            click.echo(render_rows([{"file_id": p.file_id, "path": p.rel_path, "problem": p.error_kind,
                                     "reason": p.error} for p in summary.problems]))
        click.echo(_verify_line(summary))
    if not summary.intact:
        raise click.exceptions.Exit(1)


def _verify_line(summary) -> str:
    if not summary.checked:
        return "No done files to verify."
    head = f"Verified {summary.checked} done files ({summary.mode})"
    warned = (f" {len(summary.warnings)} of them pass only under verify.fits_checksum = warn: their FITS "
              "checksums do not verify (listed with --json; `ratdcs report --sql \"SELECT rel_path, last_error "
              "FROM files WHERE last_error_kind = 'fits_checksum_warning'\"`).") if summary.warnings else ""
    if summary.intact:
        return f"{head}: all intact.{warned}"
    kinds = ", ".join(f"{kind} {n}" for kind, n in summary.counts().items())
    done = f"{summary.requeued} rows moved to pending - run `ratdcs sync` to fetch them again" \
        if summary.requeued_to == "pending" else \
        f"{summary.requeued} rows marked failed (not fetched again) - `ratdcs retry` queues them for download"
    return (f"{head}: {summary.files_ok} intact, {len(summary.problems)} not ({kinds}). "
            f"{done}. Dataset NOT intact.{warned}")


@click.command("retry")
@source_option
@click.option("--reason", metavar="PATTERN",
              help="Only failures whose kind or message contains PATTERN (* is a wildcard).")
@pass_app
def retry(app: App, sources, reason):
    """Put failed rows back to pending with their attempts reset, so the next sync tries again.

    \b
    Example:
        ratdcs retry --source tess --reason http_503
    """
    from .. import retry as retry_rows

    app.log_to_file()
    moved = retry_rows(sources=sources, reason=reason, config=app.config())
    if moved:
        click.echo(f"Moved {moved} failed rows back to pending (attempts reset). Next: ratdcs sync")
    else:
        click.echo("No failed rows matched; nothing moved.")


@click.command("reset")
@source_option
@click.option("--target", "target_ids", metavar="ID", multiple=True, help="Only this target id (repeatable).")
@click.option("--state", "states", type=click.Choice(["pending", "done", "failed"]), multiple=True,
              help="Only rows in this state (repeatable).")
@click.option("--file-id", "file_ids", type=int, multiple=True, help="Only this file_id (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Every row (not under a live sync's lease).")
@pass_app
def reset(app: App, sources, target_ids, states, file_ids, everything):
    """Put chosen rows back to pending with attempts and errors cleared (files on disk are kept).

    Rows being downloaded by a live sync are never touched. Give at least one filter, or --all.

    \b
    Example:
        ratdcs reset --source kepler --target 11904151
    """
    from .. import reset as reset_rows
    from ..errors import UsageError

    if not (sources or target_ids or states or file_ids or everything):
        raise UsageError("reset needs a choice of rows: --source, --target, --state or --file-id",
                         hint="or pass --all to reset every row")
    app.log_to_file()
    moved = reset_rows(sources=sources, target_ids=target_ids, states=states, file_ids=file_ids,
                       everything=everything, config=app.config())
    click.echo(f"Reset {moved} rows to pending (attempts and errors cleared)."
               + (" Next: ratdcs sync" if moved else ""))


@click.group("export")
def export():
    """Write the manifest out for other tools: TESS metadata JSON, a files table, URL lists.

    \b
    Example:
        ratdcs export urls --format aria2 --output todo.aria2
    """


def _output_option(help_text: str):
    return click.option("--output", "-o", type=click.Path(dir_okay=True), default=None, help=help_text)


@export.command("tess-metadata")
@_output_option("Directory for the JSON files (default <data_dir>/tess/metadata).")
@pass_app
def export_tess_metadata_command(app: App, output):
    """Write TIC{id}_metadata.json for every TESS target with downloaded files (the seed's schema).

    Keys: tic_id, ra, dec, toi, disposition, tois (with period_days), orbital_periods_days,
    sectors, stellar_parameters (teff, logg, radius, mass, tmag, distance), observations (one
    entry per downloaded file, with path and size), products, download_timestamp.

    \b
    Example:
        ratdcs export tess-metadata
    """
    from pathlib import Path

    from .. import export as export_data

    app.log_to_file()
    out_dir = Path(output).expanduser().absolute() if output else app.config().data_dir / "tess" / "metadata"
    written = export_data("tess-metadata", out_dir, config=app.config())
    click.echo(f"Wrote {len(written)} TESS metadata files to {out_dir}")


@export.command("manifest")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--with-history", is_flag=True, help="Also copy the syncs and transfers (left out by default).")
@pass_app
def export_manifest_command(app: App, path, with_history):
    """A portable copy of the manifest: reproduce the dataset on another machine.

    Every file pending, done files pinned by their sha256 (expected_checksum), no leases, local
    paths or history; written to a temporary file, then renamed. There, `ratdcs --db PATH sync`
    fetches the same files and fails any whose bytes differ (checksum_mismatch).

    \b
    Example:
        ratdcs export manifest dataset-v1.sqlite
        RATDCS_DATA_DIR=/elsewhere ratdcs --db dataset-v1.sqlite sync
    """
    from .. import export as export_data

    app.log_to_file()
    count = export_data("manifest", path, with_history=with_history, config=app.config())
    click.echo(f"Wrote a portable manifest of {count} files to {path}")


@export.command("files")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@_output_option("File to write (default: standard output).")
@source_option
@click.option("--state", "states", type=click.Choice(STATES), multiple=True, help="Only rows in this state.")
@pass_app
def export_files_command(app: App, fmt, output, sources, states):
    """The files table (with each target's split) as CSV or JSON.

    \b
    Example:
        ratdcs export files --format json --state done -o done.json
    """
    _export(app, "files", output, fmt=fmt, sources=sources, states=states)


@export.command("urls")
@click.option("--format", "fmt", type=click.Choice(["aria2", "curl", "list"]), default="aria2", show_default=True)
@_output_option("File to write (default: standard output).")
@source_option
@click.option("--state", "states", type=click.Choice([*STATES, "all"]), multiple=True,
              help="Rows in this state (repeatable); default the ones not done yet.")
@pass_app
def export_urls_command(app: App, fmt, output, sources, states):
    """URLs of the files still to fetch, for aria2c (-i), curl (-K) or wget (-i).

    aria2 entries carry dir=, out= (the manifest's destination) and checksum= where known.

    \b
    Example:
        ratdcs export urls --format aria2 -o todo.aria2 && aria2c -i todo.aria2
    """
    _export(app, "urls", output, fmt=fmt, sources=sources, states=states)


def _export(app: App, what: str, output, **options) -> None:
    """Rows to standard output as they come, or to ``output`` atomically (then say how many)."""
    from .. import export as export_data

    app.log_to_file()
    count = export_data(what, output or sys.stdout, config=app.config(), **options)
    if output is not None:
        click.echo(f"Wrote {count} rows to {output}", err=True)


@click.command("split")
@click.option("--ratio", metavar="TRAIN,VAL,TEST", default=None,
              help="Fractions summing to 1 (default data_pipeline.validation.split_ratio).")
@click.option("--seed", type=int, default=None, help="Default data_pipeline.validation.random_seed.")
@click.option("--ztf-unit", type=click.Choice(["image", "night", "field"]), default=None,
              help="What a ZTF split keeps together (default data_pipeline.validation.ztf_split_unit).")
@source_option
@format_options
@pass_app
def split(app: App, ratio, seed, ztf_unit, sources, fmt):
    """Assign train/val/test per unit: a star for Kepler, K2 and TESS, so all its files share a
    split; for ZTF an image, a night or a field (--ztf-unit, default night).

    Per source, the unit counts follow the ratios; which unit goes where follows a seeded hash of
    its id, so the same seed and manifest always give the same split. Stored in the manifest
    (targets.split, or files.split for ZTF nights and images); `ratdcs report splits` shows the
    counts. A part that comes out empty, or files far from the ratios, is a warning.

    \b
    Example:
        ratdcs split --ratio 0.7,0.15,0.15 --seed 7
    """
    import ratdcs_catalog as api

    config = app.config(data_pipeline__validation__split_ratio=ratio, data_pipeline__validation__random_seed=seed,
                        data_pipeline__validation__ztf_split_unit=ztf_unit)
    app.log_to_file()
    summary = api.split(sources=sources, config=config)
    rows = api.report("splits", config=config)
    if fmt:
        click.echo(render_rows(rows, None, fmt))
        _echo_warnings(summary.warnings, fmt)
        return
    counts = ", ".join(f"{k} {v}" for k, v in summary.targets.items())
    below = sorted(f"{source} by {unit}" for source, unit in summary.units.items() if unit != "target")
    what = "targets" if not below else f"units (targets; {', '.join(below)})"
    click.echo(f"Split {sum(summary.targets.values())} {what} (seed {summary.seed}, ratios "
               f"{'/'.join(f'{r:g}' for r in summary.ratios)}): {counts}; {summary.changed} changed split.")
    click.echo(render_rows(rows))
    _echo_warnings(summary.warnings, None)


export.add_command(export_index_command)  # `export index` lives beside `ls`, in data_cmd.py
