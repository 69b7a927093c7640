"""Every fault class, served by the sandbox and seen by a plain requests client."""

import io
import json
import time
import warnings
from urllib.parse import quote

import pytest
import requests
from astropy.io import fits

from ratdcs_catalog.sandbox import Fault, FaultSpecError, parse_fault
from ratdcs_catalog.sandbox.faults import FaultPlan


@pytest.fixture
def product(sandbox):
    return sandbox.universe.kepler_products(sandbox.universe.confirmed_kepler_hosts()[2])[0]


def log_of(sandbox, product):
    """Log records of this product's downloads (other processes' strays on the port excluded)."""
    return [r for r in sandbox.requests if product.filename in r.query]


def url_of(sandbox, product):
    return sandbox.base_url + "/api/v0.1/Download/file?uri=" + quote(product.data_uri, safe=":/")


@pytest.mark.parametrize("status", ["429", "500", "502", "503"])
def test_status_faults_fire_count_times_then_clear(sandbox, product, status):
    sandbox.add_fault(Fault(status, pattern=r"_llc\.fits", count=2, retry_after=0))
    url = url_of(sandbox, product)
    answers = [requests.get(url, timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [int(status), int(status), 200]
    assert answers[0].headers["Retry-After"] == "0"
    assert [r.fault for r in log_of(sandbox, product)] == [status, status, None]
    assert log_of(sandbox, product)[0].bytes_sent < 100  # only the short error text, never the file


def wait_for_log(sandbox, n, seconds=3.0):
    """The server logs a request after its last byte; a client that gave up earlier is ahead."""
    deadline = time.monotonic() + seconds
    while len(sandbox.requests) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return [r for r in sandbox.requests if r.path == "/api/v0.1/Download/file"]


def test_reset_mid_body(sandbox, product):
    sandbox.add_fault(Fault("reset", pattern="Download", count=1, cut_at=0.5))
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.get(url_of(sandbox, product), timeout=10).content  # noqa: B018
    assert wait_for_log(sandbox, 1)[0].bytes_sent == product.size // 2
    assert requests.get(url_of(sandbox, product), timeout=10).status_code == 200


def test_short_body_is_shorter_than_content_length(sandbox, product):
    sandbox.add_fault(Fault("short_body", pattern="Download", count=1, cut_at=1000))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url_of(sandbox, product), timeout=10).content  # noqa: B018
    assert wait_for_log(sandbox, 1)[0].bytes_sent == 1000


def test_flip_bytes_keeps_length_but_breaks_checksums(sandbox, product):
    sandbox.add_fault(Fault("flip_bytes", pattern="Download", count=1, n_bytes=3))
    body = requests.get(url_of(sandbox, product), timeout=10).content
    good = sandbox.file_bytes(product)
    assert len(body) == len(good) and sum(a != b for a, b in zip(body, good)) == 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fits.open(io.BytesIO(body), checksum=True) as hdul:
            [hdu.data for hdu in hdul]
    assert any("hecksum" in str(w.message) for w in caught)


def test_ignore_range_answers_200_with_the_full_body(sandbox, product):
    sandbox.add_fault(Fault("ignore_range", pattern="Download"))
    answer = requests.get(url_of(sandbox, product), headers={"Range": "bytes=100-"}, timeout=10)
    assert answer.status_code == 200 and len(answer.content) == product.size


def test_no_content_length(sandbox, product):
    sandbox.add_fault(Fault("no_content_length", pattern="Download", count=1))
    answer = requests.get(url_of(sandbox, product), timeout=10)
    assert "Content-Length" not in answer.headers
    assert answer.content == sandbox.file_bytes(product)


def test_slow_link_and_stall_deliver_everything_late(sandbox, product):
    sandbox.add_fault(Fault("slow", pattern="Download", count=1, bytes_per_second=product.size * 20))
    sandbox.add_fault(Fault("stall", pattern="Download", count=1, stall_seconds=0.2))
    assert requests.get(url_of(sandbox, product), timeout=10).content == sandbox.file_bytes(product)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url_of(sandbox, product), timeout=(5, 0.05)).content  # noqa: B018
    assert [r.fault for r in wait_for_log(sandbox, 2)] == ["slow", "stall"]


def test_html_error_page_with_status_200(sandbox, product):
    sandbox.add_fault(Fault("html_200", pattern="Download", count=1))
    answer = requests.get(url_of(sandbox, product), timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    assert answer.content.startswith(b"<!DOCTYPE html>")


def test_redirect_loop(sandbox, product):
    sandbox.add_fault(Fault("redirect_loop", pattern="Download", count=1))
    with pytest.raises(requests.exceptions.TooManyRedirects):
        requests.get(url_of(sandbox, product), timeout=10)
    assert requests.get(url_of(sandbox, product), timeout=10).status_code == 200


def invoke(sandbox, service):
    request = {"service": service, "params": {"obsid": "9000000000"}, "format": "json"}
    return requests.post(sandbox.base_url + "/api/v0/invoke", timeout=10,
                         data="request=" + quote(json.dumps(request)),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_mast_executing_then_complete_error_and_bad_json(sandbox):
    sandbox.add_fault(Fault("mast_executing", pattern="Mast.Caom.Products", count=2))
    assert [invoke(sandbox, "Mast.Caom.Products").json()["status"] for _ in range(3)] == \
        ["EXECUTING", "EXECUTING", "COMPLETE"]
    sandbox.clear_faults()
    sandbox.add_fault(Fault("mast_error", pattern="Products", count=1, msg="Timeout limit of 600 exceeded"))
    assert invoke(sandbox, "Mast.Caom.Products").json() == {
        "status": "ERROR", "msg": "Timeout limit of 600 exceeded", "data": [], "fields": [],
        "paging": {"page": 1, "pageSize": 0, "pagesFiltered": 0, "rows": 0, "rowsFiltered": 0, "rowsTotal": 0}}
    sandbox.add_fault(Fault("bad_json", pattern="Products", count=1))
    with pytest.raises(ValueError):
        invoke(sandbox, "Mast.Caom.Products").json()


def test_faults_on_catalog_endpoints(sandbox):
    sandbox.add_fault(Fault("503", pattern="columnsconfig", count=1))
    sandbox.add_fault(Fault("502", pattern="from toi", count=1))
    config = sandbox.base_url + "/portal/Mashup/Mashup.asmx/columnsconfig"
    assert requests.post(config, data={"colConfigId": "Mast.Caom.Cone"}, timeout=10).status_code == 503
    tap = sandbox.base_url + "/TAP/sync"
    assert requests.post(tap, data={"query": "select toi from toi", "format": "csv"}, timeout=10).status_code == 502
    assert requests.post(tap, data={"query": "select toi from toi", "format": "csv"}, timeout=10).status_code == 200


def test_file_faults_do_not_apply_to_mast_services_kinds(sandbox, product):
    sandbox.add_fault(Fault("mast_executing"))  # no pattern: would match everything
    assert requests.get(url_of(sandbox, product), timeout=10).content == sandbox.file_bytes(product)


def test_rate_faults_replay_from_the_seed():
    def fired(seed):
        plan = FaultPlan(seed, [Fault("500", rate=0.3)])
        return [plan.choose(f"/file/{i}") is not None for i in range(200)]
    assert fired(1) == fired(1)
    assert fired(1) != fired(2)
    assert 30 < sum(fired(1)) < 90


def test_parse_fault_spec():
    fault = parse_fault(r"503@Download/file:count=2,retry_after=1")
    assert (fault.kind, fault.pattern, fault.count, fault.params) == ("503", "Download/file", 2, {"retry_after": 1})
    assert parse_fault("slow:bytes_per_second=5000,rate=0.5").rate == 0.5
    with pytest.raises(FaultSpecError):
        parse_fault("teapot")
    with pytest.raises(FaultSpecError):
        parse_fault("503@x:count=2,retry")
    with pytest.raises(FaultSpecError):
        parse_fault("503:cuont=2")
    assert parse_fault("reset@uri=mast:TESS:count=1").pattern == "uri=mast:TESS"


def fits_checksums_hold(body):
    """True when every HDU's CHECKSUM/DATASUM verify (astropy only warns on a bad one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fits.open(io.BytesIO(body), checksum=True) as hdul:
            [hdu.data for hdu in hdul]
    return not any("hecksum" in str(w.message) for w in caught)


def test_replace_serves_a_new_version_of_the_same_size_from_the_nth_request_on(sandbox, product):
    sandbox.add_fault(Fault("replace", pattern=product.filename, after=2))
    answers = [requests.get(url_of(sandbox, product), timeout=10) for _ in range(4)]
    old, new = sandbox.file_bytes(product), sandbox.file_bytes(product, version=1)
    assert [a.content for a in answers] == [old, old, new, new]
    assert len(new) == len(old) == product.size and new != old
    assert fits_checksums_hold(new)  # a whole new file: nothing but a splice could be caught
    assert [a.headers["ETag"] for a in answers] == [sandbox.validators(product)["ETag"]] * 2 + \
        [sandbox.validators(product, 1)["ETag"]] * 2
    assert answers[2].headers["ETag"] != answers[0].headers["ETag"]
    assert answers[2].headers["ETag"].endswith(f'-{product.size:x}"')
    from email.utils import parsedate_to_datetime
    assert parsedate_to_datetime(answers[2].headers["Last-Modified"]) > \
        parsedate_to_datetime(answers[0].headers["Last-Modified"])
    assert [r.fault for r in log_of(sandbox, product)] == [None, None, "replace", "replace"]


def test_a_resume_across_a_replacement_splices_unless_if_range_is_sent(sandbox, product):
    sandbox.add_fault(Fault("reset", pattern=product.filename, count=1, cut_at=0.5))
    sandbox.add_fault(Fault("replace", pattern=product.filename, after=1))
    first = requests.get(url_of(sandbox, product), timeout=10, stream=True)
    etag, part = first.headers["ETag"], b""
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        for chunk in first.iter_content(1024):
            part += chunk
    assert 0 < len(part) < product.size and part == sandbox.file_bytes(product)[:len(part)]
    blind = requests.get(url_of(sandbox, product), headers={"Range": f"bytes={len(part)}-"}, timeout=10)
    assert blind.status_code == 206 and blind.headers["ETag"] != etag
    spliced = part + blind.content
    assert len(spliced) == product.size and not fits_checksums_hold(spliced)
    careful = requests.get(url_of(sandbox, product), headers={"Range": f"bytes={len(part)}-", "If-Range": etag},
                           timeout=10)
    assert careful.status_code == 200 and careful.content == sandbox.file_bytes(product, version=1)


def test_replace_spec_and_its_mistakes():
    fault = parse_fault(r"replace@_llc\.fits:after=3")
    assert (fault.kind, fault.pattern, fault.params) == ("replace", r"_llc\.fits", {"after": 3})
    with pytest.raises(FaultSpecError, match="fault replace: takes after=N .* not count or rate"):
        parse_fault("replace@x:count=2")
    with pytest.raises(FaultSpecError, match="after must be a whole number 0 or more, got -1"):
        parse_fault("replace:after=-1")
    plan = FaultPlan(1, [Fault("replace", pattern="a.fits")])
    assert plan.choose("/x/a.fits") is None  # never an answer of its own
    assert [plan.version(name, f"/x/{name}") for name in ("a.fits", "b.fits", "a.fits")] == [0, 0, 1]


def test_two_rate_faults_draw_independently():
    """Two rate-0.5 faults on the same requests leave about a quarter of them clean (the probe
    found 0 of 2,300 with the old CRC32 draws)."""
    from ratdcs_catalog.sandbox.faults import FaultPlan

    faults = FaultPlan(seed=42)
    faults.add(Fault("reset", pattern="Download", rate=0.5))
    faults.add(Fault("flip_bytes", pattern="Download", rate=0.5))
    chosen = [faults.choose(f"/api/v0.1/Download/file?uri=mast:KEPLER/f{i}.fits") for i in range(2000)]
    clean = sum(c is None for c in chosen) / len(chosen)
    assert 0.20 <= clean <= 0.30
    assert 0.45 <= sum(c is not None and c.kind == "reset" for c in chosen) / len(chosen) <= 0.55
