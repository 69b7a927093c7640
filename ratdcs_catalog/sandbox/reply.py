"""What an endpoint answers, before faults and transport: status, headers, body."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Reply:
    """An answer. File replies build their body lazily (``build``) and honour Range."""

    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    body_bytes: bytes | None = None
    build: Callable[[], bytes] | None = None
    headers: dict = field(default_factory=dict)
    service: str = ""
    is_file: bool = False
    is_mast_json: bool = False
    size: int | None = None      # a file's length, known without building it (for HEAD)
    version: int = 0             # a file's version (1 once a "replace" fault changed it)
    variants: dict = field(default_factory=dict)  # hostile bodies by fault kind (zip_slip, zip_many)

    @property
    def body(self) -> bytes:
        if self.body_bytes is None:
            self.body_bytes = self.build() if self.build else b""
        return self.body_bytes

    @property
    def is_json(self) -> bool:
        return self.content_type.startswith("application/json")


def json_reply(obj, status: int = 200, service: str = "", mast: bool = False) -> Reply:
    return Reply(status=status, content_type="application/json; charset=utf-8",
                 body_bytes=json.dumps(obj, allow_nan=False).encode(), service=service,
                 is_mast_json=mast)


def text_reply(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8",
               service: str = "") -> Reply:
    return Reply(status=status, content_type=content_type, body_bytes=text.encode(),
                 service=service)


def not_found(what: str) -> Reply:
    return text_reply(f"404 Not Found: {what} is not in the sandbox universe\n", status=404)
