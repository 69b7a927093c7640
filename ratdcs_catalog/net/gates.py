"""Politeness per archive host, shared by every worker of a sync: at most N requests at once, an
optional rate cap, and a pause for everyone when the host says 429/503 with Retry-After.

ztfquery users were refused for too many parallel requests; a tool was pulled for "hammering
MAST" (docs/archive-facts.md section 5).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator
from urllib.parse import urlsplit

__all__ = ["HostGate", "HostGates"]


class HostGate:
    """What every worker talking to one host shares: a concurrency limit, a pause, a rate cap."""

    def __init__(self, max_concurrent: int, requests_per_second: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self.paused_until = 0.0
        self._next_start = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request to this host for ``seconds`` (after a 429/503 with Retry-After)."""
        with self._lock:
            self.paused_until = max(self.paused_until, self._clock() + seconds)

    @contextlib.contextmanager
    def slot(self, stop: threading.Event | None = None) -> Iterator[bool]:
        """Wait for the pause, a free connection and the rate cap; yields False if ``stop`` was set."""
        if not self._wait_for_pause(stop):
            yield False
            return
        while not self._slots.acquire(timeout=0.2):
            if stop is not None and stop.is_set():
                yield False
                return
        try:
            self._wait_for_rate()
            yield True
        finally:
            self._slots.release()

    def _wait_for_pause(self, stop: threading.Event | None) -> bool:
        while (remaining := self.paused_until - self._clock()) > 0:
            if stop is not None and stop.is_set():
                return False
            self._sleep(min(remaining, 0.25))
        return True

    def _wait_for_rate(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            self._sleep(start - now)


class HostGates:
    """One ``HostGate`` per politeness domain, made on first use; shared by all workers of a sync.

    A domain is a host name, or one of ``domains``: a URL prefix with its own connection limit
    (MAST's cloud copy takes far more parallelism than MAST, issue 16). A prefix is matched
    before the host, so a copy served from the archive's own host (the sandbox) is still apart.
    """

    def __init__(self, max_concurrent: int, requests_per_second: float | None = None, *,
                 domains: dict[str, int] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._make = lambda limit: HostGate(limit, requests_per_second, clock=clock, sleep=sleep)
        self._max_concurrent = max_concurrent
        self._domains = {prefix.rstrip("/") + "/": limit for prefix, limit in (domains or {}).items()}
        self._gates: dict[str, HostGate] = {}
        self._hosts: dict[str, str] = {}  # a URL's scheme and authority -> its host name, as urlsplit gives it
        self._lock = threading.Lock()

    def for_url(self, url: str) -> HostGate:
        key, limit = self._domain(url)
        gate = self._gates.get(key)  # made once per domain: the lock is for its making
        if gate is not None:
            return gate
        with self._lock:
            if key not in self._gates:
                self._gates[key] = self._make_gate(key, limit)
            return self._gates[key]

    def _make_gate(self, key: str, limit: int) -> HostGate:
        """The gate of a domain seen for the first time (a subclass may make its own kind)."""
        return self._make(limit)

    def _domain(self, url: str) -> tuple[str, int]:
        for prefix, limit in self._domains.items():
            if url.startswith(prefix):
                return prefix, limit
        # Asked before every request: the host name is parsed once per scheme and authority, not per
        # URL (urlsplit was 2-3% of a small file's CPU, issue 15). The authority ends at the first
        # '/', '?' or '#' after '//', as urlsplit ends it.
        origin = url[:_authority_end(url)]
        host = self._hosts.get(origin)
        if host is None:
            host = self._hosts[origin] = (urlsplit(origin).hostname or "").lower()
        return host, self._max_concurrent


def _authority_end(url: str) -> int:
    start = url.find("//") + 2 if "//" in url else 0
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    return min(ends) if ends else len(url)


