"""Issue 19: an honest progress bar. Sizes learned as files arrive, unknown sizes counted apart,
failures above the bar (never inside its line) and grouped by kind in the summary."""

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time

from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.cli.progress import TerminalProgress
from ratdcs_catalog.sandbox import parse_fault


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Recorder:
    def __init__(self):
        self.calls = []

    def unknown_sizes(self, files):
        self.calls.append(("unknown", files))

    def start(self, total_bytes, total_files):
        self.calls.append(("start", total_bytes, total_files))

    def total_changed(self, n_bytes, files):
        self.calls.append(("learned", n_bytes, files))

    def update(self, n_bytes, files_done, files_failed):
        self.calls.append(("update", n_bytes, files_done, files_failed))

    def close(self):
        self.calls.append(("close",))


def _ztf_unknown_sizes(sync_env, n=3):
    u = sync_env.sandbox.universe
    products = [u.ztf_product(r) for r in u.ztf_rows([600], 0, 3e6, ["zg"], [1], [1])[:n]]
    sync_env.plan(products, source="ztf", kind="ztf_sciimg", sizes=False)
    return products


def test_sizes_of_files_planned_without_one_are_learned_as_they_arrive(sync_env):
    products = _ztf_unknown_sizes(sync_env)
    recorder = Recorder()
    summary = sync_env.sync(progress=recorder)
    assert summary.files_done == 3
    assert recorder.calls[:2] == [("unknown", 3), ("start", 0, 3)]
    learned = [c for c in recorder.calls if c[0] == "learned"]
    received = sum(c[1] for c in recorder.calls if c[0] == "update")
    assert sum(c[2] for c in learned) == 3
    assert sum(c[1] for c in learned) == sum(p.size for p in products) == received


def test_bytes_a_failed_or_adopted_file_will_not_bring_leave_the_total(sync_env):
    from ratdcs_catalog.sandbox import Fault

    products = sync_env.kepler_products(4)
    sync_env.plan(products)
    sync_env.configure(**{"download.max_retries": 0})
    sync_env.sandbox.add_fault(Fault("502", pattern=products[0].filename))
    first = Recorder()
    assert sync_env.sync(progress=first).files_failed == 1
    assert sum(c[1] for c in first.calls if c[0] == "learned") == -products[0].size
    start_total = first.calls[0][1]
    assert start_total + sum(c[1] for c in first.calls if c[0] == "learned") == \
        sum(c[1] for c in first.calls if c[0] == "update") == sum(p.size for p in products[1:])
    # Adopted from disk: none of its bytes come over the network, so none stay in the total.
    from ratdcs_catalog.manifest import open_manifest

    with open_manifest(sync_env.db) as m:
        m.reset_files(states=["done"])
    again = Recorder()
    assert sync_env.sync(progress=again).files_adopted == 3
    assert again.calls[0][1] + sum(c[1] for c in again.calls if c[0] == "learned") == 0


def test_a_callable_sees_the_total_grow_to_the_bytes_received(sync_env):
    _ztf_unknown_sizes(sync_env)
    events = []
    sync_env.sync(progress=events.append)
    assert events[0].total_bytes == 0 and events[-1].kind == "close"
    assert events[-1].total_bytes == events[-1].bytes_received > 0


def test_a_ztf_only_sync_shows_a_percentage_of_known_bytes_and_counts_unknown_files_apart(sync_env):
    products = _ztf_unknown_sizes(sync_env)
    terminal = Terminal()
    reporter = TerminalProgress(terminal)
    sync_env.sync(progress=reporter)
    frames = re.split(r"[\r\n]", terminal.getvalue())
    assert any(f.startswith("sync: ") and "+ 3 files of unknown size" in f for f in frames)
    last = [f for f in frames if f.startswith("sync: ")][-1]
    assert last.startswith("sync: 100%") and "3/3 done, 0 failed]" in last, last
    assert reporter.unknown_files == 0 and "unknown size" not in last
    received, total = re.search(r"\| ?(\S+)/(\S+) \[", last).groups()
    assert received == total  # the total grew by each announced size: all of it, no more
    assert reporter.bar is None and len(products) == 3


def test_dry_run_says_how_many_sizes_are_unknown_and_how_to_learn_them(sync_env):
    _ztf_unknown_sizes(sync_env, 2)
    result = CliRunner().invoke(cli, ["--config", str(sync_env.config_path), "sync", "--dry-run"])
    assert result.exit_code == 0
    assert result.output.splitlines()[:2] == [
        "Dry run: would fetch 2 files, 0 B (2 of unknown size).",
        "2 files have no known size, so the total above leaves them out (IRSA lists none for ZTF images): "
        "`ratdcs plan ztf --probe-sizes` with the same options asks the archive for each (one HEAD request per "
        "file); otherwise sync learns each size as the file arrives."]


def _run_in_a_terminal(args, env, columns=100, timeout=120):
    """Run the ratdcs command in a pseudo-terminal; everything it drew, as the terminal got it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "ratdcs_catalog", *args], stdin=slave, stdout=slave,
                               stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=30)
    os.close(master)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_failures_print_above_the_bar_and_the_summary_has_one_line_per_kind(sync_env):
    sync_env.plan(sync_env.kepler_products(24))
    sync_env.sandbox.add_fault(parse_fault("502@Download/file:rate=0.5"))
    env = {**os.environ, "RATDCS_DOWNLOAD__MAX_RETRIES": "0", "COLUMNS": "100", "TERM": "xterm"}
    code, drawn = _run_in_a_terminal(["--config", str(sync_env.config_path), "sync", "--workers", "2"], env)
    assert code == 1, drawn
    lines = drawn.replace("\r\n", "\n").split("\n")
    warnings = [line for line in lines if "WARNING" in line]
    assert warnings, drawn
    for line in lines:
        for frame in line.split("\r"):
            # tqdm clears the bar before a warning, so no frame holds both, and none wraps.
            assert not ("WARNING" in frame and "sync:" in frame), repr(frame)
            assert "WARNING" not in frame or frame.lstrip().startswith("WARNING"), repr(frame)
            assert len(frame.rstrip()) <= 100, repr(frame)
    failed = sum(1 for line in warnings if " failed: " in line)
    summary = [line.strip("\r") for line in lines if line.startswith(("Downloaded", f"{failed} failed", "  http"))]
    assert summary[0].startswith(f"Downloaded {24 - failed}, adopted 0, failed {failed} of 24 files")
    assert summary[1] == f"{failed} failed: {failed} http_5xx; `ratdcs report failed` lists them."
    assert summary[2].startswith(f"  http_5xx: {failed}, e.g. kepler/") and len(summary) == 3
