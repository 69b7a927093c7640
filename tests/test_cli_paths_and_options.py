"""Issue 19: paths mean what they say, configuration files combine, global options go anywhere."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.config import load_config
from ratdcs_catalog.sandbox import endpoint_config_yaml

FAST = "catalog:\n  rate_limit_delay: 0\ndownload:\n  backoff_base_seconds: 0.01\n  backoff_max_seconds: 0.05\n"


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def _sub_config(sandbox, parent: Path) -> Path:
    """sub/config.yaml with a relative data_dir, as a user writes it."""
    (parent / "sub").mkdir()
    config = parent / "sub" / "config.yaml"
    config.write_text('data_dir: "files"\n' + endpoint_config_yaml(sandbox.endpoints()).split("\n", 1)[1] + FAST)
    return config


# ---- 3. paths mean what they say ----------------------------------------------------------------

def test_a_relative_data_dir_in_a_config_file_is_relative_to_that_file(sandbox, tmp_path, monkeypatch):
    _sub_config(sandbox, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run("--config", "sub/config.yaml", "plan", "kepler", "--n", "1").exit_code == 0
    result = run("--config", "sub/config.yaml", "sync")
    assert result.exit_code == 0, result.output
    placed = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "sub" / "files" / "kepler").rglob("*.fits"))
    assert placed and all(p.startswith("sub/files/kepler/") for p in placed)
    assert not (tmp_path / "files").exists() and not (tmp_path / "data").exists()
    shown = run("--config", "sub/config.yaml", "config").output.splitlines()
    assert f"data directory: {tmp_path / 'sub' / 'files'} (from {tmp_path / 'sub' / 'config.yaml'})" in shown


def test_relative_manifest_and_log_paths_in_a_config_file_are_relative_to_it_too(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("manifest: m/x.sqlite\nlog_file: ../logs/ratdcs.log\n")
    config = load_config(tmp_path / "sub" / "c.yaml", environ={}, cwd=tmp_path)
    assert config.manifest_path == tmp_path / "sub" / "m" / "x.sqlite"
    assert config.log_path == tmp_path / "logs" / "ratdcs.log"


def test_a_relative_path_from_the_environment_or_a_flag_is_relative_to_the_current_directory(tmp_path,
                                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={"RATDCS_DATA_DIR": "here"}, cwd=tmp_path)["data_dir"] == str(tmp_path / "here")
    rows = {r["key"]: r for r in json.loads(run("--data-dir", "flagged", "config", "--json").output)}
    assert rows["data_dir"] == {"key": "data_dir", "value": str(tmp_path / "flagged"), "origin": "--data-dir"}


def test_a_command_on_an_existing_manifest_uses_its_recorded_data_directory(sandbox, tmp_path, monkeypatch):
    _sub_config(sandbox, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run("--config", "sub/config.yaml", "plan", "kepler", "--n", "1").exit_code == 0
    assert run("--config", "sub/config.yaml", "sync").exit_code == 0
    db = tmp_path / "sub" / "files" / "manifest.sqlite"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run("--db", str(db), "verify")
    assert result.exit_code == 0, result.output
    assert (f"WARNING: using the data directory {tmp_path / 'sub' / 'files'} recorded in the manifest {db}, "
            f"not {elsewhere / 'data'} (from default); pass --data-dir {elsewhere / 'data'} to use that one "
            "instead") in result.output
    assert "all intact" in result.output and not (elsewhere / "data").exists()
    # The environment variable, set for this one command, is as explicit as the flag.
    monkeypatch.setenv("RATDCS_DATA_DIR", str(elsewhere / "copy"))
    result = run("--db", str(db), "sync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert (f"WARNING: using the data directory {elsewhere / 'copy'} (from environment $RATDCS_DATA_DIR), "
            f"not {tmp_path / 'sub' / 'files'} recorded in the manifest {db}") in result.output


def test_run_from_inside_the_data_directory_the_hint_names_the_manifest_there(planned, tmp_path):
    (tmp_path / "x.sqlite").rename(tmp_path / "manifest.sqlite")
    result = run("sync")
    assert result.exit_code == 2
    assert result.output == (f"Error: no manifest at {tmp_path / 'data' / 'manifest.sqlite'}\n"
                             "Hint: there is one in the current directory: `--db manifest.sqlite` (its recorded data "
                             "directory is used), or run from the directory your configuration's data_dir is "
                             "relative to\n")


# ---- 4. configuration files combine -----------------------------------------------------------

def test_later_config_files_override_earlier_ones_and_config_says_which_set_what(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text("download:\n  workers: 2\nkepler:\n  max_targets: 7\n")
    Path("b.yaml").write_text("download:\n  workers: 9\n")
    result = run("--config", "a.yaml", "config", "--config", "b.yaml", "--json")
    rows = {r["key"]: r for r in json.loads(result.output)}
    assert rows["download.workers"]["value"] == 9 and rows["download.workers"]["origin"] == str(tmp_path / "b.yaml")
    assert rows["kepler.max_targets"]["value"] == 7 and rows["kepler.max_targets"]["origin"] == str(tmp_path / "a.yaml")
    text = run("--config", "a.yaml", "--config", "b.yaml", "config").output
    assert text.startswith(f"configuration files (later override earlier): {tmp_path / 'a.yaml'}, "
                           f"{tmp_path / 'b.yaml'}\n")


def test_every_configuration_typo_is_reported_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text("download:\n  wrokers: 2\n  timeout_seconds: soon\n")
    Path("b.yaml").write_text("kepler:\n  max_targetz: 3\n")
    result = run("--config", "a.yaml", "--config", "b.yaml", "config", env={"RATDCS_DOWNLOAD__WORKERZ": "8"})
    assert result.exit_code == 2
    assert result.output == (
        "Error: 4 problems in the configuration:\n"
        f"  {tmp_path / 'a.yaml'}: unknown setting 'download.wrokers' (did you mean 'download.workers'?)\n"
        f"  {tmp_path / 'a.yaml'}: setting 'download.timeout_seconds' expects a number, found 'soon'\n"
        f"  {tmp_path / 'b.yaml'}: unknown setting 'kepler.max_targetz' (did you mean 'kepler.max_targets'?)\n"
        "  environment $RATDCS_DOWNLOAD__WORKERZ: no ratdcs setting has this name "
        "(did you mean $RATDCS_DOWNLOAD__WORKERS?)\n"
        "Hint: fix each one; `ratdcs config` lists every setting with its default\n")


def test_sandbox_write_config_refuses_to_overwrite_a_file(tmp_path):
    mine = tmp_path / "config.yaml"
    mine.write_text("kepler:\n  max_targets: 7\n")
    result = run("sandbox", "serve", "--port", "0", "--write-config", str(mine))
    assert result.exit_code == 2
    assert result.output == (f"Error: --write-config {mine}: the file exists; not overwritten\n"
                             f"Hint: pass --force to replace it, or write another file and layer both: "
                             f"`ratdcs --config {mine} --config sandbox.yaml ...`\n")
    assert mine.read_text() == "kepler:\n  max_targets: 7\n"


# ---- 5. global options before or after the subcommand ------------------------------------------

@pytest.fixture
def planned(tmp_path, monkeypatch):
    """A manifest with one pending file, and a config naming it."""
    from ratdcs_catalog.manifest import open_manifest
    from ratdcs_catalog.records import PlannedFile

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "x.sqlite"
    with open_manifest(db) as m, m.transaction():
        m.upsert_targets([{"source": "kepler", "target_id": "1"}], None)
        m.upsert_files([PlannedFile("kepler", "1", "lc_long", "http://127.0.0.1:9/a", "kepler/a.fits",
                                    expected_size_bytes=10)], None)
    Path("c.yaml").write_text(f'manifest: "{db}"\n')
    return db


def test_report_progress_takes_config_after_the_subcommand(planned):
    after = run("report", "progress", "--config", "c.yaml")
    assert after.exit_code == 0 and after.output == run("--config", "c.yaml", "report", "progress").output
    assert after.output.splitlines()[2].split()[:3] == ["kepler", "1", "0"]


def test_db_after_a_nested_and_a_lazily_built_subcommand(planned):
    assert run("export", "urls", "--format", "list", "--db", str(planned)).output == "http://127.0.0.1:9/a\n"
    result = run("plan", "kepler", "--n", "3", "--db", str(planned), "--dry-run", "--config", "nope.yaml")
    assert result.exit_code == 2 and "Error: configuration file nope.yaml (from --config) does not exist" \
        in result.output


def test_plan_kepler_takes_db_and_config_after_its_options(sandbox, sandbox_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("plan", "kepler", "--n", "1", "--db", "x.sqlite", "--config", str(sandbox_config))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Manifest: {tmp_path / 'x.sqlite'} (")
    assert (tmp_path / "x.sqlite").is_file() and not (tmp_path / "data" / "manifest.sqlite").exists()


def test_quiet_and_verbose_after_the_subcommand(planned):
    quiet = run("sync", "--dry-run", "-q", "--db", str(planned))
    assert quiet.exit_code == 0 and quiet.output.startswith("Dry run: would fetch 1 files")
    verbose = run("--db", str(planned), "sync", "-v", "--dry-run")
    assert verbose.exit_code == 0 and "Dry run: would fetch 1 files" in verbose.output
    # After overrides before: -q before, -v after is verbose.
    from ratdcs_catalog.cli.common import App
    import click

    seen = {}

    @cli.command("probe-levels", hidden=True)
    @click.pass_obj
    def probe(app: App):
        seen.update(verbose=app.verbose, quiet=app.quiet, db=app.db)

    from ratdcs_catalog.cli.common import with_global_options

    with_global_options(probe)
    try:
        run("-q", "--db", "a.sqlite", "probe-levels", "-v", "--db", "b.sqlite")
    finally:
        del cli.commands["probe-levels"]
    assert seen == {"verbose": True, "quiet": False, "db": "b.sqlite"}


def test_sync_q_draws_no_bar_and_prints_the_summary(planned, monkeypatch):
    result = run("sync", "-q", "--db", str(planned), env={"RATDCS_DOWNLOAD__MAX_RETRIES": "0"})
    assert result.exit_code == 1
    assert result.output.startswith("Downloaded 0, adopted 0, failed 1 of 1 files")
    assert "WARNING" not in result.output and "sync:" not in result.output
