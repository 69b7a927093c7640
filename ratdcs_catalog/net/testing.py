"""A transport for tests: answers come from a function, not a server (httpx's ``MockTransport``).

``MockTransport(handler)`` goes wherever a client takes ``transport=``: the file client calls
its ``request``, the catalog client (requests) its ``send``. Either way ``handler`` is called
with a ``Request`` and returns a ``Response``; every request is also kept in ``requests``, so a
test can assert what was sent (headers included) without a socket::

    def handler(request):
        if "Range" in request.headers:
            return Response(200, body=b"SIMPLE  = T")   # a server that ignores Range
        return Response(302, {"Location": "https://cloud.example/f.fits"})

    client = NetworkPolicy().file_client(transport=MockTransport(handler))

A ``Response`` body is bytes, or a list of chunks in which an exception instance is raised
when reached (a connection reset halfway through a body).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

__all__ = ["MockTransport", "Request", "Response"]


@dataclasses.dataclass(frozen=True)
class Request:
    """What a client sent: method, URL and headers (a plain dict, names as sent)."""

    method: str
    url: str
    headers: Mapping[str, str]


class Response:
    """An answer, readable as urllib3's streaming response is (what the file client needs)."""

    def __init__(self, status: int = 200, headers: Mapping[str, str] | None = None,
                 body: bytes | Sequence[bytes | BaseException] = b"", *, reason: str = ""):
        from urllib3 import HTTPHeaderDict

        self.status = status
        self.headers = HTTPHeaderDict(headers or {})
        self.reason = reason or _REASONS.get(status, "")
        self._chunks = [body] if isinstance(body, bytes) else list(body)
        if "Content-Length" not in self.headers and all(isinstance(c, bytes) for c in self._chunks):
            self.headers["Content-Length"] = str(sum(len(c) for c in self._chunks))
        self.closed = self.released = False

    def read1(self, amt: int = -1, decode_content: bool = True) -> bytes:
        while self._chunks:
            chunk = self._chunks[0]
            if isinstance(chunk, BaseException):
                self._chunks.pop(0)
                raise chunk
            if not chunk:
                self._chunks.pop(0)
                continue
            n = len(chunk) if amt is None or amt < 0 else amt
            self._chunks[0] = chunk[n:]
            return chunk[:n]
        return b""

    def read(self, amt: int | None = None, decode_content: bool = True) -> bytes:
        parts = []
        while chunk := self.read1(-1):
            parts.append(chunk)
        return b"".join(parts)

    def drain_conn(self) -> None:
        self._chunks = []

    def release_conn(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


class MockTransport:
    """A transport whose answers come from ``handler(Request) -> Response``."""

    def __init__(self, handler: Callable[[Request], Response]):
        self.handler = handler
        self.requests: list[Request] = []

    def request(self, method: str, url: str, *, headers: Mapping[str, str], timeout: float) -> Response:
        """The file client's side (``net.files`` transports)."""
        sent = Request(method, url, dict(headers))
        self.requests.append(sent)
        return self.handler(sent)

    def send(self, request, **kwargs):
        """The catalog client's side: a requests transport adapter (``Session.mount``)."""
        import requests
        from requests.structures import CaseInsensitiveDict
        from requests.utils import get_encoding_from_headers

        answer = self.request(request.method, request.url, headers=request.headers, timeout=kwargs.get("timeout"))
        response = requests.Response()
        response.status_code, response.reason = answer.status, answer.reason
        response.headers = CaseInsensitiveDict(answer.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        # Read whole, as requests does without stream=True; nothing is left to release.
        response._content, response._content_consumed = answer.read(), True
        response.url, response.request = request.url, request
        return response

    def close(self) -> None:
        pass


_REASONS = {200: "OK", 206: "Partial Content", 301: "Moved Permanently", 302: "Found", 404: "Not Found",
            416: "Range Not Satisfiable", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}
