"""A description of the machine a benchmark ran on: CPU, memory, disk, OS, tool versions."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from _util import REPO


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def _filesystem(path: Path) -> str:
    path.mkdir(parents=True, exist_ok=True)
    lines = _run(["df", "-hT", str(path)]).splitlines()
    return " ".join(lines[-1].split()[:3]) if len(lines) > 1 else "unknown"


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def describe(workdir: Path) -> dict:
    import sys

    os_name = "unknown"
    if Path("/etc/os-release").exists():
        fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        os_name = fields.get("PRETTY_NAME", "unknown").strip('"')
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": round(_mem_gib(), 1),
        "os": os_name, "kernel": platform.release(), "python": sys.version.split()[0],
        "workdir_fs": _filesystem(workdir), "load_avg_at_start": os.getloadavg(),
        "ratdcs_commit": _run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).strip(),
        # Engineers share one working tree: say whether the package had uncommitted changes.
        "ratdcs_uncommitted": bool(_run(["git", "-C", str(REPO), "status", "--porcelain", "ratdcs_catalog"]).strip()),
        "nginx": _first_line(["nginx", "-v"]), "aria2c": _first_line(["aria2c", "--version"]),
        "wget": _first_line(["wget", "--version"]), "curl": _first_line(["curl", "--version"]),
        "astroquery": _module_version("astroquery"), "astropy": _module_version("astropy"),
    }


def commit_of(ref: str) -> str:
    return _run(["git", "-C", str(REPO), "rev-parse", "--short", ref]).strip()


def _module_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
