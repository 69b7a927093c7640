"""The machine's own ceilings, measured in the same run as the tools they bound.

- loopback: ``curl -o /dev/null`` of the largest generated file from the bench nginx (file in
  the page cache), i.e. what one HTTP stream over 127.0.0.1 can carry;
- sha256 and md5: hashlib over an in-memory buffer, one core (ratdcs hashes every byte);
- disk: sequential write of a large file in 1 MiB blocks then fsync, and small files created,
  written, fsynced and renamed one after another (what a downloader that fsyncs pays per file).

Each figure is the median of ``repeats`` runs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from _util import MB, median


def loopback_mb_s(url: str, repeats: int = 3) -> float:
    speeds = []
    for _ in range(repeats):
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{speed_download}", url],
                             check=True, capture_output=True, text=True).stdout
        speeds.append(float(out) / MB)
    return median(speeds)


def hash_mb_s(algorithm: str, size_bytes: int = 256 << 20, repeats: int = 3) -> float:
    buffer = os.urandom(1 << 20)
    speeds = []
    for _ in range(repeats):
        digest = hashlib.new(algorithm)
        started = time.perf_counter()
        for _ in range(size_bytes >> 20):
            digest.update(buffer)
        digest.hexdigest()
        speeds.append(size_bytes / MB / (time.perf_counter() - started))
    return median(speeds)


def disk_write_mb_s(directory: Path, size_bytes: int = 512 << 20, repeats: int = 3) -> float:
    """Sequential write + fsync, in MB/s (decimal)."""
    buffer = os.urandom(1 << 20)
    path = directory / "disk-probe.bin"
    speeds = []
    for _ in range(repeats):
        os.sync()
        started = time.perf_counter()
        with open(path, "wb") as fh:
            for _ in range(size_bytes >> 20):
                fh.write(buffer)
            fh.flush()
            os.fsync(fh.fileno())
        speeds.append(size_bytes / MB / (time.perf_counter() - started))
        path.unlink()
    return median(speeds)


def fsync_files_per_s(directory: Path, count: int = 500, size_bytes: int = 5760, repeats: int = 3) -> float:
    """Small files written, fsynced and renamed into place, one after another, per second."""
    payload = os.urandom(size_bytes)
    rates = []
    for _ in range(repeats):
        d = directory / "fsync-probe"
        d.mkdir(exist_ok=True)
        os.sync()
        started = time.perf_counter()
        for i in range(count):
            temp = d / f"{i}.part"
            with open(temp, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, d / f"{i}.fits")
        rates.append(count / (time.perf_counter() - started))
        for p in d.iterdir():
            p.unlink()
        d.rmdir()
    return median(rates)


def measure_all(url_large: str, directory: Path, quick: bool) -> dict[str, float]:
    directory.mkdir(parents=True, exist_ok=True)
    size = (128 if quick else 512) << 20
    return {
        "loopback_mb_s": loopback_mb_s(url_large),
        "sha256_mb_s": hash_mb_s("sha256"),
        "md5_mb_s": hash_mb_s("md5"),
        "disk_fsync_mb_s": disk_write_mb_s(directory, size),
        "fsync_files_per_s": fsync_files_per_s(directory, 200 if quick else 500),
    }
