"""Generated file bodies, built once and kept: a bounded in-memory LRU plus an optional folder.

Building a full-scale ZTF image takes a fraction of a second and 38 MB; tests ask for the
same few files many times (resume, retries), so bodies are kept. Concurrent requests for
the same file wait for one build instead of building it twice.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable


class BodyStore:
    """Keeps file bodies by name, in memory (up to ``max_bytes``) and optionally on disk."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024, cache_dir: str | os.PathLike | None = None):
        self.max_bytes = max_bytes
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}

    def get(self, key: str, build: Callable[[], bytes]) -> bytes:
        """The body stored under key, building (and storing) it on first use."""
        body = self._lookup(key)
        if body is not None:
            return body
        with self._builder_lock(key):
            body = self._lookup(key) or self._read_disk(key)
            if body is None:
                body = build()
                self._write_disk(key, body)
            self._remember(key, body)
            return body

    def _builder_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._building.setdefault(key, threading.Lock())

    def _lookup(self, key: str) -> bytes | None:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def _remember(self, key: str, body: bytes) -> None:
        with self._lock:
            if key not in self._bodies:
                self._bodies[key] = body
                self._held += len(body)
            while self._held > self.max_bytes and len(self._bodies) > 1:
                _, old = self._bodies.popitem(last=False)
                self._held -= len(old)

    def _disk_path(self, key: str) -> Path | None:
        return self.cache_dir / key if self.cache_dir else None

    def _read_disk(self, key: str) -> bytes | None:
        path = self._disk_path(key)
        if path is None or not path.is_file():
            return None
        return path.read_bytes()

    def _write_disk(self, key: str, body: bytes) -> None:
        """Write via a temporary file and rename, so a crash never leaves half a file."""
        path = self._disk_path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.replace(tmp, path)
