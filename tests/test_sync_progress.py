"""Progress handed in to `sync()`: the engine counts and tells the caller's reporter; it never prints."""

import io

import pytest

from ratdcs_catalog.cli.progress import TerminalProgress
from ratdcs_catalog.sync.progress import LogProgress, ProgressEvent


class Recorder:
    """A ProgressReporter that keeps every call."""

    def __init__(self):
        self.calls = []

    def start(self, total_bytes, total_files):
        self.calls.append(("start", total_bytes, total_files))

    def update(self, n_bytes, files_done, files_failed):
        self.calls.append(("update", n_bytes, files_done, files_failed))

    def close(self):
        self.calls.append(("close",))


def test_a_reporter_gets_the_totals_then_updates_that_add_up_to_the_bytes_received(sync_env):
    products = sync_env.kepler_products(6)
    sync_env.plan(products)
    dry = Recorder()
    sync_env.sync(dry_run=True, progress=dry)
    assert dry.calls == [("close",)]  # nothing transferred, nothing started; closed all the same
    reporter = Recorder()
    summary = sync_env.sync(progress=reporter)
    assert summary.files_done == 6
    assert reporter.calls[0] == ("start", sum(p.size for p in products), 6) and reporter.calls[-1] == ("close",)
    updates = reporter.calls[1:-1]
    assert updates and all(call[0] == "update" for call in updates)
    assert sum(call[1] for call in updates) == summary.bytes_received == summary.selected_bytes
    assert updates[-1][2:] == (6, 0)  # files done (adopted included) and failed, as totals


def test_a_callable_gets_events_and_a_bar_gets_pooch_style_calls(sync_env):
    products = sync_env.kepler_products(4)
    sync_env.plan(products[:2])
    events = []
    first = sync_env.sync(progress=events.append)
    assert all(isinstance(e, ProgressEvent) for e in events)
    assert [events[0].kind, events[-1].kind] == ["start", "close"] and {e.kind for e in events[1:-1]} == {"update"}
    assert (events[-1].bytes_received, events[-1].total_bytes, events[-1].files_done) == (
        first.bytes_received, first.selected_bytes, 2)

    class Bar:  # what pooch's progressbar= takes: update(n), close(), and a total it may set
        total, received, closed = None, 0, False

        def update(self, n):
            self.received += n

        def close(self):
            self.closed = True

    sync_env.plan(products[2:])
    bar = Bar()
    second = sync_env.sync(progress=bar)
    assert (bar.total, bar.received, bar.closed) == (second.selected_bytes, second.bytes_received, True)


def test_no_progress_and_the_library_default_print_nothing(sync_env, capsys, monkeypatch):
    products = sync_env.kepler_products(4)
    sync_env.plan(products[:2])
    assert sync_env.sync(progress=None).files_done == 2
    monkeypatch.setattr(LogProgress, "INTERVAL_SECONDS", 0.0)  # progress=True logs a line at every update
    sync_env.plan(products[2:])
    assert sync_env.sync(progress=True).files_done == 2
    assert capsys.readouterr() == ("", "")


def test_something_that_is_not_a_reporter_is_refused_before_anything_runs(sync_env):
    sync_env.plan(sync_env.kepler_products(1))
    with pytest.raises(TypeError, match="progress: expected None, True/False, .* got int"):
        sync_env.sync(progress=42)
    assert sync_env.file_requests() == [] and {r["state"] for r in sync_env.rows().values()} == {"pending"}


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_command_line_draws_a_bar_on_a_terminal_and_plain_lines_elsewhere(monkeypatch):
    monkeypatch.setattr(TerminalProgress, "INTERVAL_SECONDS", 0.0)
    plain = io.StringIO()
    reporter = TerminalProgress(plain)
    reporter.start(3000, 2)
    reporter.update(1500, 1, 0)
    reporter.update(1500, 1, 1)
    reporter.close()
    assert plain.getvalue().splitlines() == ["sync: 1/2 files done, 0 failed, 1.50 KB received",
                                             "sync: 1/2 files done, 1 failed, 3.00 KB received"]
    terminal = Terminal()
    reporter = TerminalProgress(terminal)
    reporter.start(3000, 2)
    reporter.update(3000, 2, 0)
    reporter.close()
    drawn = terminal.getvalue()
    assert "sync: 100%" in drawn and "2/2 done, 0 failed" in drawn and "files done" not in drawn
