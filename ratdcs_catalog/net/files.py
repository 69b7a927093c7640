"""HTTP GETs for file downloads: kept-alive connections, redirects decided hop by hop, a transport seam.

Downloads do not go through requests. requests re-reads the whole process environment
(proxies, .netrc, CA bundle) and rebuilds cookies and hooks on every request: about 1 ms of
Python per file, which is most of what a 4 KB file costs and, under the GIL, what kept four
workers from going faster than one. What requests gave us comes from the ``NetworkPolicy``
instead, worked out once per client: the User-Agent, verified TLS, the proxy of each host
(looked up once per host, then cached), and the MAST token cookie.

Redirects are followed here (at most ``max_redirects``), so each hop is a new decision about
the cookie (``NetworkPolicy.headers_for``): a redirect from MAST to a public cloud copy does
not carry the token. A redirect's body is drained (keeping the connection) only when it
announces at most ``MAX_REDIRECT_DRAIN_BYTES``; any other is dropped with its connection, since
a server can send an endless one (issue 20).

Every GET runs under the policy's ``Deadlines`` (``net.deadline``): its final headers within
the request deadline, its body at the minimum rate, else ``DeadlineExceeded``. The transports'
connections tell the watchdog which socket each request is using.

The network itself is the client's ``transport``: by default ``net.direct.DirectTransport``
(kept-alive http.client connections; a host behind a proxy goes to ``PoolTransport`` here,
urllib3's pool managers); tests hand in ``net.testing.MockTransport``. A transport has
``request(method, url, *, headers, timeout)`` and ``close()``; the response it returns has
``status``, ``reason``, ``headers``, ``read1(n, decode_content=...)``, ``release_conn()``,
``drain_conn()`` and ``close()``, as urllib3's does with ``preload_content=False``; ``get``
hands it back wrapped in a ``WatchedResponse``.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Mapping
from urllib.parse import urljoin, urlsplit

from . import deadline
from .deadline import DeadlineExceeded, WatchedResponse
from .direct import DirectTransport
from .policy import NetworkPolicy

__all__ = ["FileClient", "PoolTransport", "RedirectRefused", "TooManyRedirects"]

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# A redirect body announcing more than this (or not announcing its length) is not read to keep the
# connection: the connection is closed instead. Real redirect pages are a few hundred bytes.
MAX_REDIRECT_DRAIN_BYTES = 65536


class TooManyRedirects(Exception):
    """More redirects than allowed: a redirect loop, or a chain no archive needs."""


class RedirectRefused(Exception):
    """A redirect to something other than http(s) (file:, ftp:, ...): never followed."""


class FileClient:
    """GETs for one sync worker, on the policy's terms. Close it when done."""

    def __init__(self, policy: NetworkPolicy | None = None, *, pool_size: int = 4, max_redirects: int = 10,
                 transport: Any = None, watchdog: deadline.Watchdog | None = None):
        self.policy = policy or NetworkPolicy()
        self.max_redirects = max_redirects
        self.transport = transport or DirectTransport(self.policy, pool_size=pool_size)
        self.watchdog = watchdog or deadline.shared_watchdog()

    def get(self, url: str, *, headers: Mapping[str, str], timeout: float) -> WatchedResponse:
        """The final response of ``url`` after redirects, body not yet read.

        Raises the transport's exceptions for network trouble (http.client's, the socket's and
        ``direct.ConnectFailed`` by default; urllib3's through a proxy), DeadlineExceeded past the
        request deadline, TooManyRedirects for a loop and RedirectRefused for a redirect away
        from http(s). Release or close the response.
        """
        watch = self.watchdog.watch(self.policy.deadlines)
        deadline.current.watch = watch
        try:
            response = self._follow(url, headers, timeout, watch)
        except BaseException as exc:
            self.watchdog.unwatch(watch)
            if watch.reason is not None and isinstance(exc, Exception):
                # Whatever the cut socket raised, the cause is the deadline.
                raise DeadlineExceeded(watch.reason) from exc
            raise
        finally:
            deadline.current.watch = None
        self.watchdog.headers_in(watch)
        return WatchedResponse(response, watch, self.watchdog)

    def _follow(self, url: str, headers: Mapping[str, str], timeout: float, watch: deadline.Watch):
        for _ in range(self.max_redirects + 1):
            if watch.reason is not None:
                raise DeadlineExceeded(watch.reason)
            parts = urlsplit(url)
            sent = self.policy.headers_for(parts.scheme, parts.hostname or "", headers, parts.port)
            response = self.transport.request("GET", url, headers=sent, timeout=timeout)
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            _discard_body(response)
            url = urljoin(url, location)
            if urlsplit(url).scheme not in ("http", "https"):
                raise RedirectRefused(f"redirected to {url[:200]}, which is not an http(s) URL")
        raise TooManyRedirects(f"more than {self.max_redirects} redirects")

    def close(self) -> None:
        self.transport.close()


def _discard_body(response) -> None:
    """Done with a redirect: drain a short body to keep the connection, else drop the connection."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= MAX_REDIRECT_DRAIN_BYTES:
        response.drain_conn()  # bounded by the request deadline if the short body is trickled
    else:
        response.close()
    response.release_conn()


class PoolTransport:
    """urllib3 pool managers: the direct one, or the proxy's when the policy routes a host through one.

    ``DirectTransport`` sends a proxied host's requests here; a client can also be given one
    (``FileClient(transport=PoolTransport(policy))``) to send everything through urllib3.

    Thread-safe (urllib3 pools are); the route of each (scheme, host) is decided once. A direct
    request goes to its host's connection pool, looked up once, with a timeout and a no-retry
    policy built once: the pool manager's path (its URL encoding, pool lookup under a lock and a
    new Retry and Timeout per call) was a third of the Python time of a small file's GET.
    """

    def __init__(self, policy: NetworkPolicy, *, pool_size: int = 4):
        import urllib3

        self.policy = policy
        self._tls = policy.tls_settings()
        self._pool_size = pool_size
        self._direct = _watched(urllib3.PoolManager(num_pools=16, maxsize=pool_size, retries=False, **self._tls))
        self._timeout = urllib3.Timeout
        self._timeouts: dict[float, Any] = {}
        self._no_retries = urllib3.Retry(total=False, redirect=False)
        self._pools: dict[tuple, Any] = {}
        self._proxy_managers: dict[str, Any] = {}
        self._route_cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def request(self, method: str, url: str, *, headers: Mapping[str, str], timeout: float):
        """One HTTP exchange, redirects not followed, body not read (``preload_content=False``)."""
        from urllib3.util import parse_url

        parts = parse_url(url)  # as the pool manager parses it: invalid characters percent-encoded
        scheme, host = (parts.scheme or "http").lower(), (parts.host or "").lower()
        manager = self._manager_for(scheme, host)
        timeouts = self._timeouts.get(timeout) or self._timeouts.setdefault(
            timeout, self._timeout(connect=timeout, read=timeout))
        if manager is not self._direct:  # through a proxy: urllib3 decides the request's form
            return manager.request(method, url, headers=headers, timeout=timeouts, preload_content=False,
                                   redirect=False, retries=False)
        return self._pool(scheme, parts.host, parts.port).urlopen(
            method, parts.request_uri, headers=headers, timeout=timeouts, preload_content=False, redirect=False,
            retries=self._no_retries, assert_same_host=False)

    def _pool(self, scheme: str, host: str, port: int | None):
        """The direct pool of a host, kept here; asked again if the manager closed it (more than
        16 hosts in use evicts the least recently used)."""
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:
            pool = self._pools[key] = self._direct.connection_from_host(host, port=port, scheme=scheme)
        return pool

    def close(self) -> None:
        self._direct.clear()
        for manager in self._proxy_managers.values():
            manager.clear()

    def _manager_for(self, scheme: str, host: str):
        key = (scheme, host)
        manager = self._route_cache.get(key)
        if manager is not None:
            return manager
        import urllib3

        with self._lock:
            proxy = self.policy.proxy_for(scheme, host)
            if proxy is None:
                manager = self._direct
            else:
                if proxy not in self._proxy_managers:
                    address, proxy_headers = _proxy_address(proxy)
                    self._proxy_managers[proxy] = _watched(urllib3.ProxyManager(
                        address, proxy_headers=proxy_headers, maxsize=self._pool_size, retries=False, **self._tls))
                manager = self._proxy_managers[proxy]
            self._route_cache[key] = manager
        return manager


def _watched(manager):
    """A pool manager whose pools' connections report to the watchdog (``net.deadline``)."""
    manager.pool_classes_by_scheme = _watched_pool_classes()
    return manager


@functools.cache
def _watched_pool_classes() -> dict[str, type]:
    """urllib3's pools, with connections that tell the calling thread's watch which socket they use
    (a kept-alive connection is reused without ``connect()``, so ``request()`` tells it too)."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Watched:
        def connect(self) -> None:
            deadline.attach_connection(self)
            super().connect()

        def request(self, *args, **kwargs) -> None:
            deadline.attach_connection(self)
            super().request(*args, **kwargs)

    http = type("WatchedHTTPConnection", (Watched, HTTPConnection), {})
    https = type("WatchedHTTPSConnection", (Watched, HTTPSConnection), {})
    return {"http": type("WatchedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("WatchedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https})}


def _proxy_address(proxy: str) -> tuple[str, dict[str, str] | None]:
    """(address without credentials, headers carrying them) from a *_proxy value, read as requests
    reads it: ``host:port`` means ``http://host:port``, ``user:pass@`` becomes Proxy-Authorization."""
    import urllib3
    from urllib.parse import unquote

    if "://" not in proxy:
        proxy = f"http://{proxy}"  # requests' reading of "proxy.example:3128"
    parts = urlsplit(proxy)
    if parts.username is None:
        return proxy, None
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    address = f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"
    return address, urllib3.make_headers(proxy_basic_auth=credentials)
