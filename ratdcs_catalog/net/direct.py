"""The file client's default transport: kept-alive connections on the standard library's http.client.

Why not urllib3 here: a small file's GET cost 0.50 ms of Python through urllib3 and 0.25 ms
through http.client, which urllib3 itself drives underneath (bench/README.md, "Per-file costs"),
and importing urllib3 was 0.115 s of a sync's 0.35 s before its first request (issue 15). What
urllib3 gave the download path, and how it is kept here:

- **Verified TLS**: one ``ssl`` context per process and bundle, from the policy's bundle (a file, or a
  directory of hashed certificates), ``CERT_REQUIRED`` with the host name checked.
- **The response's head** is read by ``response_head.LeanHTTPResponse``: http.client's framing and
  keep-alive rules, without the email package's MIME parser (a fifth of a small file's CPU).
- **Kept-alive connections**: per (scheme, host, port), at most ``pool_size`` idle ones kept.
  A kept connection the server closed meanwhile is noticed before it is reused (an idle socket
  that polls readable has been closed, or holds bytes nobody asked for) and replaced, as urllib3's
  pool does; a response that announces ``Connection: close`` or was not read to its end closes
  its connection.
- **URLs**: characters not allowed in a request target are percent-encoded, as urllib3 does,
  instead of http.client refusing the URL.
- **Proxies**: a host the policy routes through a proxy goes to ``files.PoolTransport``
  (urllib3's proxy managers, imported then): its CONNECT tunnels and forms are urllib3's job.
- **Error kinds** (``transfer._classify``): a failure to connect is ``ConnectFailed`` (a
  ``ConnectionError``, never a timeout unless it timed out); a body that ends before its
  Content-Length is ``IncompleteRead`` (http.client's ``read1`` would return an empty chunk).
- **Deadlines** (``net.deadline``): every request tells the calling thread's watch which
  connection it uses, so the watchdog can cut its socket.

The response reads as urllib3's streaming response does (``status``, ``reason``, ``headers``,
``read1``, ``read``, ``release_conn``, ``drain_conn``, ``close``, ``length_remaining``): the
file client and its tests' ``MockTransport`` see one interface.
"""

from __future__ import annotations

import functools
import http.client
import os
import re
import select
import ssl
import threading
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

from . import deadline
from .policy import NetworkPolicy
from .response_head import LeanHTTPResponse

__all__ = ["ConnectFailed", "DirectResponse", "DirectTransport", "tls_context"]

DEFAULT_PORTS = {"http": 80, "https": 443}
# Anything outside printable ASCII, or a space, in a request target: encoded before sending.
_NEEDS_ENCODING = re.compile(r"[^\x21-\x7e]")
# What stays as written when a target is encoded: RFC 3986's reserved and unreserved characters, and %.
_TARGET_SAFE = "/?#[]@!$&'()*+,;=:-._~%"


class ConnectFailed(ConnectionError):
    """No connection to the host (refused, unreachable, no such name): nothing was sent."""


class DirectTransport:
    """GETs on kept-alive http.client connections, one idle list per host; thread-safe."""

    def __init__(self, policy: NetworkPolicy, *, pool_size: int = 4):
        self.policy = policy
        self.pool_size = pool_size
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._proxied: dict[tuple[str, str], bool] = {}
        self._proxy_transport: Any = None
        self._lock = threading.Lock()

    def request(self, method: str, url: str, *, headers: Mapping[str, str], timeout: float):
        """One HTTP exchange, redirects not followed, body not read."""
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "")
        if self._through_proxy(scheme, host):
            return self._proxies().request(method, url, headers=headers, timeout=timeout)
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"not an http(s) URL: {url[:200]}")
        key = (scheme, host, parts.port or DEFAULT_PORTS[scheme])
        target = _request_target(parts)
        conn = self._checkout(key, timeout)
        deadline.attach_connection(conn)
        try:
            if conn.sock is None:
                _connect(conn)
            conn.request(method, target, headers=headers)
            response = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        return DirectResponse(self, key, conn, response)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
        if self._proxy_transport is not None:
            self._proxy_transport.close()

    # ---- connections ---------------------------------------------------------------------------

    def _checkout(self, key: tuple[str, str, int], timeout: float) -> http.client.HTTPConnection:
        """A kept-alive connection to the host that is still open, else a new (unconnected) one."""
        while True:
            with self._lock:
                conns = self._idle.get(key)
                conn = conns.pop() if conns else None
            if conn is None:
                break
            if _dropped(conn):
                conn.close()
                continue
            if conn.timeout != timeout:
                conn.timeout = timeout
                conn.sock.settimeout(timeout)
            return conn
        scheme, host, port = key
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context(self.policy.ca_bundle))
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.response_class = LeanHTTPResponse
        return conn

    def _checkin(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(key, [])
            if len(conns) < self.pool_size:
                conns.append(conn)
                return
        conn.close()  # more idle connections than the pool keeps

    # ---- proxies ---------------------------------------------------------------------------------

    def _through_proxy(self, scheme: str, host: str) -> bool:
        key = (scheme, host)
        proxied = self._proxied.get(key)
        if proxied is None:
            proxied = self._proxied[key] = self.policy.proxy_for(scheme, host) is not None
        return proxied

    def _proxies(self):
        with self._lock:
            if self._proxy_transport is None:
                from .files import PoolTransport

                self._proxy_transport = PoolTransport(self.policy, pool_size=self.pool_size)
            return self._proxy_transport


class DirectResponse:
    """One answer on a DirectTransport connection, read as urllib3's streaming response is."""

    def __init__(self, transport: DirectTransport, key: tuple[str, str, int], conn: http.client.HTTPConnection,
                 response: http.client.HTTPResponse):
        self._transport, self._key, self._conn, self._response = transport, key, conn, response
        self.status, self.reason, self.headers = response.status, response.reason, response.headers

    @property
    def length_remaining(self) -> int | None:
        """Body bytes announced and not read yet (None: no Content-Length, or chunked)."""
        return self._response.length

    def read1(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        """At most ``amt`` bytes with at most one system call. The body is sent as stored (the
        client asks for identity and refuses any other encoding), so nothing is decoded."""
        response = self._response
        chunk = response.read1(-1 if amt is None else amt)
        if not chunk and response.length and amt != 0:
            # http.client returns an empty chunk when the connection ends early; the caller must know.
            raise http.client.IncompleteRead(b"", response.length)
        return chunk

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        return self._response.read(amt)

    def drain_conn(self) -> None:
        """Read what is left of a (short) body, so the connection can be kept."""
        try:
            self._response.read()
        except (OSError, http.client.HTTPException):
            self.close()

    def release_conn(self) -> None:
        """Done with the answer: its connection is kept for the next request if the body was read
        to its end and the server keeps it open, else closed."""
        response, conn = self._response, self._conn
        if conn is None:
            return
        self._conn = None
        # Read to its end: every announced byte, or a chunked body's last chunk (http.client closes it).
        complete = response.length == 0 or (response.length is None and response.isclosed())
        if complete and not response.will_close and conn.sock is not None:
            response.close()  # http.client sends the next request only once this one is closed
            self._transport._checkin(self._key, conn)
        else:
            response.close()
            conn.close()

    def close(self) -> None:
        """Drop the answer and its connection (a body not read to its end cannot be reused)."""
        self._response.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _connect(conn: http.client.HTTPConnection) -> None:
    """Open the connection; a failure other than a timeout or TLS is ConnectFailed."""
    try:
        conn.connect()
    except (TimeoutError, ssl.SSLError):
        raise
    except OSError as exc:
        raise ConnectFailed(f"cannot connect to {conn.host}:{conn.port}: {exc}") from exc


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """True when an idle kept-alive connection can no longer be used: closed by us or the server
    (readable means an end of file, or bytes nobody asked for)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _request_target(parts) -> str:
    """The path and query to send, characters HTTP does not allow percent-encoded (as urllib3 does)."""
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if _NEEDS_ENCODING.search(target):
        target = quote(target, safe=_TARGET_SAFE)
    return target


@functools.lru_cache(maxsize=8)
def tls_context(ca_bundle: str) -> ssl.SSLContext:
    """Verified TLS against a bundle (a file, or a directory of hashed certificates): CERT_REQUIRED,
    host names checked. Made at a process's first https request and shared by its connections
    (loading a bundle of ~150 certificates costs milliseconds; an SSLContext is thread-safe)."""
    if os.path.isdir(ca_bundle):
        context = ssl.create_default_context(capath=ca_bundle)
    else:
        context = ssl.create_default_context(cafile=ca_bundle)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context
