"""NASA Exoplanet Archive TAP of the sandbox: ADQL subset, formats, errors."""

import csv
import io

import requests
from astropy.io.votable import parse_single_table


def tap(sandbox, query, fmt="csv", method="post", path="/TAP/sync", **extra):
    params = {"query": query, "format": fmt, **extra}
    call = requests.post if method == "post" else requests.get
    kwargs = {"data": params} if method == "post" else {"params": params}
    return call(sandbox.base_url + path, timeout=10, **kwargs)


def rows(response):
    return list(csv.DictReader(io.StringIO(response.text)))


def test_select_where_order_on_cumulative(sandbox):
    response = tap(sandbox, "select kepid,kepoi_name,koi_disposition from cumulative "
                            "where koi_disposition = 'CONFIRMED' order by kepoi_name")
    assert response.status_code == 200
    got = rows(response)
    expected = [r for r in sandbox.universe.kois if r["koi_disposition"] == "CONFIRMED"]
    assert [int(r["kepid"]) for r in got] == [r["kepid"] for r in expected]
    assert list(got[0]) == ["kepid", "kepoi_name", "koi_disposition"]


def test_in_like_and_top_on_toi_with_get_and_double_slash(sandbox):
    response = tap(sandbox, "select top 5 tid, toi, tfopwg_disp from toi where tfopwg_disp in ('PC','KP') "
                            "and toi like '1%' order by toi desc", method="get", path="/TAP//sync")
    got = rows(response)
    assert len(got) == 5
    assert all(r["tfopwg_disp"] in ("PC", "KP") and r["toi"].startswith("1") for r in got)
    assert [r["toi"] for r in got] == sorted((r["toi"] for r in got), reverse=True)


def test_votable_default_and_maxrec(sandbox):
    response = requests.post(sandbox.base_url + "/TAP/sync", timeout=10, data={
        "REQUEST": "doQuery", "LANG": "ADQL", "MAXREC": "7",
        "QUERY": "select pl_name, hostname, epic_hostname, default_flag from k2pandc where default_flag = 1"})
    table = parse_single_table(io.BytesIO(response.content)).to_table()
    assert len(table) == 7
    assert table.colnames == ["pl_name", "hostname", "epic_hostname", "default_flag"]
    assert b'value="OVERFLOW"' in response.content


def test_select_star_gives_the_recorded_column_set(sandbox):
    got = rows(tap(sandbox, "select * from toi where tid = %d" % sandbox.universe.toi_hosts()[0]))
    assert "tfopwg_disp" in got[0] and len(got[0]) == 110


def test_tap_schema_tables_lists_the_tables(sandbox):
    got = rows(tap(sandbox, "select table_name from TAP_SCHEMA.tables"))
    assert {"cumulative", "k2pandc", "toi"} <= {r["table_name"] for r in got}


def test_bad_query_answers_an_error_document(sandbox):
    response = tap(sandbox, "select nope from cumulative", fmt="votable")
    assert response.status_code == 400
    assert b'QUERY_STATUS" value="ERROR"' in response.content and b"nope" in response.content
    assert tap(sandbox, "select * from no_such_table").status_code == 400
    assert tap(sandbox, "drop table cumulative").status_code == 400
