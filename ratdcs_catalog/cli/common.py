"""What every command shares: the effective configuration, the manifest, sizes and tables.

Commands get an ``App`` (``@pass_app``), which loads the configuration on first use (so
``ratdcs --help`` works whatever the configuration says) and applies the global flags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import click

from ..errors import UsageError


__all__ = ["App", "SourceChoice", "pass_app", "render_rows", "source_option"]


class App:
    """Global options, plus the configuration and logging they imply, built on demand."""

    def __init__(self, *, config_path: str | None, db: str | None, verbose: bool, quiet: bool):
        self.config_path = config_path
        self.db = db
        self.verbose = verbose
        self.quiet = quiet
        self._config = None

    def config(self, **overrides: Any):
        """The effective configuration; ``overrides`` are command flags (None = not given)."""
        if self._config is None:
            from ..config import load_config
            from ..logs import setup_logging

            config = load_config(self.config_path)
            if self.db:
                config = config.with_overrides({"manifest": self.db}, origin="--db")
            self._config = config
            setup_logging(verbose=self.verbose, quiet=self.quiet,
                          secret_env_names=(config["auth.mast_token_env"],))
        flags = {key: value for key, value in overrides.items() if value is not None}
        if not flags:
            return self._config
        return self._config.with_overrides(
            {key.replace("__", "."): value for key, value in flags.items()}, origin="command line")

    def log_to_file(self, *, needs_manifest: bool = True, may_create_dir: bool = False) -> None:
        """Commands that change things (plan, sync, verify, ...) also log to data_download.log.

        Not when the manifest such a command needs is missing (it is about to refuse), and not
        into a directory that is not there unless the command makes it anyway (sync makes the
        data directory): a log file in a new directory would be all a refused command left.
        """
        from ..logs import setup_logging

        config = self.config()
        if needs_manifest and not config.manifest_path.exists():
            return
        if not may_create_dir and not config.log_path.parent.is_dir():
            return
        setup_logging(verbose=self.verbose, quiet=self.quiet, log_path=config.log_path,
                      secret_env_names=(config["auth.mast_token_env"],))

    def manifest(self, *, create: bool = True, readonly: bool = False):
        from ..manifest import open_manifest

        return open_manifest(self.config().manifest_path, create=create, readonly=readonly)


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
