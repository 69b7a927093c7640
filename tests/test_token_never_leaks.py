"""A server that echoes the MAST token in every error: the token appears nowhere ratdcs writes or
prints (manifest, stdout, stderr, the log, reports, exports), and goes only to the configured origin."""

import pytest
from click.testing import CliRunner

from hostile_answers import HostileServer

from ratdcs_catalog.cli import cli
from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.records import PlannedFile

TOKEN = "tok-s3cr3t-8c1f2a"


@pytest.fixture
def hostile():
    server = HostileServer()
    yield server
    server.close()


def test_an_echoed_token_is_nowhere(hostile, tmp_path, monkeypatch):
    monkeypatch.setenv("MAST_API_TOKEN", TOKEN)
    data = tmp_path / "data"
    config = tmp_path / "c.yaml"
    config.write_text(f"data_dir: {data}\nendpoints:\n  mast: {hostile.url('')}\n"
                      f"  mast_download: {hostile.url('/echo-token')}\n"
                      "download:\n  max_retries: 0\n  backoff_base_seconds: 0.01\n")
    with open_manifest(data / "manifest.sqlite") as m, m.transaction():
        m.upsert_targets([{"source": "kepler", "target_id": "1"}], None)
        m.upsert_files([PlannedFile("kepler", "1", "lc_long", hostile.url("/echo-token?uri=a"), "kepler/a_llc.fits",
                                    expected_size_bytes=2880)], None)
    runner = CliRunner()
    outputs = [runner.invoke(cli, ["--config", str(config), "sync"])]
    assert outputs[0].exit_code == 1
    assert hostile.headers.get("cookie") == f"mast_token={TOKEN}"  # it did go to the configured origin
    for args in (["report"], ["report", "failed", "--json"], ["report", "failures", "--markdown"],
                 ["report", "--sql", "SELECT * FROM transfers"], ["export", "files"], ["export", "urls"],
                 ["verify", "--deep"]):
        outputs.append(runner.invoke(cli, ["--config", str(config), *args]))
    assert "HTTP 403 Forbidden mast_token=***" in outputs[0].output  # the summary still says what happened
    for result in outputs:
        assert TOKEN not in result.output
    for path in data.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_the_token_goes_to_the_configured_origin_only_not_the_same_host_on_another_port():
    from ratdcs_catalog.net.policy import NetworkPolicy

    from ratdcs_catalog.config import load_config

    config = load_config(None).with_overrides({"endpoints.mast": "http://127.0.0.1:8765",
                                               "endpoints.mast_download": "http://127.0.0.1:8765/dl",
                                               "auth.mast_token_env": "RATDCS_TEST_TOKEN"})
    import os

    os.environ["RATDCS_TEST_TOKEN"] = TOKEN
    try:
        policy = NetworkPolicy.from_config(config)
    finally:
        del os.environ["RATDCS_TEST_TOKEN"]
    assert policy.sends_token_to("127.0.0.1", "http", 8765)
    assert not policy.sends_token_to("127.0.0.1", "http", 9999)
    assert not policy.sends_token_to("127.0.0.1", "https", 8765)
    assert "Cookie" not in policy.headers_for("http", "127.0.0.1", port=9999)


@pytest.mark.parametrize("text, expected", [
    ("HTTP 403 for ?MAST_TOKEN=abc123; retry", "HTTP 403 for ?MAST_TOKEN=***; retry"),
    ("echo: authorization: Bearer abc123 end", "echo: authorization: Bearer *** end"),
    # re.I matches a dotless i for an i and a long s for an s, which lower() does not find: text
    # that is not ASCII gets every pattern, not the fast path of a line per file (issue 15).
    ("echo: Authorızation: Bearer abc123", "echo: Authorızation: Bearer ***"),
    ("?maſt_token=abc123", "?maſt_token=***"),
    ("kepler/a_llc.fits: done, HTTP 200, 2880 bytes", "kepler/a_llc.fits: done, HTTP 200, 2880 bytes"),
])
def test_a_token_of_unknown_value_is_hidden_by_its_shape(text, expected):
    from ratdcs_catalog.logs import RedactSecrets

    assert RedactSecrets([]).redact(text) == expected
