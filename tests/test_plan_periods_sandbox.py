"""Quarters, campaigns and sectors from the archive's metadata, against the sandbox (which answers as
the recordings show: Q4 stamps that differ, split K2 campaigns); and a file replaced upstream
between two attempts of a resumed sync is the new version whole."""

import json
import sqlite3

from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.sandbox import Fault


def run(config, *args):
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result


def rows(config, sql="SELECT * FROM files"):
    conn = sqlite3.connect(config.parent / "data" / "manifest.sqlite")
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(sql)]


def test_quarter_4_plans_the_file_of_a_star_whose_q4_stamp_differs(sandbox, sandbox_config):
    universe = sandbox.universe
    hosts = universe.confirmed_kepler_hosts()[:5]
    odd = [kic for kic in hosts if kic in set(universe.kepler_odd_stamp_stars())]
    assert odd, "the sandbox's first five hosts include a module-3 star (short Q4, its own stamp)"
    run(sandbox_config, "plan", "kepler", "--n", "5", "--quarter", "4")
    planned = {r["rel_path"].rsplit("/", 1)[1]: r["quarter"] for r in rows(sandbox_config)}
    expected = {universe.kepler_quarter_files(kic)[4] for kic in hosts if 4 in universe.kepler_quarter_files(kic)}
    assert set(planned) == expected and set(planned.values()) == {4}
    assert any(name.endswith("-2010009091648_llc.fits") for name in planned)  # the other stamp


def test_a_split_campaign_is_selected_by_its_number_and_keeps_its_part(sandbox, sandbox_config):
    universe = sandbox.universe
    hosts = sorted(universe.confirmed_k2_hosts())  # the k2pandc query orders by epic_hostname
    split = set(universe.k2_split_hosts())
    index = next(i for i, epic in enumerate(hosts) if epic in split)
    epic = hosts[index]
    campaign = next(c for c in (11, 10, 9) if c in universe.k2_campaign_files(epic))
    run(sandbox_config, "plan", "k2", "--n", str(index + 1), "--campaign", str(campaign))
    planned = {r["rel_path"].rsplit("/", 1)[1]: (r["campaign"], r["campaign_part"])
               for r in rows(sandbox_config) if r["target_id"] == str(epic)}
    files = universe.k2_campaign_files(epic)[campaign]
    assert sorted(planned) == sorted(files)
    assert {c for c, _ in planned.values()} == {campaign} and all(part in (1, 2) for _, part in planned.values())


def test_sector_selection_reads_the_observations_sequence_number(sandbox, sandbox_config):
    universe = sandbox.universe
    tid = universe.toi_hosts()[0]
    sector = sorted(universe.tess_sector_files(tid))[-1]
    run(sandbox_config, "plan", "tess", "--n", "1", "--sector", str(sector))
    planned = rows(sandbox_config)
    assert [(r["rel_path"].rsplit("/", 1)[1], r["sector"]) for r in planned] == [
        (universe.tess_sector_files(tid)[sector], sector)]
    summary = json.loads(run(sandbox_config, "plan", "tess", "--n", "1", "--json").output)
    assert summary["total"]["unchanged"] == 1  # the sector file again, with every other sector new


def test_a_file_replaced_between_two_attempts_of_a_resumed_sync_is_the_new_version(sync_env):
    products = sync_env.kepler_products(1)
    sync_env.configure(**{"download.chunk_size": 16384})
    sync_env.plan(products)
    pattern = products[0].filename.replace(".", r"\.")
    # The first answer breaks off halfway; from the second request on the archive serves a new version.
    sync_env.sandbox.add_fault(Fault("reset", pattern=pattern, count=1))
    sync_env.sandbox.add_fault(Fault("replace", pattern=pattern, after=1))
    summary = sync_env.sync(workers=1)
    assert (summary.files_done, summary.files_failed) == (1, 0)
    rel = next(iter(sync_env.rows()))
    new = sync_env.sandbox.file_bytes(products[0], version=1)
    assert (sync_env.data_dir / rel).read_bytes() == new  # whole, never old bytes + new bytes
    log = [(t["error_kind"], t["range_start"]) for t in sync_env.transfers()]
    assert log[0][0] == "connection_reset" and log[1][0] == "changed_upstream" and log[1][1]
    requests = sync_env.file_requests()
    assert requests[1].if_range == sync_env.sandbox.validators(products[0], 0)["ETag"]


def test_products_plan_each_kind_into_its_own_folder(sandbox, sandbox_config):
    run(sandbox_config, "plan", "tess", "--n", "3", "--products", "lc,tpf,dv")
    kinds = {}
    for r in rows(sandbox_config):
        kinds.setdefault(r["product_kind"], set()).add(r["rel_path"].rsplit("/", 1)[0])
    assert kinds == {"lc": {"tess/fits"}, "tpf": {"tess/tpf"}, "dvt": {"tess/dv"}}
    names = [r["rel_path"] for r in rows(sandbox_config)]
    assert all(n.endswith("_tp.fits") for n in names if "/tpf/" in n)
    assert all(n.endswith("_dvt.fits") for n in names if "/dv/" in n)
    by_kind = {k: n for k, n in (tuple(r) for r in sqlite3.connect(sandbox_config.parent / "data" / "manifest.sqlite")
                                 .execute("SELECT product_kind, count(*) FROM files GROUP BY product_kind"))}
    assert set(by_kind) == {"lc", "tpf", "dvt"} and by_kind["tpf"] == by_kind["lc"]  # a TPF beside each light curve


def test_kepler_target_pixel_files_are_the_gzipped_ones(sandbox, sandbox_config):
    run(sandbox_config, "plan", "kepler", "--n", "1", "--products", "tpf", "--quarter", "3")
    (row,) = rows(sandbox_config)
    assert row["rel_path"].startswith("kepler/tpf/") and row["rel_path"].endswith("_lpd-targ.fits.gz")
    assert (row["product_kind"], row["quarter"]) == ("tpf_long", 3)
