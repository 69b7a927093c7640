"""`ratdcs verify`, `retry` and `reset`: the disk against the manifest, and rows moved back to pending."""

import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.dataset import verify_dataset
from ratdcs_catalog.errors import DataDirError
from ratdcs_catalog.manifest import open_manifest

from build_manifest import LC_SIZE, TESS_A, TESS_B, flip_byte

KEPLER_DONE = "kepler/kplr005110407-2009350155506_llc.fits"
TESS_DONE = f"tess/fits/tess2018206045859-s0001-0000000{TESS_A}-0120-s_lc.fits"


def run(ds, *args, data_dir=None, db=None):
    return CliRunner().invoke(cli, ["--db", str(db or ds.manifest_path), *args],
                              env={"RATDCS_DATA_DIR": str(data_dir or ds.data_dir)})


def states(ds):
    with open_manifest(ds.manifest_path, readonly=True) as m:
        return {r["rel_path"]: (r["state"], r["last_error_kind"]) for r in m.query("SELECT * FROM files")}


def test_intact_dataset_fast_and_deep(ds):
    fast = run(ds, "verify")
    assert (fast.exit_code, fast.output) == (0, "Verified 5 done files (fast): all intact.\n")
    deep = run(ds, "verify", "--deep")
    assert (deep.exit_code, deep.output) == (0, "Verified 5 done files (deep): all intact.\n")
    with open_manifest(ds.manifest_path, readonly=True) as m:
        rows = m.query("SELECT verify_level, verified_at FROM files WHERE state = 'done'")
    assert {r["verify_level"] for r in rows} == {"fits_checksum"} and all(r["verified_at"] for r in rows)


def test_fast_verify_finds_a_deleted_file_and_requeues_it(ds):
    ds.path(KEPLER_DONE).unlink()
    before = states(ds)
    result = run(ds, "verify")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Verified 5 done files (fast): 4 intact, 1 not (missing_on_disk 1). 1 rows moved to pending - "
        "run `ratdcs sync` to fetch them again. Dataset NOT intact.")
    assert f"{KEPLER_DONE} is missing from {ds.data_dir}; row back for download" in result.output
    after = states(ds)
    assert after[KEPLER_DONE] == ("pending", "missing_on_disk")
    assert {k: v for k, v in after.items() if k != KEPLER_DONE} == {k: v for k, v in before.items() if k != KEPLER_DONE}


def test_fast_verify_finds_a_truncated_file(ds):
    path = ds.path(TESS_DONE)
    path.write_bytes(path.read_bytes()[:1000])
    result = run(ds, "verify", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert summary["counts"] == {"size_changed_on_disk": 1} and summary["intact"] is False
    assert summary["problems"][0]["error"] == (f"size of {TESS_DONE} changed on disk: the manifest records "
                                               f"{LC_SIZE} bytes, found 1000")


def test_a_flipped_byte_passes_fast_verify_but_not_deep(ds):
    flip_byte(ds.path(TESS_DONE))
    assert run(ds, "verify").exit_code == 0
    result = run(ds, "verify", "--deep", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert summary["counts"] == {"sha256_changed_on_disk": 1}
    assert summary["problems"][0]["error"].startswith(f"{TESS_DONE} changed on disk since download: sha256 was ")
    assert states(ds)[TESS_DONE] == ("pending", "sha256_changed_on_disk")


def test_deep_verify_finds_a_corrupted_and_a_deleted_file_together(ds):
    flip_byte(ds.path(TESS_DONE))
    ds.path(KEPLER_DONE).unlink()
    result = run(ds, "verify", "--deep")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Verified 5 done files (deep): 3 intact, 2 not (missing_on_disk 1, sha256_changed_on_disk 1). "
        "2 rows moved to pending - run `ratdcs sync` to fetch them again. Dataset NOT intact.")
    after = states(ds)
    assert (after[TESS_DONE], after[KEPLER_DONE]) == (("pending", "sha256_changed_on_disk"),
                                                      ("pending", "missing_on_disk"))
    assert sum(state == "done" for state, _ in after.values()) == 3
    again = run(ds, "verify", "--deep")  # the requeued rows are no longer done: the rest is intact
    assert (again.exit_code, again.output) == (0, "Verified 3 done files (deep): all intact.\n")


def test_deep_verify_without_a_recorded_hash_still_catches_damage_by_fits_checksum(ds):
    with open_manifest(ds.manifest_path) as m:  # e.g. a row adopted before sha256 was recorded
        m.conn.execute("UPDATE files SET observed_sha256 = NULL")
    flip_byte(ds.path(TESS_DONE), offset=30000)
    summary = json.loads(run(ds, "verify", "--deep", "--json").output)
    assert [(p["rel_path"], p["error_kind"]) for p in summary["problems"]] == [(TESS_DONE, "fits_checksum")]


def test_problem_rows_can_go_to_failed_instead(ds):
    ds.path(KEPLER_DONE).unlink()
    result = run(ds, "verify", "--on-problem", "failed")
    assert result.exit_code == 1
    assert ("1 rows marked failed (not fetched again) - `ratdcs retry` queues them for download. Dataset NOT "
            "intact.") in result.output
    assert f"{KEPLER_DONE} is missing from {ds.data_dir}; row marked failed" in result.output
    assert "row back for download" not in result.output
    assert states(ds)[KEPLER_DONE] == ("failed", "missing_on_disk")


def test_source_filter_checks_only_that_source(ds):
    ds.path(KEPLER_DONE).unlink()
    result = run(ds, "verify", "--source", "tess")
    assert (result.exit_code, result.output) == (0, "Verified 3 done files (fast): all intact.\n")
    assert states(ds)[KEPLER_DONE] == ("done", None)


def test_no_done_files(tmp_path):
    path = tmp_path / "m.sqlite"
    open_manifest(path).close()
    result = CliRunner().invoke(cli, ["--db", str(path), "verify"], env={"RATDCS_DATA_DIR": str(tmp_path)})
    assert (result.exit_code, result.output) == (0, "No done files to verify.\n")


def test_moved_data_directory_is_refused_naming_both_paths(ds, tmp_path):
    moved = tmp_path / "elsewhere" / "data"
    moved.parent.mkdir()
    shutil.move(ds.data_dir, moved)
    before = (moved / "manifest.sqlite").read_bytes()
    result = run(ds, "verify", db=moved / "manifest.sqlite", data_dir=ds.data_dir)
    assert result.exit_code == 2
    assert (f"Error: data directory {ds.data_dir} holds none of the 5 files that the manifest "
            f"{moved / 'manifest.sqlite'} lists as done; they are under {moved}") in result.output
    assert f"Hint: point data_dir at {moved} (RATDCS_DATA_DIR={moved} or data_dir in config.yaml)" in result.output
    assert "Nothing was changed" in result.output
    assert not ds.data_dir.exists()  # not even an empty data directory for a log file
    with open_manifest(moved / "manifest.sqlite", readonly=True) as m:
        assert m.query("SELECT COUNT(*) FROM files WHERE state = 'done'")[0][0] == 5
    assert run(ds, "verify", db=moved / "manifest.sqlite", data_dir=moved).exit_code == 0
    assert before  # the refused run wrote no row (counted above)


def test_empty_data_directory_elsewhere_is_refused_too(ds, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with open_manifest(ds.manifest_path) as m, pytest.raises(DataDirError, match=(
            f"data directory {empty} holds none of the 5 files that the manifest {ds.manifest_path} lists as done; "
            f"they are under {ds.data_dir}")):
        verify_dataset(m, empty)


# ---- retry and reset -----------------------------------------------------------------------

FAILED_KEPLER = "kepler/kplr005110407-2010078095331_llc.fits"
FAILED_TESS = f"tess/fits/tess2018234235059-s0002-0000000{TESS_B}-0121-s_lc.fits"


def attempts(ds, rel_path):
    with open_manifest(ds.manifest_path, readonly=True) as m:
        return m.query("SELECT attempts FROM files WHERE rel_path = ?", (rel_path,))[0][0]


def test_retry_by_reason_moves_only_matching_rows(ds):
    result = run(ds, "retry", "--reason", "http_503")
    assert (result.exit_code, result.output) == (0, "Moved 1 failed rows back to pending (attempts reset). "
                                                    "Next: ratdcs sync\n")
    assert states(ds)[FAILED_KEPLER][0] == "pending" and attempts(ds, FAILED_KEPLER) == 0
    assert states(ds)[FAILED_TESS][0] == "failed"


def test_retry_reason_matches_message_text_with_wildcards(ds):
    assert run(ds, "retry", "--reason", "expected*found").output.startswith("Moved 1 failed rows")
    assert states(ds)[FAILED_TESS][0] == "pending"


def test_retry_by_source_and_all(ds):
    assert run(ds, "retry", "--source", "ztf").output == "No failed rows matched; nothing moved.\n"
    assert run(ds, "retry").output.startswith("Moved 2 failed rows back to pending")
    assert {s for s, _ in states(ds).values()} == {"done", "pending"}


def test_reset_needs_a_choice_of_rows(ds):
    result = run(ds, "reset")
    assert result.exit_code == 2
    assert "Error: reset needs a choice of rows: --source, --target, --state or --file-id" in result.output
    assert "Hint: or pass --all to reset every row" in result.output


def test_reset_targeted_rows(ds):
    result = run(ds, "reset", "--source", "tess", "--target", TESS_A)
    assert (result.exit_code, result.output) == (0, "Reset 2 rows to pending (attempts and errors cleared). "
                                                    "Next: ratdcs sync\n")
    after = states(ds)
    assert [after[k][0] for k in after if TESS_A in k] == ["pending", "pending"]
    assert run(ds, "reset", "--state", "failed").output.startswith("Reset 2 rows")
    assert run(ds, "reset", "--file-id", "999").output == "Reset 0 rows to pending (attempts and errors cleared).\n"


def test_verify_refuses_a_file_that_is_not_a_manifest(tmp_path):
    path = tmp_path / "m.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE mine (x)").connection.commit()
    result = CliRunner().invoke(cli, ["--db", str(path), "verify"])
    assert result.exit_code == 2 and "is an SQLite database but not a ratdcs manifest" in result.output


def test_deep_verify_in_parallel_gives_each_file_its_own_verdict(ds):
    # Regression: FITS checks in threads once heard each other's astropy checksum warnings,
    # so corrupted files passed and good ones failed. Damage every other done file.
    with open_manifest(ds.manifest_path, readonly=True) as m:
        done = [r[0] for r in m.query("SELECT rel_path FROM files WHERE state = 'done' ORDER BY file_id")]
    damaged = done[::2]
    with open_manifest(ds.manifest_path) as m:  # no recorded hash: only the FITS checksums can tell
        m.conn.execute("UPDATE files SET observed_sha256 = NULL")
    for rel in damaged:
        flip_byte(ds.path(rel), offset=30000)
    for _ in range(3):
        with open_manifest(ds.manifest_path) as m:
            summary = verify_dataset(m, ds.data_dir, deep=True, workers=4, on_problem="failed")
            m.conn.execute("UPDATE files SET state = 'done' WHERE last_error_kind = 'fits_checksum'")
        assert sorted(p.rel_path for p in summary.problems) == sorted(damaged)
        assert {p.error_kind for p in summary.problems} == {"fits_checksum"}
