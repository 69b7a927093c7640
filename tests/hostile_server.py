"""A hostile HTTP server on 127.0.0.1 for the deadline tests: raw sockets, answers written byte by byte.

Each route is a function ``script(reply)`` that writes the answer through ``reply`` (``send``,
``trickle``). It may trickle a status line, headers, a redirect's body or a file's body one byte
at a time, which http.server cannot. Every trickle gives up after ``MAX_TRICKLE_SECONDS``, so a
client that fails to cut it off fails its test's timing instead of hanging the suite.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

MAX_TRICKLE_SECONDS = 15.0


class Reply:
    """One request on one connection: its path and headers, and how to answer."""

    def __init__(self, server: "HostileServer", conn: socket.socket, path: str, headers: dict[str, str]):
        self.server, self.conn, self.path, self.headers = server, conn, path, headers
        self.keep_alive = True

    def send(self, data: bytes, *, body: bool = False) -> bool:
        """Write at once; False if the client is gone. ``body`` bytes are counted per path."""
        try:
            self.conn.sendall(data)
        except OSError:
            return False
        if body:
            self.server.count_body(self.path, len(data))
        return True

    def trickle(self, data: bytes, interval: float, *, body: bool = False) -> bool:
        """Write one byte per ``interval`` seconds (``data`` is repeated endlessly if it runs out
        before the cap); False once the client is gone."""
        started, i = time.monotonic(), 0
        while time.monotonic() - started < MAX_TRICKLE_SECONDS and not self.server.stopping.is_set():
            if not self.send(data[i % len(data):i % len(data) + 1], body=body):
                return False
            i += 1
            if i == len(data):
                return True
            self.server.stopping.wait(interval)
        self.keep_alive = False
        return False


class HostileServer:
    """``server.routes[path] = script``; ``server.raw = handler`` takes whole connections instead
    (for a TLS handshake, say); ``server.tls = context`` serves https. Records ``requests``
    (connection number, path, headers), ``body_bytes`` sent per path and how many connections
    were accepted."""

    def __init__(self):
        self.routes: dict[str, Callable[[Reply], None]] = {}
        self.raw: Callable[[socket.socket], None] | None = None
        self.tls = None  # an ssl.SSLContext for the server side
        self.requests: list[tuple[int, str, dict[str, str]]] = []
        self.body_bytes: dict[str, int] = {}
        self.connections = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def count_body(self, path: str, n: int) -> None:
        with self._lock:
            self.body_bytes[path] = self.body_bytes.get(path, 0) + n

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(MAX_TRICKLE_SECONDS)
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        with conn:
            if self.raw is not None:
                self.raw(conn)
                return
            pending = b""
            while not self.stopping.is_set():
                head, pending = _read_head(conn, pending)
                if head is None:
                    return
                path, headers = _parse_head(head)
                self.requests.append((number, path, headers))
                reply = Reply(self, conn, path, headers)
                self.routes.get(path.split("?")[0], _not_found)(reply)
                if not reply.keep_alive:
                    return


def _read_head(conn: socket.socket, pending: bytes) -> tuple[bytes | None, bytes]:
    while b"\r\n\r\n" not in pending:
        try:
            data = conn.recv(65536)
        except OSError:
            return None, b""
        if not data:
            return None, b""
        pending += data
    head, _, rest = pending.partition(b"\r\n\r\n")
    return head, rest


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0].split(" ")[1], headers


def _not_found(reply: Reply) -> None:
    reply.send(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
