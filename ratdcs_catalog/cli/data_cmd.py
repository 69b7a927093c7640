"""`ratdcs ls | export index`: the done files as a training set sees them (issue 18)."""

from __future__ import annotations

import click

from .common import App, pass_app, render_rows
from .common import source_option as source_option_with

__all__ = ["export_index_command", "ls"]

SPLITS = ("train", "val", "test")


def filter_options(func):
    """--source, --split, --kind: the filters of ``ratdcs_catalog.files()`` (each repeatable)."""
    func = click.option("--kind", "kinds", metavar="KIND", multiple=True,
                        help="Only this product kind: lc_long, lc, tpf, cutout, ... (repeatable).")(func)
    func = click.option("--split", "splits", type=click.Choice(SPLITS), multiple=True,
                        help="Only files of this split (repeatable; `ratdcs split` assigns them).")(func)
    return source_option_with()(func)


@click.command("ls")
@filter_options
@click.option("--json", "fmt", flag_value="json", help="Print every record as JSON.")
@click.option("--csv", "fmt", flag_value="csv", help="Print every record as CSV.")
@pass_app
def ls(app: App, sources, splits, kinds, fmt):
    """List the done files: absolute paths, one per line (for xargs), or whole records.

    A record is the file's path, source, target, product kind, quarter/campaign/sector, size,
    sha256, verify level, split, label (the target's disposition) and catalog parameters.

    \b
    Example:
        ratdcs ls --split test --source tess | xargs ls -l
        ratdcs ls --split train --csv > train.csv
    """
    import ratdcs_catalog as api

    records = api.iter_files(config=app.config(), source=sources, split=splits, kind=kinds)
    if fmt is None:
        for record in records:
            click.echo(record.path)
        return
    from ..loaders import RECORD_COLUMNS

    click.echo(render_rows((r.as_dict() for r in records), RECORD_COLUMNS, fmt))


@click.command("index")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--out", "output", type=click.Path(dir_okay=False), required=True, help="File to write (atomically).")
@filter_options
@pass_app
def export_index_command(app: App, fmt, output, sources, splits, kinds):
    """The done files with absolute paths, splits, labels and catalog parameters, as CSV or Parquet.

    The columns are those of `ratdcs ls --csv`; Parquet needs pyarrow.

    \b
    Example:
        ratdcs export index --format parquet --split train --out train.parquet
    """
    import ratdcs_catalog as api

    app.log_to_file()
    count = api.export_index(output, fmt=fmt, config=app.config(), source=sources, split=splits, kind=kinds)
    click.echo(f"Wrote {count} rows to {output}", err=True)
