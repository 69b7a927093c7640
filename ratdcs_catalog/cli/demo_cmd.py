"""`ratdcs demo`: plan, sync and report against a local sandbox archive, in under a minute."""

from __future__ import annotations

import click

from ..config import MAX_WORKERS
from .common import App, pass_app, render_rows

__all__ = ["demo"]


@click.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="ratdcs-demo", show_default=True,
              help="Where the demo's files, manifest and configuration go.")
@click.option("--workers", type=click.IntRange(min=1, max=MAX_WORKERS), default=4, show_default=True,
              help="Parallel transfers.")
@click.option("--scale", type=click.FloatRange(0.01, 1.0), default=0.2, show_default=True,
              help="Size of the sandbox's files relative to the real ones.")
@pass_app
def demo(app: App, directory, workers, scale):
    """See the whole tool work, offline: a local sandbox archive, plan, sync, report.

    Starts the sandbox (fake MAST, Exoplanet Archive and IRSA) on 127.0.0.1, plans a few dozen
    Kepler and TESS light curves and a handful of ZTF images, downloads and verifies them with
    four workers, and prints the report, where everything is, and SQL queries to try.

    \b
    Example:
        ratdcs demo --dir /tmp/ratdcs-demo
    """
    from ..demo import QUERIES_TO_TRY, run_demo
    from .progress import TerminalProgress
    from .plan_cmd import render_summary as render_plan
    from .sync_cmd import render_summary as render_sync

    click.echo("Starting a sandbox archive on 127.0.0.1 and planning Kepler, TESS and ZTF files...")
    run = run_demo(directory, workers=workers, scale=scale, progress=None if app.quiet else TerminalProgress())
    click.echo(render_plan(run.plan))
    click.echo("")
    click.echo(render_sync(run.sync))
    click.echo("")
    click.echo(render_rows(run.report["progress"]))
    click.echo("")
    click.echo(f"Files:         {run.data_dir}")
    click.echo(f"Manifest:      {run.manifest_path}")
    click.echo(f"Configuration: {run.config_path} (its endpoints pointed at the demo's sandbox, now stopped;")
    click.echo(f"               `ratdcs sandbox serve --scale {scale} --write-config {run.config_path} --force "
               f"--data-dir {run.data_dir}` brings one back)")
    click.echo(f"Done in {run.elapsed_seconds:.1f} s. Try:")
    # --config, not --db: the report's file counts look in the data directory the config names.
    click.echo(f"  ratdcs --config {run.config_path} report")
    for query in QUERIES_TO_TRY:
        click.echo(f'  sqlite3 {run.manifest_path} "{query}"')
    if run.sync.exit_code:
        raise click.exceptions.Exit(run.sync.exit_code)
