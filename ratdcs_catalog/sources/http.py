"""HTTP for catalog queries: timeouts, retries with back-off, a pause between queries, clear errors.

Catalog answers are small and few (a plan sends a bounded number of them), so this is simple
on purpose: one requests.Session, every call with a timeout, 5xx/429/connection errors retried
with exponential back-off (honouring Retry-After), and ``rate_limit_delay`` seconds between
queries to one host so a plan never hammers an archive. Every failure becomes an
``ArchiveError`` that names the service and the query.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from ..errors import ArchiveError

__all__ = ["CatalogHTTP", "looks_like_html"]

log = logging.getLogger("ratdcs.catalog")

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
USER_AGENT = "ratdcs/0.1 (catalog-first downloader; +https://github.com/ratdcs)"


def looks_like_html(body: bytes | str) -> bool:
    head = (body[:512] if isinstance(body, str) else body[:512].decode("latin-1")).lstrip().lower()
    return head.startswith("<!doctype html") or head.startswith("<html")


class CatalogHTTP:
    """A session for catalog queries, shared by the planners of one plan run."""

    def __init__(self, *, timeout: float, max_retries: int, rate_limit_delay: float,
                 backoff_base: float = 1.0, backoff_max: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 token: tuple[str, str] | None = None):
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.timeout = timeout
        self.max_retries = max_retries
        self.rate_limit_delay = rate_limit_delay
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep
        self.clock = clock
        self.token = token  # (host, value): MAST token sent as a cookie to that host only
        self.requests_sent = 0
        self._last_query_at: dict[str, float] = {}

    @classmethod
    def from_config(cls, config, **kwargs) -> "CatalogHTTP":
        from ..config import read_secret
        from ..net.policy import check_ca_environment

        check_ca_environment()
        token_value = read_secret(config["auth.mast_token_env"])
        token = (urlsplit(config["endpoints.mast"]).hostname, token_value) if token_value else None
        return cls(timeout=config["catalog.timeout_seconds"], max_retries=config["catalog.max_retries"],
                   rate_limit_delay=config["catalog.rate_limit_delay"],
                   backoff_base=config["download.backoff_base_seconds"],
                   backoff_max=config["download.backoff_max_seconds"], token=token, **kwargs)

    def request(self, method: str, url: str, *, what: str, **kwargs: Any) -> requests.Response:
        """Send one catalog request, retrying what is worth retrying; ``what`` names it in errors."""
        headers = {**kwargs.pop("headers", {}), **self._token_header(url)}
        for attempt in range(self.max_retries + 1):
            self._pause_between_queries(url)
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
                retry_after = _retry_after_seconds(response)
            if attempt == self.max_retries:
                raise ArchiveError(f"{what}: {problem} after {self.max_retries + 1} attempts",
                                   hint="the archive may be down or overloaded; try again later "
                                        "(the manifest was not changed)")
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            log.warning("%s: %s; retrying in %.1f s", what, problem, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _pause_between_queries(self, url: str) -> None:
        host = urlsplit(url).netloc
        last = self._last_query_at.get(host)
        if last is not None:
            wait = self.rate_limit_delay - (self.clock() - last)
            if wait > 0:
                self.sleep(wait)
        self._last_query_at[host] = self.clock()
        self.requests_sent += 1

    def _token_header(self, url: str) -> dict[str, str]:
        """The MAST token as a Cookie header, for the MAST host over https only. A header, not a
        cookie passed to requests: requests drops the Cookie header on every redirect, while a
        per-request cookie has no domain and would follow a redirect to any host."""
        from ..net.policy import may_carry_token

        parts = urlsplit(url)
        if self.token and parts.hostname == self.token[0] and may_carry_token(parts.scheme, parts.hostname or ""):
            return {"Cookie": f"mast_token={self.token[1]}"}
        return {}

    def _backoff(self, attempt: int) -> float:
        import random

        delay = min(self.backoff_max, self.backoff_base * 2 ** attempt)
        return delay * (0.5 + random.random() / 2)  # jitter: several clients do not retry in step

    @staticmethod
    def _check_status(response: requests.Response, what: str) -> requests.Response:
        if response.status_code >= 400:
            excerpt = " ".join(response.text[:200].split())
            raise ArchiveError(f"{what}: HTTP {response.status_code} ({excerpt})",
                               hint="check the endpoint in `ratdcs config` and the query options")
        if looks_like_html(response.content):
            raise ArchiveError(f"{what}: the archive answered with an HTML page instead of data "
                               f"(HTTP {response.status_code})",
                               hint="the service may be down for maintenance, or the endpoint URL is wrong; "
                                    "check `ratdcs config`")
        return response


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), 300.0)
    except ValueError:
        return None  # an HTTP date: fall back to our own back-off
