"""Sandbox throughput: how fast the sandbox serves static file bodies over loopback.

Starts a full-scale sandbox, builds one ZTF science image (3080 x 3072 float32, ~38 MB)
once, then downloads it repeatedly (the body is cached, so this measures serving, not
generation):

- one connection with ``requests`` (1 MiB chunks, what ratdcs' transfer does);
- four connections in parallel;
- one connection read with a bare socket (the server's own ceiling).

Prints MB/s (10^6 bytes per second) for each and the ratio to the 100 MB/s target. Run by
hand: ``PYTHONPATH=. python bench/sandbox_throughput.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_MB_S = 100.0


def fetch_requests(url: str) -> int:
    import requests

    received = 0
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        for chunk in response.iter_content(1 << 20):
            received += len(chunk)
    return received


def fetch_socket(port: int, path: str) -> int:
    """GET over a bare socket, counting bytes until the Content-Length is reached."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        buffer = bytearray(1 << 20)
        view = memoryview(buffer)
        header, total = b"", None
        received = 0
        while True:
            n = conn.recv_into(view)
            if not n:
                return received
            if total is None:
                header += bytes(view[:n])
                if b"\r\n\r\n" not in header:
                    continue
                head, _, rest = header.partition(b"\r\n\r\n")
                total = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                 if line.lower().startswith(b"content-length")))
                received = len(rest)
            else:
                received += n
            if received >= total:
                return received


def timed(label: str, func, nbytes_expected: int, rounds: int) -> float:
    started = time.perf_counter()
    total = sum(func() for _ in range(rounds))
    elapsed = time.perf_counter() - started
    assert total == nbytes_expected * rounds, f"{label}: got {total} bytes"
    rate = total / elapsed / 1e6
    print(f"{label:<34} {rate:8.0f} MB/s   ({rate / TARGET_MB_S:5.1f}x the {TARGET_MB_S:.0f} MB/s target)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="downloads per measurement")
    args = parser.parse_args()

    from ratdcs_catalog.sandbox import Sandbox

    with Sandbox(seed=42, scale=1.0) as archive:
        product = archive.universe.ztf_product(archive.universe.ztf_rows(fields=[600])[0])
        started = time.perf_counter()
        archive.file_bytes(product)
        print(f"file: {product.filename} ({product.size / 1e6:.1f} MB), "
              f"generated once in {time.perf_counter() - started:.2f} s")
        url = archive.base_url + product.path
        fetch_requests(url)  # warm-up
        timed("requests, 1 connection", lambda: fetch_requests(url), product.size, args.rounds)
        with ThreadPoolExecutor(4) as pool:
            def four():
                return sum(pool.map(lambda _: fetch_requests(url), range(4)))
            timed("requests, 4 connections", four, product.size * 4, args.rounds)
        timed("bare socket, 1 connection", lambda: fetch_socket(archive.port, product.path),
              product.size, args.rounds)


if __name__ == "__main__":
    main()
