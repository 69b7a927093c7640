"""A network profile for the sandbox: the archive as seen over a real network, not loopback.

Loopback answers in microseconds and moves gigabytes per second, so it measures CPU only. A
``NetworkProfile`` makes every endpoint answer the way a distant archive does (docs/sandbox.md,
"Network profile"):

- ``latency_seconds``: the time to the first byte of every answer (one round trip), redirect
  hops included since each hop is its own request; a request on a new connection waits one
  more round trip (the TCP handshake);
- ``bandwidth_bytes_per_second``: a rate cap on each connection's body bytes (the
  per-connection throughput a long-haul TCP stream gets);
- ``max_connections_per_client``: at most this many requests in progress at once per client
  address (nginx's ``limit_conn``); one more is answered ``503`` with ``Retry-After``, as a
  polite archive would, and its connection is closed.

Defaults are off: a profile with none of the three is loopback as before.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time

__all__ = ["ConnectionLimit", "NetworkProfile", "parse_bandwidth", "parse_latency"]

_LATENCY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$", re.I)
_BANDWIDTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kb|mb|gb|kib|mib|gib)\s*/\s*s\s*$", re.I)
_RATE_UNITS = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
# A rate-capped body goes out in slices of this many seconds' worth of bytes.
SLICE_SECONDS = 0.02


def parse_latency(text: str) -> float:
    """'80ms' -> 0.08, '0.2s' -> 0.2. A unit is required: a bare number is ambiguous."""
    match = _LATENCY.match(text or "")
    if not match:
        raise ValueError(f"cannot read {text!r} as a latency; write it like 80ms or 0.2s")
    value = float(match.group(1))
    return value / 1000 if match.group(2).lower() == "ms" else value


def parse_bandwidth(text: str) -> float:
    """'20MB/s' -> 20e6 bytes per second, '500KB/s' -> 5e5, '1MiB/s' -> 1048576."""
    match = _BANDWIDTH.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"cannot read {text!r} as a bandwidth; write it like 500KB/s or 20MB/s")
    return float(match.group(1)) * _RATE_UNITS[match.group(2).lower()]


@dataclasses.dataclass(frozen=True)
class NetworkProfile:
    """How far away the archive is. All None/0: loopback (the default)."""

    latency_seconds: float = 0.0
    bandwidth_bytes_per_second: float | None = None
    max_connections_per_client: int | None = None
    retry_after_seconds: int = 1

    @classmethod
    def parse(cls, *, latency: str | None = None, bandwidth: str | None = None,
              max_connections: int | None = None) -> "NetworkProfile":
        """From the command line's words: ``latency="80ms"``, ``bandwidth="20MB/s"``."""
        return cls(latency_seconds=parse_latency(latency) if latency else 0.0,
                   bandwidth_bytes_per_second=parse_bandwidth(bandwidth) if bandwidth else None,
                   max_connections_per_client=max_connections)

    @property
    def active(self) -> bool:
        return bool(self.latency_seconds or self.bandwidth_bytes_per_second or self.max_connections_per_client)

    def describe(self) -> str:
        parts = []
        if self.latency_seconds:
            parts.append(f"{self.latency_seconds * 1000:g} ms to first byte")
        if self.bandwidth_bytes_per_second:
            parts.append(f"{self.bandwidth_bytes_per_second / 1e6:g} MB/s per connection")
        if self.max_connections_per_client:
            parts.append(f"at most {self.max_connections_per_client} requests at once per client")
        return ", ".join(parts) or "loopback (no shaping)"

    def wait_first_byte(self, new_connection: bool) -> None:
        """Sleep one round trip before an answer (two on a connection's first request)."""
        if self.latency_seconds:
            time.sleep(self.latency_seconds * (2 if new_connection else 1))

    def slice_bytes(self) -> int:
        return max(1, int(self.bandwidth_bytes_per_second * SLICE_SECONDS))


class RateClock:
    """Paces one connection's body bytes at ``rate`` bytes per second."""

    def __init__(self, rate: float):
        self.rate, self.started, self.sent = rate, time.monotonic(), 0

    def after(self, n: int) -> None:
        """``n`` more bytes went out: sleep until the rate allows them."""
        self.sent += n
        ahead = self.sent / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)


class ConnectionLimit:
    """Requests in progress per client address, against a cap (None: no cap). Thread-safe."""

    def __init__(self, cap: int | None):
        self.cap = cap
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}

    def enter(self, client: str) -> bool:
        """Count one more request from ``client``; False (and not counted) when over the cap."""
        with self._lock:
            active = self._active.get(client, 0)
            if self.cap is not None and active >= self.cap:
                return False
            self._active[client] = active + 1
            return True

    def leave(self, client: str) -> None:
        with self._lock:
            self._active[client] -= 1
