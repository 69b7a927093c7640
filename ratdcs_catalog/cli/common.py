"""What every command shares: the effective configuration, the manifest, sizes and tables.

Commands get an ``App`` (``@pass_app``), which loads the configuration on first use (so
``ratdcs --help`` works whatever the configuration says) and applies the global flags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import click



__all__ = ["App", "SourceChoice", "pass_app", "render_rows", "source_option", "with_global_options"]


class App:
    """Global options, plus the configuration and logging they imply, built on demand."""

    def __init__(self, *, config_paths: Sequence[str] = (), db: str | None = None, data_dir: str | None = None,
                 verbose: bool = False, quiet: bool = False):
        self.config_paths = list(config_paths)
        self.db = db
        self.data_dir = data_dir
        self.verbose = verbose
        self.quiet = quiet
        self._config = None

    def config(self, **overrides: Any):
        """The effective configuration; ``overrides`` are command flags (None = not given)."""
        if self._config is None:
            from ..config import load_config
            from ..logs import setup_logging

            config = load_config(self.config_paths or None)
            if self.data_dir:
                config = config.with_overrides({"data_dir": self.data_dir}, origin="--data-dir")
            if self.db:
                config = config.with_overrides({"manifest": self.db}, origin="--db")
            setup_logging(verbose=self.verbose, quiet=self.quiet,
                          secret_env_names=(config["auth.mast_token_env"],))
            from ..paths import follow_recorded_data_dir

            self._config = follow_recorded_data_dir(config)
        flags = {key: value for key, value in overrides.items() if value is not None}
        if not flags:
            return self._config
        return self._config.with_overrides(
            {key.replace("__", "."): value for key, value in flags.items()}, origin="command line")

    def log_to_file(self, *, needs_manifest: bool = True, may_create_dir: bool = False, defer: bool = False) -> None:
        """Commands that change things (plan, sync, verify, ...) also log to data_download.log.

        Not when the manifest such a command needs is missing (it is about to refuse), and not
        into a directory that is not there unless the command makes it anyway (sync makes the
        data directory): a log file in a new directory would be all a refused command left.
        ``defer`` (plan, which makes the directory only when it succeeds): keep the records and
        write them once ``write_deferred_log`` finds the directory made.
        """
        from ..logs import setup_logging

        config = self.config()
        if needs_manifest and not config.manifest_path.exists():
            return
        missing = not may_create_dir and not config.log_path.parent.is_dir()
        if missing and not defer:
            return
        setup_logging(verbose=self.verbose, quiet=self.quiet, log_path=config.log_path,
                      secret_env_names=(config["auth.mast_token_env"],), defer=missing)

    def manifest(self, *, create: bool = True, readonly: bool = False):
        from ..manifest import open_manifest

        return open_manifest(self.config().manifest_path, create=create, readonly=readonly)


# ---- global options: before or after the subcommand -------------------------------------------

def _set_config(ctx: click.Context, param, value) -> None:
    app = ctx.find_object(App)
    if app is not None and value:
        app.config_paths.extend(value)  # later files override earlier ones


def _setter(attribute: str):
    def store(ctx: click.Context, param, value) -> None:
        app = ctx.find_object(App)
        if app is not None and value is not None:
            setattr(app, attribute, value)
    return store


def _set_level(level: str):
    """-v / -q after the subcommand override the ones before it ("after overrides before")."""
    def store(ctx: click.Context, param, value) -> None:
        app = ctx.find_object(App)
        if app is not None and value:
            app.verbose, app.quiet = level == "verbose", level == "quiet"
    return store


def global_option_decorators() -> list:
    """The global options (``ratdcs --config c.yaml sync`` and ``ratdcs sync --config c.yaml``)."""
    return [
        click.option("--config", "config_paths", type=click.Path(dir_okay=False), multiple=True,
                     callback=_set_config, expose_value=False, is_eager=False,
                     help="Configuration file (repeatable: later files override earlier ones; default: "
                          "$RATDCS_CONFIG, else ./config.yaml if present)."),
        click.option("--db", type=click.Path(dir_okay=False), callback=_setter("db"), expose_value=False,
                     help="Manifest database (default: <data_dir>/manifest.sqlite)."),
        click.option("--data-dir", "data_dir", type=click.Path(file_okay=False), callback=_setter("data_dir"),
                     expose_value=False, help="Data directory (default: data_dir of the configuration)."),
        click.option("-v", "--verbose", is_flag=True, callback=_set_level("verbose"), expose_value=False,
                     help="Log debug detail; show tracebacks."),
        click.option("-q", "--quiet", is_flag=True, callback=_set_level("quiet"), expose_value=False,
                     help="Print only errors and final results."),
    ]


def with_global_options(command: click.Command) -> click.Command:
    """Give ``command`` (and, for a group, every subcommand) the global options it does not
    already have under the same flag (``sandbox serve --data-dir`` keeps its own meaning)."""
    if getattr(command, "_ratdcs_globals", False):
        return command
    taken = {opt for p in command.params for opt in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
    probe = click.Command("probe")
    for decorator in global_option_decorators():
        decorator(probe)
    for param in probe.params:
        if not taken.intersection(param.opts):
            command.params.append(param)
    command._ratdcs_globals = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_global_options(sub)
    return command


pass_app = click.make_pass_decorator(App)


class SourceChoice(click.Choice):
    """The registry's sources, read when click checks a --source value (not at import), so a
    source registered later (a plugin, a test's toy source) is a valid choice too."""

    def __init__(self):
        super().__init__(())

    @property
    def choices(self):
        from ..registry import source_names

        return source_names()

    @choices.setter
    def choices(self, value):  # click's __init__ assigns; the registry is the only source of truth
        pass


def source_option(help_text: str = "Only this source (repeatable)."):
    return click.option("--source", "sources", type=SourceChoice(), multiple=True, help=help_text)

def render_rows(rows: Sequence[dict] | Iterable[dict], columns: Sequence[str] | None = None,
                fmt: str = "table") -> str:
    """Rows as an aligned text table, JSON, CSV or a Markdown table."""
    rows = [dict(r) for r in rows]
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str)
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def existing_file(path: str) -> Path:
    return Path(path).expanduser()
