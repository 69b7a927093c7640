"""Which URL a file comes from: MAST's cloud copy first, the archive's own URL after it (issue 16).

MAST keeps public copies of Kepler, K2 and TESS files in the ``stpubdata`` S3 bucket; ``plan``
records each file's copy as ``mirror_url`` (sources/cloud.py). Here, per file:

- ``transport.cloud = never`` (or ``--no-cloud``), or no copy: the archive's URL, as before;
- otherwise the copy first. When it answers 403 (AccessDenied) or 404 (NoSuchKey) the file is
  fetched from the archive's URL at once; under ``auto`` also when the copy's retries ran out
  for any other reason. Every attempt, on either URL, is a transfer record with its URL;
- a copy's ``ETag`` of 32 hex digits is the MD5 of an object uploaded in one part: the body's
  MD5 (streamed) is checked against it before the FITS checks, ``checksum_source = 's3_etag'``.
  A multipart ETag (``<hex>-<parts>``) is the MD5 of the parts' MD5s, not of the body: it is
  never compared.

Nothing here touches the manifest or the final file; ``pipeline.py`` calls ``fetch_by_route``
where it fetched ``row.url``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from pathlib import Path
from typing import Mapping

from ..partials import load_validator
from ..records import ClaimedFile
from ..transfer import FetchResult, Fetcher

__all__ = ["Routes", "checksum_source", "fetch_by_route", "s3_etag_md5"]

# The copy's answers that say "not here" (S3's NoSuchKey; AccessDenied where listing is not public).
NOT_THERE = (403, 404)
_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')


@dataclasses.dataclass(frozen=True)
class Routes:
    """The transport.* settings: whether and how the cloud copy is used, and its connection limit."""

    cloud: str = "auto"  # auto | prefer | never
    mirror_prefix: str = ""
    connections: int = 16

    @classmethod
    def from_config(cls, config: Mapping) -> "Routes":
        return cls(config["transport.cloud"], config["endpoints.cloud_mirror"], config["transport.cloud_connections"])

    def gate_domains(self) -> dict[str, int]:
        """The cloud copy as its own politeness domain (net/gates.py), with its own connection limit."""
        return {self.mirror_prefix: self.connections} if self.cloud != "never" and self.mirror_prefix else {}

    def mirror_of(self, row: ClaimedFile) -> str | None:
        return row.mirror_url if self.cloud != "never" and row.mirror_url else None

    def falls_back(self, mirror: FetchResult) -> bool:
        """Whether a failed fetch from the copy goes on to the archive's URL."""
        if mirror.outcome != "failed":
            return False  # interrupted or disk full: the run stops, the row is resumed later
        return mirror.http_status in NOT_THERE or self.cloud == "auto"


def fetch_by_route(fetcher: Fetcher, row: ClaimedFile, temp: Path, routes: Routes, *,
                   want_md5: bool = False, fd: int | None = None) -> FetchResult:
    """``fetcher.fetch`` of the file from the copy, else (or after the copy failed) from ``row.url``."""
    mirror_url = routes.mirror_of(row)
    if mirror_url is None:
        return fetcher.fetch(row.url, temp, expected_size=row.expected_size_bytes, want_md5=want_md5, fd=fd)
    mirror = fetcher.fetch(mirror_url, temp, expected_size=row.expected_size_bytes, want_md5=True, fd=fd)
    if mirror.outcome == "done":
        md5 = s3_etag_md5(mirror.etag)
        if md5 and not mirror.announced_checksum:
            mirror.announced_checksum, mirror.checksum_source = f"md5:{md5}", "s3_etag"
        return mirror
    if not routes.falls_back(mirror):
        return mirror
    last = mirror.records[-1]
    note = f"{last.error}; fetching it from the archive's URL instead"
    _restart_unversioned(temp)
    archive = fetcher.fetch(row.url, temp, expected_size=row.expected_size_bytes, want_md5=want_md5, fd=fd)
    archive.records = [*mirror.records[:-1], dataclasses.replace(last, outcome="retry", error=note),
                       *archive.records]
    archive.bytes_received += mirror.bytes_received
    return archive


def s3_etag_md5(etag: str | None) -> str | None:
    """The body's MD5 an S3 ETag gives: only a single-part object's (32 hex digits, no '-')."""
    match = _MD5_ETAG.match((etag or "").strip())
    return match.group(1).lower() if match else None


def checksum_source(row: ClaimedFile, fetched: FetchResult) -> str | None:
    """Where the checksum ``verify_file`` checked came from (the row's ``checksum_source``)."""
    if row.expected_checksum:
        return "plan"
    if fetched.announced_checksum:
        return fetched.checksum_source or "header"
    return None


def _restart_unversioned(temp: Path) -> None:
    """Bytes the copy left in the .part with no recorded version cannot be resumed safely from
    the archive (no If-Range to refuse a splice): start the archive's download from byte 0. With
    a version recorded, the archive answers If-Range with the whole file unless it is the same."""
    if load_validator(temp) is None:
        with contextlib.suppress(FileNotFoundError):
            os.truncate(temp, 0)
