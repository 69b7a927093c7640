"""Issue 19: every command that changes something says so in data_download.log; hints that fix things."""

import re
import socket

from click.testing import CliRunner

from ratdcs_catalog.cli import cli


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def _lines(log_text: str) -> list[str]:
    """The messages of the log's INFO lines from the command layer, without time and logger."""
    return [m.group(1) for m in re.finditer(r"INFO ratdcs\.api: (.*)", log_text)]


def test_each_command_that_changes_something_logs_one_line_with_counts(sandbox, sandbox_config, tmp_path):
    c = ("--config", str(sandbox_config))
    log = tmp_path / "data" / "data_download.log"
    assert run(*c, "plan", "kepler", "--n", "1").exit_code == 0
    assert run(*c, "sync").exit_code == 0
    assert run(*c, "verify", "--on-problem", "failed").exit_code == 0
    assert run(*c, "retry").exit_code == 0
    assert run(*c, "reset", "--source", "kepler", "--state", "failed").exit_code == 0
    assert run(*c, "split", "--seed", "7").exit_code == 0
    assert run(*c, "export", "urls", "--state", "all", "-o", str(tmp_path / "urls.txt")).exit_code == 0
    assert run(*c, "export", "manifest", str(tmp_path / "copy.sqlite")).exit_code == 0
    lines = _lines(log.read_text())
    kinds = [line.split(":")[0].split(" (")[0] for line in lines]
    assert kinds == ["plan kepler", "verify", "retry", "reset", "split", "export urls", "export manifest"], lines
    files = int(re.match(r"plan kepler: 1 targets, (\d+) files \(\1 new, 0 unchanged", lines[0]).group(1))
    assert lines[1] == (f"verify (fast) of {tmp_path / 'data'}: {files} done files checked, {files} intact, 0 not; "
                        "0 rows marked failed")
    assert lines[2] == "retry: 0 failed rows back to pending, attempts reset (sources: all; reason: any)"
    assert lines[3] == "reset: 0 rows back to pending, attempts and errors cleared (sources: kepler; states: failed)"
    assert lines[5] == f"export urls: {files} rows written to {tmp_path / 'urls.txt'}"
    assert lines[6] == f"export manifest: {files} files written to {tmp_path / 'copy.sqlite'}"
    assert re.search(rf"sync \d+ finished: {files} downloaded, 0 adopted, 0 failed", log.read_text())


def test_an_attempt_without_an_http_answer_says_so_not_http_none(caplog):
    from ratdcs_catalog.records import FileOutcome, TransferRecord
    from ratdcs_catalog.sync.pipeline import Finished
    from ratdcs_catalog.sync.run import _log_outcome

    refused = TransferRecord(started_at="t0", ended_at="t1", outcome="retry", http_status=None, range_start=None,
                             bytes_received=0, error_kind="connection_refused", error="no connection")
    caplog.set_level("INFO", logger="ratdcs.sync")
    _log_outcome(Finished(FileOutcome(1, "pending", transfers=(refused,)), "kepler/a.fits"))
    assert caplog.messages == ["kepler/a.fits: retry, no HTTP answer, 0 bytes, connection_refused: no connection"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_the_plan_hint_names_the_network_and_the_demo(tmp_path, monkeypatch):
    from ratdcs_catalog.net import catalog

    # The default endpoints, with the network unplugged: every connection fails at once.
    def offline(self, method, url, **kwargs):
        import requests

        raise requests.ConnectionError("Failed to resolve 'exoplanetarchive.ipac.caltech.edu'")

    monkeypatch.setattr(catalog.requests.Session, "request", offline)
    result = run("plan", "kepler", "--n", "1", env={"RATDCS_CATALOG__MAX_RETRIES": "0"})
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Hint: check this machine's network connection (and https_proxy) to exoplanetarchive.ipac.caltech.edu; to "
        "try ratdcs offline, `ratdcs demo` runs everything against a local sandbox archive, or `ratdcs sandbox "
        "serve --write-config sandbox.yaml` then `ratdcs --config sandbox.yaml ...`. The manifest was not changed")


def test_a_stopped_sandbox_is_named_as_such(tmp_path):
    port = _closed_port()
    config = tmp_path / "sandbox.yaml"
    config.write_text(f'endpoints:\n  exoplanet_tap: "http://127.0.0.1:{port}/TAP"\n'
                      "catalog:\n  max_retries: 0\n  rate_limit_delay: 0\n")
    result = run("--config", str(config), "plan", "kepler", "--n", "1")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Hint: nothing answers at 127.0.0.1:{port}: is the sandbox still running (`ratdcs sandbox serve "
        "--write-config sandbox.yaml`)? The manifest was not changed")


def test_an_unwritable_data_directory_hint_names_the_settings_that_fix_it(sandbox, sandbox_config, tmp_path):
    result = run("--config", str(sandbox_config), "plan", "kepler", "--n", "1", "--data-dir", "/proc/self/ratdcs-data")
    assert result.exit_code == 2
    assert result.output == (
        "Error: cannot create the manifest's directory /proc/self/ratdcs-data: No such file or directory\n"
        "Hint: pass --db with a writable location for the manifest; by default it lives in the data directory, so "
        "setting data_dir (--data-dir, RATDCS_DATA_DIR or data_dir in config.yaml) to a writable directory moves "
        "both\n")


def test_a_data_directory_sync_cannot_create_names_the_flag_too(tmp_path):
    from ratdcs_catalog.manifest import open_manifest

    from ratdcs_catalog.records import PlannedFile

    with open_manifest(tmp_path / "m.sqlite") as m, m.transaction():
        m.upsert_targets([{"source": "kepler", "target_id": "1"}], None)
        m.upsert_files([PlannedFile("kepler", "1", "lc_long", "http://127.0.0.1:9/a", "kepler/a.fits")], None)
    result = run("sync", "--db", str(tmp_path / "m.sqlite"), "--data-dir", "/proc/self/ratdcs-data")
    assert result.exit_code == 2
    assert result.output.split("\n", 1)[1] == ("Error: cannot create the data directory /proc/self/ratdcs-data: No such file or directory\n"
                             "Hint: set data_dir in config.yaml or RATDCS_DATA_DIR to a writable location (or pass "
                             "--data-dir DIR; --db moves the manifest)\n")


def test_the_command_drops_only_record_fields_no_ratdcs_format_shows(monkeypatch, tmp_path):
    """`ratdcs` skips each record's caller, thread and process lookups (issue 15); a format that
    printed one of them would then print "(unknown file)" or None instead."""
    import logging

    from ratdcs_catalog import cli as cli_module, logs

    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))  # put back after the test
    cli_module._lean_log_records()
    assert logging._srcfile is None and not (logging.logThreads or logging.logProcesses or logging.logMultiprocessing)

    ratdcs_logger = logging.getLogger(logs.LOGGER_NAME)
    monkeypatch.setattr(ratdcs_logger, "propagate", ratdcs_logger.propagate)  # setup_logging changes it
    monkeypatch.setattr(logs, "_active", logs._active)
    level = ratdcs_logger.level
    logger = logs.setup_logging(log_path=tmp_path / "ratdcs.log")  # the console's handler and the file's
    try:
        dropped = re.compile(r"%\((pathname|filename|module|funcName|lineno|thread|threadName|process|processName)\)")
        formats = [handler.formatter._fmt for handler in logger.handlers]
        assert len(formats) == 2 and not [f for f in formats if dropped.search(f)]
        logging.getLogger("ratdcs.sync").info("a %s", "b")
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        ratdcs_logger.setLevel(level)  # setLevel, not the attribute: it also clears the loggers' level caches
    assert (tmp_path / "ratdcs.log").read_text().endswith(" INFO ratdcs.sync: a b\n")
