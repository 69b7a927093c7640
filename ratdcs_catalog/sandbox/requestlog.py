"""The request log: what the sandbox was asked and what it sent, for tests to assert on."""

from __future__ import annotations

import threading
from dataclasses import dataclass


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
    service: str = ""       # MAST service or ADQL table the request asked for, if any


class RequestLog:
    """Thread-safe list of RequestRecord; ``snapshot()`` returns a copy."""

    def __init__(self):
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
