"""The real planners over MAST's real answers, recorded by others (../shared/replay_data).

MAST's answers are replayed as recorded (lightkurve's cassettes, transcribed). The Exoplanet
Archive rows that choose the targets and the TIC rows are *not* recorded for these stars, so
each test makes the smallest such row itself (said where it is done); everything MAST says
about observations and products is the recording's. Where a recording holds no product answer
(K2 campaign 11), the planner's parsing step is called on the recorded rows directly.
"""

import json
from urllib.parse import parse_qs

import pytest
import responses
from click.testing import CliRunner

from shared_data import REPLAY_DATA, skip_without

from ratdcs_catalog.cli import cli

pytestmark = skip_without(REPLAY_DATA / "mast_lightkurve_cassettes.json")

TAP = "https://tap.test/TAP"
MAST = "https://mast.test"


def recordings() -> dict:
    data = json.loads((REPLAY_DATA / "mast_lightkurve_cassettes.json").read_text())
    return {r["id"]: r for r in data["recordings"]} | {"facts": data["facts"]}


def replay(observations: str, products: str, tic_rows: list | None = None):
    """A MAST /api/v0/invoke that answers each service with the recording's answer, as recorded."""
    recorded = recordings()

    def answer(request):
        service = json.loads(parse_qs(request.body)["request"][0])["service"]
        if service == "Mast.Caom.Filtered":
            return 200, {}, json.dumps(recorded[observations]["answer"])
        if service == "Mast.Caom.Products":
            return 200, {}, json.dumps(recorded[products]["answer"])
        rows = tic_rows or []  # not recorded for these stars: made here
        return 200, {}, json.dumps({"status": "COMPLETE", "msg": "", "fields": [], "data": rows,
                                    "paging": {"page": 1, "pageSize": 50000, "pagesFiltered": 1,
                                               "rows": len(rows), "rowsFiltered": len(rows), "rowsTotal": len(rows)}})

    responses.add_callback(responses.POST, f"{MAST}/api/v0/invoke", callback=answer)


def configure(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nendpoints:\n  mast: {MAST}\n  exoplanet_tap: {TAP}\n"
                      f"  mast_download: {MAST}/api/v0.1/Download/file\ncatalog:\n  rate_limit_delay: 0\n"
                      # No recording of MAST's path lookup: these plans do not ask for cloud copies.
                      "transport:\n  cloud: never\n")
    return config


def plan(tmp_path, *args):
    """A dry run: the summary as JSON."""
    config = configure(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config), "plan", *args, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output), config


def planned_rows(tmp_path, *args):
    """Plan for real (not a dry run) and return {file name: row} from the manifest."""
    import sqlite3

    config = configure(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config), "plan", *args])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(tmp_path / "data" / "manifest.sqlite")
    conn.row_factory = sqlite3.Row
    return {r["rel_path"].rsplit("/", 1)[1]: dict(r) for r in conn.execute("SELECT * FROM files")}


def recorded_llc_quarters() -> dict[int, str]:
    """Kepler-10's long-cadence files by the quarter MAST's description names."""
    import re

    rows = recordings()["kepler10_products"]["answer"]["data"]
    return {int(re.search(r"- Q(\d+)$", r["description"]).group(1)): r["productFilename"]
            for r in rows if r["productSubGroupDescription"] == "LLC"}


# The Exoplanet Archive's KOI row for Kepler-10 (KIC 11904151): not recorded, made here.
KEPLER10_TAP = "kepid,kepoi_name,koi_disposition,ra,dec\n11904151,K00072.01,CONFIRMED,285.679,50.241\n"


@responses.activate
@pytest.mark.parametrize("quarter", sorted(recorded_llc_quarters()) if REPLAY_DATA.is_dir() else [])
def test_every_recorded_kepler10_quarter_is_selected_by_quarter(tmp_path, quarter):
    responses.post(f"{TAP}/sync", body=KEPLER10_TAP)
    replay("kepler10_observations", "kepler10_products")
    plan(tmp_path, "kepler", "--n", "1")
    rows = planned_rows(tmp_path, "kepler", "--n", "1", "--quarter", str(quarter))
    assert list(rows) == [recorded_llc_quarters()[quarter]]
    assert rows[recorded_llc_quarters()[quarter]]["quarter"] == quarter


@responses.activate
def test_kepler10_q4_is_its_own_stamp_and_every_listed_quarter_is_planned(tmp_path):
    responses.post(f"{TAP}/sync", body=KEPLER10_TAP)
    replay("kepler10_observations", "kepler10_products")
    rows = planned_rows(tmp_path, "kepler", "--n", "1")
    quarters = recorded_llc_quarters()
    assert quarters[4] == "kplr011904151-2010009091648_llc.fits"  # not the 2010078095331 most stars share
    assert {name: row["quarter"] for name, row in rows.items()} == {name: q for q, name in quarters.items()}
    # The recording lists a TPF, a DV time series, a tarball and a preview beside the light curves.
    assert all(name.endswith("_llc.fits") for name in rows)
    assert {r["archive_uri"].split("/", 1)[0] for r in rows.values()} == {"mast:KEPLER"}


# The Exoplanet Archive's k2pandc row for EPIC 228725972: not recorded, made here.
K2_TAP = ("pl_name,hostname,epic_hostname,disposition,default_flag,ra,dec\n"
          "K2-999 b,K2-999,EPIC 228725972,CONFIRMED,1,185.0,-10.0\n")


@responses.activate
def test_campaign_10_selects_the_recorded_split_campaign_file(tmp_path):
    responses.post(f"{TAP}/sync", body=K2_TAP)
    replay("k2_228725972_c10_observations", "k2_228725972_c10_products")
    plan(tmp_path, "k2", "--n", "1")
    rows = planned_rows(tmp_path, "k2", "--n", "1", "--campaign", "10")
    assert {name: (r["campaign"], r["campaign_part"], r["product_kind"]) for name, r in rows.items()} == {
        "ktwo228725972-c102_llc.fits": (10, 2, "lc_long")}
    assert rows["ktwo228725972-c102_llc.fits"]["rel_path"] == "k2/ktwo228725972-c102_llc.fits"


def test_campaign_11_comes_as_two_observations_both_parts_read_from_the_recording():
    """No product answer was recorded for C11: the planner's parsing step gets the recorded
    observations and one LLC product row per recorded dataURL."""
    from ratdcs_catalog import registry
    from ratdcs_catalog.sources.common import files_from_mast
    from ratdcs_catalog.sources.periods import k2_campaign

    fact = recordings()["facts"]["k2_c11_observations"]
    observations = [{"obsid": obsid, "obs_id": obs_id, "target_name": "ktwo203830112",
                     "sequence_number": fact["sequence_number"]}
                    for obsid, obs_id in zip((978006, 1010712), fact["obs_ids"])]
    products = [{"obsID": obs["obsid"], "parent_obsid": obs["obsid"], "productSubGroupDescription": "LLC",
                 "productFilename": uri.rsplit("/", 1)[1], "dataURI": uri, "size": 1000, "description": None}
                for obs, uri in zip(observations, fact["dataURLs"])]
    files, refused = files_from_mast(observations, products, source="k2", target_names={"ktwo203830112": "203830112"},
                                     product=registry.source("k2").product("long"), download_url=f"{MAST}/dl",
                                     period_of=k2_campaign, keep=lambda planned: planned.campaign == 11)
    assert refused == []
    assert [(f.rel_path, f.campaign, f.campaign_part) for f in files["203830112"]] == [
        ("k2/ktwo203830112-c111_llc.fits", 11, 1), ("k2/ktwo203830112-c112_llc.fits", 11, 2)]


# The TOI row for AU Mic (TIC 441420236, TOI-2221): not recorded, made here.
AU_MIC_TAP = ("toi,tid,tfopwg_disp,pl_orbper,ra,dec,st_tmag,st_teff,st_logg,st_rad,st_dist\n"
              "2221.01,441420236,KP,8.46,311.29,-31.34,6.76,3700,4.5,0.75,9.7\n")


@responses.activate
@pytest.mark.parametrize("cadence, ending", [("120s", "-0189-s_lc.fits"), ("20s", "-0189-a_fast-lc.fits")])
def test_au_mic_sector_27_gives_the_recorded_light_curve_of_each_cadence(tmp_path, cadence, ending):
    responses.post(f"{TAP}/sync", body=AU_MIC_TAP)
    replay("au_mic_s27_observations", "au_mic_s27_products", tic_rows=[{"ID": "441420236", "Tmag": 6.76}])
    plan(tmp_path, "tess", "--n", "1")
    rows = planned_rows(tmp_path, "tess", "--n", "1", "--sector", "27", "--cadence", cadence)
    recorded = {r["productFilename"]: r for r in recordings()["au_mic_s27_products"]["answer"]["data"]}
    (name,) = rows
    assert name == f"tess2020186164531-s0027-0000000441420236{ending}"
    assert rows[name]["sector"] == 27 and rows[name]["expected_size_bytes"] == recorded[name]["size"]
    assert rows[name]["archive_uri"] == recorded[name]["dataURI"]


@responses.activate
def test_a_sector_the_star_was_not_observed_in_selects_nothing(tmp_path):
    responses.post(f"{TAP}/sync", body=AU_MIC_TAP)
    replay("au_mic_s27_observations", "au_mic_s27_products", tic_rows=[{"ID": "441420236"}])
    summary, _ = plan(tmp_path, "tess", "--n", "1", "--sector", "1")
    assert summary["total"]["new"] == 0


def test_real_mast_ids_are_integers_and_absent_values_null():
    """What the sandbox must imitate (and the planner must take): integer obsIDs, null subgroups."""
    rows = recordings()["kepler10_products"]["answer"]["data"]
    assert all(isinstance(r["obsID"], int) and isinstance(r["parent_obsid"], int) for r in rows)
    assert any(r["productSubGroupDescription"] is None for r in rows)
