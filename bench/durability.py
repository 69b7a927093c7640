"""How to make a batch of small files durable before their renames: the group commit's choice (issue 15).

    python bench/durability.py [--dir /var/tmp/ratdcs-durability] [--files 256] [--rounds 9]

Writes ``--files`` files of 5,760 bytes (the smallest FITS file) into ``*.part`` files, then makes
them durable and renames them into place with one directory fsync, four ways, alternating, and
prints the median milliseconds per file:

- ``fsync per file``: what sync did before: each file written, fsynced, renamed, one after another;
- ``fdatasync, one after another``: the batch written, then fdatasync of each file in turn;
- ``fdatasync, 8 threads``: the same fdatasyncs issued from 8 threads at once (what
  ``sync/commit.py`` does: concurrent syncs share the file system's journal commits);
- ``syncfs``: one ``syncfs(2)`` of the file system (flushes every process's dirty data on it).

Run it on the disk the data directory is on; on a shared machine ``syncfs`` pays for everyone's
writes, which is why it was not chosen.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BODY = os.urandom(5760)


def _write(directory: Path, n: int) -> list[int]:
    directory.mkdir(parents=True)
    fds = []
    for i in range(n):
        fd = os.open(directory / f"f{i}.part", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, BODY)
        fds.append(fd)
    return fds


def _place(directory: Path, fds: list[int]) -> None:
    for i, fd in enumerate(fds):
        os.replace(directory / f"f{i}.part", directory / f"f{i}")
        os.close(fd)
    fd = os.open(directory, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def per_file(directory: Path, n: int) -> None:
    directory.mkdir(parents=True)
    for i in range(n):
        fd = os.open(directory / f"f{i}.part", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, BODY)
        os.fsync(fd)
        os.close(fd)
        os.replace(directory / f"f{i}.part", directory / f"f{i}")
    _place(directory, [])


def sequential(directory: Path, n: int) -> None:
    fds = _write(directory, n)
    for fd in fds:
        os.fdatasync(fd)
    _place(directory, fds)


def threaded(directory: Path, n: int) -> None:
    fds = _write(directory, n)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(os.fdatasync, fds))
    _place(directory, fds)


def syncfs(directory: Path, n: int) -> None:
    fds = _write(directory, n)
    if ctypes.CDLL(None, use_errno=True).syncfs(fds[0]) != 0:
        raise OSError(ctypes.get_errno(), "syncfs")
    _place(directory, fds)


WAYS = {"fsync per file": per_file, "fdatasync, one after another": sequential, "fdatasync, 8 threads": threaded,
        "syncfs": syncfs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp/ratdcs-durability"))
    parser.add_argument("--files", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    times: dict[str, list[float]] = {name: [] for name in WAYS}
    for r in range(args.rounds):
        for name, way in WAYS.items():
            started = time.perf_counter()
            way(args.dir / f"{r}-{list(WAYS).index(name)}", args.files)
            times[name].append((time.perf_counter() - started) * 1000 / args.files)
    shutil.rmtree(args.dir, ignore_errors=True)
    print(f"| way ({args.files} files of 5,760 bytes, median of {args.rounds}) | ms per file |")
    print("|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.3f} |")


if __name__ == "__main__":
    main()
