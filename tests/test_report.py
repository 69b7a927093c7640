"""`ratdcs report`: named sections in four formats, `report failed`, read-only `--sql`, bad manifests."""

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.manifest import SCHEMA_VERSION, open_manifest
from ratdcs_catalog.report import SECTIONS, build_report, run_readonly_sql
from build_manifest import LC_SIZE


def run(ds, *args):
    return CliRunner().invoke(cli, ["--db", str(ds.manifest_path), *args], env={"RATDCS_DATA_DIR": str(ds.data_dir)})


def test_default_report_has_every_section_in_order(ds):
    result = run(ds, "report")
    assert result.exit_code == 0, result.output
    titles = ["Progress per source (GB = 10^9 bytes)", "Files and bytes per source and state", "Failures by reason",
              "Targets with files still missing", "Recent syncs", "Dataset statistics", "Train/val/test splits"]
    positions = [result.output.index(t) for t in titles]
    assert positions == sorted(positions)


def test_progress_gives_planned_downloaded_and_remaining(ds):
    progress = {r["source"]: r for r in json.loads(run(ds, "report", "progress", "--json").output)}
    assert progress["tess"] == {"source": "tess", "files_planned": 5, "files_done": 3, "files_failed": 1,
                                "files_remaining": 2, "planned_gb": round(5 * LC_SIZE / 1e9, 3),
                                "downloaded_gb": round(3 * LC_SIZE / 1e9, 3), "remaining_gb": round(2 * LC_SIZE / 1e9, 3)}
    assert progress["total"]["files_planned"] == 9 and progress["total"]["files_done"] == 5
    assert progress["ztf"]["planned_gb"] == 0.0  # IRSA gives no sizes; states shows files_unknown_size


def test_progress_matches_the_source_progress_view(ds):
    with open_manifest(ds.manifest_path, readonly=True) as m:
        computed = {r["source"]: r for r in build_report(m, sections=["progress"])["progress"]}
        for view in m.query("SELECT * FROM source_progress"):
            mine = computed[view["source"]]
            assert (mine["files_planned"], mine["files_done"], mine["planned_gb"], mine["downloaded_gb"],
                    mine["remaining_gb"]) == (view["files_planned"], view["files_done"] or 0, view["planned_gb"],
                                              view["downloaded_gb"], view["remaining_gb"])


def test_failures_are_grouped_by_reason_with_an_example(ds):
    rows = json.loads(run(ds, "report", "failures", "--json").output)
    assert [(r["source"], r["error_kind"], r["files"], r["example_error"]) for r in rows] == [
        ("kepler", "http_503", 1, "503 Service Unavailable after 3 retries"),
        ("tess", "size_mismatch", 1, f"size mismatch: expected {LC_SIZE} bytes, found 1024")]


def test_incomplete_targets_and_recent_syncs(ds):
    report = json.loads(run(ds, "report", "--json").output)
    assert [(r["source"], r["target_id"], r["files_missing"]) for r in report["incomplete"]] == [
        ("tess", "150428135", 2), ("kepler", "5110407", 1), ("ztf", "600", 1)]
    (sync,) = report["syncs"]
    assert (sync["files_done"], sync["files_failed"], sync["bytes_received"]) == (5, 2, 5 * LC_SIZE)
    assert sync["elapsed_seconds"] >= 0


def test_statistics_count_tess_fits_and_metadata_files(ds):
    stats = {r["statistic"]: r["value"] for r in json.loads(run(ds, "report", "stats", "--json").output)}
    assert stats["total files"] == 5 and stats["tess files"] == 3 and stats["kepler files"] == 2
    assert stats["total size GB"] == round(5 * LC_SIZE / 1e9, 3)
    assert (stats["tess light-curve FITS files"], stats["tess metadata JSON files"]) == (3, 0)
    assert run(ds, "export", "tess-metadata").exit_code == 0
    stats = {r["statistic"]: r["value"] for r in json.loads(run(ds, "report", "stats", "--json").output)}
    assert stats["tess metadata JSON files"] == 2  # one per TESS target with downloaded files


def test_csv_and_markdown_formats(ds):
    blocks = run(ds, "report", "--csv").output.split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [f"# {s}" for s in SECTIONS]
    progress = list(csv.DictReader(io.StringIO(blocks[0].split("\n", 1)[1])))
    assert progress[0]["source"] == "kepler" and progress[0]["files_planned"] == "3"
    markdown = run(ds, "report", "failures", "--markdown").output.splitlines()
    assert markdown[0] == "| source | error_kind | files | example_path | example_error |"
    assert markdown[1] == "|---|---|---|---|---|"


def test_report_failed_lists_failed_files_with_reasons(ds):
    result = run(ds, "report", "failed", "--json")
    rows = json.loads(result.output)
    assert sorted((r["target_id"], r["last_error_kind"], r["attempts"]) for r in rows) == [
        ("150428135", "size_mismatch", 1), ("5110407", "http_503", 1)]
    only_tess = json.loads(run(ds, "report", "failed", "--source", "tess", "--json").output)
    assert [r["source"] for r in only_tess] == ["tess"]
    table = run(ds, "report", "failed", "--wide").output  # in full: the default cuts to the terminal
    assert "503 Service Unavailable after 3 retries" in table and "size_mismatch" in table


def test_empty_section_says_none(tmp_path):
    path = tmp_path / "m.sqlite"
    open_manifest(path).close()
    result = CliRunner().invoke(cli, ["--db", str(path), "report", "failed"])
    assert result.exit_code == 0 and result.output == "Failed files: none\n"


# ---- --sql ---------------------------------------------------------------------------------

def test_sql_runs_one_read_only_query(ds):
    result = run(ds, "report", "--sql", "SELECT state, COUNT(*) AS files FROM files GROUP BY state ORDER BY state",
                 "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"state": "done", "files": 5}, {"state": "failed", "files": 2},
                                         {"state": "pending", "files": 2}]
    table = run(ds, "report", "--sql", "SELECT state, COUNT(*) AS files FROM files GROUP BY state ORDER BY state")
    assert table.output == "state    files\n-------  -----\ndone     5\nfailed   2\npending  2\n"


@pytest.mark.parametrize("sql, refused", [
    ("INSERT INTO plans (source, arguments_json, started_at) VALUES ('x', '{}', 'now')", "INSERT into plans"),
    ("UPDATE files SET state = 'done'", "UPDATE of files"),
    ("DELETE FROM files", "DELETE from files"),
    ("DROP TABLE files", "DROP TABLE files"),
    ("DROP VIEW failed_files", "DROP VIEW failed_files"),
    ("CREATE TABLE mine (x)", "CREATE TABLE mine"),
    ("ALTER TABLE files ADD COLUMN x", "ALTER TABLE files"),
    ("ATTACH DATABASE '/tmp/other.sqlite' AS other", "ATTACH /tmp/other.sqlite"),
    ("PRAGMA writable_schema = ON", "PRAGMA writable_schema = ON"),
    ("PRAGMA user_version = 99", "PRAGMA user_version = 99"),
    ("PRAGMA query_only = OFF", "PRAGMA query_only = OFF"),
    ("BEGIN", "TRANSACTION BEGIN"),
    ("VACUUM", "ATTACH"),
])
def test_sql_that_writes_is_refused_and_changes_nothing(ds, sql, refused):
    before = ds.manifest_path.read_bytes()
    result = run(ds, "report", "--sql", sql)
    assert result.exit_code == 2
    assert f"Error: report --sql is read-only: {refused} refused\n" in result.output
    assert "Hint: change rows with `ratdcs retry`, `ratdcs reset`, `ratdcs verify` or `ratdcs split`" in result.output
    assert ds.manifest_path.read_bytes() == before
    if sql.startswith("ATTACH"):
        assert not Path("/tmp/other.sqlite").exists()


def test_sql_syntax_error_shows_sqlites_message(ds):
    result = run(ds, "report", "--sql", "SELEC * FROM files")
    assert result.exit_code == 2
    assert 'Error: SQL error: near "SELEC": syntax error\n' in result.output
    missing = run(ds, "report", "--sql", "SELECT * FROM no_such_view")
    assert missing.exit_code == 2 and "Error: SQL error: no such table: no_such_view" in missing.output


def test_sql_runs_one_statement_only(ds):
    result = run(ds, "report", "--sql", "SELECT 1; DELETE FROM files")
    assert result.exit_code == 2 and "Error: report --sql runs one statement; found more than one" in result.output


def test_sql_may_read_schema_pragmas(ds):
    assert run_readonly_sql(ds.manifest_path, "PRAGMA user_version").rows == [(SCHEMA_VERSION,)]
    columns = [r[1] for r in run_readonly_sql(ds.manifest_path, "PRAGMA table_info(targets)").rows]
    assert "split" in columns
    views = run_readonly_sql(ds.manifest_path, "SELECT name FROM sqlite_master WHERE type = 'view'")
    names = {r[0] for r in views.rows}
    assert {"source_progress", "failure_reasons", "split_summary"} <= names


# ---- manifests that cannot be used (finishing the foundation issue) --------------------------

def test_db_that_is_not_sqlite_is_refused_untouched(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my precious notes\n")
    result = CliRunner().invoke(cli, ["--db", str(path), "report"])
    assert result.exit_code == 2
    assert f"Error: {path} is not an SQLite database (it starts with b'my preci')" in result.output
    assert "this file was left untouched" in result.output
    assert path.read_text() == "my precious notes\n"


def test_db_with_a_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "m.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    for args in (["report"], ["report", "--sql", "SELECT 1"]):
        result = CliRunner().invoke(cli, ["--db", str(path), *args])
        assert result.exit_code == 2
        assert (f"Error: {path} was written by a newer ratdcs (manifest schema version {SCHEMA_VERSION + 1}; "
                f"this ratdcs knows up to {SCHEMA_VERSION})") in result.output
        assert "Hint: upgrade ratdcs" in result.output
    assert path.read_bytes() == before


def test_db_at_a_location_that_cannot_be_written(tmp_path):
    # Tests run as root, so chmod cannot make a place unwritable; /proc can.
    result = CliRunner().invoke(cli, ["--db", "/proc/self/ratdcs/m.sqlite", "report"])
    assert result.exit_code == 2
    assert "Error: no manifest at /proc/self/ratdcs/m.sqlite" in result.output
    assert "Hint: run `ratdcs plan ...` first, or pass --db with the right path" in result.output
    with pytest.raises(Exception, match="cannot create the manifest's directory /proc/self/ratdcs"):
        open_manifest("/proc/self/ratdcs/m.sqlite")  # what plan/sync, which create it, say


def test_missing_manifest_is_not_created_by_report(tmp_path):
    path = tmp_path / "nothing-here.sqlite"
    result = CliRunner().invoke(cli, ["--db", str(path), "report"])
    assert result.exit_code == 2 and f"Error: no manifest at {path}" in result.output
    assert not path.exists()


def test_report_migrates_a_version_1_manifest_but_sql_asks_for_it(tmp_path):
    from test_report_migration import make_v1_manifest

    path = tmp_path / "m.sqlite"
    make_v1_manifest(path)
    result = CliRunner().invoke(cli, ["--db", str(path), "report", "--sql", "SELECT COUNT(*) AS n FROM files"])
    assert result.exit_code == 2 and f"has schema version 1; it needs migrating to {SCHEMA_VERSION}" in result.output
    assert CliRunner().invoke(cli, ["--db", str(path), "report"]).exit_code == 0
    result = CliRunner().invoke(cli, ["--db", str(path), "report", "--sql", "SELECT COUNT(*) AS n FROM files"])
    assert result.output == "n\n-\n2\n"


def test_sections_are_their_named_views(ds):
    assert run(ds, "split").exit_code == 0
    with open_manifest(ds.manifest_path) as m:  # a target with no files still counts in split_summary
        m.upsert_targets([{"source": "kepler", "target_id": "1"}], None)
    with open_manifest(ds.manifest_path, readonly=True) as m:
        report = build_report(m, sections=["progress", "incomplete", "splits", "failures"], limit=100)

        def view(name, order):
            return [dict(r) for r in m.query(f"SELECT * FROM {name} ORDER BY {order}")]

        assert report["progress"][:-1] == view("source_progress", "source")
        assert report["progress"][-1]["source"] == "total"
        assert report["incomplete"] == view("incomplete_targets", "files_missing DESC, source, target_id")
        assert sorted(map(str, report["splits"])) == sorted(map(str, view("split_summary", "source")))
        assert report["failures"] == view("failure_reasons", "files DESC, source, error_kind")
        assert sum(r["targets"] for r in report["splits"]) == 6


def test_source_filter_is_for_report_failed_only(ds):
    result = run(ds, "report", "progress", "--source", "tess")
    assert result.exit_code == 2 and "Error: --source applies to `ratdcs report failed` only" in result.output
    assert "SELECT * FROM source_progress WHERE source = 'tess'" in result.output


def test_limit_caps_long_sections(ds):
    assert len(json.loads(run(ds, "report", "incomplete", "--limit", "1", "--json").output)) == 1
    assert len(json.loads(run(ds, "report", "failed", "--limit", "1", "--json").output)) == 1


@pytest.mark.parametrize("command", [["sync"], ["verify"], ["retry"], ["reset", "--state", "failed"], ["split"]])
def test_a_command_refusing_a_missing_manifest_leaves_no_log_and_no_data_dir(tmp_path, command):
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "nothing-here.sqlite"), *command],
                                env={"RATDCS_DATA_DIR": str(data)})
    assert result.exit_code == 2 and "Error: no manifest at" in result.output, result.output
    assert not data.exists()


def test_sql_must_hold_a_query_and_not_come_with_a_section(tmp_path):
    db = tmp_path / "m.sqlite"
    open_manifest(db).close()
    empty = CliRunner().invoke(cli, ["--db", str(db), "report", "--sql", "  "])
    assert empty.exit_code == 2 and "Error: --sql needs a query" in empty.output
    both = CliRunner().invoke(cli, ["--db", str(db), "report", "failed", "--sql", "SELECT 1"])
    assert both.exit_code == 2
    assert "Error: --sql and the section 'failed' ask for different things: give one of them" in both.output


def test_a_command_on_a_manifest_whose_data_directory_is_gone_makes_no_directory_for_its_log(tmp_path):
    db = tmp_path / "kept" / "manifest.sqlite"
    db.parent.mkdir()
    open_manifest(db).close()
    data = tmp_path / "moved-away"
    result = CliRunner().invoke(cli, ["--db", str(db), "retry"], env={"RATDCS_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    assert not data.exists()
