"""`ratdcs plan kepler | k2 | tess | ztf | all`: write every intended file into the manifest."""

from __future__ import annotations

import functools
import json

import click

from .common import App, format_bytes, pass_app, parse_size, render_rows

__all__ = ["plan"]


class PlanGroup(click.Group):
    """Names the valid sources when the user asks for another."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            raise click.UsageError(f"unknown source {args[0]!r}; choose from {', '.join(self.commands)}", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=PlanGroup)
def plan():
    """Ask the archives' catalogs which files to get; write them all to the manifest.

    Nothing is downloaded. Re-planning is idempotent: only new files are added, a changed
    archive size is picked up, and a failed plan leaves the manifest as it was.

    \b
    Example:
        ratdcs plan kepler --n 100 --dry-run
    """


def common_options(func):
    @click.option("--n", "n", type=click.IntRange(min=1), default=None,
                  help="How many targets (images for ztf); default from configuration.")
    @click.option("--dry-run", is_flag=True, help="Print the summary without writing the manifest.")
    @click.option("--max-bytes", "max_bytes", metavar="SIZE", default=None,
                  help="Stop at whole targets before this many bytes (e.g. 3GB); `plan all` shares it "
                       "across kepler, tess, ztf in that order; files of unknown size count as 0.")
    @click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper


def run_plan(app: App, source: str, n, dry_run, max_bytes, as_json, **options) -> None:
    from ..plan import plan as plan_source

    config = app.config()
    app.log_to_file(needs_manifest=False)
    limit = parse_size(max_bytes) if max_bytes is not None else None
    summary = plan_source(config, source, n=n, dry_run=dry_run, max_bytes=limit, **options)
    click.echo(json.dumps(summary.as_dict(), indent=2) if as_json else render_summary(summary))


def render_summary(summary) -> str:
    rows = []
    for s in summary.sources:
        c = s.counts
        rows.append({"source": s.source, "targets": s.targets, "files": s.files, "new": c.new,
                     "unchanged": c.unchanged, "updated": c.updated, "changed upstream": c.changed_upstream,
                     "bytes": format_bytes(c.bytes_total), "new bytes": format_bytes(c.bytes_new),
                     "unknown size": s.files_unknown_size, "refused": len(s.refused)})
    lines = [("Dry run: nothing written. " if summary.dry_run else "") +
             f"Manifest: {summary.manifest_path} ({summary.requests_sent} catalog requests)",
             render_rows(rows)]
    for s in summary.sources:
        if s.targets_skipped_by_max_bytes:
            lines.append(f"{s.source}: --max-bytes left out {s.targets_skipped_by_max_bytes} more targets")
        if s.probes_failed:
            lines.append(f"{s.source}: {s.probes_failed} size probes got no usable answer; those sizes are "
                         "learned at download (the log says why each failed)")
        elif s.files_unknown_size:
            lines.append(f"{s.source}: {s.files_unknown_size} files of unknown size (the archive does not say; "
                         "`--probe-sizes` asks it)" if s.source == "ztf" else
                         f"{s.source}: {s.files_unknown_size} files of unknown size")
        lines += [f"{s.source}: refused: {reason}" for reason in s.refused]
    if not summary.dry_run and summary.total.new:
        lines.append("Next: ratdcs sync")
    return "\n".join(lines)


@plan.command("kepler")
@common_options
@click.option("--cadence", type=click.Choice(["long", "short"]), default=None,
              help="Long (~30 min, LLC) or short (~1 min, SLC) cadence; default long.")
@click.option("--quarter", "quarters", type=click.IntRange(0, 17), multiple=True,
              help="Only these quarters (repeatable); default every observed quarter.")
@pass_app
def kepler_command(app: App, quarters, **kwargs):
    """Hosts of CONFIRMED Kepler planets (KOI `cumulative` table) and their light curves.

    \b
    Example:
        ratdcs plan kepler --n 100 --quarter 3 --quarter 4
    """
    run_plan(app, "kepler", quarters=list(quarters), **kwargs)


@plan.command("k2")
@common_options
@click.option("--cadence", type=click.Choice(["long", "short"]), default=None, help="Default long.")
@click.option("--campaign", "campaigns", type=click.IntRange(0, 19), multiple=True,
              help="Only these campaigns (repeatable).")
@pass_app
def k2_command(app: App, campaigns, **kwargs):
    """Hosts of confirmed K2 planets (`k2pandc`) and their K2 light curves.

    \b
    Example:
        ratdcs plan k2 --n 20
    """
    run_plan(app, "k2", campaigns=list(campaigns), **kwargs)


@plan.command("tess")
@common_options
@click.option("--disposition", "dispositions", metavar="CODES", default=None,
              help="TOI dispositions, comma-separated (PC, CP, KP, APC, FP, FA); default PC,CP,KP.")
@click.option("--cadence", "tess_cadence", type=click.Choice(["120s", "20s"]), default=None,
              help="2-minute (default) or 20-second light curves.")
@click.option("--sector", "sectors", type=click.IntRange(min=1), multiple=True, help="Only this sector (repeatable).")
@pass_app
def tess_command(app: App, dispositions, sectors, **kwargs):
    """TOI host stars, their TIC stellar parameters, and their SPOC light curves.

    \b
    Example:
        ratdcs plan tess --n 150 --disposition PC,CP
    """
    chosen = dispositions.split(",") if dispositions is not None else None
    run_plan(app, "tess", dispositions=chosen, sectors=list(sectors), **kwargs)


@plan.command("ztf")
@common_options
@click.option("--start-date", metavar="YYYY-MM-DD", default=None, help="First night (UTC).")
@click.option("--end-date", metavar="YYYY-MM-DD", default=None, help="Last night (UTC), inclusive.")
@click.option("--field", "fields", type=int, multiple=True, help="ZTF field id (repeatable).")
@click.option("--filter", "filters", metavar="CODES", default=None, help="Filter codes, comma-separated: zg,zr,zi.")
@click.option("--ccd", "ccds", type=int, multiple=True, help="CCD id 1-16 (repeatable).")
@click.option("--probe-sizes", is_flag=True, help="Ask IRSA for each file's size (HEAD requests).")
@pass_app
def ztf_command(app: App, fields, filters, ccds, **kwargs):
    """ZTF science images in a date range from IRSA (sizes unknown unless --probe-sizes).

    \b
    Example:
        ratdcs plan ztf --start-date 2024-01-01 --end-date 2024-01-31 --field 600 --filter zg,zr
    """
    chosen = [f.strip() for f in filters.split(",")] if filters is not None else None
    run_plan(app, "ztf", fields=list(fields), filters=chosen, ccds=list(ccds), **kwargs)


@plan.command("all")
@common_options
@pass_app
def all_command(app: App, **kwargs):
    """The MVP set from configuration: Kepler, TESS and ZTF in one plan and one summary.

    Sizes come from kepler.max_targets, tess.max_targets, ztf.max_images and the ztf date range
    (--n overrides each).

    \b
    Example:
        ratdcs plan all --dry-run
    """
    run_plan(app, "all", **kwargs)
