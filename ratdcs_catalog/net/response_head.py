"""A response's head (status line and header fields) read without the email package.

http.client hands the header block of every response to ``email.parser``, which builds a MIME
message; each later ``headers.get(name)`` then lowers every field's name again. For a small file
that was the largest single cost of the GET: a sync of 5,000 x 4 KB files spent about a fifth
of its workers' CPU there, about 30 ``str.lower`` calls per lookup and 16 lookups per file
(issue 15, bench/README.md). ``LeanHTTPResponse`` is http.client's response with one change:
``begin()`` reads the fields into ``ResponseHeaders``, a dict by lowered name made once. Its
status line, limits (line length, field count), framing (chunked, Content-Length, HEAD, 1xx,
204, 304) and keep-alive rules are http.client's, line for line, and its fields are the ones the
email package finds, value for value, malformed heads included (a bare CR ending a line, folded
values, a line that is no field): a server cannot make the two disagree on where a body ends.
``tests/test_net_response_head.py`` compares both on the same bytes.
"""

from __future__ import annotations

import http.client
import re
from typing import Iterator

__all__ = ["LeanHTTPResponse", "ResponseHeaders", "read_fields"]

# http.client's limits (the same values in 3.10-3.13), so a hostile head fails the same way.
MAX_LINE = 65536
MAX_FIELDS = 100
# A field name as the email package's header pattern reads one: printable ASCII but ':' and space.
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]*")
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


class ResponseHeaders:
    """Header fields looked up by name in any case: the part of ``http.client.HTTPMessage``'s
    interface that http.client and the file client use (``get`` answers the first field of a
    name, ``get_all`` every one)."""

    __slots__ = ("_fields", "_first")

    def __init__(self, fields: list[tuple[str, str]]):
        self._fields = fields
        first: dict[str, str] = {}
        for name, value in fields:
            first.setdefault(name.lower(), value)
        self._first = first

    def get(self, name: str, failobj=None):
        return self._first.get(name.lower(), failobj)

    def get_all(self, name: str, failobj=None):
        lowered = name.lower()
        values = [value for field, value in self._fields if field.lower() == lowered]
        return values or failobj

    def __getitem__(self, name: str):
        return self._first.get(name.lower())  # as email.message.Message: None when absent

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def keys(self) -> list[str]:
        return [name for name, _ in self._fields]

    def values(self) -> list[str]:
        return [value for _, value in self._fields]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._fields!r})"


def read_fields(fp) -> ResponseHeaders:
    """The header fields up to the empty line that ends them, read from a binary file: the
    lines read and limited as http.client reads them, the fields taken as the email package
    takes them (``_fields``)."""
    lines: list[bytes] = []
    while True:
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_FIELDS:
            raise http.client.HTTPException(f"got more than {MAX_FIELDS} headers")
        if line in (b"\r\n", b"\n", b""):
            return ResponseHeaders(_fields(b"".join(lines).decode("iso-8859-1")))


def _fields(text: str) -> list[tuple[str, str]]:
    """(name, value) pairs of a header block, as ``email.feedparser`` with the compat32 policy
    reads them: lines end at CRLF, CR or LF; the first line that is empty or not a field ends the
    fields; a line starting with white space continues the field before it (its line break kept
    in the value); a "From " line or a field without a name is skipped; a value loses the spaces
    and tabs before it, not the ones after it."""
    fields: list[tuple[str, str]] = []
    continuable = False
    pieces = _LINE_BREAK.split(text)  # line, break, line, break, ..., line
    for at in range(0, len(pieces), 2):
        line = pieces[at]
        if not line:
            break  # the empty line after the fields
        if line[0] in " \t":
            if continuable:
                name, value = fields[-1]
                fields[-1] = (name, value + pieces[at - 1] + line)
            continue
        continuable = False
        if line.startswith("From "):
            continue  # an mbox envelope line, skipped by the email package too
        name, colon, value = line.partition(":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            break  # not a field: the email package takes the rest as the body
        if name:
            fields.append((name, value.lstrip(" \t")))
            continuable = True
    return fields


class LeanHTTPResponse(http.client.HTTPResponse):
    """http.client's response, its head read by ``read_fields`` (set as a connection's
    ``response_class``)."""

    def begin(self):
        if self.headers is not None:
            return  # already begun
        while True:  # skip any 100 Continue, as http.client does
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            read_fields(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = read_fields(self.fp)

        transfer_encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(transfer_encoding and transfer_encoding.lower() == "chunked")
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:  # a negative length is ignored
                    self.length = None
        if (status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200
                or self._method == "HEAD"):
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # no framing: the body ends when the connection does
