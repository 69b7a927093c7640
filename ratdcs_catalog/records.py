"""What the layers hand each other: a planned file, a claimed file, one transfer, one outcome.

These records are the contract between planning (``sources/``), the manifest, the sync engine
and the transfer code. They live here, not in ``manifest``, so that the planners and the
transfer code never import the database layer (httpx keeps ``Request``/``Response`` apart
from its client for the same reason). Nothing here imports anything of ratdcs.

Data's path, one way down::

    sources  -> PlannedFile   -> manifest (pending)
    manifest -> ClaimedFile   -> sync -> transfer (TransferRecord per attempt) -> verify
    sync     -> FileOutcome   -> manifest (done / failed / pending)
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Mapping

__all__ = ["ClaimedFile", "FileOutcome", "PERIOD_FIELDS", "PlannedFile", "TransferRecord", "UpsertCounts", "utc_now"]


def utc_now(offset_seconds: float = 0.0) -> str:
    """Current UTC time as sortable ISO-8601 text (``2026-12-01T16:58:00.123456Z``), optionally shifted.

    A sync stamps every transfer twice; ``datetime.strftime`` cost 8 us a call, so the text up
    to the second is made once per second and the microseconds appended (under 1 us).
    """
    global _second_text
    now = time.time() + offset_seconds
    second = int(now // 1)
    cached = _second_text
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        _second_text = cached  # one tuple swapped: a thread sees the old one or the new one, whole
    return f"{cached[1]}.{min(int((now - second) * 1e6), 999_999):06d}Z"


_second_text: tuple[int, str] = (-1, "")


@dataclasses.dataclass(frozen=True)
class PlannedFile:
    """A file a plan intends to have, as the planner hands it to the manifest."""

    source: str
    target_id: str
    product_kind: str
    url: str
    rel_path: str
    archive_uri: str | None = None
    expected_size_bytes: int | None = None
    expected_checksum: str | None = None
    # When it was observed, from the archive's metadata (None where it does not apply).
    quarter: int | None = None
    campaign: int | None = None
    campaign_part: int | None = None
    sector: int | None = None
    # The same file in the archive's cloud copy (MAST's public S3 bucket), None where it has none.
    mirror_url: str | None = None


# The PlannedFile fields that say when a file was observed (files columns of the same names).
PERIOD_FIELDS = ("quarter", "campaign", "campaign_part", "sector")


@dataclasses.dataclass(frozen=True)
class ClaimedFile:
    """A manifest row a sync holds under its lease: what one file's pipeline needs to know."""

    file_id: int
    source: str
    target_id: str
    product_kind: str
    url: str
    rel_path: str
    archive_uri: str | None = None
    expected_size_bytes: int | None = None
    expected_checksum: str | None = None
    observed_sha256: str | None = None  # recorded at an earlier download: an adopted file must still match
    attempts: int = 0
    mirror_url: str | None = None  # the cloud copy, tried first when transport.cloud allows

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "ClaimedFile":
        """From a whole ``files`` row (sqlite3.Row or dict); other columns are ignored. A sync's
        claims do not come through here: they return just ``CLAIMED_COLUMNS``, built by position."""
        keys = row.keys()
        return cls(**{name: row[name] for name in _CLAIMED_FIELDS if name in keys})


# Read once (fields() walks the class each call): from_row's names, and CLAIMED_COLUMNS's order.
_CLAIMED_FIELDS = tuple(f.name for f in dataclasses.fields(ClaimedFile))
# The files columns of a ClaimedFile, in its fields' order: a claim returns just these, so each row
# becomes ``ClaimedFile(*row)``: 31-33 us a row, where ``RETURNING *`` and ``from_row`` took 45-46.
CLAIMED_COLUMNS = ", ".join(_CLAIMED_FIELDS)


@dataclasses.dataclass
class UpsertCounts:
    """What one plan did to the manifest's rows (see ``Manifest.upsert_files``)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_upstream: int = 0
    bytes_total: int = 0
    bytes_new: int = 0
    # New files refused because the manifest already has their URL under another destination:
    # rel_path -> the sentence saying so.
    refused: dict[str, str] = dataclasses.field(default_factory=dict)

    def add(self, other: "UpsertCounts") -> None:
        for field in dataclasses.fields(self):
            if field.name == "refused":
                self.refused.update(other.refused)
            else:
                setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


@dataclasses.dataclass(frozen=True)
class TransferRecord:
    """One HTTP attempt at one file, for the transfer log."""

    started_at: str
    ended_at: str
    outcome: str  # done, adopted, retry, failed, interrupted
    http_status: int | None = None
    range_start: int | None = None
    bytes_received: int = 0
    error_kind: str | None = None
    error: str | None = None
    url: str | None = None  # the URL asked: the cloud copy's or the archive's


@dataclasses.dataclass(frozen=True)
class FileOutcome:
    """What a sync learned about one claimed file; ``state`` is where the row goes next."""

    file_id: int
    state: str  # done, failed, pending (interrupted, disk full, retry later)
    observed_size_bytes: int | None = None
    observed_sha256: str | None = None
    verify_level: str | None = None
    nan_fraction: float | None = None
    error_kind: str | None = None
    error: str | None = None
    quarantine_path: str | None = None
    transfers: tuple[TransferRecord, ...] = ()
    checksum_source: str | None = None  # where the checksum verified came from: plan, s3_etag, header
