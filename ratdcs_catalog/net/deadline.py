"""Deadlines of file GETs: a fixed time to the final answer's headers, then a minimum rate for its body.

Why: a read timeout only bounds the gap between two bytes. A server that trickles one byte a
second never trips it, in its body, in its status line and headers, or in the body of a
redirect being drained (issue 20): a 60,480-byte file took 16.8 h. So each request has

- a **request deadline** (``download.request_deadline_seconds``): connecting, sending, every
  redirect hop (with its drained body) and reading the final status line and headers must all
  end within it (a TLS handshake, which CPython already bounds as a whole by the socket
  timeout, is cut when it ends);
- a **minimum rate** for the body (``download.min_bytes_per_second``, measured over windows of
  ``download.stall_window_seconds`` from the caller's first read): a window in which fewer
  bytes arrive ends the transfer.

Either ends the request with ``DeadlineExceeded``, which the transfer records as a ``stall``,
retried like a timeout and resumed from the bytes already on disk.

How, without a thread per request or a system call per chunk:

- ``Watchdog``: one thread per process, shared by every client; it sleeps while nothing is
  watched. ``watch``, ``start_body`` and ``unwatch`` are a (weak) set insert, an update and a
  removal under its lock.
- The transports call ``attach_connection`` whenever a request uses a connection
  (``direct.DirectTransport`` before each request; ``files.PoolTransport``'s connection classes
  in ``connect()`` and ``request()``: a kept-alive connection is reused without ``connect()``),
  so the watch of the calling thread knows which socket to cut.
- Past a deadline, the watchdog shuts that socket down (``shutdown(SHUT_RDWR)``): a ``recv``
  blocked in the headers or the body returns at once.
- ``WatchedResponse`` counts the body's bytes as the caller reads them (one addition per chunk)
  for the rate, and turns the cut (an early end of file, or whatever error the cut socket
  raised) into ``DeadlineExceeded``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import threading
import time
import weakref
from typing import Any, Callable

__all__ = ["DeadlineExceeded", "Deadlines", "Watch", "Watchdog", "WatchedResponse", "attach_connection", "current",
           "shared_watchdog"]

# A watchdog with nothing to watch for this long stops waking up until the next request.
PARK_AFTER_SECONDS = 5.0

# .watch: the watch of the request the thread is sending (set by FileClient.get), else None.
current = threading.local()


class DeadlineExceeded(Exception):
    """The watchdog cut a request off: no final headers within the request deadline, or a body
    slower than the minimum rate. The message says which, with the numbers and the settings."""


@dataclasses.dataclass(frozen=True)
class Deadlines:
    """How long a file request may take (the ``download.*`` settings of the same names)."""

    request_seconds: float = 300.0
    min_bytes_per_second: int = 1024  # 0: no rate check
    window_seconds: float = 30.0

    @property
    def resolution(self) -> float:
        """How late the watchdog may notice a passed deadline: a tenth of the shortest, at most 1 s."""
        return max(0.01, min(1.0, self.request_seconds / 10, self.window_seconds / 10))


class Watch:
    """One request under watch: its deadline, then its body's bytes, and the connection it uses."""

    __slots__ = ("deadlines", "due", "in_body", "received", "window_start", "window_received", "conn",
                 "reason", "cut", "__weakref__")

    def __init__(self, deadlines: Deadlines, now: float):
        self.deadlines = deadlines
        self.due = now + deadlines.request_seconds
        self.in_body = False
        self.received = self.window_received = 0  # body bytes the caller has read; at the window's start
        self.window_start = now
        self.conn: Any = None           # the connection sending this request (its .sock is cut)
        self.reason: str | None = None  # why the watchdog cut the request; None while within limits
        self.cut: Any = None            # the socket shut down, so it is shut down once


class Watchdog:
    """The thread that cuts off requests past their deadline; see the module docstring."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        # Weak: a response dropped without release_conn() or close() takes its watch (and the
        # connection the watch names) with it, as it did before watches existed.
        self._watches: weakref.WeakSet[Watch] = weakref.WeakSet()
        self._resolution = 1.0
        self._thread: threading.Thread | None = None
        self._parked = False

    def watch(self, deadlines: Deadlines) -> Watch:
        """Start the request deadline of a new request."""
        with self._lock:
            watch = Watch(deadlines, self._clock())
            self._watches.add(watch)
            finer = deadlines.resolution < self._resolution  # the first request of tighter settings
            self._resolution = min(self._resolution, deadlines.resolution)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ratdcs-deadlines", daemon=True)
                self._thread.start()
            elif self._parked or finer:  # rare: not a wake-up per request
                self._parked = False
                self._wake.notify()
        return watch

    @staticmethod
    def headers_in(watch: Watch) -> None:
        """The final headers are in: nothing is watched until the caller starts reading the body.
        (One store, no lock: a pass racing with it finds a deadline that was indeed due.)"""
        watch.due = math.inf

    def start_body(self, watch: Watch) -> None:
        """The caller reads the body: from now on its rate is what is watched. Not at the headers:
        the caller's own work before reading (hashing a partial file to resume) is not the server's."""
        with self._lock:
            now = self._clock()
            watch.in_body, watch.window_start, watch.window_received = True, now, watch.received
            watch.due = now + watch.deadlines.window_seconds if watch.deadlines.min_bytes_per_second else math.inf

    def unwatch(self, watch: Watch) -> None:
        """The request is over (its response released or closed); idempotent."""
        with self._lock:
            self._watches.discard(watch)

    def _run(self) -> None:
        idle_since = self._clock()
        with self._lock:
            while True:
                now = self._clock()
                for watch in self._watches:
                    self._check(watch, now)
                if self._watches:
                    idle_since = now
                self._parked = now - idle_since > PARK_AFTER_SECONDS
                self._wake.wait(None if self._parked else self._resolution)

    def _check(self, watch: Watch, now: float) -> None:
        if watch.reason is None:
            if now < watch.due:
                return
            limits = watch.deadlines
            if not watch.in_body:
                watch.reason = (f"no final answer within the request deadline of {limits.request_seconds:g} s "
                                "(download.request_deadline_seconds): the connection, the status line and "
                                "headers or the redirects came too slowly")
            else:
                elapsed, got = now - watch.window_start, watch.received - watch.window_received
                if got >= limits.min_bytes_per_second * elapsed:
                    watch.window_start, watch.window_received = now, watch.received
                    watch.due = now + limits.window_seconds
                    return
                watch.reason = (f"only {got} bytes of the body came in the last {elapsed:.1f} s ({got / elapsed:.1f} "
                                f"B/s), under the minimum of {limits.min_bytes_per_second} B/s "
                                "(download.min_bytes_per_second, measured over download.stall_window_seconds)")
        # Again at each pass while the request goes on: a redirect hop may have opened another
        # socket, and during a TLS handshake .sock is the plain socket TLS detached (CPython bounds
        # a whole handshake by the socket timeout; the socket it ends with is cut at the next pass).
        sock = getattr(watch.conn, "sock", None)
        if sock is not None and sock is not watch.cut:
            watch.cut = sock
            _shut_down(sock)


def _shut_down(sock) -> None:
    try:
        if isinstance(sock, socket.socket):
            # The plain socket's call: ssl.SSLSocket.shutdown would also drop the TLS state the
            # reading thread is using.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        else:  # urllib3's TLS-in-TLS transport
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed by its owner meanwhile: nothing left to cut


_shared: Watchdog | None = None
_shared_lock = threading.Lock()


def shared_watchdog() -> Watchdog:
    """The process's watchdog (its thread starts with the first request)."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Watchdog()
    return _shared


def _restart_in_child() -> None:
    """A forked child has the watchdog (its clients hold it) but not its thread, and its locks may
    have been held at the fork: start it afresh, the thread again at the child's first request."""
    global _shared_lock
    _shared_lock = threading.Lock()
    if _shared is not None:
        _shared.__init__(clock=_shared._clock)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_in_child)


# ---- the calling thread's request, as the connection classes see it -------------------------------


def attach_connection(conn) -> None:
    """Called by a connection about to be used: it now belongs to the calling thread's watch."""
    watch = getattr(current, "watch", None)
    if watch is not None:
        watch.conn = conn


# ---- the caller's side of the response --------------------------------------------------------------


class WatchedResponse:
    """A final response under watch: reads as the transport's does (``status``, ``reason``,
    ``headers``, ``read1``, ``read``, ``release_conn``, ``close``, the rest passed through),
    counts the body's bytes for the rate, and raises ``DeadlineExceeded`` once cut off."""

    def __init__(self, response, watch: Watch, watchdog: Watchdog):
        self._response, self._watch, self._watchdog = response, watch, watchdog
        self.status, self.reason, self.headers = response.status, response.reason, response.headers
        self._reading = False

    def read1(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        if not self._reading:
            self._start_reading()
        try:
            chunk = self._response.read1(amt, decode_content=decode_content)
        except Exception as exc:
            raise self._cut_off() or exc
        return self._count(chunk)

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        if not self._reading:
            self._start_reading()
        try:
            chunk = self._response.read(amt, decode_content=decode_content)
        except Exception as exc:
            raise self._cut_off() or exc
        return self._count(chunk)

    def release_conn(self) -> None:
        self._watchdog.unwatch(self._watch)
        self._response.release_conn()

    def close(self) -> None:
        self._watchdog.unwatch(self._watch)
        self._response.close()

    def __getattr__(self, name: str):
        return getattr(self._response, name)

    def _start_reading(self) -> None:
        self._reading = True
        self._watchdog.start_body(self._watch)

    def _count(self, chunk: bytes) -> bytes:
        if chunk:
            self._watch.received += len(chunk)
        elif self._watch.reason is not None and getattr(self._response, "length_remaining", None) != 0:
            # An end of file after the cut is the cut, unless every announced byte had arrived.
            raise self._cut_off()
        return chunk

    def _cut_off(self) -> DeadlineExceeded | None:
        reason = self._watch.reason
        return DeadlineExceeded(reason) if reason is not None else None
