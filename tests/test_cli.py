"""The command-line shell: commands listed, fast start, errors as one line with exit codes."""

import json
import subprocess
import sys

from click.testing import CliRunner

from ratdcs_catalog.cli import cli


def test_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Commands:" in result.output and "config" in result.output


def test_every_command_has_help_with_an_example():
    for name, command in cli.commands.items():
        assert command.help, f"{name} has no help text"
        if not isinstance(command, type(cli)):
            assert "Example" in command.help, f"{name}'s help has no example"


def test_help_does_not_import_astropy_or_astroquery():
    code = ("import sys\n"
            "from ratdcs_catalog.cli import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('astropy', 'astroquery', 'numpy')])\n")
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
