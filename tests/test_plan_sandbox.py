"""`ratdcs plan` against the sandbox archive: the right targets and files, real sizes, idempotence,
a bounded number of requests, and hostile answers that leave the manifest as it was."""

import json
import math
import sqlite3

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.sandbox import Fault


def run(config, *args):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def manifest_path(config):
    return config.parent / "data" / "manifest.sqlite"


def rows(config, sql, params=()):
    conn = sqlite3.connect(manifest_path(config))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def planned_files(config, source):
    return {r["rel_path"]: r for r in rows(config, "SELECT * FROM files WHERE source = ?", (source,))}


def test_plan_kepler_matches_the_universe_and_is_idempotent(sandbox, sandbox_config):
    result = run(sandbox_config, "plan", "kepler", "--n", "100")
    assert result.exit_code == 0, result.output
    universe = sandbox.universe
    hosts = universe.confirmed_kepler_hosts()[:100]
    targets = rows(sandbox_config, "SELECT * FROM targets WHERE source = 'kepler'")
    assert sorted(int(t["target_id"]) for t in targets) == sorted(hosts)
    expected = {f"kepler/{p.filename}": p for kic in hosts for p in universe.kepler_products(kic) if p.subgroup == "LLC"}
    files = planned_files(sandbox_config, "kepler")
    assert set(files) == set(expected)
    for rel, row in files.items():
        product = expected[rel]
        assert row["expected_size_bytes"] == product.size
        assert row["archive_uri"] == product.data_uri
        assert row["url"] == f"{sandbox.endpoints()['mast_download']}?uri={product.data_uri}"
        assert row["state"] == "pending" and row["product_kind"] == "lc_long"
    star = next(t for t in targets if int(t["target_id"]) == hosts[0])
    assert star["name"] == f"KIC {hosts[0]}" and star["teff_k"] > 2000 and star["disposition"] == "CONFIRMED"
    assert json.loads(star["catalog_row_json"])[0]["kepid"] in (hosts[0], str(hosts[0]))

    sandbox.clear_requests()
    again = run(sandbox_config, "plan", "kepler", "--n", "100", "--json")
    summary = json.loads(again.output)
    assert summary["total"]["new"] == 0 and summary["total"]["unchanged"] == len(expected)
    assert len(rows(sandbox_config, "SELECT file_id FROM files")) == len(expected)


def test_plan_kepler_quarter_subset_and_short_cadence(sandbox, sandbox_config):
    # Quarters 3 and 5: every star's file of those quarters has the shared stamp. (Q4's does not for
    # stars on module 3, universe.kepler_odd_stamp_stars(); selecting by description is the planner's fix.)
    assert run(sandbox_config, "plan", "kepler", "--n", "10", "--quarter", "3", "--quarter", "5").exit_code == 0
    names = planned_files(sandbox_config, "kepler")
    assert names and all(("-2009350155506_" in n) or ("-2010174085026_" in n) for n in names)
    hosts = sandbox.universe.confirmed_kepler_hosts()[:10]
    assert len(names) == sum(len({3, 5} & set(sandbox.universe.kepler_quarters(k))) for k in hosts)
    assert run(sandbox_config, "plan", "kepler", "--n", "3", "--cadence", "short").exit_code == 0
    short = [r for r in planned_files(sandbox_config, "kepler").values() if r["product_kind"] == "lc_short"]
    expected = {p.filename for k in hosts[:3] for p in sandbox.universe.kepler_products(k, cadence="short")}
    assert {r["rel_path"].split("/")[1] for r in short} == expected


def test_plan_k2(sandbox, sandbox_config):
    result = run(sandbox_config, "plan", "k2", "--n", "20")
    assert result.exit_code == 0, result.output
    hosts = sorted(sandbox.universe.confirmed_k2_hosts())[:20]
    assert sorted(int(t["target_id"]) for t in rows(sandbox_config, "SELECT * FROM targets")) == hosts
    expected = {f"k2/{p.filename}": p.size for e in hosts for p in sandbox.universe.k2_products(e)
                if p.subgroup == "LLC"}
    assert {k: v["expected_size_bytes"] for k, v in planned_files(sandbox_config, "k2").items()} == expected
    again = json.loads(run(sandbox_config, "plan", "k2", "--n", "20", "--json").output)
    assert (again["total"]["new"], again["total"]["unchanged"]) == (0, len(expected))


def test_plan_k2_short_cadence_plans_the_slc_files(sandbox, sandbox_config):
    result = run(sandbox_config, "plan", "k2", "--n", "20", "--cadence", "short")
    assert result.exit_code == 0, result.output
    hosts = sorted(sandbox.universe.confirmed_k2_hosts())[:20]
    expected = {f"k2/{p.filename}": p.size for e in hosts for p in sandbox.universe.k2_products(e, "short")}
    planned = planned_files(sandbox_config, "k2")
    assert expected and {k: v["expected_size_bytes"] for k, v in planned.items()} == expected
    assert all(k.endswith("_slc.fits") and v["product_kind"] == "lc_short" for k, v in planned.items())


def test_plan_tess_stores_tic_parameters(sandbox, sandbox_config):
    result = run(sandbox_config, "plan", "tess", "--n", "150")
    assert result.exit_code == 0, result.output
    universe = sandbox.universe
    hosts = universe.toi_hosts(["PC", "CP", "KP"])[:150]
    targets = {int(t["target_id"]): t for t in rows(sandbox_config, "SELECT * FROM targets")}
    assert sorted(targets) == sorted(hosts)
    for tid in hosts:
        tic = universe.tic_params(tid)
        t = targets[tid]
        assert (t["teff_k"], t["logg_cgs"], t["radius_rsun"], t["mass_msun"], t["magnitude"], t["distance_pc"]) == \
               pytest.approx((tic["Teff"], tic["logg"], tic["rad"], tic["mass"], tic["Tmag"], tic["d"]))
        assert t["disposition"] in ("PC", "CP", "KP")
    expected = {f"tess/fits/{p.filename}": p.size for tid in hosts for p in universe.tess_products(tid)}
    assert {k: v["expected_size_bytes"] for k, v in planned_files(sandbox_config, "tess").items()} == expected
    again = json.loads(run(sandbox_config, "plan", "tess", "--n", "150", "--json").output)
    assert (again["total"]["new"], again["total"]["unchanged"]) == (0, len(expected))
    assert len(rows(sandbox_config, "SELECT file_id FROM files")) == len(expected)


def test_plan_tess_dispositions_sectors_and_fast_cadence(sandbox, sandbox_config):
    assert run(sandbox_config, "plan", "tess", "--n", "5", "--disposition", "FP").exit_code == 0
    hosts = sandbox.universe.toi_hosts(["FP"])[:5]
    assert sorted(int(t["target_id"]) for t in rows(sandbox_config, "SELECT * FROM targets")) == sorted(hosts)
    # 20-s light curves ("-a_fast-lc.fits") exist for a few stars from sector 27 on: plan up to the first
    # host that has them, once for every sector and once for one of its fast sectors.
    ordered = sandbox.universe.toi_hosts()
    n = next(i for i, tid in enumerate(ordered) if sandbox.universe.tess_fast_sectors(tid)) + 1
    fast_products = [p for t in ordered[:n] for p in sandbox.universe.tess_products(t, cadence="20s")]
    assert run(sandbox_config, "plan", "tess", "--n", str(n), "--cadence", "20s").exit_code == 0
    fast = [r for r in planned_files(sandbox_config, "tess").values() if r["product_kind"] == "lc_fast"]
    assert sorted(r["rel_path"] for r in fast) == sorted(f"tess/fits/{p.filename}" for p in fast_products)
    assert all(r["rel_path"].endswith("-a_fast-lc.fits") for r in fast) and fast

    sector = sandbox.universe.tess_fast_sectors(ordered[n - 1])[-1]
    result = json.loads(run(sandbox_config, "plan", "tess", "--n", str(n), "--cadence", "20s", "--sector", str(sector),
                            "--json").output)
    expected = [p for p in fast_products if f"-s{sector:04d}-" in p.filename]
    assert expected and result["total"]["unchanged"] == len(expected) and result["total"]["new"] == 0


def test_plan_ztf_month_after_month_appends_only_new_rows(sandbox, sandbox_config):
    jan = run(sandbox_config, "plan", "ztf", "--start-date", "2024-01-01", "--end-date", "2024-01-31",
              "--field", "600", "--field", "601", "--n", "10000", "--json")
    assert jan.exit_code == 0, jan.output
    expected = sandbox.universe.ztf_rows(fields=[600, 601], jd_min=2460310.5, jd_max=2460341.5)
    files = planned_files(sandbox_config, "ztf")
    assert len(files) == len(expected) > 0
    assert all(r["expected_size_bytes"] is None for r in files.values())
    sample = next(iter(files.values()))
    name = sample["rel_path"].rsplit("/", 1)[1]
    ffd = name.split("_")[1]
    assert sample["url"] == (f"{sandbox.endpoints()['irsa_ibe']}/data/ztf/products/sci/"
                             f"{ffd[:4]}/{ffd[4:8]}/{ffd[8:]}/{name}")
    feb = json.loads(run(sandbox_config, "plan", "ztf", "--start-date", "2024-02-01", "--end-date", "2024-02-29",
                         "--field", "600", "--field", "601", "--n", "10000", "--json").output)
    again = json.loads(run(sandbox_config, "plan", "ztf", "--start-date", "2024-01-01", "--end-date", "2024-01-31",
                           "--field", "600", "--field", "601", "--n", "10000", "--json").output)
    assert feb["total"]["new"] == len(sandbox.universe.ztf_rows(fields=[600, 601], jd_min=2460341.5,
                                                                  jd_max=2460370.5))
    assert again["total"]["new"] == 0 and again["total"]["unchanged"] == len(expected)


def test_plan_ztf_filters_cap_and_probe_sizes(sandbox, sandbox_config):
    result = run(sandbox_config, "plan", "ztf", "--start-date", "2024-01-01", "--end-date", "2024-03-31",
                 "--filter", "zr", "--ccd", "5", "--n", "4", "--probe-sizes")
    assert result.exit_code == 0, result.output
    files = planned_files(sandbox_config, "ztf")
    assert len(files) == 4
    assert all("_zr_c05_" in rel for rel in files)
    heads = [r for r in sandbox.requests if r.method == "HEAD"]
    assert len(heads) == 4
    for row in files.values():
        assert row["expected_size_bytes"] == sandbox.universe.size_of("/ibe/data/ztf/products/sci/" +
                                                                      row["url"].split("/sci/", 1)[1])


def test_failed_size_probes_are_counted_in_the_text_summary(sandbox, sandbox_config):
    from ratdcs_catalog.sandbox import Fault

    sandbox.add_fault(Fault("503", pattern="sciimg"))  # every HEAD of an image
    result = run(sandbox_config, "plan", "ztf", "--start-date", "2024-01-01", "--end-date", "2024-03-31",
                 "--filter", "zr", "--ccd", "5", "--n", "3", "--probe-sizes")
    assert result.exit_code == 0, result.output
    assert "ztf: 3 size probes got no usable answer; those sizes are learned at download" in result.output
    assert "`--probe-sizes` asks it" not in result.output  # it was asked


def test_plan_all_uses_configuration(sandbox, sandbox_config):
    with open(sandbox_config, "a") as fh:
        fh.write("kepler:\n  max_targets: 3\ntess:\n  max_targets: 4\n"
                 "ztf:\n  max_images: 5\n  start_date: 2024-01-01\n  end_date: 2024-01-10\n")
    summary = json.loads(run(sandbox_config, "plan", "all", "--json").output)
    by_source = {s["source"]: s for s in summary["sources"]}
    assert (by_source["kepler"]["targets"], by_source["tess"]["targets"], by_source["ztf"]["files"]) == (3, 4, 5)
    assert rows(sandbox_config, "SELECT source, COUNT(*) n FROM plans GROUP BY source") == [{"source": "all", "n": 1}]


def test_requests_grow_with_batches_not_with_targets(sandbox, sandbox_config):
    """plan kepler --n 1000 with batch 100: 1 TAP query + ceil(hosts/100) observation queries +
    ceil(observations/100) product queries (docs/commands.md states this bound)."""
    result = run(sandbox_config, "plan", "kepler", "--n", "1000")
    assert result.exit_code == 0, result.output
    hosts = len(rows(sandbox_config, "SELECT target_id FROM targets"))
    observations = len({p.obs_id for kic in sandbox.universe.confirmed_kepler_hosts()[:1000]
                        for cadence in ("long", "short") for p in sandbox.universe.kepler_products(kic, cadence)})
    sent = [r for r in sandbox.requests if r.method == "POST"]
    assert len(sent) <= 1 + math.ceil(hosts / 100) + math.ceil(observations / 100)
    assert len(sent) <= 1 + 2 * math.ceil(1000 / 100) + 5


def test_dry_run_writes_nothing_and_counts_truly(sandbox, sandbox_config):
    assert run(sandbox_config, "plan", "kepler", "--n", "3").exit_code == 0
    before = manifest_path(sandbox_config).read_bytes()
    summary = json.loads(run(sandbox_config, "plan", "kepler", "--n", "6", "--dry-run", "--json").output)
    assert summary["dry_run"] and summary["total"]["new"] > 0 and summary["total"]["unchanged"] > 0
    assert manifest_path(sandbox_config).read_bytes() == before
    assert len(rows(sandbox_config, "SELECT * FROM plans")) == 1


def test_max_bytes_stops_at_whole_targets(sandbox, sandbox_config):
    summary = json.loads(run(sandbox_config, "plan", "kepler", "--n", "10", "--dry-run", "--json").output)
    total = summary["total"]["bytes_total"]
    capped = json.loads(run(sandbox_config, "plan", "kepler", "--n", "10", "--max-bytes", str(total // 2),
                            "--json").output)
    assert 0 < capped["total"]["bytes_total"] <= total // 2
    assert capped["sources"][0]["targets_skipped_by_max_bytes"] > 0
    per_target = rows(sandbox_config, "SELECT target_id, COUNT(*) n FROM files GROUP BY target_id")
    for t in per_target:
        kic = int(t["target_id"])
        assert t["n"] == len(sandbox.universe.kepler_quarters(kic))  # whole targets only


def test_plan_all_spends_one_max_bytes_budget_across_sources(sandbox, sandbox_config):
    with open(sandbox_config, "a") as fh:
        fh.write("kepler:\n  max_targets: 3\ntess:\n  max_targets: 4\n"
                 "ztf:\n  max_images: 5\n  start_date: 2024-01-01\n  end_date: 2024-01-10\n")
    full = json.loads(run(sandbox_config, "plan", "all", "--dry-run", "--json").output)
    by_source = {s["source"]: s["bytes_total"] for s in full["sources"]}
    budget = by_source["kepler"] + by_source["tess"] // 2  # all of Kepler, part of TESS
    capped = json.loads(run(sandbox_config, "plan", "all", "--max-bytes", str(budget), "--json").output)
    assert 0 < capped["total"]["bytes_total"] <= budget
    kept = {s["source"]: s for s in capped["sources"]}
    assert kept["kepler"]["bytes_total"] == by_source["kepler"] and kept["kepler"]["targets_skipped_by_max_bytes"] == 0
    assert kept["tess"]["targets_skipped_by_max_bytes"] > 0


def test_changed_upstream_and_updated_rows(sandbox, sandbox_config):
    assert run(sandbox_config, "plan", "kepler", "--n", "2").exit_code == 0
    conn = sqlite3.connect(manifest_path(sandbox_config))
    conn.execute("UPDATE files SET expected_size_bytes = 1 WHERE file_id = 1")
    conn.execute("UPDATE files SET expected_size_bytes = 2, state = 'done' WHERE file_id = 2")
    conn.commit()
    conn.close()
    summary = json.loads(run(sandbox_config, "plan", "kepler", "--n", "2", "--json").output)
    assert (summary["total"]["updated"], summary["total"]["changed_upstream"]) == (1, 1)
    changed = rows(sandbox_config, "SELECT state, changed_upstream FROM files WHERE file_id = 2")[0]
    assert changed == {"state": "pending", "changed_upstream": 1}


@pytest.mark.parametrize("fault,pattern,message", [
    (Fault("503", pattern=r"/api/v0/invoke", rate=1.0), None, "HTTP 503 after 3 attempts"),
    (Fault("mast_error", pattern=r"/api/v0/invoke", count=1), None, "MAST answered ERROR"),
    (Fault("bad_json", pattern=r"/api/v0/invoke", count=1), None, "MAST answered with malformed JSON"),
    (Fault("html_200", pattern=r"/TAP", count=1), None, "answered with an HTML page instead of data"),
])
def test_hostile_catalog_answers_leave_the_manifest_unchanged(sandbox, sandbox_config, fault, pattern, message):
    assert run(sandbox_config, "plan", "tess", "--n", "2").exit_code == 0
    before = manifest_path(sandbox_config).read_bytes()
    sandbox.add_fault(fault)
    result = run(sandbox_config, "plan", "kepler", "--n", "5")
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert manifest_path(sandbox_config).read_bytes() == before


def test_failure_halfway_through_plan_all_writes_nothing(sandbox, sandbox_config):
    sandbox.add_fault(Fault("500", pattern=r"/ibe/search", rate=1.0))
    result = run(sandbox_config, "plan", "all", "--n", "2")
    assert result.exit_code == 1 and "IRSA IBE search" in result.output
    assert any(r.path.endswith("/invoke") for r in sandbox.requests)  # kepler and tess were asked first
    assert not manifest_path(sandbox_config).exists()


def test_empty_result_says_no_targets_matched_with_the_query(sandbox, sandbox_config):
    result = run(sandbox_config, "plan", "ztf", "--start-date", "2016-01-01", "--end-date", "2016-01-31")
    assert result.exit_code == 1
    assert "Error: no targets matched: IRSA ztf/products/sci WHERE obsjd BETWEEN 2457388.50000 AND 2457419.50000" \
        in result.output
    assert not manifest_path(sandbox_config).exists()


def test_bad_db_is_refused_before_any_archive_is_asked(sandbox, sandbox_config, tmp_path):
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("my notes\n")
    result = CliRunner().invoke(cli, ["--config", str(sandbox_config), "--db", str(not_sqlite), "plan", "kepler"])
    assert result.exit_code == 2
    assert f"Error: {not_sqlite} is not an SQLite database (it starts with b'my notes')" in result.output
    assert not_sqlite.read_text() == "my notes\n" and sandbox.requests == []
    newer = tmp_path / "newer.sqlite"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    result = CliRunner().invoke(cli, ["--config", str(sandbox_config), "--db", str(newer), "plan", "kepler"])
    assert result.exit_code == 2 and "was written by a newer ratdcs (manifest schema version 999" in result.output
    assert sandbox.requests == []


def test_db_in_a_place_that_cannot_be_written(sandbox, sandbox_config):
    result = CliRunner().invoke(cli, ["--config", str(sandbox_config), "--db", "/proc/self/ratdcs/m.sqlite",
                                      "plan", "kepler", "--n", "2"])
    assert result.exit_code == 2
    assert "Error: cannot create the manifest's directory /proc/self/ratdcs" in result.output
    assert "Hint: pass --db with a writable location" in result.output
