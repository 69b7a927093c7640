"""Planning at survey scale: `plan tess --sector 40 --all-targets` plans every SPOC 2-min light curve of
the sandbox's sector 40 (>= 20,000) in O(rows / page size) catalog requests, and sync and report
take the 20,000-row manifest in their stride. The sector is planned once for the module."""

import math
import re
import sqlite3

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.sandbox import endpoint_config_yaml
from ratdcs_catalog.sandbox.universe_survey import N_SURVEY, SECTOR

PAGE_SIZE = 2500          # rows per MAST page: small, so the sector's 20,000 rows take several pages
OBSIDS_PER_REQUEST = 1000  # observations per product query


def run(config, *args):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def sector_counts(universe):
    """(observations, product rows) of sector 40 at 120 s: the TOI hosts observed in it, and the
    survey stars, one observation and two files each (test_template_rows_... checks the two)."""
    hosts = [obs for tid, star in universe.tess_stars.items() if SECTOR in star["sectors"]
             for obs in universe.observations_of("tess", tid) if obs.sequence_number == SECTOR and obs.cadence == "120s"]
    return len(hosts) + N_SURVEY, sum(len(universe.observation_files(obs)) for obs in hosts) + 2 * N_SURVEY


@pytest.fixture(scope="module")
def survey_plan(sandbox_archive, tmp_path_factory):
    """The sector planned through the command line, with the request log of that plan alone."""
    tmp = tmp_path_factory.mktemp("survey")
    config = tmp / "config.yaml"
    config.write_text(endpoint_config_yaml(sandbox_archive.endpoints(), data_dir=str(tmp / "data"))
                      + f"catalog:\n  rate_limit_delay: 0\n  page_size: {PAGE_SIZE}\n"
                      + f"  obsids_per_request: {OBSIDS_PER_REQUEST}\n")
    sandbox_archive.clear_faults()
    sandbox_archive.clear_requests()
    result = run(config, "plan", "tess", "--sector", str(SECTOR), "--all-targets")
    log = sandbox_archive.requests
    sandbox_archive.clear_requests()
    return config, result, log


def test_all_targets_plans_the_whole_sector_in_paged_requests(survey_plan, sandbox_archive):
    config, result, log = survey_plan
    assert result.exit_code == 0, result.output
    n_obs, product_rows = sector_counts(sandbox_archive.universe)
    assert n_obs >= 20_000
    conn = sqlite3.connect(tmp_manifest(config))
    try:
        files = conn.execute("SELECT count(*), count(DISTINCT target_id), min(sector), max(sector) FROM files "
                             "WHERE source = 'tess' AND product_kind = 'lc' AND state = 'pending'").fetchone()
        targets = conn.execute("SELECT count(*), count(ra_deg) FROM targets WHERE source = 'tess'").fetchone()
        plans = conn.execute("SELECT count(*), max(files_new) FROM plans").fetchone()
    finally:
        conn.close()
    assert files == (n_obs, n_obs, SECTOR, SECTOR)      # one light curve a target, all of sector 40
    assert targets == (n_obs, n_obs)                     # every target has a row and a position
    assert plans == (1, n_obs)                           # one plan, one transaction

    # The printed count is the sandbox's: every request the plan made: MAST queries, and the cloud
    # copy's path lookups (issue 16), at most 40 files to a lookup.
    printed = int(re.search(r"\((\d+) catalog requests\)", result.output).group(1))
    assert printed == len(log)
    filtered = [r for r in log if r.service == "Mast.Caom.Filtered"]
    products = [r for r in log if r.service == "Mast.Caom.Products"]
    lookups = [r for r in log if r.path.rstrip("/").endswith("path_lookup")]
    assert len(filtered) + len(products) + len(lookups) == len(log)
    assert len(lookups) == math.ceil(n_obs / 40)
    # O(rows / page size): one request per page of observations, one per batch of obsids plus the
    # pages of their product lists.
    assert len(filtered) == math.ceil(n_obs / PAGE_SIZE)
    assert math.ceil(n_obs / OBSIDS_PER_REQUEST) <= len(products) <= (
        math.ceil(n_obs / OBSIDS_PER_REQUEST) + math.ceil(product_rows / PAGE_SIZE))
    assert len(log) - len(lookups) <= 4 * math.ceil(n_obs / PAGE_SIZE) + 2


def test_sync_dry_run_and_report_take_the_sector(survey_plan, sandbox_archive):
    config, result, _ = survey_plan
    assert result.exit_code == 0, result.output
    n_obs, _ = sector_counts(sandbox_archive.universe)
    dry = run(config, "sync", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith(f"Dry run: would fetch {n_obs} files,")
    assert re.search(r"\.\.\. and \d+ more", dry.output)  # a sample of rows, not 20,000 lines
    report = run(config, "report")
    assert report.exit_code == 0, report.output
    progress = report.output.split("Progress per source (GB = 10^9 bytes)")[1].splitlines()[3].split()
    assert progress[:5] == ["tess", str(n_obs), "0", "0", str(n_obs)]
    assert sandbox_archive.requests == []  # neither asked the archive anything


def test_a_survey_star_file_downloads_and_verifies(survey_plan, sandbox_archive):
    config, result, _ = survey_plan
    tid = sandbox_archive.universe.survey.tid(4321)
    synced = run(config, "sync", "--target", str(tid))
    assert synced.exit_code == 0, synced.output
    conn = sqlite3.connect(tmp_manifest(config))
    try:
        state = conn.execute("SELECT state, observed_size_bytes FROM files WHERE target_id = ?", (str(tid),)).fetchall()
    finally:
        conn.close()
    (product,) = sandbox_archive.universe.tess_products(tid)
    assert state == [("done", product.size)]


def test_template_rows_are_the_rows_mast_rows_makes(sandbox_archive):
    rows = sandbox_archive._mast.survey
    survey = sandbox_archive.universe.survey
    shapes = {}
    for i in range(N_SURVEY):
        shapes.setdefault(survey.star(survey.tid(i))["stamp"], []).append(i)
        if len(shapes) == 3 and all(len(v) >= 2 for v in shapes.values()):
            break
    for index in [0, 1, N_SURVEY - 1] + [i for found in shapes.values() for i in found[:2]]:
        assert rows.observation_row(index) == rows.slow_observation(index)[0]
        assert rows.product_rows(index) == rows.slow_products(index)
        assert [p["productSubGroupDescription"] for p in rows.product_rows(index)] == ["LC", "TP"]


@pytest.mark.parametrize("args, message", [
    (["--all-targets"], "--all-targets needs --sector"),
    (["--all-targets", "--sector", "40", "--disposition", "PC"], "--all-targets cannot be combined with --disposition"),
    (["--all-targets", "--sector", "40", "--n", "5"], "--all-targets cannot be combined with --n"),
    (["--all-targets", "--sector", "40", "--products", "lc,cutout"], "not FFI cutouts"),
])
def test_all_targets_usage_errors(sandbox, sandbox_config, args, message):
    result = run(sandbox_config, "plan", "tess", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert sandbox.requests == []
    assert not tmp_manifest(sandbox_config).exists()


def tmp_manifest(config):
    return config.parent / "data" / "manifest.sqlite"
