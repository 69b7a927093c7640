"""HTTP GETs for file downloads: kept-alive connections, verified TLS, proxies, redirects, the MAST cookie.

Downloads go through urllib3 directly, not requests. requests re-reads the whole process
environment (proxies, .netrc, CA bundle) and rebuilds cookies and hooks on every request:
about 1 ms of Python per file, which is most of what a 4 KB file costs and, under the GIL,
what kept four workers from going faster than one. What requests gave us is kept here, read
once per client:

- TLS is verified against ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE`` or
  certifi's bundle (requests' own order; a directory of certificates works too), never turned off.
- Proxies come from the usual environment variables (``https_proxy``, ``no_proxy``...), written
  as requests accepted them: ``host:port`` means ``http://host:port``, and ``user:pass@`` in the
  address becomes a ``Proxy-Authorization`` header.
- Redirects are followed here (at most ``max_redirects``), so each hop is a new decision
  about the cookie: the MAST token goes only to the MAST hosts named, as the ``mast_token``
  cookie, and only over https (or to this machine); a redirect to a public cloud copy does
  not carry it. The token is never logged.

Catalog queries (``sources/``) keep requests: a handful of requests per plan, where its
conveniences cost nothing that matters.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from typing import Mapping
from urllib.parse import urljoin, urlsplit

__all__ = ["FileClient", "TooManyRedirects", "USER_AGENT", "may_carry_token"]

USER_AGENT = "ratdcs (catalog-first archive downloads)"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def may_carry_token(scheme: str, host: str) -> bool:
    """A secret may go over https, or in plain http to this machine only (the sandbox archive)."""
    return scheme == "https" or host.lower() in LOOPBACK_HOSTS


class TooManyRedirects(Exception):
    """More redirects than allowed: a redirect loop, or a chain no archive needs."""


class RedirectRefused(Exception):
    """A redirect to something other than http(s) (file:, ftp:, ...): never followed."""


class FileClient:
    """GETs for one sync's workers (thread-safe: urllib3 pools are). Close it when done."""

    def __init__(self, *, mast_hosts: tuple[str, ...] = (), mast_token: str | None = None, pool_size: int = 4,
                 max_redirects: int = 10):
        import urllib3

        self.max_redirects = max_redirects
        self._mast_hosts = frozenset(h.lower() for h in mast_hosts)
        self._cookie = f"mast_token={mast_token}" if mast_token else None
        self._tls = _tls_settings(_ca_bundle())
        self._pool_size = pool_size
        self._direct = urllib3.PoolManager(num_pools=16, maxsize=pool_size, retries=False, **self._tls)
        self._proxies = urllib.request.getproxies_environment()  # read once, not per request
        self._proxy_managers: dict[str, object] = {}
        self._route_cache: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    def sends_cookie_to(self, host: str, scheme: str = "https") -> bool:
        """Whether the MAST token cookie goes with a request to ``host``: a MAST host, over
        https (plain http only to this machine, where the sandbox archive runs)."""
        return self._cookie is not None and host.lower() in self._mast_hosts and may_carry_token(scheme, host)

    def get(self, url: str, *, headers: Mapping[str, str], timeout: float):
        """The final response of ``url`` after redirects, body not yet read (``preload_content=False``).

        Raises urllib3's exceptions for network trouble, TooManyRedirects for a loop and
        RedirectRefused for a redirect away from http(s).
        """
        import urllib3

        timeouts = urllib3.Timeout(connect=timeout, read=timeout)
        for _ in range(self.max_redirects + 1):
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            sent = {"User-Agent": USER_AGENT, **headers}
            if self.sends_cookie_to(host, parts.scheme):
                sent["Cookie"] = self._cookie
            response = self._manager_for(parts.scheme, host).request(
                "GET", url, headers=sent, timeout=timeouts, preload_content=False, redirect=False, retries=False)
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            response.drain_conn()
            response.release_conn()
            url = urljoin(url, location)
            if urlsplit(url).scheme not in ("http", "https"):
                raise RedirectRefused(f"redirected to {url[:200]}, which is not an http(s) URL")
        raise TooManyRedirects(f"more than {self.max_redirects} redirects")

    def close(self) -> None:
        self._direct.clear()
        for manager in self._proxy_managers.values():
            manager.clear()

    def _manager_for(self, scheme: str, host: str):
        """The direct pool manager, or the proxy's when the environment routes ``host`` through one."""
        key = (scheme, host)
        manager = self._route_cache.get(key)
        if manager is not None:
            return manager
        import urllib3

        with self._lock:
            proxy = self._proxies.get(scheme) or self._proxies.get("all")
            if not proxy or urllib.request.proxy_bypass_environment(host, self._proxies):
                manager = self._direct
            else:
                if proxy not in self._proxy_managers:
                    address, proxy_headers = _proxy_address(proxy)
                    self._proxy_managers[proxy] = urllib3.ProxyManager(
                        address, proxy_headers=proxy_headers, maxsize=self._pool_size, retries=False, **self._tls)
                manager = self._proxy_managers[proxy]
            self._route_cache[key] = manager
        return manager


def _tls_settings(ca: str) -> dict:
    """Verified TLS against ``ca``: a bundle file, or a directory of hashed certificates."""
    where = {"ca_cert_dir": ca} if os.path.isdir(ca) else {"ca_certs": ca}
    return {"cert_reqs": "CERT_REQUIRED", **where}


def _proxy_address(proxy: str) -> tuple[str, dict[str, str] | None]:
    """(address without credentials, headers carrying them) from a *_proxy value."""
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


def _ca_bundle() -> str:
    """requests' order: REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE, then certifi (plus SSL_CERT_FILE)."""
    from .config import CA_VARIABLES

    for name in CA_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    import certifi

    return certifi.where()
