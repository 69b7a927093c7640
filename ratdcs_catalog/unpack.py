"""Products that arrive packed: a TESScut cutout is a zip holding one FITS file, which is what is kept.

A zip is an archive's answer like any other, so it is read as hostile: exactly one member, a
plain file name (no ``../``, no directory, no link), a size bounded by ``MAX_MEMBER_BYTES``,
and the member's CRC checked while it is copied. Nothing is written but an unnamed temporary file
and the ``.part`` file the zip itself came in, rewritten in place (same inode: the sync's lock on
it stays valid) to hold the member's bytes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

from .verify import VerifyFailed

__all__ = ["MAX_MEMBER_BYTES", "unpack_single_fits"]

# A cutout of 100 x 100 pixels over a 200-s sector is a few hundred MB; more is not a cutout.
MAX_MEMBER_BYTES = 4 << 30
_COPY_BYTES = 1 << 20


def unpack_single_fits(part: Path) -> tuple[int, str, str]:
    """Replace the zip in ``part`` by its one FITS member; return (size, sha256, member name).

    Raises VerifyFailed: ``zip_invalid`` (not a zip, or damaged: a CRC that does not match),
    ``zip_unsafe`` (a member name that is not a plain file name), ``zip_members`` (not exactly
    one FITS member), ``zip_too_large``. Memory stays flat: the member goes through an unnamed
    temporary file beside the .part (nothing a crash could leave behind), then back into it.
    """
    with tempfile.TemporaryFile(dir=part.parent) as unpacked:
        member, size, digest = _copy_member(part, unpacked)
        unpacked.seek(0)
        with open(part, "r+b") as fh:  # in place: the same inode the sync holds its lock on
            while block := unpacked.read(_COPY_BYTES):
                fh.write(block)
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())
    return size, digest, member


def _copy_member(part: Path, out) -> tuple[str, int, str]:
    """Check the zip and copy its one member into ``out``: (name, size, sha256)."""
    try:
        with zipfile.ZipFile(part) as archive:
            infos = archive.infolist()
            if len(infos) != 1:
                names = ", ".join(repr(i.filename[:80]) for i in infos[:5])
                raise VerifyFailed("zip_members", f"{part.name}: a cutout zip holds one FITS file; this one holds "
                                                  f"{len(infos)} members ({names})")
            info = infos[0]
            _check_member(part, info)
            with archive.open(info) as fh:  # zipfile checks the CRC at the end of the member
                size, digest = _copy_bounded(fh, out, info.file_size)
    except zipfile.BadZipFile as exc:
        raise VerifyFailed("zip_invalid", f"{part.name}: not a readable zip ({exc})") from None
    return info.filename, size, digest


def _check_member(part: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    plain = name and "/" not in name and "\\" not in name and name not in (".", "..") and "\x00" not in name
    if not plain or info.is_dir() or (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symlink entry
        raise VerifyFailed("zip_unsafe", f"{part.name}: refused member {name[:120]!r}: not a plain file name "
                                         "(a path, a directory or a link); nothing was extracted")
    if not name.lower().endswith((".fits", ".fit")):
        raise VerifyFailed("zip_members", f"{part.name}: its one member {name[:120]!r} is not a FITS file")
    if info.file_size > MAX_MEMBER_BYTES:
        raise VerifyFailed("zip_too_large", f"{part.name}: its member claims {info.file_size} bytes, more than "
                                            f"{MAX_MEMBER_BYTES} a cutout can have")


def _copy_bounded(fh, out, declared: int) -> tuple[int, str]:
    hasher, total = hashlib.sha256(), 0
    try:
        while block := fh.read(_COPY_BYTES):
            total += len(block)
            if total > min(declared, MAX_MEMBER_BYTES):
                raise VerifyFailed("zip_invalid", "the member inflates past the size its header declares")
            hasher.update(block)
            out.write(block)
    except (zipfile.BadZipFile, zlib.error) as exc:  # "Bad CRC-32 for file ...", a broken deflate stream
        raise VerifyFailed("zip_invalid", f"the zip's member is damaged ({exc})") from None
    return total, hasher.hexdigest()
