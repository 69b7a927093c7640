"""The command-line shell: commands listed, fast start, errors as one line with exit codes."""

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli

from child_python import last_line_printed


def test_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Commands:" in result.output and "config" in result.output


def test_every_command_has_help_with_an_example():
    context = click.Context(cli)
    for name in cli.list_commands(context):  # each command's module is loaded when asked for
        command = cli.get_command(context, name)
        assert command.help, f"{name} has no help text"
        if not isinstance(command, type(cli)):
            assert "Example" in command.help, f"{name}'s help has no example"


def test_help_does_not_import_astropy_or_astroquery():
    code = ("import sys\n"
            "from ratdcs_catalog.cli import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "try:\n    cli(['sync', '--help'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('astropy', 'astroquery', 'numpy', 'matplotlib', "
            "'dask', "
            "'distributed')])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "ratdcs_catalog", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "ratdcs" in out.stdout


def test_verbose_and_quiet_together_is_a_usage_error():
    result = CliRunner().invoke(cli, ["-v", "-q", "config"])
    assert result.exit_code == 2
    assert "--verbose and --quiet cannot be used together" in result.output


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2 and "No such command 'frobnicate'" in result.output


def test_config_json_is_machine_readable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["config", "--json"], env={})
    assert result.exit_code == 0
    assert {"key": "download.workers", "value": 4, "origin": "default"} in json.loads(result.output)


def _manifest_with_a_pending_file(tmp_path):
    from ratdcs_catalog.manifest import open_manifest
    from ratdcs_catalog.records import PlannedFile

    path = tmp_path / "m.sqlite"
    with open_manifest(path) as m, m.transaction():
        m.upsert_targets([{"source": "kepler", "target_id": "1"}], None)
        m.upsert_files([PlannedFile("kepler", "1", "lc_long", "http://127.0.0.1:9/a", "kepler/a.fits",
                                    expected_size_bytes=10)], None)
    return path


def test_a_data_dir_that_cannot_be_created(tmp_path):
    db = _manifest_with_a_pending_file(tmp_path)
    result = CliRunner().invoke(cli, ["--db", str(db), "sync"], env={"RATDCS_DATA_DIR": "/proc/self/ratdcs-data"})
    assert result.exit_code == 2
    assert "Error: cannot create the data directory /proc/self/ratdcs-data" in result.output
    assert "Hint: set data_dir in config.yaml or RATDCS_DATA_DIR to a writable location" in result.output


def test_a_data_dir_that_cannot_be_written(tmp_path):
    db = _manifest_with_a_pending_file(tmp_path)
    result = CliRunner().invoke(cli, ["--db", str(db), "sync"], env={"RATDCS_DATA_DIR": "/proc/self"})
    assert result.exit_code == 2
    assert "Error: cannot write in the data directory /proc/self" in result.output


def test_report_starts_without_astropy_requests_or_matplotlib(tmp_path):
    db = _manifest_with_a_pending_file(tmp_path)
    code = ("import sys\nfrom ratdcs_catalog.cli import cli\n"
            f"try:\n    cli(['--db', {str(db)!r}, 'report', 'progress'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('astropy', 'astroquery', 'numpy', 'requests',\n"
            "                                                  'matplotlib')])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "kepler" in out and out.strip().splitlines()[-1] == "[]"


def test_a_closed_pipe_is_not_an_error(tmp_path):
    from ratdcs_catalog.manifest import open_manifest
    from ratdcs_catalog.records import PlannedFile

    db = tmp_path / "m.sqlite"
    with open_manifest(db) as m, m.transaction():  # more output than a pipe buffer holds
        m.upsert_targets([{"source": "tess", "target_id": "1"}], None)
        m.upsert_files([PlannedFile("tess", "1", "lc", f"http://127.0.0.1:9/{i:06d}/" + "x" * 80,
                                    f"tess/fits/{i}.fits") for i in range(5000)], None)
    proc = subprocess.run(f"{sys.executable} -m ratdcs_catalog --db {db} export urls --format list --state all "
                          "| head -c 1", shell=True, capture_output=True, text=True)
    assert proc.stdout == "h"
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def _commands(group, prefix=()):
    import click

    context = click.Context(group)
    for name in group.list_commands(context):  # `plan`'s subcommands come from the registry
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_readme_and_commands_page_document_every_command_and_option():
    """README.md and docs/commands.md together name every command and every --option."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text() + "\n" + (root / "docs" / "commands.md").read_text()
    missing = []
    for path, command in _commands(cli):
        words = " ".join(path)
        if f"ratdcs {words}" not in readme:
            missing.append(f"ratdcs {words}")
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt != "--help" and opt not in readme:
                    missing.append(f"ratdcs {words} {opt}")
    for param in cli.params:
        for opt in param.opts:
            if opt.startswith("--") and opt != "--help" and opt not in readme:
                missing.append(f"ratdcs {opt}")
    assert missing == []


def test_a_log_file_that_cannot_be_written_is_dropped_with_one_warning(tmp_path, capsys):
    import logging

    from ratdcs_catalog.logs import setup_logging

    log_path = tmp_path / "data_download.log"
    logger = setup_logging(log_path=log_path, quiet=True)
    handler = next(h for h in logger.handlers if isinstance(h, logging.FileHandler))
    handler.stream.close()  # as a full disk would make every write fail
    handler.stream = open("/dev/full", "w")
    for i in range(3):
        logger.info("file %d done", i)
    err = capsys.readouterr().err
    assert err == f"WARNING: cannot write the log file {log_path} (No space left on device); logging to the " \
                  "console only\n"  # once, and no '--- Logging error ---' traceback
    setup_logging()  # close the handler


def test_lines_logged_in_a_batch_reach_the_file_together_at_its_end(tmp_path, capsys):
    from ratdcs_catalog.logs import batch_log_writes, setup_logging

    log_path = tmp_path / "data_download.log"
    logger = setup_logging(log_path=log_path, quiet=True)
    logger.info("before")
    assert log_path.read_text().endswith("ratdcs: before\n")  # written at once, as usual
    with batch_log_writes():
        for i in range(3):
            logger.info("file %d done", i)
        assert "file 0 done" not in log_path.read_text()  # held in the buffer
    lines = log_path.read_text().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["before", "file 0 done", "file 1 done", "file 2 done"]
    logger.info("after")
    assert log_path.read_text().endswith("ratdcs: after\n")  # and at once again
    setup_logging()


def test_a_full_disk_at_the_end_of_a_batch_drops_the_log_file_with_one_warning(tmp_path, capsys):
    import logging

    from ratdcs_catalog.logs import batch_log_writes, setup_logging

    log_path = tmp_path / "data_download.log"
    logger = setup_logging(log_path=log_path, quiet=True)
    handler = next(h for h in logger.handlers if isinstance(h, logging.FileHandler))
    handler.stream.close()
    handler.stream = open("/dev/full", "w")
    with batch_log_writes():
        logger.info("file 1 done")
    logger.info("file 2 done")
    assert capsys.readouterr().err == f"WARNING: cannot write the log file {log_path} (No space left on device); " \
                                      "logging to the console only\n"
    setup_logging()


@pytest.mark.parametrize("sqlite_says,code,message", [
    ("attempt to write a readonly database", 2, "it is read-only"),  # this user may only read the file
    ("database or disk is full", 1, "the disk is full"),              # the file system has no room left
])
def test_sqlite_refusing_a_write_is_said_plainly_not_as_an_internal_error(tmp_path, monkeypatch, sqlite_says, code,
                                                                          message):
    import sqlite3

    from ratdcs_catalog.manifest import Manifest

    db = tmp_path / "m.sqlite"
    Manifest.open(db).close()

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError(sqlite_says)

    monkeypatch.setattr(Manifest, "retry_failed", refuse)
    result = CliRunner().invoke(cli, ["--db", str(db), "retry"])
    assert result.exit_code == code
    assert f"Error: cannot write the manifest {db}: {message}" in result.output
    assert "internal error" not in result.output


def test_one_record_that_cannot_be_encoded_does_not_turn_the_log_file_off(tmp_path, capsys):
    from ratdcs_catalog.logs import setup_logging

    log_path = tmp_path / "data_download.log"
    logger = setup_logging(log_path=log_path, quiet=True)
    logger.info("placed %s", "bad-\udcff-name.fits")  # a surrogate from an undecodable file name
    logger.info("placed good.fits")
    setup_logging()
    assert "placed good.fits" in log_path.read_text()
    assert "cannot write the log file" not in capsys.readouterr().err


def test_a_read_only_manifest_file_is_refused_with_exit_2(tmp_path):
    import os

    import pytest

    if os.geteuid() == 0:
        pytest.skip("root writes read-only files; the monkeypatched test covers the message")
    from ratdcs_catalog.manifest import Manifest

    db = tmp_path / "m.sqlite"
    Manifest.open(db).close()
    db.chmod(0o444)
    result = CliRunner().invoke(cli, ["--db", str(db), "retry"])
    assert result.exit_code == 2 and f"Error: cannot write the manifest {db}: it is read-only" in result.output


def test_the_verbose_traceback_hides_the_token_too(tmp_path, monkeypatch):
    from ratdcs_catalog.manifest import Manifest

    db = tmp_path / "m.sqlite"
    Manifest.open(db).close()

    def echo_token(*args, **kwargs):  # an unexpected error whose text carries the secret
        raise RuntimeError("server said: token tok-s3cret-123 rejected")

    monkeypatch.setattr(Manifest, "retry_failed", echo_token)
    result = CliRunner().invoke(cli, ["-v", "--db", str(db), "retry"], env={"MAST_API_TOKEN": "tok-s3cret-123"})
    assert result.exit_code == 1 and "Traceback" in result.output and "token *** rejected" in result.output
    assert "tok-s3cret-123" not in result.output


def test_the_command_ends_without_teardown_yet_joins_threads_runs_atexit_and_flushes(tmp_path):
    # main() ends with os._exit after what the interpreter's exit does first (cli._leave).
    marks = tmp_path / "marks"
    child = ("import atexit, sys, threading, time\n"
             f"marks = {str(marks)!r}\n"
             "def late():\n    time.sleep(0.3)\n    open(marks, 'a').write('thread ')\n"
             "threading.Thread(target=late).start()  # not a daemon: the exit waits for it\n"
             "atexit.register(lambda: open(marks, 'a').write('atexit'))\n"
             "sys.argv = ['ratdcs'] + sys.argv[1:]\n"
             "from ratdcs_catalog.cli import main\n"
             "main()\n"
             "print('never here')\n")
    done = subprocess.run([sys.executable, "-c", child, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Usage: ratdcs" in done.stdout and "never here" not in done.stdout
    assert marks.read_text() == "thread atexit"
    marks.unlink()
    usage = subprocess.run([sys.executable, "-c", child, "--no-such-flag"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "Error: No such option '--no-such-flag'." in usage.stderr
    assert marks.read_text() == "thread atexit"


@pytest.mark.parametrize("how, status, stderr", [
    ("_leave('a message')", 1, "a message\n"),  # sys.exit("text"): printed, status 1, as the interpreter does
    ("sys.stdout = open('/dev/full', 'w'); print('lost'); _leave(0)", 120, ""),  # stdout cannot be flushed
])
def test_leaving_keeps_the_interpreters_exit_statuses(how, status, stderr):
    if "/dev/full" in how and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system to make a flush fail")
    child = f"import sys\nfrom ratdcs_catalog.cli import _leave\n{how}\n"
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (status, stderr)


def test_a_command_loads_only_its_own_module():
    """`ratdcs sync` does not import plan's, report's, demo's or the sandbox's command modules."""
    code = ("import sys\nfrom ratdcs_catalog.cli import cli\n"
            "try:\n    cli(['sync', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m.rpartition('.')[2] for m in sys.modules if m.startswith('ratdcs_catalog.cli.')))\n")
    assert last_line_printed(code) == "['common', 'sync_cmd']"


def test_help_lists_every_command_and_export_keeps_index():
    result = CliRunner().invoke(cli, ["--help"])
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == ["config", "demo", "export", "ls", "plan", "report", "reset", "retry", "sandbox", "split",
                      "sync", "verify"]
    assert "index" in CliRunner().invoke(cli, ["export", "--help"]).output
