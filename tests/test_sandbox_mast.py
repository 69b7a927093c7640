"""MAST endpoints of the sandbox: invoke services, columnsconfig, downloads."""

import json
from urllib.parse import quote

import requests


def invoke(sandbox, service, params, **extra):
    request = {"service": service, "params": params, "format": "json", "pagesize": 50000,
               "page": 1, **extra}
    response = requests.post(sandbox.base_url + "/api/v0/invoke",
                             data="request=" + quote(json.dumps(request)),
                             headers={"Content-Type": "application/x-www-form-urlencoded"},
                             timeout=10)
    assert response.status_code == 200
    return response.json()


def test_caom_filtered_finds_the_kepler_observation(sandbox):
    kic = sandbox.universe.confirmed_kepler_hosts()[0]
    answer = invoke(sandbox, "Mast.Caom.Filtered", {"columns": "*", "filters": [
        {"paramName": "obs_collection", "values": ["Kepler"]},
        {"paramName": "target_name", "values": [f"kplr{kic:09d}"]},
        {"paramName": "dataproduct_type", "values": ["timeseries"]}]})
    assert answer["status"] == "COMPLETE"
    assert set(answer) == {"status", "msg", "fields", "data", "paging"}
    assert {f["name"] for f in answer["fields"]} >= {"obsid", "obs_id", "target_name", "t_min"}
    rows = answer["data"]
    assert [r["target_name"] for r in rows] == [f"kplr{kic:09d}"]
    assert rows[0]["obs_id"].startswith(f"kplr{kic:09d}_lc_Q")
    assert answer["paging"]["rowsFiltered"] == 1


def test_paging_splits_rows_by_pagesize(sandbox):
    tids = [str(t) for t in sandbox.universe.toi_hosts()[:40]]
    filters = [{"paramName": "obs_collection", "values": ["TESS"]},
               {"paramName": "target_name", "values": tids}]
    whole = invoke(sandbox, "Mast.Caom.Filtered", {"columns": "*", "filters": filters})
    page2 = invoke(sandbox, "Mast.Caom.Filtered", {"columns": "*", "filters": filters},
                   pagesize=10, page=2)
    total = whole["paging"]["rowsFiltered"]
    assert page2["paging"]["pagesFiltered"] == -(-total // 10)
    assert page2["data"] == whole["data"][10:20]


def test_products_report_true_sizes(sandbox):
    kic = sandbox.universe.confirmed_kepler_hosts()[1]
    obs = invoke(sandbox, "Mast.Caom.Filtered", {"columns": "*", "filters": [
        {"paramName": "target_name", "values": [f"kplr{kic:09d}"]}]})["data"]
    answer = invoke(sandbox, "Mast.Caom.Products", {"obsid": ",".join(o["obsid"] for o in obs)})
    rows = [r for r in answer["data"] if r["productSubGroupDescription"] == "LLC"]
    assert len(rows) == len(sandbox.universe.kepler_quarters(kic))
    for row in rows:
        assert row["size"] == sandbox.universe.product_by_uri(row["dataURI"]).size


def test_tic_rows_by_id_and_unknown_service_error(sandbox):
    tid = sandbox.universe.toi_hosts()[0]
    answer = invoke(sandbox, "Mast.Catalogs.Filtered.Tic.Rows", {"columns": "*", "filters": [
        {"paramName": "ID", "values": [str(tid)]}]})
    assert [r["ID"] for r in answer["data"]] == [tid]
    assert answer["data"][0]["Teff"] == sandbox.universe.tic_params(tid)["Teff"]
    error = invoke(sandbox, "Mast.No.Such.Service", {})
    assert error["status"] == "ERROR" and "Mast.No.Such.Service" in error["msg"]
    bad = invoke(sandbox, "Mast.Caom.Filtered", {"filters": [{"paramName": "nope", "values": ["1"]}]})
    assert bad["status"] == "ERROR"


def test_columnsconfig_gives_types_and_separators(sandbox):
    response = requests.post(sandbox.base_url + "/portal/Mashup/Mashup.asmx/columnsconfig",
                             data="colConfigId=Mast.Caom.Cone", timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    config = response.json()
    assert config["obs_collection"]["separator"] == ";"
    assert config["t_min"]["vot.datatype"] == "double"


def test_download_full_head_and_ranges(sandbox):
    product = sandbox.universe.kepler_products(sandbox.universe.confirmed_kepler_hosts()[0])[0]
    url = sandbox.base_url + "/api/v0.1/Download/file?uri=" + quote(product.data_uri, safe=":/")
    head = requests.head(url, timeout=10)
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == product.size
    assert head.headers["Accept-Ranges"] == "bytes"
    full = requests.get(url, timeout=10).content
    assert full == sandbox.file_bytes(product)
    part = requests.get(url, headers={"Range": "bytes=1000-"}, timeout=10)
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 1000-{product.size - 1}/{product.size}"
    assert part.content == full[1000:]
    beyond = requests.get(url, headers={"Range": f"bytes={product.size}-"}, timeout=10)
    assert beyond.status_code == 416
    # The log is in order of completion: a handler that has sent every byte may still be logging
    # when the client's next request finishes, so records are picked by what they are.
    log = [r for r in sandbox.requests if product.filename in r.query]
    assert sorted(r.method for r in log) == ["GET", "GET", "GET", "HEAD"]
    by_kind = {(r.method, r.status): r for r in log}
    assert by_kind[("HEAD", 200)].bytes_sent == 0 and by_kind[("GET", 200)].bytes_sent == product.size
    ranged = by_kind[("GET", 206)]
    assert ranged.bytes_sent == product.size - 1000 and ranged.range_header == "bytes=1000-"
    assert by_kind[("GET", 416)].bytes_sent == 0


def test_download_can_redirect_to_the_cloud_copy(sandbox):
    sandbox.redirect_downloads = True
    product = sandbox.universe.tess_products(sandbox.universe.toi_hosts()[0])[0]
    url = sandbox.base_url + "/api/v0.1/Download/file?uri=" + product.data_uri
    first = requests.get(url, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    assert first.headers["Location"].endswith(product.path)
    assert product.path.startswith("/stpubdata/tess/public/tid/s")
    assert requests.get(url, timeout=10).content == sandbox.file_bytes(product)


def test_outside_the_universe_is_404_and_server_binds_loopback(sandbox):
    base = sandbox.base_url
    assert base.startswith("http://127.0.0.1:")
    assert requests.get(base + "/etc/passwd", timeout=10).status_code == 404
    assert requests.get(base + "/api/v0.1/Download/file?uri=mast:Kepler/nope.fits", timeout=10).status_code == 404
    assert requests.get(base + "/stpubdata/kepler/public/lightcurves/x.fits", timeout=10).status_code == 404
    assert sandbox._server.server_address[0] == "127.0.0.1"
