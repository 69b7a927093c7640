"""`ratdcs plan kepler | k2 | tess | ztf | all`: write every intended file into the manifest."""

from __future__ import annotations

import functools
import json

import click

from .. import registry
from ..sizes import format_bytes, parse_size
from .common import App, pass_app, render_rows, with_global_options

__all__ = ["plan"]


class PlanGroup(click.Group):
    """One subcommand per registry source (built when asked for), plus `all`; names the valid
    sources when the user asks for another."""

    def list_commands(self, ctx):
        return [*registry.source_names(), *self.commands]

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        if name in registry.SOURCES:
            return with_global_options(_source_command(registry.SOURCES[name]))
        return None

    def resolve_command(self, ctx, args):
        if args and self.get_command(ctx, args[0]) is None and not args[0].startswith("-"):
            raise click.UsageError(f"unknown source {args[0]!r}; choose from {', '.join(self.list_commands(ctx))}",
                                   ctx)
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
    @click.option("--no-cloud", "no_cloud", is_flag=True,
                  help="Do not look up MAST's cloud copy of each file (transport.cloud = never for this plan).")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper


def run_plan(app: App, source: str, n, dry_run, max_bytes, as_json, no_cloud=False, **options) -> None:
    import ratdcs_catalog as api

    from ..logs import write_deferred_log

    app.log_to_file(needs_manifest=False, defer=True)
    limit = parse_size(max_bytes) if max_bytes is not None else None
    summary = api.plan(source, config=app.config(), n=n, dry_run=dry_run, max_bytes=limit, cloud=not no_cloud,
                       **options)
    write_deferred_log()
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
        lines += _cloud_lines(s)
        lines += [f"{s.source}: refused: {reason}" for reason in s.refused]
    if not summary.dry_run and summary.total.new:
        lines.append("Next: ratdcs sync")
    return "\n".join(lines)


def _cloud_lines(s) -> list[str]:
    """How many files have a copy in MAST's cloud bucket (asked only for MAST files)."""
    lines = []
    if s.cloud_lookup and s.files_from_mast:
        lines.append(f"{s.source}: {s.files_with_cloud_copy} of {s.files} files have a cloud copy "
                     "(sync fetches them from it first; --no-cloud or transport.cloud = never turns it off)")
    if s.cloud_lookup_failed:
        lines.append(f"{s.source}: the cloud copy lookup failed for {s.cloud_lookup_failed} files; they come from "
                     "MAST (the log says why; plan again to retry the lookup)")
    return lines


def _click_option(option):
    """A registry option as a click option: a repeatable flag, a comma list, a choice or a number."""
    kwargs = {"default": None, "help": option.help, "metavar": option.metavar}
    if option.kind == "bool":
        return click.option(option.flag, option.name, is_flag=True, default=None, help=option.help)
    if option.choices and not option.comma_list:  # a comma list is checked item by item by the registry
        kwargs["type"] = click.Choice(list(option.choices))
    elif option.kind == "int":
        kwargs["type"] = click.IntRange(option.minimum, option.maximum)
    return click.option(option.flag, option.name, multiple=option.multiple, **kwargs)


def _source_command(spec):
    """`ratdcs plan SOURCE`: the source's options from the registry, one API call."""
    def command(app: App, **kwargs):
        run_plan(app, spec.name, **kwargs)

    command.__doc__ = f"{spec.title}\n\n\b\n{spec.help}"
    for option in reversed(spec.options):
        command = _click_option(option)(command)
    return click.command(spec.name)(common_options(pass_app(command)))


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
