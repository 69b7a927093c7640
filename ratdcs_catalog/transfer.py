"""One file over HTTP: temporary file, Range resume, streaming hash, retries, host politeness.

``Fetcher.fetch(url, temp_path)`` leaves ``temp_path`` holding the complete body (fsynced unless
``TransferOptions.fsync`` is off), or a partial one to resume later, and reports what happened,
one ``TransferRecord`` per HTTP attempt. It never touches a final destination: placing the file after verification is ``sync``'s job.

Rules forced by what archives and users' tools do (docs/archive-facts.md sections 1 and 5):

- A partial file is resumed with ``Range: bytes=<n>-`` and extended only by a ``206`` whose
  ``Content-Range`` starts at ``n``. A ``200`` means the server ignored the Range: start over,
  never append (astroquery appended whole bodies to partial files).
- 5xx, connection resets, short bodies and timeouts are retried after the network policy's
  back-off (lightkurve gave up on the first 502/503). ``429``/``503`` with ``Retry-After``
  pause the whole host for every worker, not just the one that saw it.
- A 200 answer that is an HTML page (the policy's ``looks_like_html``) is an error page, not
  the file (MAST answers maintenance windows that way); its bytes are never written.
- Per host: at most ``per_host_connections`` requests at once and, optionally, a request rate
  cap (ztfquery users were refused with too many parallel requests; a tool was pulled for
  "hammering MAST").
- A MAST token goes to MAST hosts only, as the ``mast_token`` cookie, and never into a log;
  ``net.files.FileClient`` asks the policy per redirect hop, so a redirect to the public cloud
  copy does not carry it.

Failures are returned as data (``error_kind`` names the fault); a full disk is returned as
outcome ``disk_full`` so the caller can stop the whole run.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import errno
import hashlib
import logging
import os
import random
import sys
import threading
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

from .net.deadline import DeadlineExceeded
from .net.direct import ConnectFailed
from .net.files import FileClient, RedirectRefused, TooManyRedirects
from .net.gates import HostGates
from .net.policy import looks_like_html, retry_after_seconds
from .partials import forget_validator, load_validator, open_for_writing, save_validator, validator_of, write_through
from .records import TransferRecord, utc_now

__all__ = ["FetchResult", "Fetcher", "TransferOptions"]

log = logging.getLogger("ratdcs.transfer")

# Bodies announced at this size or less are kept in memory while written, for verify to check.
# Not more: keeping and joining larger bodies cost more (fresh buffers, page faults) than the
# page cache's read-back; on set (a), 400 x 500 KB, 1 MiB took 1.61 s and 64 KiB 1.43 s.
IN_MEMORY_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True)
class TransferOptions:
    """The download.* settings one transfer needs (the back-off between retries is the client's
    network policy's)."""

    chunk_size: int = 1 << 20
    timeout_seconds: float = 60.0
    max_retries: int = 3
    hash_md5: bool = False
    fsync: bool = True  # False: the caller makes the file durable (sync's group commit, a batch at once)

    @classmethod
    def from_config(cls, config: Mapping) -> "TransferOptions":
        return cls(chunk_size=config["download.chunk_size"], timeout_seconds=config["download.timeout_seconds"],
                   max_retries=config["download.max_retries"], hash_md5=config["download.hash_md5"])


# ---- one file ----------------------------------------------------------------------------------


@dataclasses.dataclass
class FetchResult:
    """The end of one fetch: outcome done/failed/interrupted/disk_full and what is in the temp file."""

    outcome: str
    size: int = 0
    hashes: dict[str, str] = dataclasses.field(default_factory=dict)
    announced_checksum: str | None = None  # from Digest / Repr-Digest / Content-MD5
    checksum_source: str | None = None     # who announced it, when a caller says (cloud.py: s3_etag)
    etag: str | None = None                # the last answer's ETag (the cloud copy's is its MD5)
    announced_size: int | None = None      # from Content-Length or Content-Range
    bytes_received: int = 0                # over the network, all attempts
    http_status: int | None = None
    error_kind: str | None = None
    error: str | None = None
    records: list[TransferRecord] = dataclasses.field(default_factory=list)
    # The whole body, kept when it was announced at no more than IN_MEMORY_BYTES and came from
    # byte 0: verify checks these bytes instead of reading the .part back (see _get).
    body: bytes | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass
class _Attempt:
    """One HTTP attempt: 'done', 'retry', 'failed', 'interrupted' or 'disk_full'."""

    outcome: str
    status: int | None = None
    range_start: int | None = None
    received: int = 0
    error_kind: str | None = None
    error: str | None = None
    retry_after: float | None = None
    restart: bool = False  # discard the partial file before the next attempt


class _AttemptFailed(Exception):
    def __init__(self, outcome: str, kind: str, message: str, *, retry_after: float | None = None,
                 restart: bool = False):
        super().__init__(message)
        self.outcome, self.kind, self.message = outcome, kind, message
        self.retry_after, self.restart = retry_after, restart


class Fetcher:
    """Fetches files for one worker thread (one client, so connections are reused)."""

    def __init__(self, client: FileClient, gates: HostGates, options: TransferOptions, *,
                 stop: threading.Event | None = None, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None, on_bytes: Callable[[int], None] | None = None,
                 on_size: Callable[[int], None] | None = None):
        self.client, self.gates, self.options = client, gates, options
        self.stop = stop or threading.Event()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.on_bytes = on_bytes or (lambda n: None)
        # Told once per file planned without a size (ZTF), when the archive first announces it, so a
        # progress bar's total grows before the bytes arrive (issue 19).
        self.on_size = on_size or (lambda n: None)
        self._size_told = True

    def fetch(self, url: str, temp_path: Path, *, expected_size: int | None = None,
              want_md5: bool = False, fd: int | None = None) -> FetchResult:
        """Bring ``temp_path`` to the complete body of ``url``, resuming what is already there.

        ``fd``: a read-write descriptor of ``temp_path`` the caller holds (sync's lock on the
        .part): written through, so the file is not opened a second time per attempt."""
        result = FetchResult(outcome="failed")
        self._size_told = expected_size is not None
        want = ("sha256", "md5") if (want_md5 or self.options.hash_md5) else ("sha256",)
        attempt, last = _Attempt("failed"), False
        for retry in range(self.options.max_retries + 1):
            if retry and not self._wait_before_retry(retry, attempt):
                attempt = _Attempt("interrupted", error_kind="interrupted", error="stopped while waiting to retry")
                result.records.append(_transfer_record(attempt, utc_now(), url))
                break
            started = utc_now()
            attempt = self._attempt(url, temp_path, expected_size, want, result, fd)
            result.bytes_received += attempt.received
            last = attempt.outcome == "retry" and retry == self.options.max_retries
            if last:
                attempt.outcome = "failed"
            result.records.append(_transfer_record(attempt, started, url))
            _log_attempt(url, attempt, retry)
            if attempt.outcome != "retry":
                break
        result.outcome, result.http_status = attempt.outcome, attempt.status
        if attempt.outcome != "done":
            result.error_kind, result.error = attempt.error_kind, attempt.error
        if attempt.outcome == "failed" and last:
            result.error = f"{attempt.error} (gave up after {self.options.max_retries + 1} attempts)"
        return result

    def _wait_before_retry(self, retry: int, previous: _Attempt) -> bool:
        """Back off before a retry (a Retry-After pause is already on the host gate); False if stopped."""
        # A restart after a bad Range answer needs no pause, but an HTML page sent as 200 is an
        # error or maintenance page: asking again at once would hammer a host that is already down.
        if previous.retry_after is None and (not previous.restart or previous.error_kind == "html_body"):
            delay = self.client.policy.back_off_seconds(retry, self.rng)
            if self.sleep is None:
                self.stop.wait(delay)  # wakes at once on Ctrl-C
            else:
                self.sleep(delay)
        return not self.stop.is_set()

    # ---- one attempt ---------------------------------------------------------------------

    def _attempt(self, url: str, temp: Path, expected_size: int | None, want: tuple[str, ...],
                 result: FetchResult, fd: int | None = None) -> _Attempt:
        offset = _partial_size(temp, expected_size, fd)
        if expected_size and offset == expected_size:
            # A complete body from an earlier process (killed between fsync and rename).
            result.size, result.hashes = offset, _hash_existing(temp, want, offset)
            return _Attempt("done", received=0, error_kind="resumed_complete",
                            error="the temporary file already held every byte; no request sent")
        attempt = _Attempt("done", range_start=offset or None)
        try:
            with self.gates.for_url(url).slot(self.stop) as allowed:
                if not allowed:
                    raise _AttemptFailed("interrupted", "interrupted", "stopped before the request was sent")
                self._get(url, temp, offset, want, attempt, result, expected_size, fd)
        except _AttemptFailed as failed:
            attempt.outcome, attempt.error_kind, attempt.error = failed.outcome, failed.kind, failed.message
            attempt.retry_after, attempt.restart = failed.retry_after, failed.restart
            if failed.restart:
                _discard(temp, fd)
        except Exception as exc:  # urllib3 and the socket raise many types; each is named by _classify
            attempt.error_kind, attempt.error = _classify(exc, attempt.received)
            # An untrusted certificate stays untrusted: asking again would only repeat it.
            attempt.outcome = "failed" if attempt.error_kind == "tls_untrusted" else "retry"
        return attempt

    def _get(self, url: str, temp: Path, offset: int, want: tuple[str, ...], attempt: _Attempt,
             result: FetchResult, expected_size: int | None = None, fd: int | None = None) -> None:
        # Range offsets count bytes of the encoded body: resuming a gzip-encoded transfer at the
        # offset of the decoded bytes on disk would splice garbage. Ask for the file as stored.
        headers = {"Accept-Encoding": "identity"}
        result.body, asked_from = None, offset
        sent = load_validator(temp) if offset else None
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if sent:
                # Only if the archive still serves the version the partial file holds; otherwise
                # it answers 200 with the whole new file, and two versions are never spliced.
                headers["If-Range"] = sent
        try:
            response = self.client.get(url, headers=headers, timeout=self.options.timeout_seconds)
        except TooManyRedirects:
            raise _AttemptFailed("retry", "redirect_loop", f"{url} redirected more than "
                                 f"{self.client.max_redirects} times (a redirect loop)") from None
        except RedirectRefused as exc:
            # Asking again gets the same answer; the archive has to fix its link.
            raise _AttemptFailed("failed", "redirect_refused", f"{url} {exc}") from None
        complete = False
        try:
            attempt.status = response.status
            offset = self._check_response(url, response, offset, attempt, sent)
            result.announced_checksum = announced_checksum(response.headers) or result.announced_checksum
            result.etag = response.headers.get("ETag") or result.etag
            result.announced_size = _announced_size(response, offset) or result.announced_size
            _check_planned_size(url, result.announced_size, expected_size)
            if not self._size_told and result.announced_size:
                self._size_told = True
                self.on_size(result.announced_size)
            if not offset and (result.announced_size is None or result.announced_size > self.options.chunk_size):
                # The bytes now written are this version's: a resume (in a later sync too) asks
                # for it. A body of one chunk or less is written in one go, so it is not recorded.
                save_validator(temp, validator_of(response.headers))
            hashers = {name: hashlib.new(name) for name in want}
            cap = _SizeCap.choose(expected_size, result.announced_size, url)
            if offset:
                _feed_existing(temp, hashers, offset, cap)
            # A small body is kept as it is written: reading 5,000 small files back for their
            # FITS checks cost 8 system calls each (open, fstat, seeks, reads, close), and a
            # verified copy in memory is the same bytes the page cache would give back.
            kept = [] if not offset and (result.announced_size or IN_MEMORY_BYTES + 1) <= IN_MEMORY_BYTES else None
            # The partial file ends at the offset asked for, unless the answer restarts it at 0.
            self._stream(response, temp, offset, hashers, attempt, cap, fd, kept, cut=offset != asked_from)
            size = offset + attempt.received
            _check_complete(url, size, result.announced_size)
            complete = True
            if kept is not None:
                result.body = kept[0] if len(kept) == 1 else b"".join(kept)
        finally:
            # A connection is reused only after its whole body was read; any other end closes it.
            if complete:
                response.release_conn()
            else:
                response.close()
        result.size, result.hashes = size, {name: h.hexdigest() for name, h in hashers.items()}

    def _check_response(self, url: str, response, offset: int, attempt: _Attempt, sent: str | None = None) -> int:
        """Raise for answers that are not the file; return the offset the body starts at."""
        status = response.status
        if status in (429, 503):
            retry_after = retry_after_seconds(response.headers)
            if retry_after is not None:
                self.gates.for_url(url).pause(retry_after)
            wait = f"; the host is paused for {retry_after:g} s (Retry-After)" if retry_after is not None else ""
            raise _AttemptFailed("retry", f"http_{status}", f"HTTP {status} {response.reason} from "
                                 f"{urlsplit(url).hostname}{wait}", retry_after=retry_after)
        if status >= 500:
            raise _AttemptFailed("retry", "http_5xx", f"HTTP {status} {response.reason} from {urlsplit(url).hostname}")
        if status == 416:
            raise _AttemptFailed("retry", "range_not_satisfiable", f"HTTP 416 for Range bytes={offset}-: "
                                 "the partial file is discarded and the download starts over", restart=True)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if status in (200, 206) and encoding not in ("", "identity"):
            # Asked for the file as stored (identity): a compressed answer cannot be resumed by byte
            # offset and may be a decompression bomb, so it is refused, not decoded.
            raise _AttemptFailed("failed", "content_encoding", f"{urlsplit(url).hostname} answered with "
                                 f"Content-Encoding: {encoding[:40]} although the file was asked for as stored "
                                 "(Accept-Encoding: identity); nothing was written")
        if status not in (200, 206):
            hint = " (proprietary data needs a MAST token: see auth.mast_token_env)" if status in (401, 403) else ""
            raise _AttemptFailed("failed", f"http_{status}", f"HTTP {status} {response.reason} for {url}{hint}")
        if looks_like_html(b"", response.headers.get("Content-Type", "")):
            raise _AttemptFailed("retry", "html_body", f"HTTP {status} from {urlsplit(url).hostname} carried an "
                                 "HTML page instead of the file (an error or maintenance page); nothing was written")
        return self._check_range(response, offset, attempt, sent)

    @staticmethod
    def _check_range(response, offset: int, attempt: _Attempt, sent: str | None = None) -> int:
        if not offset:
            return 0
        now = validator_of(response.headers)
        changed = bool(sent and now and now != sent)
        if response.status == 200:
            # The server ignored Range, or the file changed (If-Range): start over, never append.
            if changed:
                attempt.error_kind = "changed_upstream"
                attempt.error = (f"the archive's file changed since the partial download (validator {sent} is now "
                                 f"{now}): it sent the new version whole (HTTP 200); started over, the old "
                                 f"{offset} bytes discarded")
            else:
                attempt.error_kind = "range_ignored"
                attempt.error = f"asked for bytes {offset}- and got the whole file (HTTP 200); started over"
            return 0
        if changed:  # a 206 of another version (a server that does not honour If-Range): never splice
            raise _AttemptFailed("retry", "changed_upstream", f"asked for bytes {offset}- of version {sent} and got "
                                 f"a part of version {now}; the partial file is discarded", restart=True)
        start = _content_range_start(response.headers.get("Content-Range"))
        if start != offset:
            raise _AttemptFailed("retry", "range_mismatch", f"asked for bytes {offset}- and got Content-Range "
                                 f"{response.headers.get('Content-Range')!r}; the partial file is discarded",
                                 restart=True)
        return offset

    def _stream(self, response, temp: Path, offset: int, hashers: dict, attempt: _Attempt, cap: "_SizeCap",
                fd: int | None = None, kept: list[bytes] | None = None, cut: bool = True) -> None:
        """The body into the temp file (and hashers); each chunk also appended to ``kept`` if given.
        ``cut``: the file may hold bytes past ``offset`` (False: the caller knows it ends there)."""
        first = not offset
        try:
            with (open_for_writing(temp, offset) if fd is None else write_through(fd, temp, offset, cut)) as fh:
                # read1, not read: when a connection breaks, read drops the bytes of the chunk it
                # was filling, and resuming needs every byte that arrived on disk. Undecoded when
                # the body is sent as stored: decoding copies every chunk through a buffer.
                read, size = response.read1, self.options.chunk_size
                while chunk := read(size, decode_content=False):
                    if first:
                        _refuse_html(chunk)
                        first = False
                    chunk, too_many = cap.allow(offset + attempt.received, chunk)
                    _write_chunk(fh, chunk)
                    if kept is not None:
                        kept.append(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
                    attempt.received += len(chunk)
                    self.on_bytes(len(chunk))
                    if too_many:
                        raise _AttemptFailed("failed", "size_mismatch", cap.refusal(), restart=True)
                    if self.stop.is_set():
                        raise _AttemptFailed("interrupted", "interrupted",
                                             f"stopped after {offset + attempt.received} bytes; partial file kept")
                if self.options.fsync:
                    os.fsync(fh.fileno())
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                # What reached the disk, not what was counted: a short write can land part of a chunk.
                on_disk = _partial_size(temp, None)
                raise _AttemptFailed("disk_full", "disk_full", f"no space left on the device writing {temp.name} "
                                     f"after {on_disk} bytes; partial file kept") from None
            raise


def _transfer_record(attempt: _Attempt, started: str, url: str) -> TransferRecord:
    # The transfer log's outcomes are done/adopted/retry/failed/interrupted (schema.sql);
    # a full disk interrupts the transfer, and error_kind says why.
    outcome = "interrupted" if attempt.outcome == "disk_full" else attempt.outcome
    return TransferRecord(started_at=started, ended_at=utc_now(), outcome=outcome,
                          http_status=attempt.status, range_start=attempt.range_start,
                          bytes_received=attempt.received, error_kind=attempt.error_kind, error=attempt.error,
                          url=url)


def _log_attempt(url: str, attempt: _Attempt, retry: int) -> None:
    if attempt.outcome in ("done", "interrupted"):
        return
    log.info("%s: attempt %d %s: %s", url, retry + 1, attempt.outcome, attempt.error)


def _write_chunk(fh, chunk: bytes) -> None:
    """The one place bytes reach the disk (tests replace it to simulate a full disk).

    An unbuffered write may take only part of the chunk; the rest is written until done.
    """
    view = memoryview(chunk)
    while view:
        view = view[fh.write(view):]


def _refuse_html(chunk: bytes) -> None:
    if looks_like_html(chunk):
        raise _AttemptFailed("retry", "html_body", "the server answered with an HTML page instead of the file "
                             "(an error or maintenance page); nothing was written", restart=True)


def _partial_size(temp: Path, expected_size: int | None, fd: int | None = None) -> int:
    try:
        size = temp.stat().st_size if fd is None else os.fstat(fd).st_size
    except FileNotFoundError:
        return 0
    if expected_size is not None and size > expected_size:
        _discard(temp, fd)  # longer than the file can be: not a prefix of it
        return 0
    return size


def _discard(temp: Path, fd: int | None = None) -> None:
    """Empty the partial file in place, not unlink it: the inode, and the lock sync holds on it
    against another process writing the same .part, must stay the same. Through the caller's
    descriptor when there is one: that is the file the next write goes to, whatever the path
    names by then."""
    with contextlib.suppress(FileNotFoundError):
        if fd is None:
            os.truncate(temp, 0)
        else:
            os.ftruncate(fd, 0)
    forget_validator(temp)


def _check_planned_size(url: str, announced: int | None, expected: int | None) -> None:
    """An archive announcing another size than the plan recorded has changed the file since: stop
    before reading the body (the next `ratdcs plan` picks up the new size, as a re-plan does)."""
    if announced is None or expected is None or announced == expected:
        return
    raise _AttemptFailed("failed", "changed_upstream",
                         f"the archive now serves {announced} bytes of {url.rsplit('/', 1)[-1][:120]}, the plan "
                         f"recorded {expected}: the file changed upstream since it was planned; nothing was "
                         "written - run `ratdcs plan` again to pick up the new size, then `ratdcs sync`")


def _feed_existing(temp: Path, hashers: dict, length: int, cap: "_SizeCap | None" = None) -> None:
    """Hash the bytes already on disk, so the digest covers the whole file after a resume (and
    let a FITS size cap follow the headers they hold)."""
    with open(temp, "rb") as fh:
        remaining = length
        while remaining > 0 and (block := fh.read(min(1 << 20, remaining))):
            for hasher in hashers.values():
                hasher.update(block)
            if cap is not None and cap.layout is not None:
                cap.layout.feed(block)
            remaining -= len(block)


class _SizeCap:
    """The most bytes a body may have: the planned size, else the announced Content-Length, else
    (for a FITS file) the size its own headers imply once read. A transfer stops at the first
    byte past it: an endless body, a 50 GB Content-Length or a decompression bomb cannot fill
    the disk, and a file that only looks complete is not accepted (the probe wrote 327 MB into
    a .part for a 60,480-byte file, and accepted a ZTF image followed by 544,320 zero bytes)."""

    def __init__(self, limit: int | None, why: str, layout=None):
        self.limit, self.why, self.layout = limit, why, layout

    @classmethod
    def choose(cls, planned: int | None, announced: int | None, url: str) -> "_SizeCap":
        if planned is not None:  # the archive's catalog said so: nothing else is needed
            return cls(planned, "the planned size")
        layout = None
        if urlsplit(url).path.lower().endswith((".fits", ".fit", ".fts")):
            from .fitsheaders import StreamedLayout

            layout = StreamedLayout()  # a Content-Length alone may be a lie (50 GB for a 60 KB file)
        return cls(announced, "its Content-Length" if announced is not None else "", layout)

    def allow(self, written: int, chunk: bytes) -> tuple[bytes, bool]:
        """The part of ``chunk`` that fits, and whether bytes were cut."""
        if self.layout is not None and (end := self.layout.feed(chunk)) is not None:
            if self.limit is None or end < self.limit:
                self.limit, self.why = end, "the size its FITS headers imply"
            self.layout = None
        if self.limit is None or written + len(chunk) <= self.limit:
            return chunk, False
        return chunk[:max(self.limit - written, 0)], True

    def refusal(self) -> str:
        return (f"the server sent more than {self.limit} bytes ({self.why}); stopped at the first byte too many "
                "and discarded the partial file")


def _hash_existing(temp: Path, want: tuple[str, ...], length: int) -> dict[str, str]:
    hashers = {name: hashlib.new(name) for name in want}
    _feed_existing(temp, hashers, length)
    with open(temp, "rb") as fh:
        os.fsync(fh.fileno())
    return {name: h.hexdigest() for name, h in hashers.items()}


def _check_complete(url: str, size: int, announced: int | None) -> None:
    if announced is not None and size < announced:
        raise _AttemptFailed("retry", "short_body", f"the body of {url.rsplit('/', 1)[-1]} ended after {size} of "
                             f"{announced} bytes; the partial file is kept and resumed")


def _announced_size(response, offset: int) -> int | None:
    """The full file size the response claims: Content-Range's total, else offset + Content-Length."""
    if response.status == 206:
        total = (response.headers.get("Content-Range") or "").rpartition("/")[2]
        if total.isdigit():
            return int(total)
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and "gzip" not in response.headers.get("Content-Encoding", ""):
        return offset + int(length)
    return None


def _content_range_start(value: str | None) -> int | None:
    """'bytes 100-199/200' -> 100."""
    if not value or not value.lower().startswith("bytes "):
        return None
    start = value[6:].split("-", 1)[0].strip()
    return int(start) if start.isdigit() else None


def announced_checksum(headers: Mapping[str, str]) -> str | None:
    """An archive-announced digest as 'sha256:<hex>' / 'md5:<hex>' (Repr-Digest, Digest, Content-MD5)."""
    for name in ("Repr-Digest", "Digest"):
        for item in (headers.get(name) or "").split(","):
            algorithm, _, value = item.strip().partition("=")
            algorithm = algorithm.strip().lower().replace("-", "")
            if algorithm in ("sha256", "md5") and (digest := _b64_to_hex(value.strip().strip(":"))):
                return f"{algorithm}:{digest}"
    md5 = headers.get("Content-MD5")
    digest = _b64_to_hex(md5.strip()) if md5 else None
    return f"md5:{digest}" if digest else None


def _b64_to_hex(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).hex() or None
    except (binascii.Error, ValueError):
        return None


def _classify(exc: Exception, received: int) -> tuple[str, str]:
    """A transport's exception (http.client's, the socket's, urllib3's through a proxy) as
    (error_kind, sentence)."""
    import http.client
    import ssl

    if isinstance(exc, DeadlineExceeded):  # the request deadline or the minimum rate (net/deadline.py)
        return "stall", f"{exc}" + (f"; {received} bytes of this attempt kept, to resume" if received else "")
    # urllib3 is imported only when a proxy was used: no urllib3 exception can exist without it.
    exceptions = sys.modules.get("urllib3.exceptions")
    urllib3_refused = exceptions.NewConnectionError if exceptions else ()
    urllib3_timeout = exceptions.TimeoutError if exceptions else ()
    urllib3_broken = (exceptions.NewConnectionError, exceptions.ProtocolError, exceptions.SSLError,
                      exceptions.ProxyError) if exceptions else ()
    text = f"{type(exc).__name__}: {exc}"
    lowered = text.lower()
    # NewConnectionError subclasses ConnectTimeoutError in urllib3, but a refused connection is no timeout.
    timed_out = isinstance(exc, urllib3_timeout) and not isinstance(exc, urllib3_refused)
    if timed_out or isinstance(exc, TimeoutError) or "timed out" in lowered:
        if received:
            return "stall", f"no data for the read timeout after {received} bytes ({text}); partial file kept"
        return "timeout", f"no answer within the timeout ({text})"
    if "incompleteread" in lowered or "incomplete" in lowered:
        return "short_body", f"the body ended early after {received} bytes ({text}); partial file kept"
    # http.client refuses more than 100 headers or a line over 64 KiB (LineTooLong); urllib3
    # wraps both, and the text once read as a reset connection.
    if any(phrase in lowered for phrase in ("more than 100 headers", "linetoolong", "line too long")) \
            or ("header line" in lowered and "long" in lowered):
        return "bad_headers", (f"the server's answer had more headers, or longer header lines, than HTTP clients "
                               f"take ({text[:200]}); nothing was written")
    if "certificate_verify_failed" in lowered:
        return "tls_untrusted", (f"the server's TLS certificate is not trusted ({text}); TLS verification stays "
                                 "on - if your site uses its own CA, point REQUESTS_CA_BUNDLE at its bundle")
    if isinstance(exc, ConnectFailed):  # refused, unreachable, no such host: nothing was sent
        return "connection_error", text
    # A connection the server dropped mid-exchange: reset, closed without an answer (RemoteDisconnected),
    # or an answer that is no HTTP status line (BadStatusLine); urllib3 named these "Connection aborted".
    dropped = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, http.client.BadStatusLine)
    if isinstance(exc, dropped) or "reset" in lowered or "aborted" in lowered or "broken pipe" in lowered:
        return "connection_reset", f"connection reset after {received} bytes ({text}); partial file kept"
    if isinstance(exc, urllib3_broken + (ssl.SSLError, ConnectionError, http.client.HTTPException)):
        return "connection_error", text
    return "transfer_error", text
