"""DirectTransport: the file client's kept-alive http.client connections, and what they keep of urllib3's pool."""

import socket
import subprocess
import sys
import threading

import pytest

from ratdcs_catalog.net.direct import ConnectFailed, DirectTransport
from ratdcs_catalog.net.files import FileClient
from ratdcs_catalog.net.gates import HostGates
from ratdcs_catalog.net.policy import NetworkPolicy
from ratdcs_catalog.transfer import Fetcher, TransferOptions

from test_net_files import read


class RawServer:
    """Answers each connection's requests with scripted raw bytes, then closes it (what no
    well-behaved HTTP server does on purpose: a body cut short, a kept-alive connection closed)."""

    def __init__(self, answers_per_connection: list[list[bytes]]):
        self.script = list(answers_per_connection)
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while self.script:
            conn, _ = self.sock.accept()
            with conn:
                for answer in self.script.pop(0):
                    request = b""
                    while b"\r\n\r\n" not in request:
                        data = conn.recv(65536)
                        if not data:
                            break
                        request += data
                    self.requests.append(request)
                    conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()


def answer(body: bytes, length: int | None = None, extra: str = "") -> bytes:
    length = len(body) if length is None else length
    return f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n{extra}\r\n".encode() + body


def test_requests_to_a_host_share_one_kept_alive_connection(stub_server, no_proxies):
    for name in ("a", "b", "c"):
        stub_server.routes[f"/{name}.fits"] = (200, {}, name.encode() * 100)
    client = FileClient()
    bodies = [read(client.get(stub_server.url(f"/{name}.fits"), headers={}, timeout=5)) for name in "abc"]
    assert bodies == [b"a" * 100, b"b" * 100, b"c" * 100]
    assert len(set(stub_server.peers)) == 1  # three requests, one TCP connection
    client.close()


def test_a_body_not_read_to_its_end_closes_its_connection(stub_server, no_proxies):
    stub_server.routes["/big.fits"] = (200, {}, b"x" * 100_000)
    stub_server.routes["/small.fits"] = (200, {}, b"y")
    client = FileClient()
    response = client.get(stub_server.url("/big.fits"), headers={}, timeout=5)
    assert response.read1(10) == b"x" * 10
    response.release_conn()  # 99,990 bytes still unread: the connection cannot carry another request
    assert read(client.get(stub_server.url("/small.fits"), headers={}, timeout=5)) == b"y"
    assert len(set(stub_server.peers)) == 2
    client.close()


def test_a_kept_connection_the_server_closed_is_replaced_before_it_is_used(no_proxies):
    # The server answers once per connection and then closes it, without saying so (no Connection: close).
    server = RawServer([[answer(b"first")], [answer(b"second")]])
    client = FileClient()
    assert read(client.get(server.url("/1.fits"), headers={}, timeout=5)) == b"first"
    server.thread.join(timeout=5)  # wait for nothing: the first connection is closed once answered
    assert read(client.get(server.url("/2.fits"), headers={}, timeout=5)) == b"second"
    assert [r.split(b" ")[1] for r in server.requests] == [b"/1.fits", b"/2.fits"]
    client.close()
    server.close()


def test_a_body_shorter_than_announced_is_a_short_body_kept_to_resume(no_proxies, tmp_path):
    server = RawServer([[answer(b"SIMPLE  =", length=5760)]])
    fetcher = Fetcher(FileClient(), HostGates(1), TransferOptions(max_retries=0))
    result = fetcher.fetch(server.url("/f.fits"), tmp_path / "f.part")
    assert (result.outcome, result.error_kind) == ("failed", "short_body")  # no retries were allowed
    assert "the body ended early after 9 bytes (IncompleteRead" in result.records[0].error
    assert result.records[0].bytes_received == 9
    assert (tmp_path / "f.part").read_bytes() == b"SIMPLE  ="
    server.close()


def test_a_refused_connection_is_a_connection_error_not_a_timeout(no_proxies, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    transport = DirectTransport(NetworkPolicy())
    with pytest.raises(ConnectFailed, match=f"cannot connect to 127.0.0.1:{port}"):
        transport.request("GET", f"http://127.0.0.1:{port}/f.fits", headers={}, timeout=5)
    fetcher = Fetcher(FileClient(), HostGates(1), TransferOptions(max_retries=0))
    result = fetcher.fetch(f"http://127.0.0.1:{port}/f.fits", tmp_path / "f.part")
    assert result.records[0].error_kind == "connection_error"
    assert "cannot connect to 127.0.0.1" in result.records[0].error


def test_characters_http_does_not_allow_in_a_path_are_percent_encoded(stub_server, no_proxies):
    stub_server.routes["/a%20b%C3%A9.fits"] = (200, {}, b"SIMPLE")
    client = FileClient()
    assert read(client.get(stub_server.url("/a bé.fits"), headers={}, timeout=5)) == b"SIMPLE"
    assert stub_server.seen[-1][1] == "/a%20b%C3%A9.fits"
    client.close()


def test_idle_connections_beyond_the_pool_size_are_closed(stub_server, no_proxies):
    stub_server.routes["/f.fits"] = (200, {}, b"SIMPLE")
    transport = DirectTransport(NetworkPolicy(), pool_size=2)
    responses = [transport.request("GET", stub_server.url("/f.fits"), headers={}, timeout=5) for _ in range(3)]
    for response in responses:
        assert response.read() == b"SIMPLE"
        response.release_conn()
    (kept,) = transport._idle.values()
    assert len(kept) == 2 and all(conn.sock is not None for conn in kept)
    transport.close()
    assert all(conn.sock is None for conn in kept)


def test_a_sync_process_never_imports_urllib3_without_a_proxy(stub_server, no_proxies):
    stub_server.routes["/f.fits"] = (200, {}, b"SIMPLE")
    code = ("import sys\n"
            "from ratdcs_catalog.net.files import FileClient\n"
            "from ratdcs_catalog.transfer import Fetcher\n"
            f"response = FileClient().get({stub_server.url('/f.fits')!r}, headers={{}}, timeout=5)\n"
            "assert response.read() == b'SIMPLE'\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('urllib3', 'requests')))\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
