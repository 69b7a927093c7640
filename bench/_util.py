"""Shared pieces of the benchmark scripts: timing a command in a fresh process, medians, paths.

Not part of ratdcs and not a test: these are helpers for scripts a developer runs by hand.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GNU_TIME = "/usr/bin/time"
MB = 1e6  # throughput is reported in decimal megabytes per second, as the peers print it


@dataclasses.dataclass
class Run:
    """One timed command: wall seconds, peak RSS of its largest process, exit code."""

    wall_s: float
    peak_rss_mb: float
    returncode: int
    output_tail: str = ""
    cpu_s: float = float("nan")  # user + system CPU seconds of the command and its descendants


def timed_run(cmd: list[str] | str, *, env: dict | None = None, cwd: str | Path | None = None,
              stdin_path: str | Path | None = None) -> Run:
    """Run ``cmd`` in a fresh process; wall time from spawn to exit, peak RSS and CPU from GNU time.

    The command runs under ``/usr/bin/time -f %M`` (apt package ``time``): a small C parent
    whose wait4 gives the largest resident set of the command or any descendant it waited for
    (so ``bash -c 'xargs ... curl'`` reports the biggest single curl). Measuring from this
    Python process instead would charge every child the RSS of the forked benchmark script.
    """
    if isinstance(cmd, str):
        cmd = ["/bin/bash", "-c", cmd]
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss, \
            open(stdin_path or os.devnull, "rb") as stdin:
        started = time.perf_counter()
        proc = subprocess.run([GNU_TIME, "-f", "%M %U %S", "-o", rss.name, *cmd], env=env, cwd=cwd, stdin=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - started
        text = rss.read().strip().splitlines()
    # GNU time writes "Command exited with non-zero status N" before the format line on failure.
    fields = text[-1].split() if text else []
    if len(fields) != 3:
        fields = ["nan"] * 3
    peak_kb, user_s, sys_s = (float(x) for x in fields)
    return Run(wall, peak_kb / 1024, proc.returncode, proc.stdout.decode(errors="replace")[-2000:],
               user_s + sys_s)


def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def fresh_dir(path: Path) -> Path:
    """An empty directory at ``path`` (removed first if it exists)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def settle() -> None:
    """Flush dirty pages between runs so one tool's writeback is not billed to the next."""
    os.sync()


def ratdcs_env(data_dir: Path, **extra: str) -> dict:
    """Environment for a ``python -m ratdcs_catalog`` child: data dir set, nothing inherited
    from a developer's shell that would change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RATDCS_")}
    env.update(RATDCS_DATA_DIR=str(data_dir), PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def ratdcs_cmd(db: Path, *args: str) -> list[str]:
    return [PYTHON, "-m", "ratdcs_catalog", "--db", str(db), *args]


def tree_bytes(root: Path, pattern: str = "*.fits") -> tuple[int, int]:
    """(files, bytes) under ``root`` whose names match ``pattern``."""
    files = [p for p in root.rglob(pattern) if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
