"""Opening a manifest: create, migrate or refuse it; one connection and its transactions."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Iterator

from ..errors import ManifestError
from . import schema


class Connection:
    """A connection to one manifest, opened, migrated and checked. Not shared between threads."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | os.PathLike, *, create: bool = True, readonly: bool = False):
        path = Path(path).expanduser().absolute()
        new = not path.exists()
        if new:
            if readonly or not create:
                raise ManifestError(f"no manifest at {path}", hint=_no_manifest_hint(path))
            schema.make_parent(path)
        elif path.is_dir():
            raise ManifestError(f"{path} is a directory, not a manifest file", hint="pass --db with a file path")
        else:
            schema.check_is_sqlite(path)
        conn = schema.connect(path, readonly)
        manifest = cls(conn, path)
        try:
            manifest._prepare(readonly)
        except BaseException as exc:
            conn.close()
            if new:  # the empty file SQLite made would be refused as a manifest cut to 0 bytes next time
                _remove_if_empty(path)
            if isinstance(exc, sqlite3.DatabaseError) and (damage := schema.damage_error(path, exc)):
                damage.hint += "; the damaged file was left as it is"
                raise damage from None
            raise
        return manifest

    def _prepare(self, readonly: bool) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise ManifestError(
                f"{self.path} was written by a newer ratdcs (manifest schema version {version}; "
                f"this ratdcs knows up to {schema.SCHEMA_VERSION})",
                hint="upgrade ratdcs (pip install -U ratdcs) to use this manifest; it was left untouched")
        if version == 0 and self._has_tables():
            raise ManifestError(f"{self.path} is an SQLite database but not a ratdcs manifest "
                                "(it has tables and no schema version)",
                                hint="pass --db with a new file name; this file was left untouched")
        if not readonly:
            # Only now, after the version check: switching to WAL rewrites the file header,
            # and a manifest we refuse must be left byte-for-byte untouched.
            self.conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives a process crash; only a power cut can lose the
            # last transactions, and the files they describe are fsynced before the commit.
            self.conn.execute("PRAGMA synchronous = NORMAL")
        if version == schema.SCHEMA_VERSION or readonly:
            if readonly and version < schema.SCHEMA_VERSION:
                raise ManifestError(f"{self.path} has schema version {version}; it needs migrating to "
                                    f"{schema.SCHEMA_VERSION}", hint="run any writing command (e.g. `ratdcs report` "
                                    "without --sql) once to migrate it")
            return
        # A migration that rebuilds a table must not trip the foreign keys halfway (SQLite's
        # "other kinds of table schema changes"); they are checked as a whole before the commit.
        # The pragma is a no-op inside a transaction, so it is switched here, around it.
        self.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            with self.transaction():
                if version == 0:
                    schema.execute_script(self.conn, schema.schema_sql())
                else:
                    self._migrate(version)
        except sqlite3.OperationalError as exc:
            raise ManifestError(f"cannot write the manifest {self.path}: {exc}",
                                hint="check the directory's permissions and free space, or pass --db elsewhere"
                                ) from None
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")

    def _has_tables(self) -> bool:
        return self.conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='table'").fetchone()[0] > 0

    def _migrate(self, version: int) -> None:
        for step in range(version, schema.SCHEMA_VERSION):
            schema.execute_script(self.conn, schema.MIGRATIONS[step])
        broken = self.conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise sqlite3.OperationalError(f"migration left {len(broken)} rows whose foreign keys do not resolve "
                                           f"(first: table {broken[0][0]}, rowid {broken[0][1]})")
        self.conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (Ctrl-C included).

        IMMEDIATE takes the write lock up front, so two processes claiming rows serialize here
        instead of failing later with "database is locked" on upgrade from a read lock.
        """
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_size == 0:
            path.unlink()


def _no_manifest_hint(path: Path) -> str:
    """Run from inside the data directory, the default <data_dir>/manifest.sqlite is one level too
    deep (issue 19: data/data/): name the manifest that is right here."""
    here = Path.cwd() / path.name
    if here != path and here.is_file():
        return (f"there is one in the current directory: `--db {path.name}` (its recorded data directory is "
                "used), or run from the directory your configuration's data_dir is relative to")
    return "run `ratdcs plan ...` first, or pass --db with the right path"
