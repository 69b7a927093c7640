"""Configuration layering, the shipped config.yaml, and the errors for bad configuration."""

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.config import SETTINGS, load_config, render_yaml_defaults
from ratdcs_catalog.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _flatten(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_shipped_config_lists_every_key_with_its_default():
    shipped = dict(_flatten(yaml.safe_load((ROOT / "config.yaml").read_text())))
    assert shipped == {s.key: s.default for s in SETTINGS}
    assert (ROOT / "config.yaml").read_text() == render_yaml_defaults()
    assert shipped["data_pipeline.validation.split_ratio"] == [0.8, 0.1, 0.1]
    assert shipped["data_pipeline.validation.random_seed"] == 42


def test_every_line_of_the_shipped_config_has_a_comment():
    for line in (ROOT / "config.yaml").read_text().splitlines():
        if ":" in line and not line.rstrip().endswith(":") and not line.startswith("#"):
            assert "  # " in line, line


def test_layers_defaults_file_dotenv_environment_flags(tmp_path):
    (tmp_path / "config.yaml").write_text("download:\n  workers: 2\n  max_retries: 5\nkepler:\n  max_targets: 7\n")
    (tmp_path / ".env").write_text("MAX_RETRIES=6\nKEPLER_MAX_TARGETS=8\n")
    config = load_config(environ={"KEPLER_MAX_TARGETS": "9"}, cwd=tmp_path)
    assert config["download.chunk_size"] == 1048576 and config.origin("download.chunk_size") == "default"
    assert config["download.workers"] == 2 and config.origin("download.workers") == str(tmp_path / "config.yaml")
    assert config["download.max_retries"] == 6
    assert config.origin("download.max_retries") == f"{tmp_path / '.env'} $MAX_RETRIES"
    assert config["kepler.max_targets"] == 9 and config.origin("kepler.max_targets") == "environment $KEPLER_MAX_TARGETS"
    flagged = config.with_overrides({"download.workers": 16, "download.max_retries": None}, origin="--workers")
    assert flagged["download.workers"] == 16 and flagged.origin("download.workers") == "--workers"
    assert flagged["download.max_retries"] == 6


@pytest.mark.parametrize("name,key,raw,expected", [
    ("RATDCS_DATA_DIR", "data_dir", "/srv/astro", "/srv/astro"),
    ("TESS_MAX_TARGETS", "tess.max_targets", "12", 12),
    ("ZTF_MAX_IMAGES", "ztf.max_images", "30", 30),
    ("RATE_LIMIT_DELAY", "catalog.rate_limit_delay", "0.25", 0.25),
    ("CHUNK_SIZE", "download.chunk_size", "65536", 65536),
    ("RATDCS_TESS__DISPOSITIONS", "tess.dispositions", "PC,FP", ["PC", "FP"]),
    ("RATDCS_DOWNLOAD__HASH_MD5", "download.hash_md5", "true", True),
])
def test_seed_and_generic_environment_names(tmp_path, name, key, raw, expected):
    assert load_config(environ={name: raw}, cwd=tmp_path)[key] == expected


def test_config_file_from_environment_variable(tmp_path):
    path = tmp_path / "elsewhere.yaml"
    path.write_text("download:\n  workers: 3\n")
    assert load_config(environ={"RATDCS_CONFIG": str(path)}, cwd=tmp_path)["download.workers"] == 3


def test_dates_in_yaml_stay_text(tmp_path):
    (tmp_path / "config.yaml").write_text("ztf:\n  start_date: 2024-02-01\n")
    assert load_config(environ={}, cwd=tmp_path)["ztf.start_date"] == "2024-02-01"


def _run(tmp_path, *args, env=None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("download:\n  workers: 4\n  chunk_size: [1\n")
    result = _run(tmp_path, "--config", str(bad), "config")
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {bad}, line 4, column 1: not valid YAML")
    assert "Traceback" not in result.output


def test_unknown_key_suggests_the_closest(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("download:\n  wrokers: 4\n")
    result = _run(tmp_path, "--config", str(bad), "config")
    assert result.exit_code == 2
    assert result.output == (f"Error: {bad}: unknown setting 'download.wrokers'\n"
                             "Hint: did you mean 'download.workers'? `ratdcs config` lists every setting\n")


def test_wrong_type_is_refused_with_the_expected_type(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("download:\n  workers: many\n")
    result = _run(tmp_path, "--config", str(bad), "config")
    assert result.exit_code == 2
    assert f"Error: {bad}: setting 'download.workers' expects a whole number, found 'many'" in result.output


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"environment \$MAX_RETRIES: setting 'download.max_retries' "
                                          r"expects a whole number, found 'lots'"):
        load_config(environ={"MAX_RETRIES": "lots"}, cwd=tmp_path)


def test_choices_and_minimums(tmp_path):
    (tmp_path / "config.yaml").write_text("verify:\n  fits_checksum: maybe\n")
    with pytest.raises(ConfigError, match="must be one of strict, warn, off, found 'maybe'"):
        load_config(environ={}, cwd=tmp_path)
    (tmp_path / "config.yaml").write_text("download:\n  workers: 0\n")
    with pytest.raises(ConfigError, match="'download.workers' must be at least 1, found 0"):
        load_config(environ={}, cwd=tmp_path)


@pytest.mark.parametrize("yaml_text,message", [
    ("download:\n  timeout_seconds: .nan\n", "'download.timeout_seconds' expects a number, found nan"),
    ("download:\n  lease_seconds: .inf\n", "'download.lease_seconds' expects a number, found inf"),
    ("catalog:\n  timeout_seconds: -.inf\n", "'catalog.timeout_seconds' expects a number, found -inf"),
    ("download:\n  workers: 20000\n", "'download.workers' must be at most 256, found 20000"),
    ("download:\n  timeout_seconds: 1.0e+10\n", "'download.timeout_seconds' must be at most 86400, found 10000000000.0"),
    ("download:\n  lease_seconds: 1.0e+300\n", "'download.lease_seconds' must be at most 604800, found 1e+300"),
    ("endpoints:\n  mast: 'http://exa mple.com'\n", "'endpoints.mast' expects an http(s) URL with a host"),
    ("download:\n  timeout_seconds: 1" + "0" * 400 + "\n", "'download.timeout_seconds' expects a number"),
    ("endpoints:\n  mast: ftp://x\n", "'endpoints.mast' expects an http(s) URL with a host, found 'ftp://x'"),
    ("endpoints:\n  irsa_ibe: not a url\n", "'endpoints.irsa_ibe' expects an http(s) URL with a host, found 'not a url'"),
    ("endpoints:\n  exoplanet_tap: 'http://host:port/TAP'\n", "'endpoints.exoplanet_tap' expects an http(s) URL"),
])
def test_values_no_sync_could_use_are_refused_up_front(tmp_path, yaml_text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml_text)
    result = _run(tmp_path, "--config", str(bad), "sync")
    assert result.exit_code == 2 and f"Error: {bad}: setting {message}" in result.output, result.output


def test_split_ratio_of_nan_is_refused_as_usage(tmp_path):
    result = _run(tmp_path, "split", "--ratio", "nan,nan,nan")
    assert result.exit_code == 2 and "setting 'data_pipeline.validation.split_ratio' expects a list of numbers" \
        in result.output, result.output


def test_missing_config_file(tmp_path):
    result = _run(tmp_path, "--config", str(tmp_path / "nope.yaml"), "config")
    assert result.exit_code == 2
    assert f"Error: configuration file {tmp_path / 'nope.yaml'} (from --config) does not exist" in result.output


def test_config_command_shows_value_and_origin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run(tmp_path, "config", "--json", env={"ZTF_MAX_IMAGES": "11"})
    assert result.exit_code == 0
    import json
    rows = {r["key"]: r for r in json.loads(result.output)}
    assert rows["ztf.max_images"] == {"key": "ztf.max_images", "value": 11, "origin": "environment $ZTF_MAX_IMAGES"}
    assert rows["endpoints.irsa_ibe"]["origin"] == "default"
    assert not (tmp_path / "data").exists(), "printing the configuration must not create the data directory"


def test_an_empty_data_dir_variable_is_refused_not_taken_as_the_current_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"environment \$RATDCS_DATA_DIR: setting 'data_dir' expects a path, "
                                          r"found ''"):
        load_config(environ={"RATDCS_DATA_DIR": ""}, cwd=tmp_path)
    # A setting that may be empty keeps meaning "the default" when it is.
    config = load_config(environ={"RATDCS_DB": "", "RATDCS_LOG_FILE": "  "}, cwd=tmp_path)
    assert (config["manifest"], config["log_file"]) == (None, None)


def test_a_misspelled_ratdcs_variable_is_refused_with_the_closest_name(tmp_path):
    result = _run(tmp_path, "config", env={"RATDCS_DOWNLOAD__WORKERZ": "8"})
    assert result.exit_code == 2
    assert "Error: environment $RATDCS_DOWNLOAD__WORKERZ: no ratdcs setting has this name" in result.output
    assert "Hint: did you mean $RATDCS_DOWNLOAD__WORKERS?" in result.output
    (tmp_path / ".env").write_text("RATDCS_DATADIR=/tmp/x\n")
    with pytest.raises(ConfigError, match=r"\.env \$RATDCS_DATADIR: no ratdcs setting has this name"):
        load_config(environ={}, cwd=tmp_path)
