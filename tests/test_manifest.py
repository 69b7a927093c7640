"""The manifest layer: schema, migration, refusals, upserts, leases and outcomes."""

import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ratdcs_catalog.manifest import schema as manifest_module
from ratdcs_catalog.errors import ManifestError
from ratdcs_catalog.manifest import SCHEMA_VERSION, open_manifest
from ratdcs_catalog.records import ClaimedFile, FileOutcome, PlannedFile, TransferRecord, utc_now

ROOT = Path(__file__).resolve().parents[1]


def planned(n, *, source="kepler", size=1000, start=0):
    return [PlannedFile(source, str(i % 7), "lc_long", f"http://archive.test/{i}.fits", f"{source}/{i}.fits",
                        archive_uri=f"mast:X/{i}.fits", expected_size_bytes=size) for i in range(start, start + n)]


def fill(m, files, plan_args=None):
    with m.transaction():
        plan_id = m.begin_plan(files[0].source, plan_args or {})
        m.upsert_targets([{"source": f.source, "target_id": f.target_id} for f in files], plan_id)
        counts = m.upsert_files(files, plan_id)
        m.finish_plan(plan_id, len({f.target_id for f in files}), counts)
    return counts


def test_schema_sql_applies_to_an_empty_database(tmp_path):
    conn = sqlite3.connect(tmp_path / "plain.sqlite")
    conn.executescript((ROOT / "schema.sql").read_text())
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"files", "targets", "plans", "transfers", "syncs", "source_state_summary", "failure_reasons",
            "incomplete_targets", "failed_files", "source_progress", "recent_syncs"} <= names


def test_packaged_schema_is_the_top_level_schema():
    from importlib import resources
    assert resources.files("ratdcs_catalog").joinpath("schema.sql").read_text() == (ROOT / "schema.sql").read_text()


def test_open_creates_with_wal_and_foreign_keys(tmp_path):
    with open_manifest(tmp_path / "sub" / "m.sqlite") as m:
        assert m.query("PRAGMA journal_mode")[0][0] == "wal"
        assert m.query("PRAGMA foreign_keys")[0][0] == 1
        assert m.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION


def test_newer_manifest_is_refused_untouched(tmp_path):
    path = tmp_path / "m.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ManifestError, match=rf"written by a newer ratdcs \(manifest schema version "
                                            rf"{SCHEMA_VERSION + 1}; this ratdcs knows up to {SCHEMA_VERSION}\)"):
        open_manifest(path)
    assert path.read_bytes() == before


def test_non_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my precious notes\n")
    with pytest.raises(ManifestError, match=r"is not an SQLite database \(it starts with b'my preci'\)"):
        open_manifest(path)
    assert path.read_text() == "my precious notes\n"


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ManifestError, match="is an SQLite database but not a ratdcs manifest"):
        open_manifest(path)
    assert path.read_bytes() == before


def test_unwritable_location_is_refused():
    with pytest.raises(ManifestError, match="cannot"):
        open_manifest("/proc/self/ratdcs/m.sqlite")


def test_older_manifest_is_migrated_forward_in_one_transaction(tmp_path, monkeypatch):
    path = tmp_path / "m.sqlite"
    with open_manifest(path) as m:
        fill(m, planned(3))
    # Pretend this ratdcs knows one more version whose migration adds a column.
    monkeypatch.setattr(manifest_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(manifest_module.MIGRATIONS, SCHEMA_VERSION,
                        "ALTER TABLE files ADD COLUMN note TEXT;\nUPDATE files SET note = 'migrated';\n")
    with open_manifest(path) as m:
        assert m.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION + 1
        assert [r["note"] for r in m.query("SELECT note FROM files")] == ["migrated"] * 3


def test_a_failing_migration_leaves_the_manifest_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "m.sqlite"
    with open_manifest(path) as m:
        fill(m, planned(3))
    monkeypatch.setattr(manifest_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(manifest_module.MIGRATIONS, SCHEMA_VERSION,
                        "ALTER TABLE files ADD COLUMN note TEXT;\nSELECT * FROM no_such_table;\n")
    with pytest.raises(ManifestError):
        open_manifest(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "note" not in [r[1] for r in conn.execute("PRAGMA table_info(files)")]


def test_replanning_is_idempotent_and_tracks_upstream_changes(tmp_path):
    with open_manifest(tmp_path / "m.sqlite") as m:
        assert fill(m, planned(5)).new == 5
        again = fill(m, planned(5))
        assert (again.new, again.updated, again.unchanged) == (0, 0, 5)
        rows = m.claim_batch("me", 1, 60)
        m.record_outcomes("me", None, [FileOutcome(rows[0].file_id, "done", 1000, "ab", "size")])
        changed = fill(m, planned(5, size=2000))
        assert (changed.changed_upstream, changed.updated, changed.new) == (1, 4, 0)
        row = m.query("""SELECT state, changed_upstream, expected_size_bytes, observed_size_bytes, observed_sha256,
                                verify_level FROM files WHERE file_id = ?""", (rows[0].file_id,))[0]
        assert tuple(row) == ("pending", 1, 2000, None, None, None)
        assert m.query("SELECT COUNT(*) FROM plans")[0][0] == 3


def test_claims_lease_renew_release_and_reclaim(tmp_path):
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, planned(10))
        first = m.claim_batch("a", 4, 60)
        second = m.claim_batch("b", 100, -1)  # already expired: a dead process's lease
        assert [r.file_id for r in first] == [1, 2, 3, 4]
        assert [r.file_id for r in second] == list(range(5, 11))
        assert m.claim_batch("c", 10, 60) == []
        assert m.reclaim_expired_leases() == 6
        assert m.release_leases("a") == 4
        states = m.query("SELECT state, COUNT(*) n, MAX(attempts) a FROM files GROUP BY state")
        # A claim is not an attempt (review finding 7): rows a dead sync claimed but never
        # started come back with no attempt counted.
        assert [tuple(r) for r in states] == [("pending", 10, 0)]


def test_a_claimed_row_carries_every_field_of_its_files_row(tmp_path):
    """A claim returns only ClaimedFile's columns, by position: each field must come from its own column."""
    files = planned(3, size=5760)
    files[1] = dataclasses.replace(files[1], expected_checksum="sha256:" + "ab" * 32, mirror_url="s3://bucket/1.fits")
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, files)
        claimed = m.claim_batch("a", 10, 60)
        rows = {r["file_id"]: r for r in m.query("SELECT * FROM files")}
    assert claimed == [ClaimedFile.from_row(rows[c.file_id]) for c in claimed]
    assert claimed[1].expected_checksum == "sha256:" + "ab" * 32 and claimed[1].mirror_url == "s3://bucket/1.fits"
    assert claimed[1].rel_path == "kepler/1.fits" and claimed[1].expected_size_bytes == 5760


def test_claim_respects_filters_and_byte_budget(tmp_path):
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, planned(10))
        fill(m, planned(3, source="tess", start=100))
        assert m.selection_totals(sources=["tess"]) == (3, 3000, 0)
        assert [r.source for r in m.claim_batch("a", 10, 60, sources=["tess"])] == ["tess"] * 3
        assert len(m.claim_batch("a", 10, 60, max_bytes=2500)) == 2
        assert {r.target_id for r in m.claim_batch("a", 10, 60, target_ids=["3"])} == {"3"}


def test_outcomes_apply_only_while_the_lease_is_ours(tmp_path):
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, planned(2))
        ours = m.claim_batch("a", 2, -1)
        m.reclaim_expired_leases()
        taken = m.claim_batch("b", 1, 60)
        t = TransferRecord(utc_now(), utc_now(), "done", 200, None, 1000)
        applied = m.record_outcomes("a", None, [
            FileOutcome(ours[0].file_id, "done", 1000, "aa", "size", transfers=(t,))])
        assert applied == 0 and taken[0].file_id == ours[0].file_id
        assert m.query("SELECT state, lease_owner FROM files WHERE file_id = 1")[0][:] == ("downloading", "b")
        assert m.query("SELECT COUNT(*) FROM transfers")[0][0] == 1


def test_failed_rows_retry_only_with_attempts_left(tmp_path):
    with open_manifest(tmp_path / "m.sqlite") as m:
        fill(m, planned(1))
        for _ in range(3):
            row = m.claim_batch("a", 1, 60, include_failed=True, max_attempts=3)[0]
            m.record_outcomes("a", None, [FileOutcome(row.file_id, "failed", error_kind="http_503",
                                                      error="HTTP 503 after 3 retries")])
        assert m.claim_batch("a", 1, 60, include_failed=True, max_attempts=3) == []
        assert m.retry_failed(reason_like="%503%") == 1
        assert tuple(m.query("SELECT state, attempts FROM files")[0]) == ("pending", 0)


CLAIMER = textwrap.dedent("""
    import sys, time
    from ratdcs_catalog.manifest import open_manifest
    m = open_manifest(sys.argv[1])
    start_at = float(sys.argv[3])
    while time.time() < start_at:  # both processes start claiming at the same moment
        time.sleep(0.001)
    got = []
    while True:
        rows = m.claim_batch(sys.argv[2], 3, 600)
        if not rows:
            break
        got += [r.file_id for r in rows]
        time.sleep(0.0005)  # as a sync does between claims; lets the other process in
    print(" ".join(map(str, got)))
""")


def test_two_processes_never_claim_the_same_row(tmp_path):
    path = tmp_path / "m.sqlite"
    with open_manifest(path) as m:
        fill(m, planned(600))
    start_at = str(time.time() + 1.5)
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(path), owner, start_at], stdout=subprocess.PIPE,
                              text=True) for owner in ("p1", "p2")]
    claimed = [set(map(int, p.communicate(timeout=120)[0].split())) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert claimed[0] and claimed[1], "both processes must have raced for rows"
    assert claimed[0].isdisjoint(claimed[1])
    assert claimed[0] | claimed[1] == set(range(1, 601))
    with open_manifest(path) as m:
        owners = dict(m.query("SELECT lease_owner, COUNT(*) FROM files GROUP BY lease_owner"))
    assert owners == {"p1": len(claimed[0]), "p2": len(claimed[1])}


def test_utc_now_is_sortable_iso_text_with_microseconds_and_shifts():
    import datetime as dt
    import re

    before = dt.datetime.now(dt.timezone.utc)
    text, later = utc_now(), utc_now(90.25)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text)
    parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    assert dt.timedelta(0) <= parsed - before.replace(microsecond=before.microsecond // 1000 * 1000) < dt.timedelta(seconds=2)
    shift = dt.datetime.strptime(later, "%Y-%m-%dT%H:%M:%S.%fZ") - dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    assert dt.timedelta(seconds=90) < shift < dt.timedelta(seconds=91) and later > text
