"""HTTP for catalog queries: timeouts, retries with back-off, a pause between queries, clear errors.

Catalog answers are small and few (a plan sends a bounded number of them), so this keeps
requests and is simple on purpose: one requests.Session, every call with a timeout,
5xx/429/connection errors retried on the ``NetworkPolicy``'s back-off (or its reading of
Retry-After), and ``rate_limit_delay`` seconds between requests to one host so a plan never
hammers an archive - size probes (HEAD) included, which may come from several threads at once.
Every failure becomes an ``ArchiveError`` that names the service and the query.

User-Agent, TLS bundle, proxies and the MAST token come from the policy. The proxy is chosen
per hop by ``_PolicyAdapter`` (requests' transport adapter), so a redirect to another host
is routed as that host should be; tests mount a ``net.testing.MockTransport`` instead.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
import requests.adapters

from ..errors import ArchiveError
from .policy import NetworkPolicy, looks_like_html, retry_after_seconds

__all__ = ["CatalogHTTP"]

log = logging.getLogger("ratdcs.catalog")

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class CatalogHTTP:
    """A session for catalog queries, shared by the planners (and probe threads) of one plan run."""

    def __init__(self, policy: NetworkPolicy | None = None, *, timeout: float, max_retries: int,
                 rate_limit_delay: float, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, transport: Any = None):
        self.policy = policy or NetworkPolicy()
        self.session = requests.Session()
        self.session.verify = self.policy.ca_bundle
        adapter = transport or _PolicyAdapter(self.policy)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.timeout = timeout
        self.max_retries = max_retries
        self.rate_limit_delay = rate_limit_delay
        self.sleep = sleep
        self.clock = clock
        self.requests_sent = 0
        self._last_query_at: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config, *, policy: NetworkPolicy | None = None, **kwargs) -> "CatalogHTTP":
        return cls(policy or NetworkPolicy.from_config(config), timeout=config["catalog.timeout_seconds"],
                   max_retries=config["catalog.max_retries"], rate_limit_delay=config["catalog.rate_limit_delay"],
                   **kwargs)

    def request(self, method: str, url: str, *, what: str, **kwargs: Any) -> requests.Response:
        """Send one catalog request, retrying what is worth retrying; ``what`` names it in errors."""
        parts = urlsplit(url)
        # The token goes as a header, not as a cookie handed to requests: requests drops the
        # Cookie header on every redirect, while a per-request cookie has no domain and would
        # follow a redirect to any host.
        headers = self.policy.headers_for(parts.scheme, parts.hostname or "", kwargs.pop("headers", {}), parts.port)
        for attempt in range(self.max_retries + 1):
            self._pause_between_queries(parts.netloc)
            try:
                response = self.session.request(method, url, timeout=self.timeout, headers=headers, **kwargs)
            except requests.exceptions.SSLError as exc:
                # Not retried, and not "the archive may be down": the certificate stays untrusted.
                raise ArchiveError(f"{what}: the server's TLS certificate is not trusted ({exc})",
                                   hint="behind a proxy that inspects TLS, point REQUESTS_CA_BUNDLE at its CA "
                                        "certificate; TLS verification stays on") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem, retry_after = f"no answer ({type(exc).__name__})", None
            else:
                if response.status_code not in RETRYABLE_STATUS:
                    return self._check_status(response, what)
                problem = f"HTTP {response.status_code}"
                retry_after = retry_after_seconds(response.headers)
            if attempt == self.max_retries:
                raise ArchiveError(f"{what}: {problem} after {self.max_retries + 1} attempts",
                                   hint=_no_answer_hint(parts) if problem.startswith("no answer") else
                                   "the archive may be down or overloaded; try again later "
                                   "(the manifest was not changed)")
            delay = retry_after if retry_after is not None else self.policy.back_off_seconds(attempt + 1)
            log.warning("%s: %s; retrying in %.1f s", what, problem, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def head(self, url: str, *, what: str) -> requests.Response:
        """A HEAD request (redirects followed), on the same retries, pauses and token rules as a query."""
        return self.request("HEAD", url, what=what)

    def _pause_between_queries(self, host: str) -> None:
        """Wait until ``rate_limit_delay`` after the last request to ``host`` started. Each caller
        reserves its start time under the lock, so threads probing at once are spaced too."""
        with self._lock:
            now = self.clock()
            last = self._last_query_at.get(host)
            start = now if last is None else max(now, last + self.rate_limit_delay)
            self._last_query_at[host] = start
            self.requests_sent += 1
        if start > now:
            self.sleep(start - now)

    @staticmethod
    def _check_status(response: requests.Response, what: str) -> requests.Response:
        if response.status_code >= 400:
            excerpt = " ".join(response.text[:200].split())
            raise ArchiveError(f"{what}: HTTP {response.status_code} ({excerpt})",
                               hint="check the endpoint in `ratdcs config` and the query options")
        if looks_like_html(response.content):
            raise ArchiveError(f"{what}: the archive answered with an HTML page instead of data "
                               f"(HTTP {response.status_code}, {response.url[:300]})",
                               hint="the service may be down for maintenance, or the endpoint URL is wrong; "
                                    "check `ratdcs config`")
        return response


def _no_answer_hint(parts) -> str:
    """No connection at all is the network (or a stopped sandbox), not an overloaded archive (issue 19)."""
    if parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return (f"nothing answers at {parts.netloc}: is the sandbox still running (`ratdcs sandbox serve "
                "--write-config sandbox.yaml`)? The manifest was not changed")
    return (f"check this machine's network connection (and https_proxy) to {parts.hostname}; to try ratdcs "
            "offline, `ratdcs demo` runs everything against a local sandbox archive, or `ratdcs sandbox serve "
            "--write-config sandbox.yaml` then `ratdcs --config sandbox.yaml ...`. The manifest was not changed")


class _PolicyAdapter(requests.adapters.HTTPAdapter):
    """requests' own transport, with each hop's proxy chosen by the policy rather than by requests'
    per-request reading of the environment (the same variables, read once)."""

    def __init__(self, policy: NetworkPolicy):
        super().__init__()
        self.policy = policy

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        proxy = self.policy.proxy_for(parts.scheme, parts.hostname or "")
        kwargs["proxies"] = {parts.scheme: proxy} if proxy else {}
        return super().send(request, **kwargs)
