"""Bytes of the files that are neither light curves nor pixel or DV files: previews, reports, tarballs.

Listed so that every product list holds what MAST's does: a ``.tar`` is a real tar of the
observation's light curves (MAST's tarball of Kepler-10 is exactly the size of a plain tar of its
16 files, 5949440 bytes), anything else starts with its format's magic bytes followed by seeded
random bytes. ``gzip_stored`` gzips the Kepler and K2 pixel files: stored (uncompressed) deflate
blocks, so a ``.fits.gz`` size is known without building it, at the price of being the size of the
FITS file inside (the archive's compressed files are about 1.7 times smaller for the same stamp).

Every size here is computed without building the file, and every body depends only on
(seed, file name, version).
"""

from __future__ import annotations

import io
import math
import struct
import tarfile
import zlib

from .fitsgen import seeded_rng
from .kinds import MAGIC

STORED_BLOCK = 65535                # the largest stored deflate block
TAR_BLOCK, TAR_RECORD = 512, 10240  # tarfile's header/padding unit and record size
TAR_MTIME = 1_450_000_000           # fixed member time, so the tar's bytes are reproducible


# ----------------------------------------------------------------- sizes
def gzip_size(payload: int) -> int:
    """A gzip stream of ``payload`` bytes in stored blocks: header, 5 bytes a block, trailer."""
    return 10 + 5 * max(1, math.ceil(payload / STORED_BLOCK)) + payload + 8


def tar_size(member_sizes) -> int:
    """A plain tar of files of these sizes: a 512-byte header each, padding, end, record."""
    body = sum(TAR_BLOCK + math.ceil(s / TAR_BLOCK) * TAR_BLOCK for s in member_sizes) + 2 * TAR_BLOCK
    return math.ceil(body / TAR_RECORD) * TAR_RECORD


def spread_size(base: int, name: str, scale: float, floor: int = 2048) -> int:
    """A report-like file's size: base * scale, spread +-20% by the file name."""
    spread = 0.8 + 0.4 * (zlib.crc32(name.encode()) % 1000) / 1000
    return max(floor, int(base * scale * spread))


# ----------------------------------------------------------------- bytes
def gzip_stored(payload: bytes) -> bytes:
    """``payload`` as a gzip file in stored deflate blocks (RFC 1951 BTYPE 00, RFC 1952)."""
    out = bytearray(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # no name, mtime 0, OS unknown
    chunks = [payload[i:i + STORED_BLOCK] for i in range(0, len(payload), STORED_BLOCK)] or [b""]
    for n, chunk in enumerate(chunks):
        final = 1 if n == len(chunks) - 1 else 0
        out += struct.pack("<BHH", final, len(chunk), len(chunk) ^ 0xFFFF) + chunk
    out += struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)
    return bytes(out)


def tar_bytes(members, version: int = 0) -> bytes:
    """A plain tar of ``[(name, bytes), ...]``; a later version only changes the members' time."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(body), TAR_MTIME + 86_400 * version, 0o644
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def magic_bytes(size: int, filename: str, seed: int, version: int = 0) -> bytes:
    """The format's magic bytes (by file-name ending), then seeded random bytes, ``size`` in all."""
    magic = next((m for end, m in MAGIC.items() if filename.endswith(end)), b"")[:size]
    return magic + seeded_rng(seed, filename, version).bytes(size - len(magic))


def build(product, seed: int, version: int = 0) -> bytes:
    """The bytes of a ``magic`` product (tarballs: see ``tar_bytes``)."""
    return magic_bytes(product.size, product.filename, seed, version)
