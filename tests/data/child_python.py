"""Run a snippet in a fresh interpreter: what a module imports shows only in a process of its own."""

from __future__ import annotations

import subprocess
import sys


def last_line_printed(code: str) -> str:
    """The last line ``code`` prints in a fresh ``python -c`` (which must exit 0)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]
