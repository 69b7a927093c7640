"""Shared fixtures. The sandbox archive is one server per test session (seed 42, small scale)."""

import sys
from pathlib import Path

import pytest

# tests/data holds build_manifest.py, the on-disk dataset builder several test modules import.
sys.path.insert(0, str(Path(__file__).parent / "data"))

from shared_data import REALDATA, REPLAY_DATA  # noqa: E402,F401  (re-exported for test modules)


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


# ---- sync engine fixtures (added by the sync helper) ---------------------------------------------


class SyncEnv:
    """A data directory, a manifest planned from the sandbox universe, and a config pointing at both."""

    def __init__(self, sandbox, tmp_path):
        from ratdcs_catalog.config import load_config
        from ratdcs_catalog.sandbox import endpoint_config_yaml

        self.sandbox = sandbox
        self.data_dir = tmp_path / "data"
        self.db = self.data_dir / "manifest.sqlite"
        self.config_path = tmp_path / "config.yaml"
        self.config_path.write_text(endpoint_config_yaml(sandbox.endpoints(), str(self.data_dir)) + SYNC_TEST_SETTINGS)
        self.config = load_config(self.config_path, environ={}, cwd=tmp_path)
        self.products = {}
        self._bodies = {}

    def configure(self, **settings):
        self.config = self.config.with_overrides(settings, origin="test")
        return self.config

    def plan(self, products, *, source="kepler", kind="lc_long", sizes=True):
        """Write manifest rows for sandbox products (as `ratdcs plan` would); returns the PlannedFiles."""
        from urllib.parse import quote

        from ratdcs_catalog.manifest import open_manifest
        from ratdcs_catalog.records import PlannedFile

        download = self.sandbox.endpoints()["mast_download"]
        files = []
        for p in products:
            if source == "ztf":
                url, rel = self.sandbox.base_url + p.path, f"ztf/images/{p.filename}"
            else:
                url, rel = f"{download}?uri={quote(p.data_uri, safe=':/')}", f"{source}/{p.target_id}/{p.filename}"
            files.append(PlannedFile(source, str(p.target_id), kind, url, rel, archive_uri=p.data_uri,
                                     expected_size_bytes=p.size if sizes else None))
            self.products[rel] = p
        with open_manifest(self.db) as m, m.transaction():
            m.upsert_targets([{"source": f.source, "target_id": f.target_id} for f in files], None)
            m.upsert_files(files, None)
        return files

    def kepler_products(self, n_files, *, start=0):
        u = self.sandbox.universe
        found = []
        for kic in u.confirmed_kepler_hosts()[start:]:
            found += u.kepler_products(kic)
            if len(found) >= n_files:
                break
        return found[:n_files]

    def rows(self):
        from ratdcs_catalog.manifest import open_manifest

        with open_manifest(self.db) as m:
            return {r["rel_path"]: dict(r) for r in m.query("SELECT * FROM files ORDER BY file_id")}

    def transfers(self):
        from ratdcs_catalog.manifest import open_manifest

        with open_manifest(self.db) as m:
            return [dict(r) for r in m.query("SELECT t.*, f.rel_path FROM transfers t JOIN files f USING (file_id) "
                                             "ORDER BY transfer_id")]

    def body(self, rel_path):
        """The exact bytes the sandbox serves for a planned file (no fault)."""
        if rel_path not in self._bodies:
            self._bodies[rel_path] = self.sandbox.file_bytes(self.products[rel_path])
        return self._bodies[rel_path]

    def file_requests(self):
        """Sandbox log entries that sent file bytes (downloads and static copies), minus body()'s own."""
        return [r for r in self.sandbox.requests if ("Download/file" in r.path or r.path.startswith(
            ("/stpubdata", "/missions", "/ibe/data"))) and "ratdcs_test_body" not in r.query]

    def files_on_disk(self):
        """Relative paths under the data dir, minus ratdcs's own temp/ and quarantine/ and the manifest."""
        skip = ("temp/", "quarantine/")
        return sorted(str(p.relative_to(self.data_dir)) for p in self.data_dir.rglob("*") if p.is_file()
                      and not str(p.relative_to(self.data_dir)).startswith(skip)
                      and not p.name.startswith(("manifest.sqlite", "data_download.log")))

    def sync(self, **kwargs):
        from ratdcs_catalog.sync import sync

        kwargs.setdefault("progress", False)
        return sync(self.config, self.db, **kwargs)


# Fast failures for tests: tiny back-off, short read timeout (stall faults use longer pauses).
SYNC_TEST_SETTINGS = """download:
  timeout_seconds: 5.0
  backoff_base_seconds: 0.01
  backoff_max_seconds: 0.05
  max_retries: 3
  workers: 4
"""


@pytest.fixture
def sync_env(sandbox, tmp_path):
    return SyncEnv(sandbox, tmp_path)


@pytest.fixture
def ds(tmp_path):
    """A manifest with real files on disk in several states (tests/data/build_manifest.py)."""
    from build_manifest import build_dataset

    return build_dataset(tmp_path)


# ---- a scripted HTTP server, for answers the sandbox archive does not give ---------------------------


class StubServer:
    """Answers each path with a fixed (status, headers, body) on 127.0.0.1, and records what it saw.

    Tests of the HTTP client need answers no archive gives on purpose (a redirect to another
    host, an HTML body labelled as binary) and the exact headers each hop received.
    """

    def __init__(self):
        import http.server
        import threading

        stub = self
        self.routes: dict[str, tuple[int, dict, bytes]] = {}
        self.seen: list[tuple[str, str, dict]] = []  # (host header, path, headers)
        self.peers: list[tuple[str, int]] = []  # the client's address of each request: one per connection

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                stub.seen.append((self.headers.get("Host", ""), self.path, dict(self.headers)))
                stub.peers.append(self.client_address)
                status, headers, body = stub.routes.get(self.path.split("?")[0], (404, {}, b"not here"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A client that drops a connection mid-answer (as tests of it do on purpose) is no error.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def no_proxies(monkeypatch):
    """No proxy variables: every request of the test goes straight to its host."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stub_server():
    server = StubServer()
    yield server
    server.close()
