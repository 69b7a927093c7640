"""Schema versions 2 (targets.split, split_summary), 3 (source_progress agrees with `report
progress`) 4 (no source CHECK: the registry names sources) and 5 (files.split, below the target): real older manifests migrate forward."""

import re
import sqlite3
from pathlib import Path

import pytest

from ratdcs_catalog.manifest import SCHEMA_VERSION, open_manifest

DATA = Path(__file__).parent / "data"


def make_v1_manifest(path: Path) -> None:
    """A manifest exactly as ratdcs 0.1 (schema version 1) wrote it, with a target and two files."""
    conn = sqlite3.connect(path)
    conn.executescript((DATA / "schema_v1.sql").read_text())
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("INSERT INTO targets (source, target_id, name, teff_k, updated_at) "
                 "VALUES ('tess', '261136679', 'TIC 261136679', 5600.0, '2026-01-01T00:00:00.000000Z')")
    conn.executemany(
        "INSERT INTO files (source, target_id, product_kind, url, rel_path, expected_size_bytes, state, planned_at) "
        "VALUES ('tess', '261136679', 'lc_120s', ?, ?, 2039040, ?, '2026-01-01T00:00:00.000000Z')",
        [("http://a.test/1.fits", "tess/1.fits", "done"), ("http://a.test/2.fits", "tess/2.fits", "pending")])
    conn.commit()
    conn.close()


def test_schema_is_version_6():
    assert SCHEMA_VERSION == 6


def test_a_version_1_manifest_is_migrated_and_keeps_its_data(tmp_path):
    path = tmp_path / "m.sqlite"
    make_v1_manifest(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1
    with open_manifest(path) as m:
        assert m.query("PRAGMA user_version")[0][0] == 6
        target = m.query("SELECT target_id, name, teff_k, split FROM targets")[0]
        assert tuple(target) == ("261136679", "TIC 261136679", 5600.0, None)
        assert [tuple(r) for r in m.query("SELECT rel_path, state FROM files ORDER BY rel_path")] == [
            ("tess/1.fits", "done"), ("tess/2.fits", "pending")]
        assert [tuple(r) for r in m.query("SELECT * FROM split_summary")] == [("tess", "unassigned", 1, 2, 1)]
        assert m.assign_splits({("tess", "261136679"): "train"}) == 1
        assert [tuple(r) for r in m.query("SELECT * FROM split_summary")] == [("tess", "train", 1, 2, 1)]


def test_migrated_and_fresh_manifests_have_the_same_schema(tmp_path):
    make_v1_manifest(tmp_path / "old.sqlite")
    open_manifest(tmp_path / "old.sqlite").close()
    open_manifest(tmp_path / "new.sqlite").close()

    def shape(path):
        conn = sqlite3.connect(path)
        columns = {t: [tuple(c)[1:] for c in conn.execute(f"PRAGMA table_info({t})")]
                   for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        views = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
        indexes = {n: [r[2] for r in conn.execute(f"PRAGMA index_info({n})")] for (n,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
        return columns, views, indexes

    assert shape(tmp_path / "old.sqlite") == shape(tmp_path / "new.sqlite")
    for path in (tmp_path / "old.sqlite", tmp_path / "new.sqlite"):
        tables = " ".join(sql for (sql,) in sqlite3.connect(path).execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table'"))
        assert "CHECK (source IN" not in tables and "CHECK (state IN" in tables


def test_a_version_3_manifest_keeps_rows_transfers_and_foreign_keys_through_the_rebuild(tmp_path):
    path = tmp_path / "m.sqlite"
    make_v1_manifest(path)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO syncs (owner, arguments_json, started_at, workers) VALUES ('x', '{}', 't', 1)")
    conn.execute("INSERT INTO transfers (file_id, sync_id, started_at, outcome) VALUES (1, 1, 't', 'done')")
    conn.commit()
    conn.close()
    with open_manifest(path) as m:
        assert m.query("PRAGMA user_version")[0][0] == 6
        assert m.query("PRAGMA foreign_keys")[0][0] == 1 and m.query("PRAGMA foreign_key_check") == []
        assert [tuple(r) for r in m.query("SELECT file_id, rel_path FROM files ORDER BY file_id")] == [
            (1, "tess/1.fits"), (2, "tess/2.fits")]
        assert [tuple(r) for r in m.query("SELECT file_id, outcome FROM transfers")] == [(1, "done")]
        with pytest.raises(sqlite3.IntegrityError):  # the foreign keys still hold after the rebuild
            m.conn.execute("INSERT INTO transfers (file_id, started_at, outcome) VALUES (99, 't', 'done')")


def test_a_version_1_manifest_opened_read_only_asks_for_migration(tmp_path):
    import pytest

    from ratdcs_catalog.errors import ManifestError

    path = tmp_path / "m.sqlite"
    make_v1_manifest(path)
    with pytest.raises(ManifestError, match="has schema version 1; it needs migrating to 6"):
        open_manifest(path, readonly=True)


def source_progress_v2() -> str:
    """source_progress as versions 1 and 2 wrote it (version 2 did not change it)."""
    v1 = (DATA / "schema_v1.sql").read_text()
    return re.search(r"CREATE VIEW IF NOT EXISTS source_progress AS.*?;", v1, re.S).group(0)


def test_a_version_2_manifest_gets_a_source_progress_that_agrees_with_report_progress(tmp_path):
    from ratdcs_catalog.report import build_report

    path = tmp_path / "m.sqlite"
    make_v1_manifest(path)
    with open_manifest(path) as m:  # now current; turn it back into what version 2 wrote
        m.conn.executescript("DROP VIEW source_progress;" + source_progress_v2() + "PRAGMA user_version = 2;"
                             # what 5 -> 6 adds outside the files table (which 3 -> 4 rebuilds)
                             "ALTER TABLE transfers DROP COLUMN url; DROP TABLE manifest_settings;")
        m.conn.execute("UPDATE files SET state = 'pending'")  # no done or failed file: the v2 view said NULL
    with open_manifest(path) as m:
        assert m.query("PRAGMA user_version")[0][0] == 6
        view = [dict(r) for r in m.query("SELECT * FROM source_progress")]
        report = build_report(m, data_dir=tmp_path, sections=["progress"])["progress"]
    assert view == report == [{"source": "tess", "files_planned": 2, "files_done": 0, "files_failed": 0,
                               "files_remaining": 2, "planned_gb": 0.004, "downloaded_gb": 0.0,
                               "remaining_gb": 0.004}]
