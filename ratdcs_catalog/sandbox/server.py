"""The HTTP side: routing, Range, faults, and the request log, on a threaded server.

Per request: read it, pick the fault (if any) for its match text, route it to an endpoint
(MAST, TAP, IBE, static files), then write the reply through the fault: a status fault
replaces the reply, a body fault changes how the bytes go out.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import struct
import time
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, unquote_plus, urlsplit

from . import faults as faultmod
from .mast import envelope
from .network import RateClock
from .reply import Reply, json_reply, text_reply
from .requestlog import RequestRecord

CHUNK = 1024 * 1024
LOOP_MARK = "_sandbox_loop"
FILE_FAULTS = faultmod.STATUS_KINDS + faultmod.BODY_KINDS + ("html_200", "redirect_loop")
CATALOG_FAULTS = FILE_FAULTS + ("bad_json",)
MAST_FAULTS = CATALOG_FAULTS + ("mast_executing", "mast_error")
HTML_ERROR = (b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\n"
              b"<body><h1>Service Unavailable</h1><p>The server is temporarily unable to "
              b"service your request. Please try again later.</p></body></html>\n")


class ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        """Clients that hang up (or our own "reset" fault) are normal here, not errors."""
        import sys

        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    """One connection; ``server.sandbox`` is the owning Sandbox."""

    protocol_version = "HTTP/1.1"
    server_version = "ratdcs-sandbox/1"

    def log_message(self, format, *args):  # noqa: A002 - silence stderr logging
        return

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass  # the connection was reset on purpose (fault "reset") or by the client

    # ----------------------------------------------------------------- request
    def _handle(self):
        sandbox = self.server.sandbox
        sandbox._log.begin()
        self._record = None
        self._started_at = time.monotonic()
        client = self.client_address[0]
        admitted = sandbox._connections.enter(client)
        try:
            self._answer(admitted)
        finally:
            if admitted:
                sandbox._connections.leave(client)
            sandbox._log.end(self._record)

    def _answer(self, admitted: bool = True):
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        path, query = split.path, split.query
        body = self._read_body()
        form = self._form(body)
        match_text = f"{path}?{query}" + (f"&{unquote_plus(body.decode('latin-1'))}" if form else "")
        self._sent = 0
        self._status = 0
        self._fault_name = None
        # The network profile (network.py): one round trip before any answer, two on a new connection.
        sandbox.network.wait_first_byte(new_connection=not getattr(self, "_answered", False))
        self._answered = True
        if not admitted:
            self._fault_name = "connection_limit"
            self._over_limit()
            return self._log(path, query, "")
        if LOOP_MARK in query:  # once in a redirect loop, never out of it
            self._fault_name = "redirect_loop"
            self._redirect(self._loop_location(path, query))
            return self._log(path, query, "")
        try:
            reply = sandbox._route(self.command, path, query, form, match_text)
        except Exception as err:  # a sandbox bug: answer 500 and say what, never hang up
            reply = text_reply(f"sandbox internal error: {type(err).__name__}: {err}\n", status=500)
        allowed = self._allowed(reply)
        fault = sandbox._faults.choose(match_text, allowed)
        self._fault_name = fault.kind if fault else ("replace" if reply.version else None)
        try:
            self._respond(reply, fault, path, query)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        self._log(path, query, reply.service)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _form(self, body: bytes) -> dict:
        content_type = self.headers.get("Content-Type", "")
        if self.command == "POST" and body and "multipart" not in content_type:
            return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {}

    @staticmethod
    def _allowed(reply: Reply):
        if reply.status == 404:
            return faultmod.STATUS_KINDS
        if reply.is_mast_json:
            return MAST_FAULTS
        return CATALOG_FAULTS if reply.is_json else FILE_FAULTS + tuple(reply.variants)

    def _log(self, path: str, query: str, service: str):
        self._record = (RequestRecord(
            method=self.command, path=path, query=query, status=self._status,
            bytes_sent=self._sent, range_header=self.headers.get("Range"),
            fault=self._fault_name, service=service, if_range=self.headers.get("If-Range"),
            started_at=self._started_at, ended_at=time.monotonic(), client_port=self.client_address[1]))

    # ----------------------------------------------------------------- response
    def _respond(self, reply: Reply, fault, path: str, query: str):
        kind = fault.kind if fault else None
        if kind in faultmod.STATUS_KINDS:
            return self._status_fault(fault)
        if kind == "html_200":
            return self._send(Reply(status=200, content_type="text/html; charset=utf-8",
                                    body_bytes=HTML_ERROR), None)
        if kind == "redirect_loop":
            return self._redirect(self._loop_location(path, query))
        if kind in ("mast_executing", "mast_error", "bad_json"):
            return self._send(_service_fault(fault), None)
        if kind in reply.variants:  # a hostile zip, served as any file (Range included), or an S3 error
            made = reply.variants[kind]()
            if isinstance(made, Reply):
                return self._send(made, None)
            hostile = dataclasses.replace(reply, body_bytes=made, build=None, size=None)
            return self._send(hostile, None)
        if reply.status in (301, 302, 303, 307):
            return self._redirect(reply.headers["Location"])
        return self._send(reply, fault)

    def _status_fault(self, fault):
        status = int(fault.kind)
        headers = {}
        retry_after = fault.param("retry_after", 1 if status == 429 else None)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        reply = text_reply(f"{status} {http.server.BaseHTTPRequestHandler.responses[status][0]}"
                           " (sandbox fault)\n", status=status)
        reply.headers = headers
        self._send(reply, None)

    def _over_limit(self):
        """More requests at once from this client than the profile allows: 503, Retry-After, close."""
        network = self.server.sandbox.network
        reply = text_reply(f"503 Service Unavailable (more than {network.max_connections_per_client} "
                           "connections at once from your address)\n", status=503)
        reply.headers = {"Retry-After": str(network.retry_after_seconds), "Connection": "close"}
        self.close_connection = True
        self._send(reply, None)

    def _loop_location(self, path: str, query: str) -> str:
        params = parse_qs(query, keep_blank_values=True)
        hop = int((params.pop(LOOP_MARK, ["0"]))[0]) + 1
        rest = "&".join(f"{k}={v}" for k in params for v in params[k])
        return f"{path}?{rest + '&' if rest else ''}{LOOP_MARK}={hop}"

    def _redirect(self, location: str):
        self._status = 302
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, reply: Reply, fault):
        """Write status, headers and (for GET/POST) the body, shaped by a body fault."""
        kind = fault.kind if fault else None
        status, body, headers = self._ranged(reply, kind)
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", reply.content_type)
        if reply.is_file:
            self.send_header("Accept-Ranges", "bytes")
        for key, value in headers.items():
            self.send_header(key, value)
        if kind == "no_content_length":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self._write_body(body, fault)

    def _ranged(self, reply: Reply, kind):
        """(status, body, extra headers): a 206 slice when a file is asked for a range."""
        range_header = self.headers.get("Range")
        headers = dict(reply.headers)
        if not reply.is_file or reply.status != 200:
            return reply.status, reply.body, headers
        if self.command == "HEAD" and reply.size is not None:
            return 200, _Sized(reply.size), headers
        body = reply.body
        if not range_header or kind == "ignore_range":
            return 200, body, headers
        if_range = self.headers.get("If-Range")
        if if_range is not None and not if_range_matches(if_range, headers):
            return 200, body, headers  # RFC 9110 13.1.5: the file changed, so the whole new one
        span = parse_range(range_header, len(body))
        if span is None:
            return 200, body, headers
        if span == "unsatisfiable":
            headers["Content-Range"] = f"bytes */{len(body)}"
            return 416, b"", headers
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
        return 206, memoryview(body)[start:end + 1], headers

    def _write_body(self, body, fault):
        kind = fault.kind if fault else None
        view = memoryview(body)
        if kind == "flip_bytes":
            view = memoryview(_flip(bytes(view), int(fault.param("n_bytes", 4))))
        if kind in ("reset", "short_body"):
            self._write(view[:faultmod.cut_position(fault, len(view))])
            self.wfile.flush()
            self.close_connection = True
            if kind == "reset":
                self._reset()
            return
        if kind == "stall":
            cut = faultmod.cut_position(fault, len(view)) if "cut_at" in fault.params else len(view) // 2
            self._write(view[:cut])
            self.wfile.flush()
            time.sleep(float(fault.param("stall_seconds", 2)))
            view = view[cut:]
        if kind == "slow":
            return self._write_slowly(view, float(fault.param("bytes_per_second", 200_000)))
        self._write(view)

    def _write(self, view):
        network = self.server.sandbox.network
        if network.bandwidth_bytes_per_second:  # the profile's per-connection rate cap
            clock, step = RateClock(network.bandwidth_bytes_per_second), network.slice_bytes()
        else:
            clock, step = None, CHUNK
        for start in range(0, len(view), step):
            piece = view[start:start + step]
            self.wfile.write(piece)
            self._sent += len(piece)
            if clock is not None:
                clock.after(len(piece))

    def _write_slowly(self, view, rate: float):
        step = max(1, int(rate / 20))
        for start in range(0, len(view), step):
            piece = view[start:start + step]
            self.wfile.write(piece)
            self._sent += len(piece)
            time.sleep(len(piece) / rate)

    def _reset(self):
        """Close with a TCP RST (SO_LINGER 0), as a dropped connection looks to a client."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class _Sized(bytes):
    """An empty body that reports the file's size, for HEAD (no need to build the file)."""

    def __new__(cls, size: int):
        obj = super().__new__(cls, b"")
        obj.size = size
        return obj

    def __len__(self):
        return self.size


def parse_range(header: str, length: int):
    """(start, end) inclusive for one ``bytes=`` range, "unsatisfiable", or None to ignore."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first:
            count = int(last)
            return (max(0, length - count), length - 1) if count > 0 and length else "unsatisfiable"
        start = int(first)
        end = int(last) if last else length - 1
    except ValueError:
        return None
    if start >= length or end < start:
        return "unsatisfiable"
    return start, min(end, length - 1)


def if_range_matches(value: str, headers: dict) -> bool:
    """Whether an If-Range validator is the file's current one: a strong ETag, equal, or an
    HTTP date equal to Last-Modified (RFC 9110 13.1.5; a weak ETag or a bad date never matches)."""
    value = value.strip()
    if value.startswith("W/"):
        return False
    if value.startswith('"'):
        return value == headers.get("ETag")
    try:
        return parsedate_to_datetime(value) == parsedate_to_datetime(headers.get("Last-Modified", ""))
    except (TypeError, ValueError, IndexError):
        return False


def _flip(body: bytes, n_bytes: int) -> bytes:
    """Invert n bytes spread over the body (same length, different content)."""
    if not body:
        return body
    data = bytearray(body)
    for i in range(n_bytes):
        at = (len(data) * (2 * i + 1)) // (2 * n_bytes)
        data[min(at, len(data) - 1)] ^= 0xFF
    return bytes(data)


def _service_fault(fault) -> Reply:
    """MAST-level answers: EXECUTING, ERROR with a message, or a truncated JSON body."""
    if fault.kind == "mast_executing":
        return json_reply(envelope("EXECUTING"))
    if fault.kind == "mast_error":
        return json_reply(envelope("ERROR", fault.param("msg", "Error converting data type varchar to bigint.")))
    text = json.dumps({"status": "COMPLETE", "msg": "", "data": [{"obsid": "1"}]})
    return Reply(status=200, content_type="application/json; charset=utf-8",
                 body_bytes=text[: len(text) // 2].encode())
