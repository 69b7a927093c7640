"""Issue 18 item 5: `ratdcs export manifest` reproduces a dataset elsewhere, byte for byte."""

import sqlite3

from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.sandbox import Fault


def invoke(env, *args, data_dir=None):
    environ = {"RATDCS_DATA_DIR": str(data_dir)} if data_dir else {}
    return CliRunner().invoke(cli, ["--config", str(env.config_path), *args], env=environ)


def rows(db):
    with open_manifest(db, readonly=True) as m:
        return {r["rel_path"]: dict(r) for r in m.query("SELECT * FROM files ORDER BY file_id")}


def portable(sync_env, tmp_path, *extra):
    sync_env.plan(sync_env.kepler_products(4))
    assert sync_env.sync().files_done == 4
    copy = tmp_path / "elsewhere" / "dataset.sqlite"
    result = invoke(sync_env, "--db", str(sync_env.db), "export", "manifest", str(copy), *extra)
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote a portable manifest of 4 files to {copy}\n"
    return copy


def test_the_copy_is_small_pending_pinned_and_has_no_local_paths(sync_env, tmp_path):
    copy = portable(sync_env, tmp_path)
    original, copied = rows(sync_env.db), rows(copy)
    assert set(copied) == set(original)
    for rel_path, row in copied.items():
        assert row["state"] == "pending" and row["attempts"] == 0 and row["lease_owner"] is None
        assert row["quarantine_path"] is None and row["downloaded_at"] is None and row["observed_sha256"] is None
        assert row["expected_checksum"] == "sha256:" + original[rel_path]["observed_sha256"]
    conn = sqlite3.connect(copy)
    assert conn.execute("SELECT COUNT(*) FROM transfers").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM syncs").fetchone()[0] == 0
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file, nothing beside it
    conn.close()
    data = copy.read_bytes()
    for local in (str(tmp_path), str(sync_env.data_dir), "/tmp/"):
        assert local.encode() not in data
    assert len(data) / len(copied) < 40_000  # the schema's pages dominate; rows are ~0.5 kB each
    assert [p.name for p in copy.parent.iterdir()] == ["dataset.sqlite"]  # no temp file left behind
    history = tmp_path / "with-history.sqlite"
    assert invoke(sync_env, "--db", str(sync_env.db), "export", "manifest", str(history),
                  "--with-history").exit_code == 0
    assert sqlite3.connect(history).execute("SELECT COUNT(*) FROM transfers").fetchone()[0] >= 4


def test_syncing_the_copy_elsewhere_gives_the_same_bytes_and_refuses_changed_ones(sync_env, sandbox, tmp_path):
    copy = portable(sync_env, tmp_path)
    original = rows(sync_env.db)
    result = invoke(sync_env, "--db", str(copy), "sync", data_dir=tmp_path / "other-data")
    assert result.exit_code == 0, result.output
    again = rows(copy)
    assert {r["state"] for r in again.values()} == {"done"}
    assert {p: r["observed_sha256"] for p, r in again.items()} == {p: r["observed_sha256"]
                                                                   for p, r in original.items()}
    assert all((tmp_path / "other-data" / p).is_file() for p in again)

    third = portable_copy_again(sync_env, tmp_path)
    changed = sorted(original)[0]
    sandbox.add_fault(Fault("flip_bytes", pattern=changed.rsplit("/", 1)[1].replace(".", r"\.")))
    result = invoke(sync_env, "--db", str(third), "sync", data_dir=tmp_path / "third-data")
    sandbox.clear_faults()
    assert result.exit_code == 1, result.output
    final = rows(third)
    assert final[changed]["state"] == "failed" and final[changed]["last_error_kind"] == "checksum_mismatch"
    assert {r["state"] for p, r in final.items() if p != changed} == {"done"}


def portable_copy_again(sync_env, tmp_path):
    copy = tmp_path / "third.sqlite"
    assert invoke(sync_env, "--db", str(sync_env.db), "export", "manifest", str(copy)).exit_code == 0
    return copy
