"""Every SQL query the documentation shows, run on a real manifest made by plan + sync (+ split) on
the sandbox, with its answer checked.

The queries live in docs/sql-cookbook.md ("Queries with their answers"), one in the README's tour,
and a few more on other pages (the listing of tables, the Python API, sqlite-utils). The last tests
check the pages show exactly the queries tested here: a query added to a page without a test, or a
test whose query no page shows any more, fails.
"""

import json

import pytest
from click.testing import CliRunner

import ratdcs_catalog as rc
from ratdcs_catalog.cli import cli
from ratdcs_catalog.sandbox.faults import Fault

# The cookbook's queries, verbatim (docs/sql-cookbook.md shows each with its answer).
PROGRESS = ("SELECT source, files_planned, files_done, downloaded_gb, remaining_gb "
            "FROM source_progress ORDER BY source")
FAILURES = "SELECT source, error_kind, files, example_error FROM failure_reasons ORDER BY files DESC"
MISSING = ("SELECT source, target_id, name, files_missing FROM incomplete_targets "
           "ORDER BY files_missing DESC LIMIT 10")
SYNCS = "SELECT sync_id, files_done, files_failed, elapsed_seconds, mb_per_second FROM recent_syncs LIMIT 5"
SECTORS = ("SELECT CAST(substr(rel_path, instr(rel_path, '-s0') + 2, 4) AS INTEGER) AS sector, COUNT(*) AS files "
           "FROM files WHERE source = 'tess' AND state = 'done' GROUP BY sector ORDER BY sector")
RETRIED = ("SELECT f.rel_path, COUNT(*) AS tries, GROUP_CONCAT(t.http_status) AS statuses "
           "FROM transfers t JOIN files f USING (file_id) GROUP BY t.file_id HAVING COUNT(*) > 1 "
           "ORDER BY tries DESC")
READY = ("SELECT t.target_id, t.name, t.magnitude AS tmag, t.teff_k FROM targets t "
         "WHERE t.source = 'tess' AND NOT EXISTS (SELECT 1 FROM files f WHERE f.source = t.source "
         "AND f.target_id = t.target_id AND f.state <> 'done') ORDER BY t.magnitude")
TRAIN = ("SELECT f.rel_path FROM files f JOIN targets t USING (source, target_id) "
         "WHERE COALESCE(f.split, t.split) = 'train' AND f.state = 'done' ORDER BY f.rel_path")
QUERIES = (PROGRESS, FAILURES, MISSING, SYNCS, SECTORS, RETRIED, READY, TRAIN)
# The other queries the pages show: the listing of tables and views (docs/sql-cookbook.md), the
# Python API's examples (docs/python-api.md) and sqlite-utils on the manifest (docs/sql-cookbook.md).
TABLES = "SELECT name, type FROM sqlite_master"
API_FAILURES = "SELECT error_kind, files FROM failure_reasons"
API_DONE = "SELECT rel_path FROM files WHERE state = 'done'"
SQLITE_UTILS_PROGRESS = "SELECT * FROM source_progress"
# docs/cloud.md: files with a cloud copy that came from MAST (run in tests/test_cloud.py, on a fallback).
FALLBACKS = ("SELECT f.rel_path, t.url, t.http_status, t.outcome FROM transfers t JOIN files f USING (file_id) "
             "WHERE f.mirror_url IS NOT NULL AND t.url <> f.mirror_url")
TESTED = {*QUERIES, TABLES, API_FAILURES, API_DONE, SQLITE_UTILS_PROGRESS, FALLBACKS}


@pytest.fixture(scope="module")
def manifest(sandbox_archive, tmp_path_factory):
    """Made once for the module (the queries only read): like conftest's sandbox_config, module-scoped."""
    from ratdcs_catalog.sandbox import endpoint_config_yaml

    sandbox = sandbox_archive
    sandbox.clear_faults()
    tmp = tmp_path_factory.mktemp("readme")
    sandbox_config = tmp / "sandbox.yaml"
    sandbox_config.write_text(endpoint_config_yaml(sandbox.endpoints(), data_dir=str(tmp / "data"))
                              + "catalog:\n  rate_limit_delay: 0\n  max_retries: 2\n"
                              + "download:\n  backoff_base_seconds: 0.01\n  backoff_max_seconds: 0.05\n")
    config = rc.load_config(sandbox_config)
    rc.plan("kepler", config=config, n=2)
    rc.plan("tess", config=config, n=3)
    with rc.open_manifest(config=config) as m:
        broken = m.query("SELECT rel_path FROM files WHERE source = 'kepler' ORDER BY file_id LIMIT 1")[0][0]
    sandbox.add_fault(Fault("502", pattern=broken.rsplit("/", 1)[1]))
    rc.sync(config=config, workers=2, progress=False)
    sandbox.clear_faults()
    assert CliRunner().invoke(cli, ["--config", str(sandbox_config), "split"]).exit_code == 0
    return sandbox_config, config, broken


def sql(manifest, query):
    config_path = manifest[0]
    result = CliRunner().invoke(cli, ["--config", str(config_path), "report", "--sql", query, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def count(manifest, where):
    with rc.open_manifest(config=manifest[1]) as m:
        return m.query(f"SELECT COUNT(*) FROM files WHERE {where}")[0][0]


def test_progress(manifest):
    rows = {r["source"]: r for r in sql(manifest, PROGRESS)}
    assert set(rows) == {"kepler", "tess"}
    assert rows["kepler"]["files_done"] == rows["kepler"]["files_planned"] - 1
    assert rows["tess"]["files_done"] == rows["tess"]["files_planned"] and rows["tess"]["remaining_gb"] == 0


def test_failures_by_reason(manifest):
    (row,) = sql(manifest, FAILURES)
    assert (row["source"], row["files"]) == ("kepler", 1) and "502" in row["example_error"]


def test_targets_missing_files(manifest):
    (row,) = sql(manifest, MISSING)
    assert row["source"] == "kepler" and row["files_missing"] == 1 and row["name"].startswith("KIC ")


def test_recent_syncs(manifest):
    (row,) = sql(manifest, SYNCS)
    assert row["files_done"] == count(manifest, "state = 'done'") and row["files_failed"] == 1
    assert row["elapsed_seconds"] > 0 and row["mb_per_second"] > 0


def test_tess_sectors(manifest):
    rows = sql(manifest, SECTORS)
    assert rows and all(1 <= r["sector"] <= 99 for r in rows)
    assert sum(r["files"] for r in rows) == count(manifest, "source = 'tess' AND state = 'done'")


def test_files_that_needed_retries(manifest):
    rows = sql(manifest, RETRIED)
    assert rows[0]["rel_path"] == manifest[2] and set(rows[0]["statuses"].split(",")) == {"502"}


def test_tess_targets_ready_for_analysis(manifest):
    rows = sql(manifest, READY)
    assert len(rows) == 3 and all(r["name"] == f"TIC {r['target_id']}" for r in rows)
    assert [r["tmag"] for r in rows] == sorted(r["tmag"] for r in rows)


def test_training_set_paths(manifest):
    rows = sql(manifest, TRAIN)
    with rc.open_manifest(config=manifest[1]) as m:
        train = m.query("SELECT COUNT(*) FROM files f JOIN targets t USING (source, target_id) "
                        "WHERE t.split = 'train' AND f.state = 'done'")[0][0]
    assert len(rows) == train > 0
    assert all((manifest[1].data_dir / r["rel_path"]).is_file() for r in rows)


def test_listing_the_tables_and_views(manifest):
    from ratdcs_catalog.manifest import open_manifest

    rows = {(r["name"], r["type"]) for r in sql(manifest, TABLES)}
    assert {("files", "table"), ("transfers", "table"), ("source_progress", "view")} <= rows
    with open_manifest(manifest[1].manifest_path, readonly=True) as m:
        assert len(rows) == m.query("SELECT COUNT(*) FROM sqlite_master")[0][0]


def test_python_api_queries(manifest):
    config = manifest[1]
    (row,) = rc.report(sql=API_FAILURES, config=config)
    assert row == {"error_kind": "http_5xx", "files": 1}
    with rc.open_manifest(config=config) as m:
        done = m.query(API_DONE)
    assert len(done) == count(manifest, "state = 'done'") and manifest[2] not in {r["rel_path"] for r in done}


# ---- sqlite-utils on the manifest (docs/sql-cookbook.md) ---------------------------------------

def sqlite_utils(manifest, command_line: str):
    """Run a documented `sqlite-utils ... data/manifest.sqlite ...` line on the test manifest."""
    import shlex

    from sqlite_utils.cli import cli as sqlite_utils_cli

    args = [str(manifest[1].manifest_path) if a == "data/manifest.sqlite" else a
            for a in shlex.split(command_line)[1:]]
    return CliRunner().invoke(sqlite_utils_cli, args)


def test_every_sqlite_utils_command_in_the_docs_reads_the_manifest(manifest):
    commands = shown_sqlite_utils_commands()
    assert any(" query " in c for c in commands) and any(" rows " in c for c in commands)
    before = manifest[1].manifest_path.read_bytes()
    for command in commands:
        result = sqlite_utils(manifest, command)
        assert result.exit_code == 0 and result.output.strip(), (command, result.output)
    assert manifest[1].manifest_path.read_bytes() == before


def test_sqlite_utils_query_answers_like_report_progress(manifest):
    result = sqlite_utils(manifest, f'sqlite-utils query data/manifest.sqlite "{SQLITE_UTILS_PROGRESS}"')
    assert result.exit_code == 0
    assert json.loads(result.output) == sql(manifest, SQLITE_UTILS_PROGRESS)


# ---- the pages show exactly the queries tested here ----------------------------------------------

def doc_pages():
    """README.md and every page of docs/: where the documentation's queries live."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return {path.relative_to(root).as_posix(): path.read_text() for path in
            [root / "README.md", *sorted((root / "docs").glob("*.md"))]}


def shown_queries(markdown: str) -> set[str]:
    """Every SQL query shown in a Markdown text, whitespace collapsed: `ratdcs report --sql "..."`,
    `sqlite-utils query DB "..."` and `sqlite3 DB "..."` command lines, `sql="..."` and
    `.query("...")` in Python, and the statements of ```sql blocks."""
    import re

    found = re.findall(r'(?:report --sql|sqlite-utils query \S+|sqlite3 \S+) "([^"]+)"', markdown)
    found += re.findall(r'(?:\bsql=|\.query\()"([^"]+)"', markdown)
    for block in re.findall(r"^```sql\n(.*?)^```", markdown, re.S | re.M):
        code = "\n".join(line for line in block.splitlines() if not line.strip().startswith("--"))
        found += [statement for statement in code.split(";") if statement.strip()]
    return {" ".join(q.split()) for q in found}


def shown_sqlite_utils_commands() -> list[str]:
    """The `sqlite-utils ...` command lines of the pages' code blocks and code spans."""
    import re

    lines = []
    for text in doc_pages().values():
        for line in re.findall(r"^(sqlite-utils [^\n`#]+)", text, re.M) + re.findall(r"`(sqlite-utils [^`]+)`", text):
            lines.append(" ".join(line.split()))
    return sorted(set(lines))


def test_every_query_in_the_docs_is_tested_and_every_tested_query_is_shown():
    shown = set().union(*map(shown_queries, doc_pages().values()))
    assert sorted(shown - TESTED) == [], "a page shows a query no test runs: add it to this module"
    assert sorted(TESTED - shown) == [], "a query tested here is shown on no page any more"


def test_the_cookbook_shows_every_query_with_its_answer():
    assert set(QUERIES) <= shown_queries(doc_pages()["docs/sql-cookbook.md"])


def test_the_readme_tour_shows_a_tested_query():
    assert shown_queries(doc_pages()["README.md"]) & set(QUERIES)
