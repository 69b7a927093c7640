"""The layout of a FITS file read from its headers alone: HDUs, their cards, where data lies.

Verification needs only a little of FITS: each HDU's keywords (to find the light-curve table
and its columns, the image axes, CHECKSUM and DATASUM), and where each header and data unit
starts and ends (to sum them). The FITS Standard 4.0 fixes all of that: 2,880-byte blocks,
80-byte ASCII cards ending with END, and a data size given by BITPIX, NAXISn, PCOUNT and
GCOUNT. Reading it here instead of through astropy keeps verification free of astropy's
process-wide warning state (astropy reports truncation only as a warning, so every check had
to run under one lock) and of its 0.15 s import, which every ``ratdcs sync`` paid.

Damage is reported as ``FitsLayoutError`` with a sentence naming the byte offset; the caller
decides what kind of failure it is.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import BinaryIO

__all__ = [
    "BLOCK", "Column", "FitsLayoutError", "Hdu", "StreamedLayout", "read_layout"]

BLOCK = 2880
CARD = 80
# A header longer than this is not a header: stop instead of reading a whole file of garbage.
MAX_HEADER_BLOCKS = 10_000

# Binary table column types (Standard 4.0, table 18): bytes per element.
_TFORM_BYTES = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}
_TFORM = re.compile(r"\s*(\d*)\s*([LXBIJKAEDCMPQ])")
_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


class FitsLayoutError(ValueError):
    """The bytes are not a well-formed FITS file; the message says what and where."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One binary-table column: its name, where it sits in a row, and its element type."""

    name: str
    offset: int   # bytes from the start of the row
    repeat: int
    code: str     # the TFORM letter: E = float32, D = float64, ...


@dataclasses.dataclass
class Hdu:
    index: int
    name: str                 # EXTNAME upper-cased; PRIMARY for the first HDU without one
    cards: dict[str, str]     # keyword -> the card's text after "= ", first one wins; see card()
    header_start: int
    data_start: int
    data_span: int            # bytes of data including the padding to a whole block
    header_sum: int           # ones' complement sum of the header blocks (for CHECKSUM)

    @property
    def kind(self) -> str:
        """'PRIMARY', 'IMAGE', 'BINTABLE', 'TABLE' or another XTENSION value."""
        return "PRIMARY" if self.index == 0 else str(self.card("XTENSION", "")).strip().upper()

    @property
    def is_image(self) -> bool:
        return self.kind in ("PRIMARY", "IMAGE")

    def card(self, keyword: str, default: object = None) -> object:
        """A keyword's value (str, int, float, bool or None), parsed when asked: a light-curve
        header has a hundred cards and verification reads a dozen."""
        raw = self.cards.get(keyword)
        return default if raw is None else _value(raw)

    def int_card(self, keyword: str, default: int = 0) -> int:
        value = self.card(keyword, default)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    @property
    def columns(self) -> list[Column] | None:
        """The columns of a binary table, in order; None for any other HDU."""
        if self.kind != "BINTABLE":
            return None
        columns, offset = [], 0
        for n in range(1, self.int_card("TFIELDS") + 1):
            form = str(self.card(f"TFORM{n}", ""))
            match = _TFORM.match(form)
            if not match:
                raise FitsLayoutError(f"HDU {self.index} ({self.name}): column {n} has an unreadable TFORM{n} "
                                      f"{form!r}")
            repeat, code = int(match.group(1) or 1), match.group(2)
            name = str(self.card(f"TTYPE{n}", f"col{n}")).strip()
            columns.append(Column(name, offset, repeat, code))
            offset += math.ceil(repeat / 8) if code == "X" else repeat * _TFORM_BYTES[code]
        if offset > self.int_card("NAXIS1"):
            raise FitsLayoutError(f"HDU {self.index} ({self.name}): its columns need {offset} bytes per row, "
                                  f"NAXIS1 says {self.int_card('NAXIS1')}")
        return columns


def read_layout(fh: BinaryIO, file_size: int) -> list[Hdu]:
    """Every HDU of the open file, in order; raise FitsLayoutError for anything malformed.

    A file that ends inside a header or a data unit is truncated; bytes after the last HDU that
    do not start another extension are damage (a resumed download that appended a body does
    exactly that). Zeros short of one block after the last HDU are taken as a writer's padding
    slip (astropy accepts them); a whole block of them or more is not: a server that sent the
    file and then zeros (a ZTF image followed by 544,320 zero bytes was once accepted) fails.
    """
    hdus: list[Hdu] = []
    position = 0
    while position < file_size:
        if hdus and file_size - position < BLOCK and _only_zeros(fh, position, file_size):
            break
        hdu = _read_hdu(fh, len(hdus), position, file_size)
        end = hdu.data_start + hdu.data_span
        if end > file_size:
            raise FitsLayoutError(f"truncated: HDU {hdu.index} ({hdu.name}) needs {end} bytes, "
                                  f"the file has {file_size}")
        hdus.append(hdu)
        position = end
    if not hdus:
        raise FitsLayoutError("the file is empty")
    return hdus


class StreamedLayout:
    """Follows a FITS file's HDUs as its bytes arrive and says where the file must end.

    A download with no planned size and no Content-Length (ZTF images, unless probed) has no
    other bound: once the header after the last HDU is seen not to be an extension, every byte
    past that HDU is one too many. Only headers are kept (at most ``MAX_HEADER_BLOCKS`` blocks);
    data is counted, not stored. Anything that is not FITS makes it give up (``end`` stays None)
    and leaves the verdict to the verification of the whole file.
    """

    def __init__(self):
        self.received = 0
        self.end: int | None = None
        self._index = 0
        self._start = 0            # where the HDU being read starts
        self._header = bytearray()  # its header bytes so far
        self._given_up = False

    def feed(self, chunk: bytes) -> int | None:
        """Take the next bytes; return the size the file must have, once known."""
        if self.end is None and not self._given_up:
            try:
                self._follow(chunk)
            except FitsLayoutError:
                self._given_up = True
        self.received += len(chunk)
        return self.end

    def _follow(self, chunk: bytes) -> None:
        at = 0
        while at < len(chunk) and self.end is None:
            position = self.received + at
            if position < self._start:  # inside a data unit: skip to its end
                at += min(len(chunk) - at, self._start - position)
                continue
            take = min(len(chunk) - at, BLOCK - len(self._header) % BLOCK)
            self._header += chunk[at:at + take]
            at += take
            if len(self._header) % BLOCK == 0:
                self._block_done()

    def _block_done(self) -> None:
        blocks = len(self._header) // BLOCK
        block = bytes(self._header[-BLOCK:])
        if blocks == 1 and self._index and not block.startswith(b"XTENSION"):
            self.end = self._start  # the last HDU ended where this block starts
            return
        if blocks == 1:
            _check_first_card(block, self._index, self._start)
        cards: dict[str, str] = {}
        if not any(_parse_block(self._header[b * BLOCK:(b + 1) * BLOCK], cards) for b in range(blocks)):
            if blocks >= MAX_HEADER_BLOCKS:
                raise FitsLayoutError("no END card")
            return
        hdu = Hdu(self._index, "", cards, self._start, self._start + blocks * BLOCK, 0, 0)
        self._start = hdu.data_start + _padded(_data_bytes(hdu))
        self._index += 1
        self._header = bytearray()


def _only_zeros(fh: BinaryIO, start: int, file_size: int) -> bool:
    fh.seek(start)
    while block := fh.read(min(1 << 20, file_size - start)):
        if block.count(0) != len(block):
            return False
        start += len(block)
    return True


def _read_hdu(fh: BinaryIO, index: int, start: int, file_size: int) -> Hdu:
    fh.seek(start)
    cards: dict[str, str] = {}
    header_sum, blocks = 0, 0
    while True:
        block = fh.read(BLOCK)
        if len(block) < BLOCK:
            if not blocks and not index:  # a short error body or other small non-FITS file
                _check_first_card(block, index, start)
            if index and not blocks and not block.startswith(b"XTENSION"):
                raise FitsLayoutError(f"{file_size - start} bytes after the last HDU (at byte {start}) "
                                      "are not a FITS extension")
            raise FitsLayoutError(f"truncated inside the header of HDU {index}, at byte {start + blocks * BLOCK}")
        if not blocks:
            _check_first_card(block, index, start)
        blocks += 1
        header_sum += ones_complement_sum(block)
        if _parse_block(block, cards):
            break
        if blocks >= MAX_HEADER_BLOCKS:
            raise FitsLayoutError(f"HDU {index} has no END card in its first {MAX_HEADER_BLOCKS} header blocks")
    data_start = start + blocks * BLOCK
    hdu = Hdu(index, "", cards, start, data_start, 0, fold(header_sum))
    hdu.name = str(hdu.card("EXTNAME") or ("PRIMARY" if index == 0 else "")).strip().upper()
    hdu.data_span = _padded(_data_bytes(hdu))
    return hdu


def _check_first_card(block: bytes, index: int, start: int) -> None:
    keyword = block[:8].rstrip()
    wanted = b"SIMPLE" if index == 0 else b"XTENSION"
    if keyword != wanted:
        if index:
            raise FitsLayoutError(f"bytes after the last HDU (at byte {start}) are not a FITS extension")
        raise FitsLayoutError(f"does not start with SIMPLE, as every FITS file does "
                              f"(it starts with {block[:16]!r})")


def _parse_block(block: bytes, cards: dict[str, str]) -> bool:
    """Add the block's keywords (their value text) to ``cards``; True when the block holds END."""
    text = block.decode("latin-1")
    for at in range(0, BLOCK, CARD):
        keyword = text[at:at + 8].rstrip()
        if keyword == "END":
            return True
        if keyword and text[at + 8:at + 10] == "= " and keyword not in cards:
            cards[keyword] = text[at + 10:at + CARD]
    return False


# Most value fields repeat from file to file (BITPIX = -32, NAXIS = 2, GCOUNT = 1, XTENSION =
# 'BINTABLE'): parsed once each. A value is immutable (str, int, float, bool, None), so sharing
# it is safe; verification reads a dozen cards per HDU (issue 15: a fifth of a small file's check).
@functools.lru_cache(maxsize=4096)
def _value(field: str) -> object:
    """A card's value: 'string' (with '' for a quote), T/F, an integer, a real; None if empty."""
    field = field.strip()
    if field.startswith("'"):
        quoted = _QUOTED.match(field)
        return (quoted.group(1) if quoted else field[1:]).replace("''", "'").rstrip()
    token = field.split("/", 1)[0].strip()
    if token in ("T", "F"):
        return token == "T"
    if _INTEGER.fullmatch(token):
        return int(token)
    if _NUMBER.fullmatch(token):
        return float(token.replace("D", "E").replace("d", "e"))
    return token or None


def _data_bytes(hdu: Hdu) -> int:
    """BITPIX/8 x GCOUNT x (PCOUNT + NAXIS1 x ... x NAXISn) (Standard 4.0, eq. 2); random groups skip NAXIS1."""
    bitpix, naxis = hdu.int_card("BITPIX"), hdu.int_card("NAXIS")
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise FitsLayoutError(f"HDU {hdu.index} ({hdu.name}) has BITPIX = {hdu.card('BITPIX')!r}, "
                              "not one of 8, 16, 32, 64, -32, -64")
    if not 0 <= naxis <= 999:
        raise FitsLayoutError(f"HDU {hdu.index} ({hdu.name}) has NAXIS = {hdu.card('NAXIS')!r}")
    if naxis == 0:
        return 0
    axes = [hdu.int_card(f"NAXIS{n}", -1) for n in range(1, naxis + 1)]
    if any(a < 0 for a in axes):
        raise FitsLayoutError(f"HDU {hdu.index} ({hdu.name}) lacks a valid NAXISn card for each of its {naxis} axes")
    random_groups = hdu.index == 0 and hdu.card("GROUPS") is True and axes[0] == 0
    elements = math.prod(axes[1:] if random_groups else axes)
    gcount, pcount = hdu.int_card("GCOUNT", 1), hdu.int_card("PCOUNT")
    if gcount < 0 or pcount < 0:  # a negative size would walk the reader backwards, forever
        raise FitsLayoutError(f"HDU {hdu.index} ({hdu.name}) has GCOUNT = {gcount}, PCOUNT = {pcount}; "
                              "neither may be negative")
    return abs(bitpix) // 8 * gcount * (pcount + elements)


def _padded(nbytes: int) -> int:
    return -(-nbytes // BLOCK) * BLOCK


# ---- the FITS checksum convention ------------------------------------------------------------------
# CHECKSUM makes the 32-bit ones' complement sum of a whole HDU (header + data) all ones;
# DATASUM is the ones' complement sum of the data alone, as an unsigned decimal string.


def fold(total: int) -> int:
    """Fold carries back in until the sum fits 32 bits (end-around carry)."""
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def ones_complement_sum(data) -> int:
    """The sum of ``data`` as big-endian 32-bit words, carries not yet folded (len(data) % 4 == 0)."""
    import numpy as np

    return int(np.frombuffer(data, dtype=">u4").sum(dtype=np.uint64))
