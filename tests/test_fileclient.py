"""FileClient: the GET path of downloads (urllib3) keeps what requests did for us: proxies, TLS, redirects."""

import pytest

from ratdcs_catalog.fileclient import FileClient, TooManyRedirects, _ca_bundle


@pytest.fixture
def no_proxies(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


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
    import certifi

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert _ca_bundle() == certifi.where()
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/site.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/institute.pem")
    assert _ca_bundle() == "/etc/ssl/institute.pem"
    client = FileClient()
    assert client._direct.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    assert client._direct.connection_pool_kw["ca_certs"] == "/etc/ssl/institute.pem"


def test_the_token_cookie_is_for_the_named_hosts_only():
    client = FileClient(mast_hosts=("mast.stsci.edu",), mast_token="t0k")
    assert client.sends_cookie_to("MAST.stsci.edu")
    assert not client.sends_cookie_to("stpubdata.s3.amazonaws.com")
    assert not FileClient(mast_hosts=("mast.stsci.edu",)).sends_cookie_to("mast.stsci.edu")
