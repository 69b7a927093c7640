"""The request log: what the sandbox was asked and what it sent, for tests to assert on.

A request is logged after its last byte, so a client can hold a complete answer before the
record exists. ``snapshot()`` therefore waits (briefly) for requests still being answered:
a test that reads the log right after a call sees that call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

SETTLE_SECONDS = 10.0


@dataclass(frozen=True)
class RequestRecord:
    """One answered request. ``bytes_sent`` counts body bytes actually written."""

    method: str
    path: str
    query: str
    status: int
    bytes_sent: int
    range_header: str | None
    fault: str | None
    service: str = ""       # MAST service, ADQL table or file kind the request asked for
    if_range: str | None = None  # the request's If-Range header, if any
    # time.monotonic() of the server when the request was read and when its answer was written:
    # how many requests were in flight at once (politeness across workers, issue 17).
    started_at: float = 0.0
    ended_at: float = 0.0
    client_port: int = 0  # the client's port: one per TCP connection (connections a client opened)


class RequestLog:
    """Thread-safe list of RequestRecord with a count of requests still in flight."""

    def __init__(self):
        self._cond = threading.Condition()
        self._records: list[RequestRecord] = []
        self._in_flight = 0

    def begin(self) -> None:
        with self._cond:
            self._in_flight += 1

    def end(self, record: RequestRecord | None) -> None:
        with self._cond:
            self._in_flight -= 1
            if record is not None:
                self._records.append(record)
            self._cond.notify_all()

    def add(self, record: RequestRecord) -> None:
        with self._cond:
            self._records.append(record)

    def snapshot(self, settle_seconds: float = SETTLE_SECONDS) -> list[RequestRecord]:
        """A copy of the log in the order the requests arrived, after requests in flight finish
        (or settle_seconds pass).

        A record is appended when its answer ends, and a client that has read one answer may
        send its next request, to another handler thread, before the first thread gets there:
        so the list is sorted by arrival (``started_at``), not by when the records landed."""
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight == 0, timeout=settle_seconds)
            return sorted(self._records, key=lambda record: record.started_at)

    def clear(self, settle_seconds: float = SETTLE_SECONDS) -> None:
        """Forget every record, after requests in flight finish (so none lands afterwards)."""
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight == 0, timeout=settle_seconds)
            self._records.clear()
