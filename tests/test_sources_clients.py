"""Catalog clients against hostile answers: errors name the service and query; retries are bounded."""

import json

import pytest
import responses

from ratdcs_catalog.errors import ArchiveError
from ratdcs_catalog.net.catalog import CatalogHTTP
from ratdcs_catalog.net.policy import NetworkPolicy
from ratdcs_catalog.sources.mast import MastClient
from ratdcs_catalog.sources.tables import ibe_search, tap_query

MAST = "https://mast.example"
INVOKE = MAST + "/api/v0/invoke"


TOKEN_POLICY = NetworkPolicy(mast_hosts=("mast.example",), mast_token="s3cret-token")


@pytest.fixture
def http():
    sleeps = []
    client = CatalogHTTP(NetworkPolicy(backoff_base_seconds=1.0), timeout=5, max_retries=2, rate_limit_delay=0.0,
                         sleep=sleeps.append)
    client.sleeps = sleeps
    return client


def complete(data, pages=1):
    return {"status": "COMPLETE", "msg": "", "fields": [{"name": "ID", "type": "string"}], "data": data,
            "paging": {"page": 1, "pageSize": len(data), "pagesFiltered": pages, "rows": len(data),
                       "rowsFiltered": len(data), "rowsTotal": len(data)}}


@responses.activate
def test_executing_is_asked_again_until_complete(http):
    responses.post(INVOKE, json={"status": "EXECUTING", "msg": "", "data": []})
    responses.post(INVOKE, json=complete([{"ID": "1"}]))
    assert MastClient(http, MAST).tic_rows(["1"]) == [{"ID": "1"}]
    assert len(responses.calls) == 2


@responses.activate
def test_pages_are_followed(http):
    responses.post(INVOKE, json=complete([{"ID": "1"}], pages=2))
    responses.post(INVOKE, json=complete([{"ID": "2"}], pages=2))
    assert [r["ID"] for r in MastClient(http, MAST).tic_rows(["1", "2"])] == ["1", "2"]
    pages = [json.loads(__import__("urllib.parse").parse.parse_qs(c.request.body)["request"][0])["page"]
             for c in responses.calls]
    assert pages == [1, 2]


@responses.activate
def test_error_status_raises_with_mast_message(http):
    responses.post(INVOKE, json={"status": "ERROR", "msg": "Timeout limit of 600 exceeded", "data": []})
    with pytest.raises(ArchiveError, match=r"MAST Mast.Catalogs.Filtered.Tic.Rows \(ID=1\): MAST answered ERROR: "
                                           r"Timeout limit of 600 exceeded"):
        MastClient(http, MAST).tic_rows(["1"])


@responses.activate
def test_malformed_json(http):
    responses.post(INVOKE, body='{"status": "COMPLETE", "data": [', content_type="application/json")
    with pytest.raises(ArchiveError, match="MAST answered with malformed JSON"):
        MastClient(http, MAST).products(["9"])


@responses.activate
def test_html_error_page_with_status_200(http):
    responses.post(INVOKE, body="<!DOCTYPE html><html><body>Maintenance</body></html>", content_type="text/html")
    with pytest.raises(ArchiveError, match=r"answered with an HTML page instead of data \(HTTP 200, https://mast.example/api/v0/invoke\)"):
        MastClient(http, MAST).products(["9"])


@responses.activate
def test_5xx_is_retried_then_reported(http):
    for _ in range(3):
        responses.post(INVOKE, status=503, headers={"Retry-After": "2"})
    with pytest.raises(ArchiveError, match=r"HTTP 503 after 3 attempts"):
        MastClient(http, MAST).products(["9"])
    assert len(responses.calls) == 3
    assert http.sleeps == [2.0, 2.0]  # Retry-After honoured, no real sleeping


@responses.activate
def test_connection_errors_back_off_exponentially(http):
    import requests
    for _ in range(3):
        responses.post(INVOKE, body=requests.ConnectionError("refused"))
    with pytest.raises(ArchiveError, match=r"no answer \(ConnectionError\) after 3 attempts"):
        MastClient(http, MAST).products(["9"])
    assert 0.5 <= http.sleeps[0] <= 1.0 and 1.0 <= http.sleeps[1] <= 2.0


@responses.activate
def test_tap_error_votable_is_reported(http):
    responses.post("https://tap.example/TAP/sync", body=(
        '<?xml version="1.0"?><VOTABLE><RESOURCE type="results"><INFO name="QUERY_STATUS" value="ERROR">'
        'Table toi2 does not exist</INFO></RESOURCE></VOTABLE>'), content_type="text/xml")
    with pytest.raises(ArchiveError, match=r"TAP query \[select \* from toi2\]: the archive refused the query: "
                                           r"Table toi2 does not exist"):
        tap_query(http, "https://tap.example/TAP", "select * from toi2")


@responses.activate
def test_ibe_xml_error_is_reported(http):
    responses.get("https://irsa.example/ibe/search/ztf/products/sci", body=(
        "<?xml version='1.0'?><error><message>column fieldx does not exist</message></error>"))
    with pytest.raises(ArchiveError, match="the archive refused the query: column fieldx does not exist"):
        ibe_search(http, "https://irsa.example/ibe", "ztf/products/sci", "fieldx = 1")


def test_rate_limit_delay_spaces_queries_to_one_host():
    sleeps, now = [], [100.0]
    http = CatalogHTTP(timeout=5, max_retries=0, rate_limit_delay=1.5, sleep=sleeps.append, clock=lambda: now[0])
    with responses.RequestsMock() as mock:
        mock.post(INVOKE, json=complete([]))
        mock.post(INVOKE, json=complete([]))
        MastClient(http, MAST).products(["1"])
        now[0] += 0.5
        MastClient(http, MAST).products(["2"])
    assert sleeps == [1.0]


def test_mast_token_goes_to_mast_only_as_cookie():
    http = CatalogHTTP(TOKEN_POLICY, timeout=5, max_retries=0, rate_limit_delay=0)
    with responses.RequestsMock() as mock:
        mock.post(INVOKE, json=complete([]))
        mock.post("https://tap.example/TAP/sync", body="a\n1\n")
        MastClient(http, MAST).products(["1"])
        tap_query(http, "https://tap.example/TAP", "select a from t")
        assert mock.calls[0].request.headers["Cookie"] == "mast_token=s3cret-token"
        assert "Cookie" not in mock.calls[1].request.headers


def test_plan_reads_the_mast_token_from_dotenv_for_mast_only(tmp_path, monkeypatch):
    from ratdcs_catalog.config import load_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MAST_API_TOKEN=from-dotenv-token\n")
    config = load_config(environ={}, cwd=tmp_path).with_overrides({"endpoints.mast": MAST})
    http = CatalogHTTP.from_config(config)
    assert http.policy.mast_token == "from-dotenv-token"
    assert http.policy.sends_token_to("mast.example") and not http.policy.sends_token_to("tap.example")
    assert "from-dotenv-token" not in repr(dict(config))  # a secret, not a setting


def test_mast_token_does_not_follow_a_redirect_to_another_host():
    http = CatalogHTTP(TOKEN_POLICY, timeout=5, max_retries=0, rate_limit_delay=0)
    with responses.RequestsMock() as mock:
        mock.get("https://mast.example/api/v0.1/Download/bundle", status=302,
                 headers={"Location": "https://cloud.example/bundle.tar"})
        mock.get("https://cloud.example/bundle.tar", body=b"tar")
        http.request("GET", "https://mast.example/api/v0.1/Download/bundle", what="a bundle")
        assert mock.calls[0].request.headers["Cookie"] == "mast_token=s3cret-token"
        assert "Cookie" not in mock.calls[1].request.headers


def test_mast_token_is_not_sent_in_clear_text_over_http():
    http = CatalogHTTP(TOKEN_POLICY, timeout=5, max_retries=0, rate_limit_delay=0)
    with responses.RequestsMock() as mock:
        mock.get("http://mast.example/api/v0.1/invoke", body=b"{}")
        http.request("GET", "http://mast.example/api/v0.1/invoke", what="a query")
        assert "Cookie" not in mock.calls[0].request.headers
