"""Bytes of the files that are not light curves: target pixel files, DV files, previews, tarballs.

Listed so that every product list holds what MAST's does; their content is placeholder data of
the listed size (real target pixel files are another issue's work), made so a client can still
check them: a ``.fits`` is a valid FITS file (PRIMARY + an 8-bit IMAGE of seeded bytes, with
CHECKSUM/DATASUM), a ``.fits.gz`` is such a file gzipped (stored, uncompressed blocks, so its size
is known without building it), a ``.tar`` is a real tar of the observation's light curves
(MAST's tarball of Kepler-10 is exactly the size of a plain tar of its 16 files, 5949440 bytes),
and anything else starts with its format's magic bytes followed by seeded random bytes.

Every size here is computed without building the file, and every body depends only on
(seed, file name, version).
"""

from __future__ import annotations

import io
import math
import struct
import tarfile
import zlib

from .fitsgen import BLOCK, CHECKSUM_WHEN, seeded_rng
from .kinds import MAGIC

HEADER_BLOCKS = 2                   # PRIMARY header + IMAGE header, one 2880-byte block each
STORED_BLOCK = 65535                # the largest stored deflate block
TAR_BLOCK, TAR_RECORD = 512, 10240  # tarfile's header/padding unit and record size
TAR_MTIME = 1_450_000_000           # fixed member time, so the tar's bytes are reproducible


# ----------------------------------------------------------------- sizes
def fits_size(data_bytes: int) -> int:
    """A placeholder FITS file holding at least ``data_bytes`` bytes of data."""
    return (HEADER_BLOCKS + max(1, math.ceil(data_bytes / BLOCK))) * BLOCK


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
def fits_bytes(size: int, cards: dict, seed: int, name: str, version: int = 0) -> bytes:
    """A valid FITS file of exactly ``size`` bytes (a multiple of 2880, from ``fits_size``)."""
    import numpy as np
    from astropy.io import fits

    data_bytes = size - HEADER_BLOCKS * BLOCK
    if data_bytes <= 0 or size % BLOCK:
        raise ValueError(f"a placeholder FITS file is whole blocks of 2880 bytes, at least 3; got {size}")
    primary = fits.PrimaryHDU()
    for key, value in cards.items():
        primary.header[key] = value
    primary.header["COMMENT"] = "ratdcs sandbox placeholder: the listed size, not the archive's content"
    data = np.frombuffer(seeded_rng(seed, name, version).bytes(data_bytes), dtype=np.uint8)
    hdus = fits.HDUList([primary, fits.ImageHDU(data, name="PLACEHOLDER")])
    for hdu in hdus:
        hdu.add_checksum(when=CHECKSUM_WHEN)
    buffer = io.BytesIO()
    hdus.writeto(buffer, checksum=False)
    return buffer.getvalue()


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
    """The bytes of a ``fits``, ``fits.gz`` or ``magic`` product (tarballs: see ``tar_bytes``)."""
    from .kinds import KINDS

    spec = KINDS[product.kind]
    tess = product.kind.startswith("tess")
    cards = {"ORIGIN": "ratdcs sandbox", "TELESCOP": "TESS" if tess else "Kepler",
             "OBJECT": f"{'TIC' if tess else 'EPIC' if product.kind.startswith('k2') else 'KIC'} {product.target_id}"}
    if spec.recipe == "fits":
        return fits_bytes(product.size, cards, seed, product.filename, version)
    if spec.recipe == "fits.gz":
        inner = fits_size(product.extra.get("rows", 0) * spec.bytes_per_row)
        return gzip_stored(fits_bytes(inner, cards, seed, product.filename, version))
    return magic_bytes(product.size, product.filename, seed, version)
