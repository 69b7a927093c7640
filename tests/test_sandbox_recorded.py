"""The sandbox's MAST answers beside real ones recorded by others (../shared/replay_data/).

Every universe holds the recorded targets (Kepler-10, EPIC 228725972 in C10, EPIC 203830112 in
C11, AU Mic in sector 27), so the same request gets the same rows: same columns in the same
order, the same JSON types, and the same values except those that cannot match (MAST's internal
ids, times, sizes at the sandbox's scale, synthesised proposal ids). The recordings' HLSP rows
(EVEREST, K2SFF, QLP, TESS-SPOC, CDIPS) are not imitated: the sandbox serves mission products only.
"""

import json
import math
import re
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest
import requests
from shared_data import REPLAY_DATA, skip_without

CASSETTES = REPLAY_DATA / "mast_lightkurve_cassettes.json"
pytestmark = skip_without(CASSETTES)

# Observation columns whose values are MAST's own (ids, times) and cannot match a made-up universe.
OBS_UNMATCHED = {"obsid", "objID", "objID1", "t_min", "t_max", "t_obs_release"}
PRODUCT_UNMATCHED = {"obsID", "parent_obsid", "size"}
SYNTHESISED = {"proposal_id"}  # K2 and TESS (Kepler's "EX" matches)


def recordings():
    return {r["id"]: r for r in json.loads(CASSETTES.read_text())["recordings"]}


def cassette_facts():
    return json.loads(CASSETTES.read_text())["facts"]


def invoke(sandbox, service, params, pagesize=50000, page=1):
    request = {"service": service, "params": params, "format": "json", "pagesize": pagesize, "page": page}
    response = requests.post(sandbox.base_url + "/api/v0/invoke", data="request=" + quote(json.dumps(request)),
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert response.status_code == 200
    return response.json()


def replay(sandbox, recording, params=None):
    """The sandbox's answer to the recorded request (or to ``params``, for the products' obsids)."""
    return invoke(sandbox, recording["service"], params or recording["recorded_request_params"])


def json_type(value):
    return "int" if isinstance(value, int) and not isinstance(value, bool) else type(value).__name__


def assert_same_row(served, recorded, unmatched):
    assert list(served) == list(recorded)  # columns, in the recorded order
    assert {k: json_type(v) for k, v in served.items()} == {k: json_type(v) for k, v in recorded.items()}
    differing = {k: (served[k], recorded[k]) for k in recorded if k not in unmatched and served[k] != recorded[k]}
    assert differing == {}


def assert_same_observations(sandbox, recording_id, mission):
    recorded = recordings()[recording_id]
    answer = replay(sandbox, recorded)
    assert list(answer) == list(recorded["answer"]) == ["status", "msg", "data", "fields", "paging"]
    assert answer["fields"] == recorded["answer"]["fields"]
    expected = [r for r in recorded["answer"]["data"] if r["obs_collection"] == mission]
    assert [r["obs_id"] for r in answer["data"]] == [r["obs_id"] for r in expected]
    unmatched = OBS_UNMATCHED | (SYNTHESISED if mission != "Kepler" else set())
    for served, row in zip(answer["data"], expected):
        assert_same_row(served, row, unmatched | {"s_region"})
        assert re.sub(r"[\d.]+", "#", served["s_region"]) == re.sub(r"[\d.]+", "#", row["s_region"])
        assert [float(x) for x in served["s_region"].split()[2:]] == pytest.approx(
            [float(x) for x in row["s_region"].split()[2:]], abs=1e-6)
        assert isinstance(served["obsid"], int) and isinstance(served["objID"], int)
    return answer, expected


def assert_same_products(sandbox, recording_id, observations, mission):
    """The recorded product rows of ``mission`` are in the sandbox's answer, with equal values and in
    the recorded order within each observation; obsID and parent_obsid are the sandbox's obsid."""
    recorded = recordings()[recording_id]
    obsid_of = {o["obs_id"]: o["obsid"] for o in observations}
    answer = replay(sandbox, recorded, {"obsid": ",".join(str(o["obsid"]) for o in observations)})
    assert answer["fields"] == recorded["answer"]["fields"]
    served = {r["dataURI"]: r for r in answer["data"]}
    expected = [r for r in recorded["answer"]["data"] if r["obs_collection"] == mission]
    unmatched = PRODUCT_UNMATCHED | (SYNTHESISED if mission != "Kepler" else set())
    for row in expected:
        assert row["dataURI"] in served, row["productFilename"]
        assert_same_row(served[row["dataURI"]], row, unmatched)
        assert served[row["dataURI"]]["obsID"] == served[row["dataURI"]]["parent_obsid"] == obsid_of[row["obs_id"]]
    order = [r["dataURI"] for r in answer["data"]]
    for obs_id in obsid_of:
        recorded_order = [r["dataURI"] for r in expected if r["obs_id"] == obs_id]
        assert sorted(recorded_order, key=order.index) == recorded_order
    return answer


def test_kepler10_observations_and_products_are_the_recorded_ones(sandbox):
    answer, _ = assert_same_observations(sandbox, "kepler10_observations", "Kepler")
    assert [r["distance"] for r in answer["data"]] == [0, 0]  # found by footprint, as MAST does
    products = assert_same_products(sandbox, "kepler10_products", answer["data"], "Kepler")
    # The recording is an excerpt: the sandbox also lists the other target pixel files and the
    # short-cadence observation's files. Every one of them names its period or is whole-mission.
    long = [r for r in products["data"] if r["obs_id"].startswith("kplr011904151_lc_")]
    assert [r["description"] for r in long if r["productSubGroupDescription"] == "LPD-TARG"] == \
        [f"Target Pixel Long Cadence (TPL) - Q{q}" for q in (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17)]


def test_au_mic_sector_27_observations_and_products_are_the_recorded_ones(sandbox):
    answer, _ = assert_same_observations(sandbox, "au_mic_s27_observations", "TESS")
    assert_same_products(sandbox, "au_mic_s27_products", answer["data"], "TESS")


def test_k2_split_campaign_10_observation_and_products_are_the_recorded_ones(sandbox):
    answer, _ = assert_same_observations(sandbox, "k2_228725972_c10_observations", "K2")
    products = assert_same_products(sandbox, "k2_228725972_c10_products", answer["data"], "K2")
    assert [r["productFilename"] for r in products["data"]] == [
        "ktwo228725972-c102_llc_bw_large.png", "ktwo228725972-c102_llc.fits",
        "ktwo228725972-c101_lpd-targ.fits.gz", "ktwo228725972-c102_lpd-targ.fits.gz"]


def test_k2_campaign_11_is_two_observations_as_recorded(sandbox):
    fact = cassette_facts()["k2_c11_observations"]
    answer = invoke(sandbox, "Mast.Caom.Filtered", {"columns": "*", "filters": [
        {"paramName": "target_name", "values": ["ktwo203830112"]},
        {"paramName": "sequence_number", "values": [str(fact["sequence_number"])]}]})
    rows = answer["data"]
    assert [r["obs_id"] for r in rows] == fact["obs_ids"]
    assert [r["dataURL"] for r in rows] == fact["dataURLs"]
    assert [r["sequence_number"] for r in rows] == [11, 11]


def test_tess_light_curve_row_has_the_recorded_form(sandbox):
    """The recorded sector-1 row is another star's: the sandbox's row for AU Mic's sector 1 differs
    from it by the TIC number only (and by size and pipeline version)."""
    fact = cassette_facts()["tess_sector1_lc_row"]["row"]
    obs = invoke(sandbox, "Mast.Caom.Filtered", {"columns": "*", "filters": [
        {"paramName": "target_name", "values": ["441420236"]}, {"paramName": "sequence_number", "values": ["1"]}]})
    (row,) = [r for r in invoke(sandbox, "Mast.Caom.Products", {"obsid": str(obs["data"][0]["obsid"])})["data"]
              if r["productSubGroupDescription"] == "LC"]
    mine = {k: row[k] for k in fact if k not in ("obsID", "parent_obsid", "size", "prvversion")}
    theirs = {k: (v.replace("273985862", "441420236") if isinstance(v, str) else v) for k, v in fact.items()
              if k not in ("obsID", "parent_obsid", "size", "prvversion")}
    assert mine == theirs


def test_download_answer_has_the_recorded_headers(sandbox):
    recorded = cassette_facts()["download_answer"]
    headers = recorded["headers"]
    # The recorded ETag is nginx's: hex modification time, hex size.
    assert headers["ETag"] == f'"{int(parsedate_to_datetime(headers["Last-Modified"]).timestamp()):x}-' \
                              f'{int(headers["Content-Length"]):x}"'
    product = sandbox.universe.kepler_products(11904151)[0]
    answer = requests.get(f"{sandbox.base_url}/api/v0.1/Download/file?uri={quote(product.data_uri, safe=':/')}",
                          timeout=30)
    served = answer.headers
    assert {k.lower() for k in headers} <= {k.lower() for k in served}
    assert not {k.lower() for k in recorded["absent"]} & {k.lower() for k in served}
    assert (served["Content-Type"], served["Accept-Ranges"]) == (headers["Content-Type"], headers["Accept-Ranges"])
    assert served["content-disposition"] == f'attachment; filename="{product.filename}"'
    assert served["ETag"] == f'"{int(parsedate_to_datetime(served["Last-Modified"]).timestamp()):x}-' \
                             f'{product.size:x}"'
    assert len(answer.content) == int(served["Content-Length"]) == product.size


@pytest.mark.parametrize("name", ["mast_paging_caom_filtered_jwst5224_page1of9.json",
                                  "mast_paging_caom_products_266381037_page7of7.json"])
def test_paged_answers_have_the_recorded_paging(sandbox, name):
    recorded = json.loads((REPLAY_DATA / name).read_text())
    page_size, page = recorded["paging"]["pageSize"], recorded["paging"]["page"]
    if "products" in name:
        obsids = [str(o["obsid"]) for o in sandbox._mast.observations[:80]]
        whole = invoke(sandbox, "Mast.Caom.Products", {"obsid": ",".join(obsids)})
        pages = math.ceil(whole["paging"]["rowsFiltered"] / page_size)
        answer = invoke(sandbox, "Mast.Caom.Products", {"obsid": ",".join(obsids)}, page_size, pages)
        page = pages
    else:
        filters = [{"paramName": "obs_collection", "values": ["TESS"]}]
        whole = invoke(sandbox, "Mast.Caom.Filtered", {"columns": "*", "filters": filters})
        answer = invoke(sandbox, "Mast.Caom.Filtered", {"columns": "*", "filters": filters}, page_size, page)
    total = whole["paging"]["rowsFiltered"]
    assert list(answer) == list(recorded) and list(answer["paging"]) == list(recorded["paging"])
    assert answer["paging"] == {"page": page, "pageSize": page_size, "pagesFiltered": math.ceil(total / page_size),
                                "rows": len(answer["data"]), "rowsFiltered": total, "rowsTotal": total}
    assert answer["paging"]["pagesFiltered"] > 1
    assert answer["data"] == whole["data"][(page - 1) * page_size: page * page_size]
    assert list(answer["data"][0]) == [f["name"] for f in answer["fields"]]
    id_column = "obsID" if "products" in name else "obsid"
    assert isinstance(recorded["data"][0][id_column], int) and isinstance(answer["data"][0][id_column], int)
