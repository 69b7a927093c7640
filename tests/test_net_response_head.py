"""net.response_head: the lean response reads a head as http.client does, on the same bytes."""

import http.client
import io

import pytest

from ratdcs_catalog.net.response_head import LeanHTTPResponse, ResponseHeaders, read_fields


class _BytesSocket:
    """What HTTPResponse needs of a socket: a binary file over the bytes the server sent."""

    def __init__(self, data: bytes):
        self._data = data

    def makefile(self, mode):
        return io.BytesIO(self._data)


def _both(raw: bytes, method: str = "GET"):
    stdlib = http.client.HTTPResponse(_BytesSocket(raw), method=method)
    lean = LeanHTTPResponse(_BytesSocket(raw), method=method)
    stdlib.begin()
    lean.begin()
    return stdlib, lean


HEADS = {
    "plain": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/fits\r\n\r\nhello",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 99\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
    "no length": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    "http/1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "http/1.0 keep-alive": b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi",
    "http/1.0 keep-alive field": b"HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nhi",
    "continue first": b"HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\nHTTP/1.1 206 Partial Content\r\n"
                      b"Content-Range: bytes 2-3/10\r\nContent-Length: 2\r\n\r\nhi",
    "no content": b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
    "not modified": b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
    "negative length": b"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\nbody",
    "bad length": b"HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\nbody",
    "repeated field": b"HTTP/1.1 302 Found\r\nLocation: /a\r\nlocation: /b\r\nContent-Length: 0\r\n\r\n",
    "no reason": b"HTTP/1.1 503\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
    "odd case and spaces": b"HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh:   3\r\nX-Checksum-Sha256:\tab12\r\n\r\nabc",
    "bare newlines": b"HTTP/1.1 200 OK\nContent-Length: 3\n\nabc",
    "not a field ends them": b"HTTP/1.1 200 OK\r\nX-A: 1\r\nnot a field\r\nContent-Length: 3\r\n\r\nabc",
    # Malformed heads a hostile server could send: both readers must agree on where the body ends.
    "chunked and a space": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \r\nContent-Length: 3\r\n\r\nabc",
    "chunked and a tab, no length": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "bare CR ends a line": b"HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 3\r\n\r\nabcdef",
    "a From line": b"HTTP/1.1 200 OK\r\nX-A: 1\r\nFrom somebody\r\nContent-Length: 3\r\n\r\nabcdef",
    "folded, empty first line": b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc",
    "folded values": b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\n\tc\r\nContent-Length: 3\r\n\r\nabc",
    "no name, then a continuation": b"HTTP/1.1 200 OK\r\n: nameless\r\n more\r\nContent-Length: 3\r\n\r\nabc",
    "a continuation first": b"HTTP/1.1 200 OK\r\n  lost\r\nContent-Length: 3\r\n\r\nabc",
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_the_lean_response_frames_and_keeps_alive_as_http_client_does(name):
    stdlib, lean = _both(HEADS[name])
    for attribute in ("status", "reason", "version", "chunked", "length", "will_close"):
        assert getattr(lean, attribute) == getattr(stdlib, attribute), attribute
    assert lean.read() == stdlib.read()
    for field in set(stdlib.headers.keys()) | {"content-length", "CONTENT-TYPE", "location", "absent"}:
        assert lean.headers.get(field) == stdlib.headers.get(field), field
        assert lean.getheader(field) == stdlib.getheader(field), field
        assert (field in lean.headers) == (field in stdlib.headers), field
    assert lean.headers.items() == stdlib.headers.items()


def test_a_head_request_has_no_body_whatever_its_length():
    stdlib, lean = _both(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", method="HEAD")
    assert (lean.length, lean.will_close) == (stdlib.length, stdlib.will_close) == (0, False)


def test_folded_fields_keep_their_line_breaks_as_the_email_package_does():
    headers = read_fields(io.BytesIO(b"X-Long: first\r\n  second part\r\n\tthird\r\nX-B: 2 \r\n\r\n"))
    assert headers.get("x-long") == "first\r\n  second part\r\n\tthird"
    assert headers.get("X-B") == "2 "  # spaces after a value are kept, as compat32 keeps them


def test_hostile_heads_fail_as_http_client_fails():
    too_long = b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 70000 + b"\r\n\r\n"
    too_many = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n"
    for raw, error in ((too_long, http.client.LineTooLong), (too_many, http.client.HTTPException)):
        with pytest.raises(error):
            LeanHTTPResponse(_BytesSocket(raw)).begin()
        with pytest.raises(error):
            http.client.HTTPResponse(_BytesSocket(raw)).begin()
    with pytest.raises(http.client.UnknownProtocol):
        LeanHTTPResponse(_BytesSocket(b"HTTP/2.0 200 OK\r\n\r\n")).begin()
    with pytest.raises(http.client.RemoteDisconnected):
        LeanHTTPResponse(_BytesSocket(b"")).begin()


def test_response_headers_answer_as_a_message_does():
    headers = ResponseHeaders([("Content-Length", "3"), ("Set-Cookie", "a"), ("set-cookie", "b")])
    assert headers["content-length"] == "3" and headers["missing"] is None
    assert headers.get_all("SET-COOKIE") == ["a", "b"] and headers.get_all("x", []) == []
    assert list(headers) == ["Content-Length", "Set-Cookie", "set-cookie"] and len(headers) == 3
    assert headers.values() == ["3", "a", "b"] and 42 not in headers
