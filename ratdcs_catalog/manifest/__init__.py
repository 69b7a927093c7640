"""The manifest: the only package that holds SQL.

A manifest is one SQLite file (schema in ``schema.sql``). Opening one applies the schema to a
new database, migrates an older one forward, and refuses one written by a newer ratdcs.
Connections use WAL (readers never block the writer), a busy timeout (several ``ratdcs sync``
processes may share one manifest) and foreign keys.

Writers:
- planning: ``Manifest.plan_transaction`` -> ``upsert_targets`` / ``upsert_files`` -> counts;
- sync: ``claim_batch`` (atomic, lease-based, safe across processes), ``renew_leases``,
  ``record_outcomes`` (one short transaction per batch), ``release_leases``,
  ``reclaim_expired_leases``;
- maintenance: ``requeue_files``, ``retry_failed``, ``reset_files``, ``assign_splits``.
"""

from __future__ import annotations

import os

from ._connection import Connection
from .leases import SyncWrites
from .maintenance import MaintenanceWrites
from .planning import PlanWrites
from .reads import ChartReads, Reads
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["FILE_STATES", "MIGRATIONS", "Manifest", "SCHEMA_VERSION", "open_manifest"]

FILE_STATES = ("pending", "downloading", "done", "failed")


class Manifest(Connection, PlanWrites, SyncWrites, MaintenanceWrites, Reads, ChartReads):
    """One manifest: its connection (``Connection``), and every read and write, grouped by who needs them."""


def open_manifest(path: str | os.PathLike, *, create: bool = True, readonly: bool = False) -> "Manifest":
    """Open (and, if ``create``, make or migrate) the manifest at ``path``."""
    return Manifest.open(path, create=create, readonly=readonly)


