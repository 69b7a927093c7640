"""Issue 20: a server that trickles bytes cannot hold a transfer for ever.

A read timeout bounds only the gap between two bytes. These tests trickle a body, a status line
and headers, a redirect's body and a TLS handshake from a raw-socket server (tests/hostile_server.py)
and check each attempt ends as a ``stall`` soon after its deadline, keeping no byte that did not
arrive; and that a fast, or slow but steady, transfer is left alone.
"""

import threading
import time

import pytest
from click.testing import CliRunner

from hostile_server import HostileServer
from ratdcs_catalog.net.deadline import DeadlineExceeded, Deadlines
from ratdcs_catalog.net.gates import HostGates
from ratdcs_catalog.net.policy import NetworkPolicy
from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.transfer import Fetcher, TransferOptions

# Small enough to trip within about a second; the trickles below send 10 B/s.
TIGHT = Deadlines(request_seconds=1.0, min_bytes_per_second=100, window_seconds=0.5)
FILE_SIZE = 60_480  # the probe's file: 16.8 h at a byte a second


@pytest.fixture
def hostile():
    server = HostileServer()
    yield server
    server.close()


@pytest.fixture
def tls_hostile(hostile, tmp_path, monkeypatch):
    """The hostile server behind TLS, with a self-signed certificate for 127.0.0.1 that the client trusts."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    hostile.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    hostile.tls.load_cert_chain(cert, key)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    return hostile


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def fetcher(deadlines=TIGHT, *, max_retries=0, timeout_seconds=5.0):
    client = NetworkPolicy(deadlines=deadlines, backoff_base_seconds=0.01, backoff_max_seconds=0.01).file_client()
    return Fetcher(client, HostGates(4), TransferOptions(timeout_seconds=timeout_seconds, max_retries=max_retries))


def fetch_timed(fetch, url, temp, **kwargs):
    started = time.monotonic()
    result = fetch.fetch(url, temp, **kwargs)
    fetch.client.close()
    return result, time.monotonic() - started


def file_headers(length=FILE_SIZE, status="200 OK", extra=""):
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/fits\r\nContent-Length: {length}\r\n{extra}\r\n").encode()


def trickled_body(reply):
    """A 200 whose headers come at once and whose body comes at 10 B/s; honours Range, so a retry resumes."""
    start = int(reply.headers.get("range", "bytes=0-")[6:].rstrip("-") or 0)
    if start:
        reply.send(file_headers(FILE_SIZE - start, "206 Partial Content",
                                f"Content-Range: bytes {start}-{FILE_SIZE - 1}/{FILE_SIZE}\r\n"))
    else:
        reply.send(file_headers())
    reply.trickle(b"0" * (FILE_SIZE - start), 0.1, body=True)


def test_a_body_trickled_a_byte_at_a_time_ends_as_a_stall_after_one_window(hostile, tmp_path):
    hostile.routes["/f.fits"] = trickled_body
    temp = tmp_path / "f.fits.part"
    result, elapsed = fetch_timed(fetcher(), hostile.url("/f.fits"), temp, expected_size=FILE_SIZE)
    assert (result.outcome, result.error_kind) == ("failed", "stall")
    assert elapsed < 2 * TIGHT.window_seconds + 1.0, f"cut off after {elapsed:.2f} s"
    assert "under the minimum of 100 B/s (download.min_bytes_per_second" in result.error
    kept = temp.stat().st_size
    assert 0 < kept <= hostile.body_bytes["/f.fits"] and kept == result.records[0].bytes_received
    assert f"{kept} bytes of this attempt kept, to resume" in result.error


def test_a_stalled_body_is_retried_and_resumed_from_the_bytes_kept(hostile, tmp_path):
    hostile.routes["/f.fits"] = trickled_body
    temp = tmp_path / "f.fits.part"
    result, elapsed = fetch_timed(fetcher(max_retries=1), hostile.url("/f.fits"), temp, expected_size=FILE_SIZE)
    first, second = result.records
    assert (first.outcome, first.error_kind, second.outcome, second.error_kind) == ("retry", "stall", "failed", "stall")
    assert second.range_start == first.bytes_received > 0  # resumed, not started over
    assert [h.get("range") for _, _, h in hostile.requests] == [None, f"bytes={first.bytes_received}-"]
    assert temp.stat().st_size == first.bytes_received + second.bytes_received <= hostile.body_bytes["/f.fits"]
    assert elapsed < 2 * (2 * TIGHT.window_seconds) + 1.0


def test_a_status_line_and_headers_trickled_end_as_a_stall_at_the_request_deadline(hostile, tmp_path):
    hostile.routes["/f.fits"] = lambda reply: reply.trickle(file_headers(), 0.1)
    temp = tmp_path / "f.fits.part"
    result, elapsed = fetch_timed(fetcher(), hostile.url("/f.fits"), temp, expected_size=FILE_SIZE)
    assert (result.outcome, result.error_kind) == ("failed", "stall")
    assert TIGHT.request_seconds <= elapsed < 2 * TIGHT.request_seconds, f"cut off after {elapsed:.2f} s"
    assert result.error.startswith("no final answer within the request deadline of 1 s "
                                   "(download.request_deadline_seconds)")
    assert not temp.exists() or temp.stat().st_size == 0


def test_over_tls_trickled_headers_and_bodies_end_as_stalls_too(tls_hostile, tmp_path):
    tls_hostile.routes["/head.fits"] = lambda reply: reply.trickle(file_headers(), 0.1)
    tls_hostile.routes["/body.fits"] = trickled_body
    head, head_s = fetch_timed(fetcher(), tls_hostile.url("/head.fits", scheme="https"), tmp_path / "h.part")
    body, body_s = fetch_timed(fetcher(), tls_hostile.url("/body.fits", scheme="https"), tmp_path / "b.part")
    assert (head.error_kind, body.error_kind) == ("stall", "stall")
    assert "request deadline" in head.error and head_s < 2 * TIGHT.request_seconds
    assert "min_bytes_per_second" in body.error and body_s < 2 * TIGHT.window_seconds + 1.0
    assert 0 < (tmp_path / "b.part").stat().st_size <= tls_hostile.body_bytes["/body.fits"]


def test_a_redirect_with_an_endless_body_is_followed_without_reading_that_body(hostile, tmp_path):
    def endless_redirect(reply):
        reply.send(b"HTTP/1.1 302 Found\r\nLocation: /real.fits\r\nContent-Type: text/html\r\n\r\n")
        reply.trickle(b"<p>moved</p>" * 1000, 0.001, body=True)  # no length: it ends when the server closes

    body = b"SIMPLE  =                    T" + b"\0" * 4066
    hostile.routes["/f.fits"] = endless_redirect
    hostile.routes["/real.fits"] = lambda reply: reply.send(file_headers(len(body)) + body)
    temp = tmp_path / "f.fits.part"
    result, elapsed = fetch_timed(fetcher(), hostile.url("/f.fits"), temp)
    assert (result.outcome, temp.read_bytes()) == ("done", body)
    assert elapsed < TIGHT.request_seconds
    assert [(n, path) for n, path, _ in hostile.requests] == [(1, "/f.fits"), (2, "/real.fits")]  # not drained


def test_a_short_redirect_body_trickled_ends_as_a_stall_at_the_request_deadline(hostile, tmp_path):
    def slow_redirect(reply):
        reply.send(b"HTTP/1.1 302 Found\r\nLocation: /real.fits\r\nContent-Length: 1000\r\n\r\n")
        reply.trickle(b"m" * 1000, 0.1, body=True)  # short enough to drain, but sent at 10 B/s

    hostile.routes["/f.fits"] = slow_redirect
    temp = tmp_path / "f.fits.part"
    result, elapsed = fetch_timed(fetcher(), hostile.url("/f.fits"), temp)
    assert (result.outcome, result.error_kind) == ("failed", "stall")
    assert "request deadline" in result.error and elapsed < 2 * TIGHT.request_seconds
    assert [path for _, path, _ in hostile.requests] == ["/f.fits"]  # the redirect was not followed


def test_a_short_redirect_body_is_drained_and_its_connection_kept(hostile, tmp_path):
    body = b"SIMPLE  =                    T" + b"\0" * 100
    hostile.routes["/f.fits"] = lambda reply: reply.send(
        b"HTTP/1.1 302 Found\r\nLocation: /real.fits\r\nContent-Length: 11\r\n\r\nmoved here.")
    hostile.routes["/real.fits"] = lambda reply: reply.send(file_headers(len(body)) + body)
    result, _ = fetch_timed(fetcher(), hostile.url("/f.fits"), tmp_path / "f.fits.part")
    assert result.outcome == "done"
    assert [(n, path) for n, path, _ in hostile.requests] == [(1, "/f.fits"), (1, "/real.fits")]


def test_a_trickled_tls_handshake_ends_by_the_read_timeout_as_a_stall_past_the_deadline(hostile, tmp_path):
    # CPython bounds a whole handshake by the socket timeout; the deadline, passed meanwhile, names the fault.
    def trickled_server_hello(conn):
        conn.recv(65536)  # the ClientHello
        try:
            conn.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KiB, announced...
            for _ in range(150):  # ...and sent a byte every 0.1 s
                conn.sendall(b"\0")
                if hostile.stopping.wait(0.1):
                    return
        except OSError:
            return

    hostile.raw = trickled_server_hello
    result, elapsed = fetch_timed(fetcher(timeout_seconds=2.0), hostile.url("/f.fits", scheme="https"),
                                  tmp_path / "f.fits.part")
    assert (result.outcome, result.error_kind) == ("failed", "stall")
    assert "request deadline" in result.error and elapsed < 2.0 + 1.0


def test_a_slow_but_steady_body_is_not_cut_off(hostile, tmp_path):
    body = b"SIMPLE  =                    T" + b"\0" * 270

    def steady(reply):  # 200 B/s, twice the minimum, over four windows
        reply.send(file_headers(len(body)))
        for start in range(0, len(body), 20):
            reply.send(body[start:start + 20], body=True)
            time.sleep(0.1)

    hostile.routes["/f.fits"] = steady
    temp = tmp_path / "f.fits.part"
    result, elapsed = fetch_timed(fetcher(), hostile.url("/f.fits"), temp)
    assert (result.outcome, temp.read_bytes()) == ("done", body)
    assert elapsed > 2 * TIGHT.window_seconds  # it did run over several windows


def test_the_body_clock_starts_at_the_first_read(hostile):
    # Time the caller spends before reading (hashing a large partial file to resume) is not the server's.
    body = b"SIMPLE  =                    T" + b"\0" * 100
    hostile.routes["/f.fits"] = lambda reply: reply.send(file_headers(len(body)) + body)
    client = NetworkPolicy(deadlines=TIGHT).file_client()
    response = client.get(hostile.url("/f.fits"), headers={}, timeout=5)
    time.sleep(TIGHT.request_seconds + 2 * TIGHT.window_seconds)
    assert response.read() == body
    response.release_conn()
    client.close()


def test_the_rate_is_judged_window_by_window():
    from ratdcs_catalog.net.deadline import Watch, Watchdog

    dog, limits = Watchdog(), Deadlines(request_seconds=10, min_bytes_per_second=100, window_seconds=5)
    watch = Watch(limits, now=0.0)
    dog._check(watch, 9.9)
    assert watch.reason is None
    watch.in_body, watch.window_start, watch.due = True, 9.9, 14.9  # as start_body leaves it
    watch.received = 500  # 100 B/s over the first window: enough
    dog._check(watch, 14.9)
    assert (watch.reason, watch.window_start, watch.window_received, watch.due) == (None, 14.9, 500, 19.9)
    watch.received = 999  # 499 bytes in the next window: one short
    dog._check(watch, 19.9)
    assert watch.reason.startswith("only 499 bytes of the body came in the last 5.0 s (99.8 B/s), under the "
                                   "minimum of 100 B/s (download.min_bytes_per_second")
    headers_late = Watch(limits, now=0.0)
    dog._check(headers_late, 10.0)
    assert headers_late.reason.startswith("no final answer within the request deadline of 10 s")


def test_deadlines_take_no_thread_per_request_and_forget_finished_requests(hostile):
    hostile.routes["/f.fits"] = lambda reply: reply.send(file_headers(6) + b"SIMPLE")
    client = NetworkPolicy(deadlines=TIGHT).file_client()
    first = client.get(hostile.url("/f.fits"), headers={}, timeout=5)
    assert first.read() == b"SIMPLE"  # read to its end, so that its connection is kept
    first.release_conn()
    threads = threading.active_count()
    for _ in range(50):
        response = client.get(hostile.url("/f.fits"), headers={}, timeout=5)
        assert response.read() == b"SIMPLE"
        response.release_conn()
    # Counted before close(): closing the connection ends the server's thread for it.
    assert threading.active_count() == threads and hostile.connections == 1
    client.close()
    assert len(client.watchdog._watches) == 0


def test_a_cut_off_get_raises_deadline_exceeded(hostile):
    hostile.routes["/f.fits"] = lambda reply: reply.trickle(file_headers(), 0.1)
    client = NetworkPolicy(deadlines=TIGHT).file_client()
    with pytest.raises(DeadlineExceeded, match="request deadline of 1 s"):
        client.get(hostile.url("/f.fits"), headers={}, timeout=5)
    client.close()
    assert len(client.watchdog._watches) == 0


def test_the_policy_takes_the_deadlines_from_the_configuration(tmp_path):
    from ratdcs_catalog.config import load_config

    config = load_config(environ={}, cwd=tmp_path)
    assert NetworkPolicy.from_config(config).deadlines == Deadlines(300.0, 1024, 30.0)
    config = load_config(environ={"RATDCS_DOWNLOAD__MIN_BYTES_PER_SECOND": "0",
                                  "RATDCS_DOWNLOAD__STALL_WINDOW_SECONDS": "5",
                                  "RATDCS_DOWNLOAD__REQUEST_DEADLINE_SECONDS": "20"}, cwd=tmp_path)
    assert NetworkPolicy.from_config(config).deadlines == Deadlines(20.0, 0, 5.0)


# ---- through ratdcs sync -------------------------------------------------------------------------------


def test_cli_sync_of_a_trickled_file_exits_1_with_the_row_failed_as_a_stall(sync_env):
    from ratdcs_catalog.cli import cli

    product = sync_env.kepler_products(1)[0]
    sync_env.plan([product])
    sync_env.sandbox.add_fault(Fault("slow", pattern=product.filename, bytes_per_second=200))
    env = {"RATDCS_DOWNLOAD__MIN_BYTES_PER_SECOND": "2000", "RATDCS_DOWNLOAD__STALL_WINDOW_SECONDS": "0.3",
           "RATDCS_DOWNLOAD__MAX_RETRIES": "1"}
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--config", str(sync_env.config_path), "sync"], env=env)
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 5.0
    (row,) = sync_env.rows().values()
    assert (row["state"], row["last_error_kind"]) == ("failed", "stall")
    assert [t["error_kind"] for t in sync_env.transfers()] == ["stall", "stall"]
    sync_env.sandbox.clear_faults()


def test_a_fast_sync_is_untouched_by_tight_deadlines(sync_env):
    products = sync_env.kepler_products(8)
    sync_env.plan(products)
    sync_env.configure(**{"download.request_deadline_seconds": 2.0, "download.min_bytes_per_second": 100_000,
                          "download.stall_window_seconds": 0.3})
    summary = sync_env.sync()
    assert (summary.files_done, summary.exit_code) == (8, 0)
    assert [t["error_kind"] for t in sync_env.transfers()] == [None] * 8
    for rel_path in sync_env.products:
        assert (sync_env.data_dir / rel_path).read_bytes() == sync_env.body(rel_path)
