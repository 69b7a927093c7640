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
    answer = invoke(sandbox, "Mast.Caom.Products", {"obsid": ",".join(str(o["obsid"]) for o in obs)})
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


def download(sandbox, uri, **headers):
    return requests.get(sandbox.base_url + "/api/v0.1/Download/file?uri=" + quote(uri, safe=":/"),
                        headers=headers, timeout=30)


def observations_of(sandbox, target_name):
    return invoke(sandbox, "Mast.Caom.Filtered", {"columns": "*", "filters": [
        {"paramName": "target_name", "values": [target_name]}]})["data"]


def products_of(sandbox, observations):
    return invoke(sandbox, "Mast.Caom.Products", {"obsid": ",".join(str(o["obsid"]) for o in observations)})["data"]


def test_observation_rows_carry_integer_ids_nulls_and_each_missions_sequence_number(sandbox):
    u = sandbox.universe
    kic, epic, tid = u.confirmed_kepler_hosts()[0], u.confirmed_k2_hosts()[0], u.toi_hosts()[0]
    rows = {"kepler": observations_of(sandbox, f"kplr{kic:09d}"), "k2": observations_of(sandbox, f"ktwo{epic:09d}"),
            "tess": observations_of(sandbox, str(tid))}
    everything = [r for found in rows.values() for r in found]
    assert all(type(r["obsid"]) is int and type(r["objID"]) is int for r in everything)
    assert not [(r["obs_id"], k) for r in everything for k, v in r.items() if v == ""]
    assert [(r["sequence_number"], r["t_exptime"]) for r in rows["kepler"]] == \
        [(-999, 1800)] + [(-999, 60)] * bool(u.kepler_slc_quarters(kic))
    assert sorted(r["sequence_number"] for r in rows["k2"] if r["t_exptime"] == 1800) == \
        sorted(c for c in u.k2_campaigns(epic) for _ in ((1, 2) if c in (9, 11) else (0,)))
    assert sorted((r["sequence_number"], r["t_exptime"]) for r in rows["tess"]) == \
        sorted([(s, 120) for s in u.tess_sectors(tid)] + [(s, 20) for s in u.tess_fast_sectors(tid)])
    assert [r["dataURL"] for r in rows["tess"] if r["t_exptime"] == 120] == \
        [p.data_uri for p in u.tess_products(tid)]


def test_product_lists_hold_every_kind_of_file_beside_the_light_curves(sandbox):
    u = sandbox.universe
    kic = next(k for k in u.confirmed_kepler_hosts() if u.kepler_slc_quarters(k))
    tid = next(t for t in u.toi_hosts() if u.tess_fast_sectors(t))
    epic = next(e for e in u.confirmed_k2_hosts() if u.k2_hosts[e]["slc_campaigns"])
    subgroups = {}
    for name in (f"kplr{kic:09d}", str(tid), f"ktwo{epic:09d}"):
        for row in products_of(sandbox, observations_of(sandbox, name)):
            subgroup = row["productSubGroupDescription"]
            subgroups.setdefault(row["obs_collection"], set()).add((subgroup, row["description"] if subgroup is None else ""))
    assert subgroups["Kepler"] == {("LLC", ""), ("SLC", ""), ("LPD-TARG", ""), ("SPD-TARG", ""),
                                   (None, "Data Validation time series"), (None, "Preview-Full"),
                                   (None, "tar file for Lightcurves Long Cadence (CLC) - all quarters"),
                                   (None, "tar file for Lightcurves Short Cadence (CSC) - all quarters")}
    assert {s for s, _ in subgroups["TESS"]} == {"LC", "TP", "FAST-LC", "FAST-TP", "DVT", "DVR", "DVM", "DVS"}
    assert subgroups["K2"] == {("LLC", ""), ("SLC", ""), ("LPD-TARG", ""), ("SPD-TARG", ""), (None, "Preview-Full")}


def test_every_listed_file_downloads_with_its_listed_size_and_readable_content(sandbox):
    import gzip
    import io
    import tarfile
    import warnings

    from astropy.io import fits

    obs = observations_of(sandbox, "kplr011904151") + observations_of(sandbox, "441420236")
    rows = products_of(sandbox, obs)
    seen = set()
    for row in rows:
        kind = (row["productSubGroupDescription"], row["productFilename"].rsplit(".", 1)[-1])
        if kind in seen or row["size"] > 3_000_000:
            continue
        seen.add(kind)
        body = download(sandbox, row["dataURI"]).content
        assert len(body) == row["size"], row["productFilename"]
        name = row["productFilename"]
        if name.endswith(".tar"):
            members = tarfile.open(fileobj=io.BytesIO(body)).getnames()
            assert members == [r["productFilename"] for r in rows if r["obs_id"] == row["obs_id"]
                               and r["productSubGroupDescription"] in ("LLC", "SLC")]
        elif name.endswith((".fits", ".fits.gz")):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a bad checksum is a warning in astropy
                data = gzip.decompress(body) if name.endswith(".gz") else body
                with fits.open(io.BytesIO(data), checksum=True) as hdul:
                    assert all(hdu.header["CHECKSUM"] for hdu in hdul) and [hdu.data for hdu in hdul]
        else:
            assert body.startswith({"png": b"\x89PNG", "pdf": b"%PDF-", "xml": b"<?xml"}[name.rsplit(".", 1)[1]])
    assert len(seen) >= 12  # LLC, SLC, LC, FAST-LC, TPFs, DV files, previews, tarballs


def test_stars_on_module_3_have_an_odd_q4_stamp_and_the_description_still_names_q4(sandbox):
    u = sandbox.universe
    odd = u.kepler_odd_stamp_stars()
    assert 0.04 < len(odd) / len(u.kepler_stars) < 0.08 and 11904151 in odd
    kic = next(k for k in u.confirmed_kepler_hosts() if k in odd)
    assert u.kepler_quarter_files(kic)[4] == f"kplr{kic:09d}-2010009091648_llc.fits"
    assert u.kepler_quarter_files(kic)[3] == f"kplr{kic:09d}-2009350155506_llc.fits"
    rows = products_of(sandbox, observations_of(sandbox, f"kplr{kic:09d}"))
    q4 = [r for r in rows if r["description"] == "Lightcurve Long Cadence (CLC) - Q4"]
    assert [r["productFilename"] for r in q4] == [f"kplr{kic:09d}-2010009091648_llc.fits"]
    assert q4[0]["size"] < min(r["size"] for r in rows if r["productSubGroupDescription"] == "LLC"
                               and r["description"].endswith(("- Q3", "- Q5")))  # cut short by the failure
    normal = next(k for k in u.confirmed_kepler_hosts() if k not in odd and 4 in u.kepler_quarters(k))
    assert u.kepler_quarter_files(normal)[4] == f"kplr{normal:09d}-2010078095331_llc.fits"


def test_split_k2_campaigns_come_as_mast_lists_them(sandbox):
    u = sandbox.universe
    hosts = {c: next(e for e in u.k2_split_hosts() if c in u.k2_campaigns(e)) for c in (9, 10, 11)}
    for campaign, epic in hosts.items():
        rows = [r for r in observations_of(sandbox, f"ktwo{epic:09d}") if r["sequence_number"] == campaign
                and r["t_exptime"] == 1800]
        llc = [r for r in products_of(sandbox, rows) if r["productSubGroupDescription"] == "LLC"]
        e9 = f"ktwo{epic:09d}"
        if campaign == 10:
            assert [r["obs_id"] for r in rows] == [f"{e9}-c10_lc"]
            assert [(r["productFilename"], r["description"]) for r in llc] == \
                [(f"{e9}-c102_llc.fits", "Lightcurve Long Cadence (KLC) - C10-2")]
        else:
            assert [r["obs_id"] for r in rows] == [f"{e9}-c{campaign}1_lc", f"{e9}-c{campaign}2_lc"]
            assert [(r["productFilename"], r["description"]) for r in llc] == \
                [(f"{e9}-c{campaign}{p}_llc.fits", f"Lightcurve Long Cadence (KLC) - C{campaign}-{p}") for p in (1, 2)]
        assert u.k2_campaign_files(epic)[campaign] == [r["productFilename"] for r in llc]
        assert all(f"/lightcurves/c{campaign}" in r["dataURI"] for r in llc)
    plain = next(e for e in u.k2_hosts if not set(u.k2_campaigns(e)) & {9, 10, 11})
    c = u.k2_campaigns(plain)[0]
    assert u.k2_campaign_files(plain)[c] == [f"ktwo{plain:09d}-c{c:02d}_llc.fits"]


def test_download_validators_and_if_range(sandbox):
    product = sandbox.universe.kepler_products(sandbox.universe.confirmed_kepler_hosts()[0])[0]
    whole = download(sandbox, product.data_uri)
    etag, modified = whole.headers["ETag"], whole.headers["Last-Modified"]
    assert (etag, modified) == tuple(sandbox.validators(product).values())
    assert whole.headers["Content-Type"] == "application/octet-stream"
    answers = {validator: download(sandbox, product.data_uri, Range="bytes=1000-", **{"If-Range": validator})
               for validator in (etag, modified, '"0-0"', "W/" + etag, "Mon, 01 Jan 2001 00:00:00 GMT")}
    assert [(a.status_code, len(a.content)) for a in answers.values()] == \
        [(206, product.size - 1000)] * 2 + [(200, product.size)] * 3
    assert answers[etag].content == whole.content[1000:] and answers[etag].headers["ETag"] == etag
    assert answers['"0-0"'].content == whole.content and "Content-Range" not in answers['"0-0"'].headers
    assert [r.if_range for r in sandbox.requests if product.filename in r.query][-5:] == list(answers)


def test_the_older_dataURI_form_is_served_too(sandbox):
    product = sandbox.universe.kepler_products(sandbox.universe.confirmed_kepler_hosts()[0])[0]
    assert product.data_uri.startswith("mast:KEPLER/url/missions/kepler/lightcurves/")
    older = product.data_uri.replace("mast:KEPLER/", "mast:Kepler/")
    assert download(sandbox, older).content == sandbox.file_bytes(product)
    assert sandbox.universe.product_by_uri(older) == product


def test_small_pages_walk_every_product(sandbox):
    obs = observations_of(sandbox, "kplr011904151")
    whole = invoke(sandbox, "Mast.Caom.Products", {"obsid": ",".join(str(o["obsid"]) for o in obs)})
    pages = -(-whole["paging"]["rowsFiltered"] // 7)
    assert pages > 1
    walked = [invoke(sandbox, "Mast.Caom.Products", {"obsid": ",".join(str(o["obsid"]) for o in obs)},
                     pagesize=7, page=p) for p in range(1, pages + 1)]
    assert [a["paging"]["pagesFiltered"] for a in walked] == [pages] * pages
    assert [row for a in walked for row in a["data"]] == whole["data"]
    last = whole["paging"]["rowsFiltered"] - 7 * (pages - 1)
    assert [a["paging"]["rows"] for a in walked] == [7] * (pages - 1) + [last]
