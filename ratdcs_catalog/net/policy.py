"""The one network policy: what every request ratdcs sends obeys, catalog query or file download.

Decided here, once, from the configuration, and nowhere else (tests/test_net_policy.py greps
the package for a second copy):

- How long to wait before asking again: capped exponential back-off with jitter
  (``back_off_seconds``), unless the server said so in ``Retry-After`` (``retry_after_seconds``:
  seconds or an HTTP date, capped at ``MAX_RETRY_AFTER_SECONDS``).
- Whether an answer is an HTML page instead of data (``looks_like_html``): MAST answers its
  maintenance windows with one, sometimes as HTTP 200 with a binary Content-Type.
- The User-Agent, ``ratdcs/<version> (...)``, so an archive's operators can tell who is asking.
- TLS, always verified: against ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE`` or
  certifi's bundle (requests' order; a directory of certificates works too).
- Proxies from the usual environment variables (``https_proxy``, ``no_proxy``...), read once.
- How long a file request may take (``Deadlines``, enforced by ``net.deadline``): its final
  headers within ``download.request_deadline_seconds``, then its body at least
  ``download.min_bytes_per_second`` over each ``download.stall_window_seconds``; a per-read
  timeout alone lets a server trickling a byte a second hold a transfer for hours.
- Where the MAST token may go: as the ``mast_token`` cookie, to the configured MAST hosts only
  (``endpoints.mast`` and ``endpoints.mast_download``), over https or to this machine (the
  sandbox archive). It is decided per request and per redirect hop, so a redirect to the public
  cloud copy does not carry it. The token is never logged, never written anywhere, and kept
  out of the policy's repr.

What stays with each client is what the configuration sets per client: its timeout and retry
count (``catalog.*`` or ``download.*``), the catalog's pause between queries, and how it speaks
HTTP (requests for a plan's few queries, urllib3 for a sync's many files).
"""

from __future__ import annotations

import dataclasses
import os
import types
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import ConfigError
from .deadline import Deadlines

if TYPE_CHECKING:  # pragma: no cover
    import random

__all__ = ["CA_VARIABLES", "MAX_RETRY_AFTER_SECONDS", "NetworkPolicy", "back_off_seconds", "check_ca_environment",
           "default_user_agent", "find_ca_bundle", "looks_like_html", "may_carry_token", "retry_after_seconds"]

# Retry-After is honoured, but a server asking for hours is treated as this long at most.
MAX_RETRY_AFTER_SECONDS = 900.0
# Where a CA bundle for TLS may be named, in requests' order of preference (SSL_CERT_FILE last).
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_HTML_STARTS = (b"<!doctype html", b"<html")
_NO_HEADERS: Mapping[str, str] = types.MappingProxyType({})


def back_off_seconds(retry: int, *, base_seconds: float, max_seconds: float,
                     rng: random.Random | None = None) -> float:
    """Delay before retry number ``retry`` (1, 2, ...): base * 2^(retry-1), capped, jittered to 50-100%,
    so several clients refused together do not come back in step (lightkurve gave up on the first 503)."""
    import random

    ceiling = min(max_seconds, base_seconds * 2 ** (retry - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The answer's Retry-After in seconds (a number, fractions accepted, or an HTTP date), capped;
    None when there is none or it cannot be read."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # only for the rare HTTP-date form; the email package is slow to import
        import time

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def looks_like_html(head: bytes, content_type: str = "") -> bool:
    """Whether an answer is an HTML page (an error or maintenance page), by its Content-Type or
    its first bytes. Only the start is looked at: a FITS file never starts with ``<``."""
    if "html" in content_type.lower():
        return True
    return head[:512].lstrip().lower().startswith(_HTML_STARTS)


def origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in, as browsers compare origins."""
    scheme = scheme.lower()
    return scheme, host.lower(), port if port is not None else (443 if scheme == "https" else 80)


def may_carry_token(scheme: str, host: str) -> bool:
    """A secret may go over https, or in plain http to this machine only (the sandbox archive)."""
    return scheme == "https" or host.lower() in LOOPBACK_HOSTS


def default_user_agent() -> str:
    """``ratdcs/<version> (...)``: the package is imported already, so its version costs nothing."""
    from .. import __version__

    return f"ratdcs/{__version__} (catalog-first archive downloads; +https://github.com/ratdcs)"


def find_ca_bundle() -> str:
    """requests' order: REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE, then SSL_CERT_FILE, then certifi."""
    for name in CA_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    import certifi

    return certifi.where()


def check_ca_environment() -> None:
    """Refuse a CA variable that names nothing, before any request: requests and urllib3 would
    only fail at the first https request, and a sync once per file."""
    name = next((n for n in CA_VARIABLES if os.environ.get(n)), None)
    if name and not os.path.exists(os.environ[name]):
        raise ConfigError(f"environment ${name} names {os.environ[name]}, which does not exist",
                          hint="point it at a PEM bundle file or a directory of certificates, or unset it "
                               "to use the certifi bundle")


def _proxies_from_environment() -> dict[str, str]:
    # urllib.request (and tempfile with it: 3-4 ms of every sync's start) only when a variable
    # could name a proxy; without one, getproxies_environment finds nothing either.
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return {}
    import urllib.request

    return urllib.request.getproxies_environment()


@dataclasses.dataclass(frozen=True, eq=False)
class NetworkPolicy:
    """The rules every request follows; one per plan or sync, shared by all its threads (read-only).

    ``NetworkPolicy()`` is a policy without a token, reading TLS and proxy settings from the
    environment; ``NetworkPolicy.from_config(config)`` is the one a command uses.
    """

    mast_hosts: frozenset[str] = frozenset()
    mast_token: str | None = dataclasses.field(default=None, repr=False)
    # (scheme, host, port) of the configured MAST endpoints: with them, the token goes to those exact
    # origins only, not to the same host on another port or scheme (a redirect to 127.0.0.1:9999
    # carried it once). Empty: the host check alone (policies built by hand in tests).
    mast_origins: frozenset[tuple[str, str, int]] = frozenset()
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    deadlines: Deadlines = Deadlines()
    user_agent: str = dataclasses.field(default_factory=default_user_agent)
    ca_bundle: str = dataclasses.field(default_factory=find_ca_bundle)
    # Out of the repr: a proxy address may carry a user name and password.
    proxies: Mapping[str, str] = dataclasses.field(default_factory=_proxies_from_environment, repr=False)
    _cookie: str | None = dataclasses.field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        # Frozen: the derived fields are settled once, here, not per request.
        object.__setattr__(self, "mast_hosts", frozenset(h.lower() for h in self.mast_hosts if h))
        object.__setattr__(self, "_cookie", f"mast_token={self.mast_token}" if self.mast_token else None)

    @classmethod
    def from_config(cls, config: Mapping) -> "NetworkPolicy":
        """The policy of one command: MAST hosts and token, back-off, and the environment's TLS and proxies."""
        from urllib.parse import urlsplit

        from ..config import read_secret

        from ..logs import register_secret

        check_ca_environment()
        endpoints = [urlsplit(config[key]) for key in ("endpoints.mast", "endpoints.mast_download")]
        token = read_secret(config["auth.mast_token_env"])
        register_secret(token)  # redacted wherever text is stored or printed, not only in the log
        return cls(mast_hosts=frozenset(e.hostname for e in endpoints if e.hostname), mast_token=token,
                   mast_origins=frozenset(origin(e.scheme, e.hostname, e.port) for e in endpoints if e.hostname),
                   backoff_base_seconds=config["download.backoff_base_seconds"],
                   backoff_max_seconds=config["download.backoff_max_seconds"],
                   deadlines=Deadlines(request_seconds=config["download.request_deadline_seconds"],
                                       min_bytes_per_second=config["download.min_bytes_per_second"],
                                       window_seconds=config["download.stall_window_seconds"]))

    def back_off_seconds(self, retry: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``retry`` (1, 2, ...), on this policy's schedule."""
        return back_off_seconds(retry, base_seconds=self.backoff_base_seconds, max_seconds=self.backoff_max_seconds,
                                rng=rng)

    def sends_token_to(self, host: str, scheme: str = "https", port: int | None = None) -> bool:
        """Whether the MAST token goes with a request to ``scheme://host:port``: a configured MAST
        origin (scheme, host and port), over https (plain http only to this machine, where the
        sandbox archive runs)."""
        if self._cookie is None or host.lower() not in self.mast_hosts or not may_carry_token(scheme, host):
            return False
        return not self.mast_origins or origin(scheme, host, port) in self.mast_origins

    def headers_for(self, scheme: str, host: str, headers: Mapping[str, str] = _NO_HEADERS,
                    port: int | None = None) -> dict[str, str]:
        """The headers of one request (one redirect hop) to ``host``: the User-Agent, the caller's
        ``headers``, and the token cookie where it may go. A new dict: the caller may keep it."""
        sent = {"User-Agent": self.user_agent, **headers}
        if self._cookie is not None and self.sends_token_to(host, scheme, port):  # no call per file without a token
            sent["Cookie"] = self._cookie
        return sent

    def proxy_for(self, scheme: str, host: str) -> str | None:
        """The proxy the environment routes ``scheme://host`` through, or None to go direct."""
        proxy = self.proxies.get(scheme) or self.proxies.get("all")
        if not proxy:  # no urllib.request (3-4 ms) on a first request that goes direct
            return None
        import urllib.request

        return None if urllib.request.proxy_bypass_environment(host, self.proxies) else proxy

    def tls_settings(self) -> dict[str, str]:
        """urllib3's pool arguments for verified TLS against the bundle (a file, or a directory
        of hashed certificates as c_rehash leaves it)."""
        where = {"ca_cert_dir": self.ca_bundle} if os.path.isdir(self.ca_bundle) else {"ca_certs": self.ca_bundle}
        return {"cert_reqs": "CERT_REQUIRED", **where}

    def file_client(self, *, pool_size: int = 4, transport: Any = None):
        """A file-download client on this policy (one per sync worker: its connections are its own)."""
        from .files import FileClient

        return FileClient(self, pool_size=pool_size, transport=transport)
