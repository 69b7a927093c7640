"""One network policy: the catalog client and the file client follow the same rules, and no second copy of
a rule creeps back into the package."""

import email.utils
import os
import random
import re
import time
from pathlib import Path

import pytest

import ratdcs_catalog
from ratdcs_catalog.errors import ArchiveError, ConfigError
from ratdcs_catalog.net.catalog import CatalogHTTP
from ratdcs_catalog.net.policy import (MAX_RETRY_AFTER_SECONDS, NetworkPolicy, back_off_seconds, looks_like_html,
                                       retry_after_seconds)
from ratdcs_catalog.net.testing import MockTransport, Response
from ratdcs_catalog.records import PlannedFile
from ratdcs_catalog.net.gates import HostGates
from ratdcs_catalog.transfer import Fetcher, TransferOptions

from child_python import last_line_printed

POLICY = NetworkPolicy(mast_hosts=("mast.example", "127.0.0.1"), mast_token="s3cret-token", backoff_base_seconds=1.0,
                       backoff_max_seconds=8.0)
COOKIE = "mast_token=s3cret-token"


# ---- the two clients behind one interface ------------------------------------------------------


class FakeTime:
    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class CatalogSide:
    """A catalog query through CatalogHTTP: 'done', or the ArchiveError's message."""

    def __init__(self, handler, tmp_path):
        self.transport, self.waits = MockTransport(handler), []
        self.client = CatalogHTTP(POLICY, timeout=5, max_retries=1, rate_limit_delay=0, sleep=self.waits.append,
                                  transport=self.transport)

    def get(self, url):
        try:
            self.client.request("GET", url, what="a query")
        except ArchiveError as exc:
            return str(exc)
        return "done"


class FileSide:
    """A download through FileClient and Fetcher: 'done', or the fetch's error."""

    def __init__(self, handler, tmp_path):
        self.transport, self.fake, self.temp = MockTransport(handler), FakeTime(), tmp_path / "f.part"
        gates = HostGates(2, clock=self.fake.clock, sleep=self.fake.sleep)
        client = POLICY.file_client(transport=self.transport)
        self.fetcher = Fetcher(client, gates, TransferOptions(max_retries=1), sleep=self.fake.sleep,
                               rng=random.Random(1))
        self.waits = self.fake.sleeps  # back-offs, and a paused host's waits (in steps of 0.25 s)

    def get(self, url):
        result = self.fetcher.fetch(url, self.temp)
        return "done" if result.outcome == "done" else result.error


def answers(*script):
    """A handler answering the scripted (status, headers, body) in turn, the last one for ever after.
    Headers may be a function, called at answer time (an HTTP date made when it is sent)."""
    calls = []

    def handler(request):
        status, headers, body = script[min(len(calls), len(script) - 1)]
        calls.append(request)
        return Response(status, headers() if callable(headers) else headers, body)

    return handler


def by_url(routes):
    routes = {url.lower(): answer for url, answer in routes.items()}

    def handler(request):
        status, headers, body = routes[request.url.lower()]  # requests writes host names in lower case
        return Response(status, headers, body)

    return handler


def in_30_seconds():
    return {"Retry-After": email.utils.formatdate(time.time() + 30, usegmt=True)}


DATA = (200, {}, b"SIMPLE  =                    T")
HTML = b"<!DOCTYPE html>\n<html><body>Down for maintenance</body></html>"

# (name, handler factory, url, expected outcome or a text in the error, total wait (a value, or (low, high)))
CASES = [
    ("retry-after-seconds", lambda: answers((503, {"Retry-After": "2"}, b""), DATA), "https://mast.example/f",
     "done", 2.0),
    ("retry-after-http-date", lambda: answers((503, in_30_seconds, b""), DATA), "https://mast.example/f",
     "done", (28.5, 30.0)),
    ("retry-after-capped", lambda: answers((429, {"Retry-After": "99999"}, b""), DATA), "https://mast.example/f",
     "done", MAX_RETRY_AFTER_SECONDS),
    ("503-then-success-backs-off", lambda: answers((503, {}, b""), DATA), "https://mast.example/f",
     "done", (0.5, 1.0)),
    ("html-body-refused", lambda: answers((200, {"Content-Type": "application/octet-stream"}, HTML)),
     "https://mast.example/f", "HTML page instead of", None),
]


@pytest.mark.parametrize("side", [CatalogSide, FileSide], ids=["catalog", "files"])
@pytest.mark.parametrize("name, handler, url, expected, waited", CASES, ids=[c[0] for c in CASES])
def test_both_clients_follow_one_policy(side, name, handler, url, expected, waited, tmp_path):
    run = side(handler(), tmp_path)
    outcome = run.get(url)
    assert outcome == "done" if expected == "done" else expected in outcome
    if isinstance(waited, tuple):
        assert waited[0] <= sum(run.waits) <= waited[1]
    elif waited is not None:
        assert sum(run.waits) == pytest.approx(waited)
    agent = f"ratdcs/{ratdcs_catalog.__version__} ("
    assert all(r.headers["User-Agent"].startswith(agent) for r in run.transport.requests)


TOKEN_CASES = [
    ("mast-over-https", "https://mast.example/f", {}, [True]),
    ("mast-host-in-any-case", "https://MAST.example/f", {}, [True]),
    ("mast-over-plain-http", "http://mast.example/f", {}, [False]),
    ("loopback-over-plain-http", "http://127.0.0.1:8/f", {}, [True]),
    ("another-host", "https://tap.example/f", {}, [False]),
    ("redirect-to-another-host", "https://mast.example/r",
     {"https://mast.example/r": (302, {"Location": "https://cloud.example/f"}, b"")}, [True, False]),
]


@pytest.mark.parametrize("side", [CatalogSide, FileSide], ids=["catalog", "files"])
@pytest.mark.parametrize("name, url, routes, cookies", TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
def test_the_token_goes_where_the_policy_says_in_both_clients(side, name, url, routes, cookies, tmp_path):
    run = side(by_url({url: DATA, "https://cloud.example/f": DATA, **routes}), tmp_path)
    assert run.get(url) == "done"
    assert [r.headers.get("Cookie") == COOKIE for r in run.transport.requests] == cookies
    assert all(r.headers.get("Cookie") in (None, COOKIE) for r in run.transport.requests)


# ---- the policy's functions -----------------------------------------------------------------------


def test_retry_after_forms():
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0 and retry_after_seconds({"Retry-After": "0.5"}) == 0.5
    assert retry_after_seconds({}) is None and retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({"Retry-After": "99999"}) == MAX_RETRY_AFTER_SECONDS
    assert retry_after_seconds({"Retry-After": "-5"}) == 0.0
    assert 0 <= retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) <= 1  # past: no wait


def test_backoff_doubles_is_jittered_and_capped():
    rng = random.Random(3)
    for retry in (1, 2, 3):
        assert all(2 ** (retry - 1) / 2 <= back_off_seconds(retry, base_seconds=1, max_seconds=60, rng=rng)
                   <= 2 ** (retry - 1) for _ in range(20))
    policy = NetworkPolicy(backoff_base_seconds=1.0, backoff_max_seconds=4.0)
    assert all(2.0 <= policy.back_off_seconds(10, rng) <= 4.0 for _ in range(50))


def test_html_is_told_by_content_type_or_first_bytes():
    assert looks_like_html(b"  \n<!DOCTYPE HTML><html>") and looks_like_html(b"<html><body>")
    assert looks_like_html(b"", "text/html; charset=utf-8")
    assert not looks_like_html(b"SIMPLE  =                    T") and not looks_like_html(b"<?xml version='1.0'?>")
    assert not looks_like_html(b"", "application/fits")


def test_the_policy_from_config_names_both_mast_hosts_and_keeps_the_token_out_of_sight(tmp_path, monkeypatch):
    from ratdcs_catalog.config import load_config

    monkeypatch.setenv("MAST_API_TOKEN", "tok-123")
    config = load_config(environ={}, cwd=tmp_path).with_overrides(
        {"endpoints.mast": "https://mast.example", "endpoints.mast_download": "https://DL.example/api/file",
         "download.backoff_base_seconds": 0.5, "download.backoff_max_seconds": 2.0})
    policy = NetworkPolicy.from_config(config)
    assert policy.mast_hosts == {"mast.example", "dl.example"} and policy.mast_token == "tok-123"
    assert (policy.backoff_base_seconds, policy.backoff_max_seconds) == (0.5, 2.0)
    assert "tok-123" not in repr(policy)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nothing.pem"))
    with pytest.raises(ConfigError, match=r"environment \$SSL_CERT_FILE names .*nothing.pem, which does not exist"):
        NetworkPolicy.from_config(config)


def test_both_clients_trust_the_same_ca_bundle(monkeypatch, tmp_path):
    bundle = tmp_path / "site.pem"
    bundle.write_text("")
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # requests alone would not read this one
    policy = NetworkPolicy()
    assert CatalogHTTP(policy, timeout=5, max_retries=0, rate_limit_delay=0).session.verify == str(bundle)
    assert policy.file_client().transport.policy.ca_bundle == str(bundle)  # DirectTransport's tls_context


def test_the_catalog_client_takes_its_proxy_from_the_policy(stub_server, monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", stub_server.url(""))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    stub_server.routes["http://archive.example/q"] = (200, {}, b"via the proxy")
    stub_server.routes["/q"] = (200, {}, b"direct")
    http = CatalogHTTP(NetworkPolicy(), timeout=5, max_retries=0, rate_limit_delay=0)
    assert http.request("GET", "http://archive.example/q", what="q").content == b"via the proxy"
    assert http.request("GET", stub_server.url("/q"), what="q").content == b"direct"
    assert [path for _, path, _ in stub_server.seen] == ["http://archive.example/q", "/q"]


# ---- HEAD size probes go through the catalog client's policy ------------------------------------


def test_size_probes_are_retried_spaced_and_counted_from_several_threads():
    from ratdcs_catalog.sources.ztf import probe_sizes_of as probe_sizes

    seen = []

    def handler(request):
        seen.append(request)
        first_of_b = request.url.endswith("/b.fits") and sum(r.url == request.url for r in seen) == 1
        return Response(503) if first_of_b else Response(200, {"Content-Length": "2880"})

    sleeps = []
    no_back_off = NetworkPolicy(backoff_base_seconds=0.0)  # only the pauses between requests are left to see
    http = CatalogHTTP(no_back_off, timeout=5, max_retries=2, rate_limit_delay=0.5, sleep=sleeps.append,
                       clock=lambda: 100.0, transport=MockTransport(handler))  # a clock that never moves
    files = [PlannedFile(source="ztf", target_id="600", product_kind="ztf_sciimg", url=f"https://irsa.test/{n}.fits",
                         rel_path=f"ztf/images/{n}.fits") for n in "abcd"]
    probed, failed = probe_sizes(http, files, concurrency=4)
    assert [f.expected_size_bytes for f in probed] == [2880] * 4 and failed == 0
    assert {r.method for r in seen} == {"HEAD"} and http.requests_sent == 5  # b's 503 was retried
    # Each request reserved its own start, 0.5 s after the previous one, whatever thread sent it.
    assert sorted(s for s in sleeps if s) == [0.5, 1.0, 1.5, 2.0]


# ---- one copy of each rule ---------------------------------------------------------------------------

PACKAGE = Path(ratdcs_catalog.__file__).parent

# What a second copy of a rule would look like. The sandbox is left out: it is the archive's side
# (it sends Retry-After and HTML pages, reads the cookie) and imports nothing from the rest.
SECOND_COPIES = {
    "a Retry-After reader": re.compile(r"""["']Retry-After["']|parsedate"""),
    "a back-off": re.compile(r"\*\*\s*\(?\s*\w*(retry|attempt)"),
    "a User-Agent": re.compile(r"""["']User-Agent["']|["']ratdcs/"""),
    "an HTML sniffer": re.compile(r"""["']<(!doctype html|html)""", re.I),
    "a token sender": re.compile(r"""["']Cookie["']|mast_token=\{"""),
    "a CA bundle lookup": re.compile(r"REQUESTS_CA_BUNDLE[\"']|certifi\.where"),
}


# Modules that match a pattern without holding the rule: the HTML report writes an HTML page
# (its <!DOCTYPE html>) and reads none.
NOT_A_COPY = {"report_html.py": {"an HTML sniffer"}}


def test_no_second_copy_of_a_network_rule_outside_the_policy():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "net/policy.py" or relative.startswith("sandbox/"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            found += [f"{relative}:{number}: {what}: {line.strip()}" for what, pattern in SECOND_COPIES.items()
                      if pattern.search(line) and what not in NOT_A_COPY.get(relative, ())]
    assert found == []


def test_the_second_copy_patterns_still_find_the_rules_in_the_policy():
    source = (PACKAGE / "net" / "policy.py").read_text()
    assert all(pattern.search(source) for pattern in SECOND_COPIES.values())


@pytest.mark.parametrize("module", ["catalog", "files", "policy", "testing"])
def test_net_modules_list_their_public_names_sorted_and_defined(module):
    import importlib

    loaded = importlib.import_module(f"ratdcs_catalog.net.{module}")
    assert loaded.__all__ == sorted(loaded.__all__) and all(hasattr(loaded, name) for name in loaded.__all__)


@pytest.mark.parametrize("environment, expected", [
    ({}, {}),
    ({"HTTPS_PROXY": "http://proxy:3128"}, {"https": "http://proxy:3128"}),
    ({"all_proxy": "socks5://p:1080", "no_proxy": "localhost"}, {"all": "socks5://p:1080", "no": "localhost"}),
    ({"http_proxy": ""}, {}),
])
def test_proxies_from_environment_match_urllib(monkeypatch, environment, expected):
    """The shortcut (no *_proxy variable: no urllib.request import) reads what urllib reads."""
    import urllib.request

    from ratdcs_catalog.net.policy import _proxies_from_environment

    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert _proxies_from_environment() == urllib.request.getproxies_environment() == expected


def test_a_request_that_goes_direct_does_not_import_urllib_request():
    """No *_proxy variable: neither the policy nor its first proxy_for imports urllib.request (3-4 ms)."""
    code = ("import os, sys\n"
            "for name in [n for n in os.environ if n.lower().endswith('_proxy')]:\n    del os.environ[name]\n"
            "from ratdcs_catalog.net.policy import NetworkPolicy\n"
            "assert NetworkPolicy().proxy_for('https', 'mast.stsci.edu') is None\n"
            "print('urllib.request' in sys.modules)\n")
    assert last_line_printed(code) == "False"
