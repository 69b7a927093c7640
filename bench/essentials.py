"""The essential work of one file's transfer, as ratdcs guarantees it, without ratdcs's pipeline around it.

Used by ``pipeline_cpu.py --essentials``: the same claimed rows, fetched from the same bench
nginx, once by ``FilePipeline`` and once by ``EssentialFetcher``, so the difference of their CPU
per file is what the pipeline's own code costs on top of the work no implementation of the same
guarantees can skip. Per file, in this order:

- the adoption check: ``lstat`` of the destination (it must not exist yet);
- the temporary file: ``temp/<rel_path>.part`` opened ``O_RDWR | O_CREAT | O_NOFOLLOW``, an
  exclusive ``flock`` on it, ``fstat`` for a partial size;
- one GET on a kept-alive ``http.client`` connection, its head read by ratdcs's own
  ``LeanHTTPResponse``; the status must be 200 and the body as long as planned;
- sha256 of the body;
- ``verify_file`` on the bytes held in memory (size, the planned checksum, FITS structure,
  CHECKSUM and DATASUM), named as the destination so the FITS checks run;
- ``pwrite`` of the body; every 16 files (``BATCH``) each staged file is ``fdatasync``ed, renamed
  into place and closed, then each directory renamed into is fsynced: the group commit.

Left out, and so counted as the pipeline's cost: retries and back-off, resume by Range with its
validators, redirects, the host gates (politeness), deadlines, size caps against a hostile server,
the answer checks (Retry-After, Content-Encoding, an HTML page), the symlink refusal along the
path, transfer records, lease checks and outcome records. Small bodies only (the set (c) case):
the whole body is read into memory, as ratdcs does for bodies up to 64 KiB.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
from pathlib import Path
from urllib.parse import urlsplit

BATCH = 16


class EssentialFetcher:
    """Fetch, check, verify and durably place claimed rows into ``data_dir`` (see the module's text)."""

    def __init__(self, data_dir: Path, temp_dir: Path):
        from ratdcs_catalog.net.response_head import LeanHTTPResponse

        self.data_dir, self.temp_dir = data_dir, temp_dir
        self.response_class = LeanHTTPResponse
        self.connection: http.client.HTTPConnection | None = None
        self.staged: list[tuple[int, str, str]] = []
        self.made: set[str] = set()  # directories known to exist (the pipeline keeps such a set too)

    def run(self, row) -> None:
        fd, part, dest, _, _, _ = self.stage(row)
        self.staged.append((fd, part, dest))
        if len(self.staged) == BATCH:
            self.commit()

    def stage(self, row) -> tuple[int, str, str, bytes, str, str | None]:
        """Everything before the commit: the checked body written to the locked .part.

        Returns (the .part's descriptor, its path, the destination, the body, its sha256, the
        verification level)."""
        from ratdcs_catalog.verify import verify_file

        dest = os.path.join(self.data_dir, row.rel_path)
        try:
            os.lstat(dest)
            raise SystemExit(f"{dest} exists: the essentials need an empty data directory")
        except FileNotFoundError:
            pass
        part = os.path.join(self.temp_dir, row.rel_path + ".part")
        self._ensure(os.path.dirname(part))
        fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.fstat(fd)
        body = self._get(row.url)
        if len(body) != row.expected_size_bytes:
            raise SystemExit(f"{row.url}: {len(body)} bytes, planned {row.expected_size_bytes}")
        digest = hashlib.sha256(body).hexdigest()
        result = verify_file(Path(dest), product_kind=row.product_kind, expected_size=row.expected_size_bytes,
                             expected_checksum=row.expected_checksum, observed_hashes={"sha256": digest},
                             contents=body)
        if not result.ok:
            raise SystemExit(f"{row.url}: {result.error}")
        os.pwrite(fd, body, 0)
        return fd, part, dest, body, digest, result.level

    def _ensure(self, directory: str) -> None:
        if directory not in self.made:
            os.makedirs(directory, exist_ok=True)
            self.made.add(directory)

    def _get(self, url: str) -> bytes:
        parts = urlsplit(url)
        if self.connection is None:
            self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            self.connection.response_class = self.response_class
        self.connection.request("GET", parts.path, headers={"Accept-Encoding": "identity"})
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"{url}: HTTP {response.status}")
        return body

    def commit(self) -> None:
        for fd, _, _ in self.staged:
            os.fdatasync(fd)
        directories = set()
        for fd, part, dest in self.staged:
            self._ensure(os.path.dirname(dest))
            os.replace(part, dest)
            os.close(fd)
            directories.add(os.path.dirname(dest))
        for directory in directories:
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self.staged.clear()

    def close(self) -> None:
        self.commit()
        if self.connection is not None:
            self.connection.close()


# ---- the same work inside a real sync's worker processes ------------------------------------------

def install_in_pipeline() -> None:
    """Make ``FilePipeline.run`` do the essentials and nothing else, for ``ab_sync.py --lean-workers``.

    A whole ``ratdcs sync`` then keeps its writer, its worker processes, their batches and the
    group commit (``commit.commit_batch``), and each file costs only the work listed in this
    module's text: the wall time of such a sync is the bound of a leaner worker path inside
    today's design. Each file comes back as the pipeline's own would (a staged ``Finished`` with
    one transfer record), so the writer's work per file is unchanged. Small files of an empty data
    directory only: anything else stops the run (``SystemExit``), it is not handled.
    """
    import threading

    from ratdcs_catalog.records import FileOutcome, TransferRecord, utc_now
    from ratdcs_catalog.sync import pipeline

    local = threading.local()  # one EssentialFetcher per thread: its kept-alive connection

    def run(self, row, fetcher, lost=None):
        if getattr(local, "essentials", None) is None:
            local.essentials = EssentialFetcher(self.data_dir, self.temp_dir)
        started = utc_now()
        fd, part, dest, body, digest, level = local.essentials.stage(row)
        record = TransferRecord(started, utc_now(), "done", 200, None, len(body), url=row.url)
        outcome = FileOutcome(row.file_id, "done", observed_size_bytes=len(body), observed_sha256=digest,
                              verify_level=level, transfers=(record,), checksum_source="plan")
        return pipeline.Finished(outcome, row.rel_path, bytes_received=len(body),
                                 staged=pipeline.Staged(Path(part), Path(dest), fd))

    pipeline.FilePipeline.run = run
