"""`ratdcs sandbox serve`: help, bad faults, and a real run stopped by SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from ratdcs_catalog.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def test_serve_help_documents_the_fault_syntax():
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--help"])
    assert result.exit_code == 0
    assert "KIND[@PATTERN][:key=value,...]" in result.output
    assert "503@Download/file:count=2,retry_after=1" in result.output


def test_bad_fault_spec_is_a_usage_error():
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--faults", "teapot@x"])
    assert result.exit_code == 2
    assert "unknown fault kind 'teapot'" in result.output


@pytest.mark.parametrize("spec,message", [
    ("503:count=abc", "fault 503: count must be a whole number and rate a number from 0 to 1, got count='abc'"),
    ("reset:rate=2", "fault reset: count must be 0 or more and rate from 0 to 1, got count=None, rate=2"),
])
def test_bad_fault_counts_and_rates_are_usage_errors(spec, message):
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--faults", spec])
    assert result.exit_code == 2 and message in result.output, result.output


def test_an_unwritable_write_config_is_a_usage_error(tmp_path):
    target = tmp_path / "missing-dir" / "sandbox.yaml"
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--port", "0", "--write-config", str(target)])
    assert result.exit_code == 2
    assert f"Invalid value for --write-config: cannot write {target}: No such file or directory" in result.output


def test_help_does_not_import_astropy():
    code = "import sys; from ratdcs_catalog.cli import cli; print('astropy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "False"


def test_serve_writes_config_answers_and_stops_on_sigterm(tmp_path):
    from ratdcs_catalog.config import load_config

    config_path = tmp_path / "sandbox.yaml"
    process = subprocess.Popen(
        [sys.executable, "-m", "ratdcs_catalog", "sandbox", "serve", "--port", "0", "--scale", "0.02",
         "--write-config", str(config_path), "--data-dir", "data",  # relative: written absolute
         "--faults", "503@/TAP/sync:count=1"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not config_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        config = load_config(str(config_path))
        tap = config["endpoints.exoplanet_tap"]
        assert tap.startswith("http://127.0.0.1:") and tap.endswith("/TAP")
        assert config["endpoints.mast_download"] == config["endpoints.mast"] + "/api/v0.1/Download/file"
        assert config["data_dir"] == str(tmp_path / "data")
        query = {"query": "select count_me from toi", "format": "csv"}
        assert requests.post(tap + "/sync", data=query, timeout=10).status_code == 503
        assert requests.post(tap + "/sync", data={"query": "select toi from toi", "format": "csv"},
                             timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "endpoints:" in stdout and "Sandbox stopped." in stderr


def test_serve_help_documents_the_replace_fault():
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--help"])
    assert "mast_executing mast_error bad_json replace" in result.output
    assert "after=N (replace)" in result.output
    assert "replace@PATTERN:after=N changes the archive instead" in result.output
    assert r"--faults 'replace@_llc\.fits:after=1'" in result.output


def test_serve_help_names_the_hostile_zip_faults_and_tesscut():
    from ratdcs_catalog.sandbox import parse_fault

    result = CliRunner().invoke(cli, ["sandbox", "serve", "--help"])
    assert "zip_slip zip_many" in result.output and "../../evil.fits" in result.output
    assert "TESScut" in result.output and "/tesscut/api/v0.1/" in result.output
    fault = parse_fault("zip_many@astrocut:count=1")
    assert (fault.kind, fault.pattern, fault.count) == ("zip_many", "astrocut", 1)
