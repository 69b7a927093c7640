"""One file over HTTP against the sandbox: resume, retries with a fake clock, politeness, faults."""

import errno
import hashlib
import random
import threading

import pytest

from ratdcs_catalog import transfer
from ratdcs_catalog.net.policy import NetworkPolicy
from ratdcs_catalog.sandbox import Fault
from ratdcs_catalog.net.gates import HostGate, HostGates
from ratdcs_catalog.transfer import Fetcher, TransferOptions, announced_checksum


class FakeTime:
    """A clock that only moves when someone sleeps: back-offs and pauses cost no real time."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def product(sandbox):
    u = sandbox.universe
    return u.tess_products(u.toi_hosts(["PC", "CP", "KP"])[0])[0]


@pytest.fixture
def url(sandbox, product):
    return f"{sandbox.endpoints()['mast_download']}?uri={product.data_uri}"


@pytest.fixture
def body(sandbox, product):
    import requests

    data = requests.get(sandbox.base_url + product.path, timeout=30).content
    sandbox.clear_requests()
    return data


@pytest.fixture
def fake():
    return FakeTime()


def fetcher(fake, *, timeout=5.0, max_retries=3, stop=None, gates=None, transport=None):
    options = TransferOptions(timeout_seconds=timeout, max_retries=max_retries, chunk_size=64 * 1024)
    gates = gates or HostGates(4, clock=fake.clock, sleep=fake.sleep)
    client = NetworkPolicy(backoff_base_seconds=1.0, backoff_max_seconds=8.0).file_client(transport=transport)
    return Fetcher(client, gates, options, sleep=fake.sleep, rng=random.Random(1), stop=stop)


def test_clean_fetch_streams_hashes_and_fsyncs(sandbox, url, body, product, fake, tmp_path):
    temp = tmp_path / "t" / "f.part"
    result = fetcher(fake).fetch(url, temp, expected_size=product.size)
    assert (result.outcome, result.size, result.error_kind) == ("done", product.size, None)
    assert temp.read_bytes() == body
    assert result.hashes == {"sha256": hashlib.sha256(body).hexdigest()}
    assert [(r.outcome, r.http_status, r.range_start) for r in result.records] == [("done", 200, None)]
    assert fake.sleeps == []


def test_503_with_retry_after_pauses_the_host_for_every_worker(sandbox, url, body, product, fake, tmp_path):
    sandbox.add_fault(Fault("503", pattern="Download/file", count=1, retry_after=7))
    gates = HostGates(4, clock=fake.clock, sleep=fake.sleep)
    result = fetcher(fake, gates=gates).fetch(url, tmp_path / "f.part", expected_size=product.size)
    assert result.outcome == "done" and (tmp_path / "f.part").read_bytes() == body
    assert [r.error_kind for r in result.records] == ["http_503", None]
    assert "paused for 7 s (Retry-After)" in result.records[0].error
    assert sum(fake.sleeps) == pytest.approx(7.0)  # the pause, and no extra back-off on top of it
    assert gates.for_url(url).paused_until == pytest.approx(fake.now)


def test_429_pause_is_shared_by_another_worker(fake):
    gates = HostGates(4, clock=fake.clock, sleep=fake.sleep)
    gates.for_url("http://a.example/x").pause(5)
    with gates.for_url("http://a.example/other").slot():
        pass
    assert sum(fake.sleeps) == pytest.approx(5.0)
    with gates.for_url("http://b.example/y").slot():
        pass
    assert sum(fake.sleeps) == pytest.approx(5.0)  # another host is not paused


def test_5xx_backs_off_exponentially_with_jitter_then_fails_naming_the_status(sandbox, url, product, fake, tmp_path):
    sandbox.add_fault(Fault("502", pattern="Download/file"))
    result = fetcher(fake, max_retries=3).fetch(url, tmp_path / "f.part", expected_size=product.size)
    assert (result.outcome, result.error_kind, result.http_status) == ("failed", "http_5xx", 502)
    assert "HTTP 502" in result.error and "gave up after 4 attempts" in result.error
    assert [r.outcome for r in result.records] == ["retry", "retry", "retry", "failed"]
    assert len(fake.sleeps) == 3
    for retry, delay in enumerate(fake.sleeps, start=1):
        assert 0.5 * 2 ** (retry - 1) <= delay <= 2 ** (retry - 1)


@pytest.mark.parametrize("kind", ["reset", "short_body"])
def test_broken_body_resumes_and_the_sandbox_sends_only_the_missing_bytes(sandbox, url, body, product, fake,
                                                                          tmp_path, kind):
    sandbox.add_fault(Fault(kind, pattern="Download/file", count=1, cut_at=0.3))
    temp = tmp_path / "f.part"
    result = fetcher(fake).fetch(url, temp, expected_size=product.size)
    assert result.outcome == "done" and temp.read_bytes() == body
    assert result.hashes["sha256"] == hashlib.sha256(body).hexdigest()
    cut = int(product.size * 0.3)
    expected_kind = "connection_reset" if kind == "reset" else "short_body"
    assert [(r.error_kind, r.range_start, r.bytes_received) for r in result.records] == [
        (expected_kind, None, cut), (None, cut, product.size - cut)]
    sent = [(r.status, r.range_header, r.bytes_sent) for r in sandbox.requests]
    assert sent == [(200, None, cut), (206, f"bytes={cut}-", product.size - cut)]


def test_stall_times_out_and_resumes(sandbox, url, body, product, fake, tmp_path):
    sandbox.add_fault(Fault("stall", pattern="Download/file", count=1, cut_at=0.5, stall_seconds=1.5))
    result = fetcher(fake, timeout=0.3).fetch(url, tmp_path / "f.part", expected_size=product.size)
    assert result.outcome == "done" and (tmp_path / "f.part").read_bytes() == body
    assert result.records[0].error_kind == "stall" and result.records[1].range_start == product.size // 2


def test_ignored_range_starts_over_and_never_appends(sandbox, url, body, product, fake, tmp_path):
    temp = tmp_path / "f.part"
    temp.write_bytes(body[:5000])
    sandbox.add_fault(Fault("ignore_range", pattern="Download/file", count=1))
    result = fetcher(fake).fetch(url, temp, expected_size=product.size)
    assert result.outcome == "done" and temp.read_bytes() == body
    assert (result.records[0].error_kind, result.records[0].range_start) == ("range_ignored", 5000)
    assert result.hashes["sha256"] == hashlib.sha256(body).hexdigest()


def test_partial_file_is_resumed_with_a_range_request(sandbox, url, body, product, fake, tmp_path):
    temp = tmp_path / "f.part"
    temp.write_bytes(body[:7000])
    result = fetcher(fake).fetch(url, temp, expected_size=product.size)
    assert temp.read_bytes() == body and result.hashes["sha256"] == hashlib.sha256(body).hexdigest()
    assert [(r.status, r.range_header, r.bytes_sent) for r in sandbox.requests] == [
        (206, "bytes=7000-", product.size - 7000)]


def test_complete_temp_file_needs_no_request(sandbox, url, body, product, fake, tmp_path):
    temp = tmp_path / "f.part"
    temp.write_bytes(body)
    result = fetcher(fake).fetch(url, temp, expected_size=product.size)
    assert result.outcome == "done" and result.hashes["sha256"] == hashlib.sha256(body).hexdigest()
    assert sandbox.requests == []


def test_html_page_with_200_is_never_written(sandbox, url, body, product, fake, tmp_path):
    sandbox.add_fault(Fault("html_200", pattern="Download/file", count=1))
    result = fetcher(fake).fetch(url, tmp_path / "f.part", expected_size=product.size)
    assert [r.error_kind for r in result.records] == ["html_body", None]
    assert (tmp_path / "f.part").read_bytes() == body


def test_html_page_every_time_fails_naming_it(sandbox, url, product, fake, tmp_path):
    sandbox.add_fault(Fault("html_200", pattern="Download/file"))
    result = fetcher(fake, max_retries=1).fetch(url, tmp_path / "f.part", expected_size=product.size)
    assert (result.outcome, result.error_kind) == ("failed", "html_body")
    assert "HTML page instead of the file" in result.error
    assert not (tmp_path / "f.part").exists() or (tmp_path / "f.part").stat().st_size == 0


def test_redirect_loop_is_named(sandbox, url, product, fake, tmp_path):
    sandbox.add_fault(Fault("redirect_loop", pattern="Download/file"))
    result = fetcher(fake, max_retries=0).fetch(url, tmp_path / "f.part", expected_size=product.size)
    assert (result.outcome, result.error_kind) == ("failed", "redirect_loop")


def test_no_content_length_uses_the_planned_size(sandbox, url, body, product, fake, tmp_path):
    sandbox.add_fault(Fault("no_content_length", pattern="Download/file", count=1))
    result = fetcher(fake).fetch(url, tmp_path / "f.part", expected_size=product.size)
    assert result.outcome == "done" and (tmp_path / "f.part").read_bytes() == body


def test_404_fails_at_once(sandbox, fake, tmp_path):
    url = sandbox.endpoints()["mast_download"] + "?uri=mast:Kepler/url/missions/kepler/nothing_llc.fits"
    result = fetcher(fake).fetch(url, tmp_path / "f.part")
    assert (result.outcome, result.error_kind, len(result.records)) == ("failed", "http_404", 1)


def test_full_disk_returns_disk_full_and_keeps_the_partial(sandbox, url, body, product, fake, tmp_path,
                                                           monkeypatch):
    written = []

    def write(fh, chunk):
        if sum(written) >= 65536:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(chunk))
        fh.write(chunk)

    monkeypatch.setattr(transfer, "_write_chunk", write)
    temp = tmp_path / "f.part"
    result = fetcher(fake).fetch(url, temp, expected_size=product.size)
    assert (result.outcome, result.error_kind, len(result.records)) == ("disk_full", "disk_full", 1)
    assert (result.records[0].outcome, result.records[0].error_kind) == ("interrupted", "disk_full")
    assert sum(written) >= 65536 and temp.read_bytes() == body[:sum(written)]


def test_stop_interrupts_and_keeps_the_partial(sandbox, url, body, product, fake, tmp_path):
    stop = threading.Event()
    f = fetcher(fake, stop=stop)
    f.on_bytes = lambda n: stop.set()
    temp = tmp_path / "f.part"
    result = f.fetch(url, temp, expected_size=product.size)
    assert result.outcome == "interrupted" and 0 < temp.stat().st_size < product.size
    assert body.startswith(temp.read_bytes())


def test_concurrency_limit_per_host():
    gate = HostGate(2)
    inside, peak, lock = [0], [0], threading.Lock()
    barrier = threading.Event()

    def work():
        with gate.slot():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            barrier.wait(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_requests_per_second_cap_spaces_request_starts(fake):
    gate = HostGate(4, requests_per_second=4, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        with gate.slot():
            pass
    assert sum(fake.sleeps) == pytest.approx(1.0)


def test_announced_checksums():
    import base64

    md5 = hashlib.md5(b"x").digest()
    sha = hashlib.sha256(b"x").digest()
    assert announced_checksum({"Content-MD5": base64.b64encode(md5).decode()}) == f"md5:{md5.hex()}"
    assert announced_checksum({"Digest": f"SHA-256={base64.b64encode(sha).decode()}"}) == f"sha256:{sha.hex()}"
    assert announced_checksum({"Repr-Digest": f"sha-256=:{base64.b64encode(sha).decode()}:"}) == f"sha256:{sha.hex()}"
    assert announced_checksum({}) is None


def test_mast_token_goes_to_mast_hosts_only_and_survives_no_redirect(stub_server, fake, tmp_path):
    # 127.0.0.1 plays MAST, "localhost" (the same server under another name) the public cloud copy.
    stub_server.routes["/api/v0.1/Download/file"] = (302, {"Location": stub_server.url("/bucket/f.fits",
                                                                                      host="localhost")}, b"")
    stub_server.routes["/bucket/f.fits"] = (200, {}, b"SIMPLE")
    client = NetworkPolicy(mast_hosts=("127.0.0.1",), mast_token="s3cr3t-token").file_client()
    f = Fetcher(client, HostGates(2), TransferOptions(max_retries=0), sleep=fake.sleep)
    result = f.fetch(stub_server.url("/api/v0.1/Download/file?uri=mast:x"), tmp_path / "f.part")
    assert result.outcome == "done" and (tmp_path / "f.part").read_bytes() == b"SIMPLE"
    (first_host, _, first), (second_host, _, second) = stub_server.seen
    assert first_host.startswith("127.0.0.1") and second_host.startswith("localhost")
    assert first.get("Cookie") == "mast_token=s3cr3t-token"
    assert "Cookie" not in second


def test_a_redirect_to_a_local_file_is_refused_at_once(stub_server, fake, tmp_path):
    stub_server.routes["/api/v0.1/Download/file"] = (302, {"Location": "file:///etc/passwd"}, b"")
    f = Fetcher(NetworkPolicy().file_client(), HostGates(2), TransferOptions(max_retries=3), sleep=fake.sleep)
    result = f.fetch(stub_server.url("/api/v0.1/Download/file?uri=mast:x"), tmp_path / "f.part")
    assert (result.outcome, result.error_kind) == ("failed", "redirect_refused")
    assert result.error.endswith("redirected to file:///etc/passwd, which is not an http(s) URL")
    assert len(stub_server.seen) == 1 and not (tmp_path / "f.part").exists()  # asked once, nothing written


def test_429_seen_by_one_worker_pauses_the_other_workers_fetch(sandbox, url, product, fake, tmp_path):
    sandbox.add_fault(Fault("429", pattern="Download/file", count=1, retry_after=30))
    gates = HostGates(4, clock=fake.clock, sleep=fake.sleep)
    one, other = fetcher(fake, gates=gates), fetcher(fake, gates=gates)
    one.options = TransferOptions(max_retries=0)
    assert one.fetch(url, tmp_path / "a.part", expected_size=product.size).error_kind == "http_429"
    assert fake.sleeps == []
    assert other.fetch(url, tmp_path / "b.part", expected_size=product.size).outcome == "done"
    assert sum(fake.sleeps) == pytest.approx(30.0)  # the other worker waited out the host's pause


def test_html_body_sent_as_octet_stream_is_retried_after_a_back_off(stub_server, fake, tmp_path):
    # MAST maintenance pages have come as 200 with a binary Content-Type: only the body says HTML.
    page = b"<!DOCTYPE html><html><body>Down for maintenance</body></html>"
    stub_server.routes["/f.fits"] = (200, {"Content-Type": "application/octet-stream"}, page)
    f = fetcher(fake, max_retries=2)
    result = f.fetch(stub_server.url("/f.fits"), tmp_path / "f.part")
    assert (result.outcome, result.error_kind) == ("failed", "html_body")
    assert [r.error_kind for r in result.records] == ["html_body"] * 3
    assert len(fake.sleeps) == 2 and all(s > 0 for s in fake.sleeps)  # one back-off before each retry
    assert (tmp_path / "f.part").stat().st_size == 0


def test_downloads_ask_for_the_identity_encoding(stub_server, fake, tmp_path):
    # Range offsets count encoded bytes; only the identity encoding makes them offsets into the file.
    stub_server.routes["/f.fits"] = (200, {}, b"SIMPLE")
    assert fetcher(fake).fetch(stub_server.url("/f.fits"), tmp_path / "f.part").outcome == "done"
    assert stub_server.seen[0][2]["Accept-Encoding"] == "identity"


def test_full_disk_message_counts_the_bytes_that_reached_the_disk(sandbox, url, body, product, fake, tmp_path,
                                                                 monkeypatch):
    landed = []

    def write(fh, chunk):  # a short write: half of the first chunk lands, then the disk is full
        landed.append(fh.write(chunk[:len(chunk) // 2]))
        fh.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transfer, "_write_chunk", write)
    temp = tmp_path / "f.part"
    result = fetcher(fake).fetch(url, temp, expected_size=product.size)
    assert result.outcome == "disk_full" and temp.stat().st_size == landed[0] > 0
    assert f"after {landed[0]} bytes; partial file kept" in result.error


# ---- without a server: answers scripted through the mock transport ------------------------------------

BODY = bytes(range(256)) * 40  # 10,240 bytes
URL = "https://archive.example/f.fits"


def test_a_503_with_retry_after_holds_back_another_fetcher_of_that_host(fake, tmp_path):
    from ratdcs_catalog.net.testing import MockTransport, Response

    sent_at = []

    def handler(request):
        sent_at.append(fake.now)
        return Response(503, {"Retry-After": "30"}) if len(sent_at) == 1 else Response(200, body=BODY)

    gates, transport = HostGates(4, clock=fake.clock, sleep=fake.sleep), MockTransport(handler)
    one = fetcher(fake, gates=gates, transport=transport, max_retries=0)
    other = fetcher(fake, gates=gates, transport=transport)
    refused = one.fetch(URL, tmp_path / "a.part")
    assert (refused.outcome, refused.error_kind) == ("failed", "http_503")
    assert "the host is paused for 30 s (Retry-After)" in refused.error
    assert other.fetch(URL, tmp_path / "b.part").outcome == "done"
    assert sent_at[1] - sent_at[0] == pytest.approx(30.0)  # the other fetcher waited out the pause
    assert (tmp_path / "b.part").read_bytes() == BODY


def test_a_range_resume_answered_200_starts_over_and_never_appends(fake, tmp_path):
    from ratdcs_catalog.net.testing import MockTransport, Response

    transport = MockTransport(lambda request: Response(200, body=BODY))  # a server that ignores Range
    temp = tmp_path / "f.part"
    temp.write_bytes(BODY[:4000])
    result = fetcher(fake, transport=transport).fetch(URL, temp, expected_size=len(BODY))
    assert transport.requests[0].headers["Range"] == "bytes=4000-"
    assert result.outcome == "done" and temp.read_bytes() == BODY
    assert (result.records[0].error_kind, result.records[0].range_start) == ("range_ignored", 4000)
    assert result.hashes["sha256"] == hashlib.sha256(BODY).hexdigest()


def test_a_reset_body_is_resumed_from_the_last_byte_on_disk(fake, tmp_path):
    from urllib3.exceptions import ProtocolError

    from ratdcs_catalog.net.testing import MockTransport, Response

    def handler(request):
        if "Range" not in request.headers:
            reset = ProtocolError("Connection broken: ConnectionResetError(104, 'Connection reset by peer')")
            return Response(200, {"Content-Length": str(len(BODY))}, [BODY[:3000], reset])
        return Response(206, {"Content-Range": f"bytes 3000-{len(BODY) - 1}/{len(BODY)}"}, BODY[3000:])

    transport = MockTransport(handler)
    result = fetcher(fake, transport=transport).fetch(URL, tmp_path / "f.part")
    assert [(r.error_kind, r.range_start, r.bytes_received) for r in result.records] == [
        ("connection_reset", None, 3000), (None, 3000, len(BODY) - 3000)]
    assert (tmp_path / "f.part").read_bytes() == BODY and result.size == len(BODY)
    assert [r.headers.get("Range") for r in transport.requests] == [None, "bytes=3000-"]


def test_a_206_from_the_wrong_offset_discards_the_partial_file(fake, tmp_path):
    from ratdcs_catalog.net.testing import MockTransport, Response

    def handler(request):
        if "Range" in request.headers:
            return Response(206, {"Content-Range": f"bytes 0-{len(BODY) - 1}/{len(BODY)}"}, BODY)
        return Response(200, body=BODY)

    transport = MockTransport(handler)
    temp = tmp_path / "f.part"
    temp.write_bytes(BODY[:4000])
    result = fetcher(fake, transport=transport).fetch(URL, temp)
    assert [r.error_kind for r in result.records] == ["range_mismatch", None]
    assert [r.headers.get("Range") for r in transport.requests] == ["bytes=4000-", None]
    assert temp.read_bytes() == BODY


def test_connections_are_given_back_after_a_redirect_and_a_whole_body(fake, tmp_path):
    from ratdcs_catalog.net.testing import MockTransport, Response

    answers = []

    def handler(request):
        answers.append(Response(302, {"Location": "/copy.fits"}) if not answers else Response(200, body=BODY))
        return answers[-1]

    transport = MockTransport(handler)
    assert fetcher(fake, transport=transport).fetch(URL, tmp_path / "f.part").outcome == "done"
    assert [r.url for r in transport.requests] == [URL, "https://archive.example/copy.fits"]
    assert all(a.released and not a.closed for a in answers)


def test_a_small_body_fetched_whole_is_kept_for_verify_and_a_resumed_or_large_one_is_not(
        sandbox, url, body, product, fake, tmp_path, monkeypatch):
    monkeypatch.setattr(transfer, "IN_MEMORY_BYTES", product.size)
    assert product.size > 64 * 1024  # several chunks of the test fetcher, joined
    whole = fetcher(fake).fetch(url, tmp_path / "a.part", expected_size=product.size)
    assert whole.body == body == (tmp_path / "a.part").read_bytes()
    resumed_temp = tmp_path / "b.part"
    resumed_temp.write_bytes(body[:7000])
    resumed = fetcher(fake).fetch(url, resumed_temp, expected_size=product.size)
    assert resumed.outcome == "done" and resumed.body is None  # verify reads the file: part came earlier
    monkeypatch.setattr(transfer, "IN_MEMORY_BYTES", product.size - 1)
    large = fetcher(fake).fetch(url, tmp_path / "c.part", expected_size=product.size)
    assert large.outcome == "done" and large.body is None


@pytest.mark.parametrize("before", ["nothing", "a prefix", "a prefix, Range ignored", "too long", "unlinked, too long"])
def test_writing_through_the_callers_descriptor_leaves_exactly_the_body(sandbox, url, body, product, fake,
                                                                         tmp_path, before):
    """sync writes the .part through the descriptor it holds locked, cut only when an answer
    restarts the file: whatever was there, the inode ends holding the body and nothing after it."""
    import os

    temp = tmp_path / "f.part"
    temp.write_bytes({"nothing": b"", "a prefix": body[:7000], "a prefix, Range ignored": body[:7000]}.get(
        before, body + b"a longer, older version"))
    if before == "a prefix, Range ignored":
        sandbox.add_fault(Fault("ignore_range", pattern="Download/file", count=1))
    fd = os.open(temp, os.O_RDWR)
    try:
        if before.startswith("unlinked"):
            temp.unlink()  # the path is gone (removed by hand); the descriptor is what gets written
        result = fetcher(fake).fetch(url, temp, expected_size=product.size, fd=fd)
        assert result.outcome == "done" and result.size == product.size
        assert os.pread(fd, product.size + 100, 0) == body and os.fstat(fd).st_size == product.size
    finally:
        os.close(fd)
