"""Fault injection: which request gets which failure, reproducibly from the seed.

A ``Fault`` names a kind of failure, a regular expression searched in the request's match
text, and how often it fires: the first ``count`` matching requests, a seeded probability
``rate``, or (neither given) every matching request. The match text is
``path + "?" + query``, plus ``"&" + form body`` for form-encoded POSTs, so a pattern can
pick a MAST service (``Mast.Caom.Products``) or an ADQL table (``from toi``).

Whether a ``rate`` fault fires depends only on (seed, fault position, match text, how many
times that text was asked for), never on thread timing, so a run replays exactly.

``replace`` is not a failure of one request but a change of the archive: from the
``after + 1``-th request (GET or HEAD) of a matching file on, that file is a new version, the
same size with other bytes (a light curve is still valid FITS with valid checksums), a new
``ETag`` and a later ``Last-Modified``. A client that resumes across the change without
``If-Range`` splices two versions; one that sends ``If-Range`` gets the new file whole (200).
It counts requests per file, and combines with the other faults (a ``reset`` on the first
request, then the new version on the second).

``no_such_key`` and ``access_denied`` fire on the cloud copy (``/stpubdata/...``) only: S3's
404 ``NoSuchKey`` or 403 ``AccessDenied`` XML error for an object that is there (s3.py).

``zip_slip`` and ``zip_many`` fire on TESScut's zip answers only: a zip whose one member is named
``../../evil.fits``, or one holding two cutouts where one sector was asked for.

CLI syntax (``ratdcs sandbox serve --faults``, repeatable)::

    KIND[@PATTERN][:key=value,key=value...]
    503@Download/file:count=2,retry_after=1
    reset@_llc\\.fits:rate=0.1,cut_at=0.5
    mast_executing@Mast.Caom.Filtered:count=3
    replace@_llc\\.fits:after=1
    zip_slip@astrocut:count=1
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field

KINDS = ("429", "500", "502", "503", "reset", "short_body", "flip_bytes", "ignore_range",
         "no_content_length", "slow", "stall", "html_200", "redirect_loop", "mast_executing",
         "mast_error", "bad_json", "replace", "zip_slip", "zip_many", "no_such_key", "access_denied")
STATUS_KINDS = ("429", "500", "502", "503")
PARAMS = ("retry_after", "cut_at", "n_bytes", "bytes_per_second", "stall_seconds", "msg", "after")
BODY_KINDS = ("reset", "short_body", "flip_bytes", "ignore_range", "no_content_length",
              "slow", "stall")
ZIP_KINDS = ("zip_slip", "zip_many")  # TESScut zips only: hostile members
S3_KINDS = ("no_such_key", "access_denied")  # the cloud copy (/stpubdata/) only: S3's 404 / 403


class FaultSpecError(ValueError):
    """A --faults value that cannot be parsed; the message shows the expected syntax."""


@dataclass
class Fault:
    """One failure to inject. Parameters by kind:

    - ``429``/``503``: ``retry_after`` (seconds, default 1 for 429, none for 503)
    - ``reset``, ``short_body``, ``stall``: ``cut_at`` (fraction of the body if < 1, else
      bytes; default 0.5) - where the body stops or pauses
    - ``flip_bytes``: ``n_bytes`` (default 4) bytes inverted, length unchanged
    - ``slow``: ``bytes_per_second`` (default 200000)
    - ``stall``: ``stall_seconds`` (default 2), then the rest of the body is sent
    - ``mast_error``: ``msg``
    - ``replace``: ``after`` (default 1) requests of a file get the old version, later ones the
      new; ``count`` and ``rate`` do not apply
    - ``zip_slip``, ``zip_many``: no parameters; TESScut zip answers only
    - ``no_such_key``, ``access_denied``: no parameters; cloud-copy objects only
    """

    kind: str
    pattern: str | None = None
    count: int | None = None
    rate: float | None = None
    params: dict = field(default_factory=dict)

    def __init__(self, kind: str, pattern: str | None = None, count: int | None = None,
                 rate: float | None = None, **params):
        if str(kind) not in KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise FaultSpecError(f"unknown fault parameter(s) {', '.join(unknown)}; expected count, "
                                 f"rate or one of {', '.join(PARAMS)}")
        self.kind = str(kind)
        self.pattern = pattern
        try:
            self.count = None if count is None else int(count)
            self.rate = None if rate is None else float(rate)
        except (TypeError, ValueError):
            raise FaultSpecError(f"fault {kind}: count must be a whole number and rate a number from 0 to 1, "
                                 f"got count={count!r}, rate={rate!r}") from None
        if (self.count is not None and self.count < 0) or (self.rate is not None and not 0 <= self.rate <= 1):
            raise FaultSpecError(f"fault {kind}: count must be 0 or more and rate from 0 to 1, "
                                 f"got count={count!r}, rate={rate!r}")
        if self.kind == "replace" and (count is not None or rate is not None):
            raise FaultSpecError("fault replace: takes after=N (requests of a file served before it is "
                                 f"replaced), not count or rate; got count={count!r}, rate={rate!r}")
        if self.kind == "replace" and not (isinstance(params.get("after", 1), int) and params.get("after", 1) >= 0):
            raise FaultSpecError(f"fault replace: after must be a whole number 0 or more, got {params['after']!r}")
        self.params = params
        self._regex = re.compile(pattern) if pattern else None

    def matches(self, text: str) -> bool:
        return self._regex is None or bool(self._regex.search(text))

    def param(self, name: str, default=None):
        return self.params.get(name, default)


def cut_position(fault: Fault, length: int) -> int:
    """Byte offset where a cut body stops: cut_at < 1 is a fraction, else a byte count."""
    cut_at = float(fault.param("cut_at", 0.5))
    position = int(length * cut_at) if cut_at < 1 else int(cut_at)
    return max(0, min(length - 1 if length else 0, position))


class FaultPlan:
    """The faults of a running sandbox and the bookkeeping that decides when each fires."""

    def __init__(self, seed: int, faults=()):
        self.seed = int(seed)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._fired: list[int] = []
        self._seen: dict[str, int] = {}
        self._file_requests: dict[tuple[int, str], int] = {}
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)
            self._fired.append(0)

    def clear(self) -> None:
        with self._lock:
            self._faults, self._fired, self._seen, self._file_requests = [], [], {}, {}

    def choose(self, text: str, allowed=None) -> Fault | None:
        """The fault this request gets (first that fires), or None. ``allowed`` limits kinds."""
        with self._lock:
            attempt = self._seen.get(text, 0)
            self._seen[text] = attempt + 1
            for index, fault in enumerate(self._faults):
                if fault.kind == "replace" or (allowed is not None and fault.kind not in allowed):
                    continue
                if not fault.matches(text) or not self._fires(index, fault, text, attempt):
                    continue
                self._fired[index] += 1
                return fault
        return None

    def version(self, filename: str, text: str) -> int:
        """The version of ``filename`` this request gets (0: the original), counting it as one
        more request of that file for every ``replace`` fault whose pattern matches ``text``."""
        version = 0
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind != "replace" or not fault.matches(text):
                    continue
                seen = self._file_requests.get((index, filename), 0)
                self._file_requests[(index, filename)] = seen + 1
                if seen >= int(fault.param("after", 1)):
                    version = 1
        return version

    def _fires(self, index: int, fault: Fault, text: str, attempt: int) -> bool:
        if fault.count is not None and self._fired[index] >= fault.count:
            return False
        if fault.rate is None:
            return True
        return _draw(self.seed, index, attempt, text) < fault.rate


def _draw(seed: int, index: int, attempt: int, text: str) -> float:
    """A uniform number in [0, 1) for one (fault, request): keyed BLAKE2b, so two faults' draws
    on one request are independent. (CRC32 of nearly equal strings is linear in their bits: a
    `reset` and a `flip_bytes` at rate 0.5 left 0 of 2,300 requests clean instead of ~575.)"""
    digest = hashlib.blake2b(f"{index}|{attempt}|{text}".encode(), digest_size=8,
                             key=str(seed).encode()[:64]).digest()
    return int.from_bytes(digest, "big") / 2**64


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_fault(spec: str) -> Fault:
    """Parse ``KIND[@PATTERN][:key=value,...]`` (see the module docstring).

    Options start at the last ``:`` followed by ``key=``, so a pattern may hold colons
    (``503@uri=mast:TESS``).
    """
    head, options = spec, ""
    cut = spec.rfind(":")
    if cut >= 0 and "=" in spec[cut + 1:] and re.match(r"\s*[A-Za-z_]\w*\s*=", spec[cut + 1:]):
        head, options = spec[:cut], spec[cut + 1:]
    kind, _, pattern = head.partition("@")
    params = {}
    for item in filter(None, (o.strip() for o in options.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise FaultSpecError(f"fault option {item!r} in {spec!r} is not key=value; "
                                 "expected KIND[@PATTERN][:key=value,...], e.g. "
                                 "503@Download/file:count=2,retry_after=1")
        params[key.strip()] = _value(value.strip())
    try:
        re.compile(pattern or "")
    except re.error as err:
        raise FaultSpecError(f"fault pattern {pattern!r} is not a valid regular expression: {err}")
    return Fault(kind.strip(), pattern=pattern or None, **params)
