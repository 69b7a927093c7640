"""Byte counts as people write them: '3GB' in, '1.23 MB' out (powers of 1000, as the archives count).

The one place sizes are parsed and formatted, for the command line, the sync engine's messages
and the progress lines alike.
"""

from __future__ import annotations

import re

from .errors import UsageError

__all__ = ["format_bytes", "parse_size"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50}


def parse_size(text: str, option: str = "--max-bytes") -> int:
    """'3GB' -> 3_000_000_000, '512MiB' -> 536870912, '1000' -> 1000."""
    match = _SIZE.match(text or "")
    if not match:
        raise UsageError(f"{option}: cannot read {text!r} as a size", hint="write it like 500MB, 3GB or 1.5TiB")
    unit = (match.group(2) or "").lower().rstrip("b")
    if unit not in _UNITS:
        raise UsageError(f"{option}: unknown unit in {text!r}", hint="use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB")
    return int(float(match.group(1)) * _UNITS[unit])


def format_bytes(n: int | float | None) -> str:
    """1234567 -> '1.23 MB'; None -> 'unknown'."""
    if n is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    raise AssertionError


