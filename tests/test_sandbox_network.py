"""The sandbox's network profile (issue 15): latency, a per-connection rate cap, a connection cap.

These are functional checks of the shaping (a 200 ms latency makes a request take at least
0.2 s), never speed assertions: only lower bounds, which a slow machine cannot break.
"""

import threading
import time
from urllib.parse import quote

import pytest
import requests
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.sandbox import NetworkProfile, Sandbox
from ratdcs_catalog.sandbox.network import parse_bandwidth, parse_latency


def first_product(sb):
    return sb.universe.kepler_products(sb.universe.confirmed_kepler_hosts()[0])[0]


def download_url(sb, product):
    return sb.base_url + "/api/v0.1/Download/file?uri=" + quote(product.data_uri, safe=":/")


@pytest.mark.parametrize("text,seconds", [("80ms", 0.08), ("0.2s", 0.2), ("1 s", 1.0), ("250MS", 0.25)])
def test_latency_takes_ms_or_s(text, seconds):
    assert parse_latency(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text,rate", [("20MB/s", 20e6), ("500KB/s", 5e5), ("1MiB/s", 2**20), ("1.5 mb/s", 1.5e6)])
def test_bandwidth_takes_kb_or_mb_per_second(text, rate):
    assert parse_bandwidth(text) == pytest.approx(rate)


@pytest.mark.parametrize("option,value,message", [
    ("--latency", "80", "cannot read '80' as a latency; write it like 80ms or 0.2s"),
    ("--bandwidth", "20MB", "cannot read '20MB' as a bandwidth; write it like 500KB/s or 20MB/s"),
])
def test_bad_profile_words_are_usage_errors(option, value, message):
    result = CliRunner().invoke(cli, ["sandbox", "serve", option, value])
    assert result.exit_code == 2 and message in result.output, result.output


def test_default_profile_is_loopback():
    assert not NetworkProfile().active
    assert NetworkProfile.parse(latency="80ms", bandwidth="20MB/s").describe() == \
        "80 ms to first byte, 20 MB/s per connection"


def test_latency_delays_the_first_byte_of_every_request_and_redirect_hop():
    with Sandbox(scale=0.05, network=NetworkProfile(latency_seconds=0.2)) as sb:
        url = download_url(sb, first_product(sb))
        with requests.Session() as session:
            started = time.monotonic()
            session.get(url, timeout=10).raise_for_status()  # a new connection: handshake + request
            first = time.monotonic() - started
            started = time.monotonic()
            session.get(url, timeout=10).raise_for_status()  # kept alive: one round trip
            second = time.monotonic() - started
            sb.redirect_downloads = True
            started = time.monotonic()
            answer = session.get(url, timeout=10)
            redirected = time.monotonic() - started
    assert first >= 0.4 and second >= 0.2
    assert answer.status_code == 200 and len(answer.history) == 1
    assert redirected >= 0.4  # the 302 and the static copy each wait a round trip


def test_bandwidth_caps_a_body():
    with Sandbox(scale=0.05, network=NetworkProfile(bandwidth_bytes_per_second=100_000)) as sb:
        product = first_product(sb)
        sb.file_bytes(product)  # built before the clock starts
        started = time.monotonic()
        body = requests.get(download_url(sb, product), timeout=30).content
        elapsed = time.monotonic() - started
    assert len(body) == product.size > 20_000
    assert elapsed >= 0.9 * product.size / 100_000


def test_requests_beyond_the_connection_cap_get_503_with_retry_after():
    profile = NetworkProfile(latency_seconds=0.5, max_connections_per_client=2, retry_after_seconds=3)
    with Sandbox(scale=0.05, network=profile) as sb:
        url = download_url(sb, first_product(sb))
        answers = []

        def fetch():
            answers.append(requests.get(url, timeout=10))

        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        records = sb.requests
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 503, 503]
    refused = [a for a in answers if a.status_code == 503]
    assert all(a.headers["Retry-After"] == "3" for a in refused)
    assert sorted(r.fault or "" for r in records) == ["", "", "connection_limit", "connection_limit"]
    # Once the first two are answered, the next request is admitted again.
    with Sandbox(scale=0.05, network=profile) as sb:
        assert requests.get(download_url(sb, first_product(sb)), timeout=10).status_code == 200
