"""FileClient: the GET path of downloads (http.client, urllib3 behind a proxy) keeps what requests did for us: proxies, TLS, redirects."""

import pytest

from ratdcs_catalog.net.direct import tls_context
from ratdcs_catalog.net.files import FileClient, PoolTransport, TooManyRedirects
from ratdcs_catalog.net.policy import NetworkPolicy, find_ca_bundle


def read(response) -> bytes:
    body = response.read()
    response.release_conn()
    return body


def test_proxy_from_the_environment_carries_requests_to_other_hosts(stub_server, monkeypatch, no_proxies):
    monkeypatch.setenv("http_proxy", stub_server.url(""))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    stub_server.routes["http://archive.example/f.fits"] = (200, {}, b"via the proxy")
    stub_server.routes["/direct.fits"] = (200, {}, b"direct")
    client = FileClient()
    assert read(client.get("http://archive.example/f.fits", headers={}, timeout=5)) == b"via the proxy"
    assert read(client.get(stub_server.url("/direct.fits"), headers={}, timeout=5)) == b"direct"
    assert [path for _, path, _ in stub_server.seen] == ["http://archive.example/f.fits", "/direct.fits"]
    client.close()


def test_proxy_written_without_scheme_and_with_credentials_works_as_with_requests(stub_server, monkeypatch,
                                                                                   no_proxies):
    import base64

    monkeypatch.setenv("http_proxy", f"astro:p%40ss@127.0.0.1:{stub_server.port}")
    stub_server.routes["http://archive.example/f.fits"] = (200, {}, b"via the proxy")
    client = FileClient()
    assert read(client.get("http://archive.example/f.fits", headers={}, timeout=5)) == b"via the proxy"
    (_, path, headers), = stub_server.seen
    assert path == "http://archive.example/f.fits"
    sent = {name.lower(): value for name, value in headers.items()}  # header names are case-blind
    assert sent["proxy-authorization"] == "Basic " + base64.b64encode(b"astro:p@ss").decode()
    client.close()


def test_relative_redirects_are_followed_and_loops_are_cut(stub_server, no_proxies):
    stub_server.routes["/old.fits"] = (301, {"Location": "/new.fits"}, b"")
    stub_server.routes["/new.fits"] = (200, {}, b"SIMPLE")
    stub_server.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    client = FileClient(max_redirects=3)
    response = client.get(stub_server.url("/old.fits"), headers={}, timeout=5)
    assert (response.status, read(response)) == (200, b"SIMPLE")
    with pytest.raises(TooManyRedirects, match="more than 3 redirects"):
        client.get(stub_server.url("/loop"), headers={}, timeout=5)
    assert sum(path == "/loop" for _, path, _ in stub_server.seen) == 4  # the first request + 3 redirects
    client.close()


def test_tls_is_verified_against_the_bundle_requests_would_use(monkeypatch):
    import ssl

    import certifi

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert find_ca_bundle() == certifi.where()
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/site.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/institute.pem")
    assert find_ca_bundle() == "/etc/ssl/institute.pem"
    client = FileClient()
    assert client.policy.ca_bundle == "/etc/ssl/institute.pem"
    context = tls_context(certifi.where())  # what DirectTransport's https connections are made with
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    proxied = PoolTransport(client.policy)  # a host behind a proxy: urllib3, on the same bundle
    assert proxied._direct.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    assert proxied._direct.connection_pool_kw["ca_certs"] == "/etc/ssl/institute.pem"


def test_the_token_cookie_is_for_the_named_hosts_only():
    policy = NetworkPolicy(mast_hosts=("mast.stsci.edu",), mast_token="t0k")
    assert policy.sends_token_to("MAST.stsci.edu")
    assert not policy.sends_token_to("stpubdata.s3.amazonaws.com")
    assert not NetworkPolicy(mast_hosts=("mast.stsci.edu",)).sends_token_to("mast.stsci.edu")
    # Never in clear text over the network; plain http only to this machine (the sandbox).
    assert not policy.sends_token_to("mast.stsci.edu", "http")
    assert NetworkPolicy(mast_hosts=("127.0.0.1",), mast_token="t0k").sends_token_to("127.0.0.1", "http")
    assert "t0k" not in repr(policy)  # a policy may be logged; its token may not


@pytest.fixture
def tls_stub(stub_server, tmp_path):
    """The stub server behind TLS with a self-signed certificate for 127.0.0.1 (openssl CLI)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    stub_server.server.socket = context.wrap_socket(stub_server.server.socket, server_side=True)
    stub_server.routes["/f.fits"] = (200, {}, b"SIMPLE")
    return f"https://127.0.0.1:{stub_server.port}/f.fits", cert


def test_an_unknown_certificate_is_refused_and_a_configured_bundle_is_trusted(tls_stub, stub_server, monkeypatch,
                                                                              no_proxies, tmp_path):
    from ratdcs_catalog.net.gates import HostGates
    from ratdcs_catalog.transfer import Fetcher, TransferOptions

    url, cert = tls_stub
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    refused = Fetcher(FileClient(), HostGates(1), TransferOptions(max_retries=3)).fetch(url, tmp_path / "a.part")
    assert (refused.outcome, refused.error_kind, len(refused.records)) == ("failed", "tls_untrusted", 1)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.error and "REQUESTS_CA_BUNDLE" in refused.error
    assert [p for _, p, _ in stub_server.seen] == []  # the handshake failed: no request was sent
    assert not (tmp_path / "a.part").exists() or (tmp_path / "a.part").stat().st_size == 0

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # a site's own CA, as a user would configure it
    trusted = Fetcher(FileClient(), HostGates(1), TransferOptions(max_retries=0)).fetch(url, tmp_path / "b.part")
    assert trusted.outcome == "done" and (tmp_path / "b.part").read_bytes() == b"SIMPLE"

    # A directory of hashed certificates (as c_rehash leaves it) is accepted too, as by requests.
    import subprocess

    certs = tmp_path / "certs"
    certs.mkdir()
    subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(cert)], check=True,
                                  capture_output=True, text=True).stdout.strip()
    (certs / f"{subject_hash}.0").symlink_to(cert)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs))
    from_dir = Fetcher(FileClient(), HostGates(1), TransferOptions(max_retries=0)).fetch(url, tmp_path / "c.part")
    assert from_dir.outcome == "done" and (tmp_path / "c.part").read_bytes() == b"SIMPLE"


def test_plan_names_an_untrusted_certificate_instead_of_an_archive_outage(tls_stub, stub_server, monkeypatch,
                                                                          no_proxies, tmp_path):
    from click.testing import CliRunner

    from ratdcs_catalog.cli import cli

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    base = f"https://127.0.0.1:{stub_server.port}"
    env = {"RATDCS_ENDPOINTS__EXOPLANET_TAP": f"{base}/TAP", "RATDCS_CATALOG__MAX_RETRIES": "3",
           "RATDCS_CATALOG__RATE_LIMIT_DELAY": "0"}
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.sqlite"), "plan", "kepler", "--n", "1"], env=env)
    assert result.exit_code == 1
    assert "the server's TLS certificate is not trusted" in result.output
    assert "Hint: behind a proxy that inspects TLS, point REQUESTS_CA_BUNDLE at its CA certificate" in result.output
    assert len(stub_server.seen) <= 1 and not (tmp_path / "m.sqlite").exists()  # asked once, not retried
