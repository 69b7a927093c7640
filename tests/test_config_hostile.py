"""Hostile or careless configuration files: refused at once, in little memory, with a short message."""

import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli

# The 383-byte "billion laughs" of the probe: nine levels of aliases under kepler.cadence.
BOMB = """kepler:
  cadence: &a9 [*a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8]
"""
LAUGHS = "\n".join(["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                   + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]) + "\n" + BOMB


def run(tmp_path, text, *args):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return CliRunner().invoke(cli, ["--config", str(path), *(args or ["config"])])


def test_the_yaml_bomb_is_refused_within_a_second_and_100_mb(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(LAUGHS)
    # The child reports its own peak RSS after the command ends: VmHWM, which starts afresh at exec
    # (getrusage's ru_maxrss would carry pytest's own peak over the fork).
    # The command's click group, not main(): main() ends the process itself (cli._leave).
    child = ("import re, sys\n"
             "from ratdcs_catalog.cli import cli\n"
             f"sys.argv = ['ratdcs', '--config', {str(path)!r}, 'config']\n"
             "try:\n    cli(prog_name='ratdcs')\n"
             "except SystemExit as exit:\n    code = exit.code\n"
             "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
             "print('RSS', hwm, file=sys.stderr)\n"
             "sys.exit(code)\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2 and elapsed < 5  # the process starts, reads, refuses
    assert proc.stderr.startswith(f"Error: {path}, line 2: the alias *a0 is not taken")
    assert "write the value out" in proc.stderr and len(proc.stderr) < 400
    rss_kib = int(proc.stderr.rsplit("RSS ", 1)[1])
    assert rss_kib < 100 * 1024


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path):
    result = run(tmp_path, "kepler:\n  cadence: " + "[" * 5000 + "]" * 5000 + "\n")
    assert result.exit_code == 2
    assert "nested deeper than 16 levels" in result.output and "RecursionError" not in result.output


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    result = run(tmp_path, "download:\n  workers: 4\n  timeout_seconds: 30\n  workers: 8\n")
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path / 'config.yaml'}, line 4: the key 'workers' is given twice "
                                    "(first on line 2)")


def test_a_huge_value_is_quoted_short(tmp_path):
    result = run(tmp_path, "kepler:\n  cadence: " + "x" * 100_000 + "\n")
    assert result.exit_code == 2
    first = result.output.splitlines()[0]
    assert "setting 'kepler.cadence' must be one of long, short, found 'xxxx" in first
    assert "(100,002 characters)" in first and len(first) < 300


def test_a_file_over_a_megabyte_is_not_read(tmp_path):
    result = run(tmp_path, "# " + "x" * 1_000_100 + "\n")
    assert result.exit_code == 2 and "a configuration file of more than 1,000,000 bytes" in result.output


@pytest.mark.parametrize("text", ["download:\n  workers: 8\n", "kepler: {quarters: [3, 4]}\n"])
def test_ordinary_files_still_load(tmp_path, text):
    assert run(tmp_path, text).exit_code == 0
