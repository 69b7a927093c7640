"""Shared fixtures. The sandbox archive is one server per test session (seed 42, small scale)."""

import pytest


@pytest.fixture(scope="session")
def sandbox_archive():
    """A running sandbox for the whole session; prefer the function-scoped ``sandbox``."""
    from ratdcs_catalog.sandbox import Sandbox

    with Sandbox(seed=42, scale=0.05) as archive:
        yield archive


@pytest.fixture
def sandbox(sandbox_archive):
    """The session sandbox with no faults, an empty request log and direct downloads."""
    sandbox_archive.clear_faults()
    sandbox_archive.clear_requests()
    sandbox_archive.redirect_downloads = False
    yield sandbox_archive
    sandbox_archive.clear_faults()
    sandbox_archive.clear_requests()
    sandbox_archive.redirect_downloads = False


@pytest.fixture(autouse=True)
def hermetic_environment(tmp_path_factory, monkeypatch):
    """No test sees the developer's configuration: no RATDCS_*/seed variables, no ./config.yaml or .env."""
    from ratdcs_catalog.config import SETTINGS

    for setting in SETTINGS:
        for name in setting.env_aliases:
            monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("RATDCS_") or name == "MAST_API_TOKEN":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def sandbox_config(sandbox, tmp_path):
    """A config file pointing every endpoint at the sandbox, data under tmp_path, no politeness pauses."""
    from ratdcs_catalog.sandbox import endpoint_config_yaml

    path = tmp_path / "sandbox.yaml"
    path.write_text(endpoint_config_yaml(sandbox.endpoints(), data_dir=str(tmp_path / "data"))
                    + "catalog:\n  rate_limit_delay: 0\n  max_retries: 2\n"
                    + "download:\n  backoff_base_seconds: 0.01\n  backoff_max_seconds: 0.05\n")
    return path
