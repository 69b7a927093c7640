"""IRSA IBE (ZTF) of the sandbox: search, formats, errors, image files."""

import csv
import io

import requests
from astropy.io import ascii

SEARCH = "/ibe/search/ztf/products/sci"


def test_where_search_matches_the_universe_in_csv_and_ipac(sandbox):
    where = "field IN (600,601) AND obsjd BETWEEN 2460310.5 AND 2460341.5 AND filtercode='zr' AND ccdid=3"
    expected = sandbox.universe.ztf_rows(fields=[600, 601], jd_min=2460310.5, jd_max=2460341.5,
                                         filtercodes=["zr"], ccdids=[3])
    as_csv = requests.get(sandbox.base_url + SEARCH, params={"WHERE": where, "ct": "csv"}, timeout=10)
    got = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [int(r["pid"]) for r in got] == [r["pid"] for r in expected]
    ipac = requests.get(sandbox.base_url + SEARCH, params={"WHERE": where, "ct": "ipac_table"}, timeout=10)
    table = ascii.read(ipac.text, format="ipac")
    assert list(table["pid"]) == [r["pid"] for r in expected]
    assert {"field", "ccdid", "qid", "filtercode", "obsjd", "filefracday"} <= set(table.colnames)


def test_bad_where_is_an_xml_error(sandbox):
    response = requests.get(sandbox.base_url + SEARCH, params={"WHERE": "field IN (600", "ct": "csv"}, timeout=10)
    assert response.status_code == 400
    assert response.text.startswith("<?xml") and "<error>" in response.text


def test_image_served_at_the_real_layout_with_true_size(sandbox):
    row = sandbox.universe.ztf_rows(fields=[245], qids=[2])[0]
    product = sandbox.universe.ztf_product(row)
    ffd = f"{row['filefracday']:014d}"
    assert product.path == (f"/ibe/data/ztf/products/sci/{ffd[:4]}/{ffd[4:8]}/{ffd[8:]}/"
                            f"ztf_{ffd}_000245_{row['filtercode']}_c{row['ccdid']:02d}_o_q2_sciimg.fits")
    head = requests.head(sandbox.base_url + product.path, timeout=10)
    assert int(head.headers["Content-Length"]) == product.size
    body = requests.get(sandbox.base_url + product.path, timeout=10).content
    assert len(body) == product.size
    assert requests.get(sandbox.base_url + product.path.replace("q2", "q5"), timeout=10).status_code == 404
