"""The `ratdcs` command line: parse, call one library function, render, exit.

Errors from the library (``RatdcsError``) become one line plus a hint and an exit code (2 for
usage and configuration, 1 for runtime failures); a traceback is shown only with --verbose.
Heavy libraries (astropy, astroquery) are imported by the commands that need them, never here.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from ..errors import RatdcsError
from .common import App, pass_app, render_rows, with_global_options

__all__ = ["cli", "main"]


# Each command's module, imported when that command is asked for: `ratdcs sync` does not pay
# for the imports of plan, report, demo and the sandbox (issue 15: 15-20 ms of a WAN sync's start,
# where start-up is its whole gap to aria2c). `--help` lists them all, so it imports them all.
COMMAND_MODULES = {
    "plan": "plan_cmd", "sync": "sync_cmd", "report": "report_cmd", "verify": "report_cmd",
    "retry": "report_cmd", "reset": "report_cmd", "export": "report_cmd", "split": "report_cmd",
    "ls": "data_cmd", "sandbox": "sandbox_cmd", "demo": "demo_cmd",
}


class RatdcsGroup(click.Group):
    """A click group that loads each command's module on first use and turns library errors
    into one-line messages with exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            module = importlib.import_module(f".{COMMAND_MODULES[name]}", __package__)
            self.add_command(with_global_options(getattr(module, name)))
        return self.commands.get(name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RatdcsError as exc:
            _fail(ctx, exc, str(exc), exc.hint, exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # `ratdcs export urls | head`: the reader left, which is not our error. Point stdout
            # at /dev/null so the interpreter's final flush does not complain either.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except Exception as exc:  # a bug: say so in one line, traceback on request
            if _sqlite_says(exc, "readonly database"):
                _fail(ctx, exc, f"cannot write the manifest {_manifest_of(ctx)}: it is read-only",
                      "make the file and its directory writable, or copy it elsewhere and pass --db", 2)
                return
            if _sqlite_says(exc, "database or disk is full"):
                _fail(ctx, exc, f"cannot write the manifest {_manifest_of(ctx)}: the disk is full",
                      "free some space on its file system and run the command again; nothing was lost", 1)
                return
            if _sqlite_says(exc, "malformed") or _sqlite_says(exc, "not a database"):
                # Damage met after the open (a page overwritten deep in the file): no bug of ours.
                from ..manifest.schema import damaged_manifest

                damaged = damaged_manifest(_manifest_of(ctx), str(exc))
                _fail(ctx, exc, damaged.message, damaged.hint, damaged.exit_code)
                return
            _fail(ctx, exc, f"internal error: {type(exc).__name__}: {exc}",
                  "run again with --verbose for the traceback, and report it", 1)


def _sqlite_says(exc: Exception, text: str) -> bool:
    """Whether ``exc`` is SQLite's error with this text. Checked by module name so that this
    module, which every command imports, does not import sqlite3 itself."""
    return type(exc).__module__ == "sqlite3" and text in str(exc)


def _manifest_of(ctx: click.Context) -> str:
    app = ctx.find_object(App)
    return str(app.config().manifest_path) if app is not None else "(the manifest)"


def _fail(ctx: click.Context, exc: BaseException, message: str, hint: str | None, code: int) -> None:
    from ..logs import redact

    app = ctx.find_object(App)
    if app is not None and app.verbose:
        import traceback

        # Redacted too: a traceback quotes the arguments and answers that carried the token.
        click.echo(redact("".join(traceback.format_exception(exc))), err=True, nl=False)
    # The message may quote an archive's answer, and a server can echo the token it was sent.
    click.secho(f"Error: {redact(message)}", fg="red", err=True)
    if hint:
        click.echo(f"Hint: {redact(hint)}", err=True)
    ctx.exit(code)


@click.group(cls=RatdcsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ratdcs")
@click.option("--config", "config_paths", type=click.Path(dir_okay=False), envvar=None, multiple=True,
              help="Configuration file (repeatable: later files override earlier ones; default: "
                   "$RATDCS_CONFIG, else ./config.yaml if present).")
@click.option("--db", type=click.Path(dir_okay=False),
              help="Manifest database (default: <data_dir>/manifest.sqlite).")
@click.option("--data-dir", "data_dir", type=click.Path(file_okay=False),
              help="Data directory (default: data_dir of the configuration).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail; show tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and final results.")
@click.pass_context
def cli(ctx: click.Context, config_paths, db, data_dir, verbose, quiet):
    """ratdcs: catalog-first downloads of Kepler, K2, TESS and ZTF data.

    \b
    1. ratdcs plan kepler --n 100    write every intended file into the manifest
    2. ratdcs sync --workers 4       download, verify and place the pending files
    3. ratdcs report                 what is planned, done, failed and why

    The global options (--config, --db, --data-dir, -v, -q) may also follow the subcommand
    (`ratdcs sync -q`); given after it, they override the ones given before.
    """
    if verbose and quiet:
        raise click.UsageError("--verbose and --quiet cannot be used together")
    ctx.obj = App(config_paths=config_paths, db=db, data_dir=data_dir, verbose=verbose, quiet=quiet)


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def config_command(app: App, as_json: bool):
    """Print the effective configuration and where each value came from.

    \b
    Example:
        ratdcs --config my.yaml config
    """
    config = app.config()
    rows = [{"key": key, "value": str(config.data_dir) if key == "data_dir" else config[key],
             "origin": config.origin(key)} for key in config]
    if as_json:
        click.echo(render_rows(rows, fmt="json"))
        return
    files = ", ".join(str(p) for p in config.config_paths)
    click.echo("configuration file" + (f"s (later override earlier): {files}" if len(config.config_paths) > 1 else
                                       f": {files or '(none: defaults and environment only)'}"))
    click.echo(f"data directory: {config.data_dir} (from {config.origin('data_dir')})")
    click.echo(f"manifest: {config.manifest_path}" + (f" (from {config.origin('manifest')})" if config["manifest"] else ""))
    click.echo(f"log file: {config.log_path}")
    click.echo(render_rows([{**r, "value": _show(r["value"])} for r in rows], ["key", "value", "origin"]))


def _show(value) -> str:
    import json

    return "null" if value is None else json.dumps(value) if isinstance(value, (list, bool)) else str(value)


def main() -> None:
    # numpy (imported for the FITS sums) starts an OpenBLAS thread per core that spins while
    # idle: 5% of a sync's CPU (perf record -a), taken from the downloads on a small machine.
    # Sums need no BLAS. Set here, before any thread starts and only for the ratdcs command,
    # so a user's own setting, or a Python session calling the API, keeps its own.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _lean_log_records()
    try:
        cli(prog_name="ratdcs")
    except SystemExit as exc:  # click's standalone mode always ends here
        _leave(exc.code)
    _leave(0)


def _lean_log_records() -> None:
    """Log records without the caller's frame, thread and process: ratdcs's formats use none of them.

    A sync logs a line per file, and each record looked up its caller's file and line (a walk of
    the stack), its thread's name, the process id and the multiprocessing process name: a quarter
    of its 35 us (issue 15; 26 us without them). These are the switches the logging HOWTO lists
    under "Optimization". They are process-wide, so they are set for the ratdcs command only: a
    Python session calling the API keeps its own records whole.
    """
    import logging

    logging._srcfile = None  # the HOWTO's own way to skip sys._getframe for the caller
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _leave(code) -> None:
    """End the process as the interpreter would, without tearing its modules down.

    Python's own exit joins the threads that are not daemons, runs the ``atexit`` functions
    (logging flushes and closes its files, executors and multiprocessing join their workers,
    temporary directories are removed) and then frees every module and object one by one: 40-50
    ms after a sync that imported numpy, paid on every command (issue 15: a WAN sync's whole gap
    to aria2c was start-up and exit). This does the first two, flushes stdout and stderr, and ends
    with ``os._exit``; the manifest needs nothing more (its transactions are committed, SQLite's
    WAL is replayed by the next open). Where the interpreter lacks the two hooks, the usual exit.
    """
    import atexit
    import threading

    shutdown_threads = getattr(threading, "_shutdown", None)
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if shutdown_threads is None or run_exit_functions is None:
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, exit status 1, as the interpreter does
        print(code, file=sys.stderr)
        status = 1
    shutdown_threads()
    run_exit_functions()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # the interpreter's status when flushing stdout fails at exit
    os._exit(status)


# ---- commands from their own modules ------------------------------------------------------
with_global_options(config_command)  # the others get theirs as they are loaded (RatdcsGroup.get_command)
