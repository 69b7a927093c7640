"""MAST's cloud copy as a transport (issue 16), against the sandbox's S3-shaped bucket.

Plan records each file's copy (MAST's path lookup); sync fetches it first, verifies the body's
MD5 against a single-part ETag, and falls back to Download/file when the copy answers 403/404.
"""

import sqlite3
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner

import ratdcs_catalog as rc
from ratdcs_catalog.net.gates import HostGates
from ratdcs_catalog.sandbox import Fault, Sandbox, endpoint_config_yaml
from ratdcs_catalog.sandbox.s3 import s3_etag
from ratdcs_catalog.sync.routes import s3_etag_md5
from test_report_readme import FALLBACKS


def rows(config_path):
    db = rc.load_config(config_path).manifest_path
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return {r["rel_path"]: dict(r) for r in conn.execute("SELECT * FROM files ORDER BY file_id")}


def transfers(config_path):
    db = rc.load_config(config_path).manifest_path
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(
            "SELECT t.*, f.rel_path FROM transfers t JOIN files f USING (file_id) ORDER BY transfer_id")]


def product_of(sandbox, row):
    return sandbox.universe.product_by_uri(row["archive_uri"])


def file_gets(sandbox):
    return [r for r in sandbox.requests if r.method == "GET"
            and (r.path.startswith("/stpubdata/") or r.path == "/api/v0.1/Download/file")]


@pytest.fixture
def planned(sandbox, sandbox_config):
    """`plan tess --n 20` against the sandbox; the request log cleared afterwards."""
    result = CliRunner().invoke(rc_cli(), ["--config", str(sandbox_config), "plan", "tess", "--n", "20"])
    assert result.exit_code == 0, result.output
    planned_rows = rows(sandbox_config)
    lookups = [r for r in sandbox.requests if r.path == "/api/v0.1/path_lookup/"]
    sandbox.clear_requests()
    return result.output, planned_rows, lookups


def rc_cli():
    from ratdcs_catalog.cli import cli

    return cli


def test_plan_records_the_cloud_copy_of_every_file_that_has_one(sandbox, planned):
    output, planned_rows, lookups = planned
    base = sandbox.endpoints()["cloud_mirror"]
    with_copy = 0
    for row in planned_rows.values():
        product = product_of(sandbox, row)
        if sandbox.cloud.has_copy(product):
            with_copy += 1
            assert row["mirror_url"] == base + product.path[len("/stpubdata"):]
        else:
            assert row["mirror_url"] is None
    assert 0 < with_copy < len(planned_rows)
    assert f"tess: {with_copy} of {len(planned_rows)} files have a cloud copy" in output
    # MAST's path lookup, as astroquery asks it: GET with repeated uri=, at most 40 a request.
    asked = [parse_qs(r.query)["uri"] for r in lookups]
    assert all(r.method == "GET" and r.status == 200 for r in lookups)
    assert max(len(uris) for uris in asked) <= 40 and len(lookups) == -(-len(planned_rows) // 40)
    assert sorted(u for uris in asked for u in uris) == sorted(r["archive_uri"] for r in planned_rows.values())


def test_sync_takes_copies_from_the_bucket_and_the_rest_from_download_file(sandbox, sandbox_config, planned):
    _, planned_rows, _ = planned
    summary = rc.sync(config=str(sandbox_config), workers=8)
    assert (summary.files_done, summary.files_failed) == (len(planned_rows), 0)
    gets = {r.path if r.path.startswith("/stpubdata/") else parse_qs(r.query)["uri"][0]: r for r in file_gets(sandbox)}
    assert len(gets) == len(planned_rows) == len(file_gets(sandbox))  # one GET per file, no fallback needed
    done = rows(sandbox_config)
    for rel, row in done.items():
        product = product_of(sandbox, row)
        assert row["state"] == "done" and row["verify_level"] == "fits_checksum"
        if row["mirror_url"]:
            assert gets[product.path].status == 200  # served by the bucket route
            assert row["checksum_source"] == "s3_etag"  # the body's MD5 matched the single-part ETag
        else:
            assert gets[row["archive_uri"]].path == "/api/v0.1/Download/file"
            assert row["checksum_source"] is None  # MAST publishes no checksum
    assert {t["url"] for t in transfers(sandbox_config)} == {r["mirror_url"] or r["url"] for r in done.values()}


def test_a_flipped_byte_on_the_bucket_route_fails_the_md5_before_the_fits_checks(sandbox, sandbox_config, planned):
    _, planned_rows, _ = planned
    rel, row = next((rel, r) for rel, r in planned_rows.items() if r["mirror_url"])
    product = product_of(sandbox, row)
    # Bytes of the data unit: the FITS checksums would catch them too, so only the kind tells which check ran.
    sandbox.add_fault(Fault("flip_bytes", pattern="/stpubdata/.*" + product.filename, n_bytes=1))
    rc.sync(config=str(sandbox_config), workers=8, target_ids=[row["target_id"]])
    failed = rows(sandbox_config)[rel]
    assert failed["state"] == "failed" and failed["last_error_kind"] == "checksum_mismatch"
    assert "md5 mismatch" in failed["last_error"]
    tries = [t for t in transfers(sandbox_config) if t["rel_path"] == rel]
    assert [t["error_kind"] for t in tries] == ["checksum_mismatch", "checksum_mismatch"]  # fetched twice, as any damage
    assert all(t["url"] == row["mirror_url"] for t in tries)


def test_a_key_missing_from_the_bucket_comes_from_mast_and_the_log_shows_both_tries(sandbox, sandbox_config, planned):
    _, planned_rows, _ = planned
    rel, row = next((rel, r) for rel, r in planned_rows.items() if r["mirror_url"])
    product = product_of(sandbox, row)
    sandbox.add_fault(Fault("no_such_key", pattern="/stpubdata/.*" + product.filename))
    rc.sync(config=str(sandbox_config), workers=8, target_ids=[row["target_id"]])
    done = rows(sandbox_config)[rel]
    assert done["state"] == "done" and done["checksum_source"] is None
    tries = [t for t in transfers(sandbox_config) if t["rel_path"] == rel]
    assert [(t["url"], t["http_status"], t["outcome"]) for t in tries] == [
        (row["mirror_url"], 404, "retry"), (row["url"], 200, "done")]
    assert "fetching it from the archive's URL instead" in tries[0]["error"]
    served = [r for r in file_gets(sandbox) if product.filename in r.path + r.query]
    # (The log keeps each request when its answer is written: the order of two quick ones may swap.)
    assert sorted((r.path, r.status) for r in served) == [("/api/v0.1/Download/file", 200), (product.path, 404)]
    assert (rc.load_config(sandbox_config).data_dir / rel).read_bytes() == sandbox.file_bytes(product)
    # docs/cloud.md's query for the files that came from MAST although they have a copy.
    assert rc.report(sql=FALLBACKS, config=str(sandbox_config)) == [
        {"rel_path": rel, "url": row["url"], "http_status": 200, "outcome": "done"}]


@pytest.mark.parametrize("mode, falls_back", [("auto", True), ("prefer", False)])
def test_a_failing_copy_falls_back_under_auto_only_while_403_falls_back_under_both(
        sandbox, sandbox_config, planned, mode, falls_back):
    _, planned_rows, _ = planned
    mirrored = [(rel, r) for rel, r in planned_rows.items() if r["mirror_url"]]
    (down_rel, down), (denied_rel, denied) = mirrored[0], next(m for m in mirrored if m[1]["target_id"] !=
                                                               mirrored[0][1]["target_id"])
    sandbox.add_fault(Fault("503", pattern="/stpubdata/.*" + product_of(sandbox, down).filename))
    sandbox.add_fault(Fault("access_denied", pattern="/stpubdata/.*" + product_of(sandbox, denied).filename))
    config = rc.load_config(sandbox_config, transport__cloud=mode, download__max_retries=1)
    rc.sync(config=config, target_ids=[down["target_id"], denied["target_id"]])
    after = rows(sandbox_config)
    assert after[denied_rel]["state"] == "done"
    assert after[down_rel]["state"] == ("done" if falls_back else "failed")
    denied_tries = [(t["http_status"], t["url"]) for t in transfers(sandbox_config) if t["rel_path"] == denied_rel]
    assert denied_tries == [(403, denied["mirror_url"]), (200, denied["url"])]


def test_no_cloud_plans_without_a_lookup_and_syncs_from_mast_only(sandbox, sandbox_config):
    runner = CliRunner()
    result = runner.invoke(rc_cli(), ["--config", str(sandbox_config), "plan", "tess", "--n", "3", "--no-cloud"])
    assert result.exit_code == 0, result.output
    assert "cloud copy" not in result.output
    assert not [r for r in sandbox.requests if "path_lookup" in r.path]
    assert {r["mirror_url"] for r in rows(sandbox_config).values()} == {None}
    # A plan that looked the copies up, then a sync told not to use them.
    assert runner.invoke(rc_cli(), ["--config", str(sandbox_config), "plan", "tess", "--n", "3"]).exit_code == 0
    assert any(r["mirror_url"] for r in rows(sandbox_config).values())
    sandbox.clear_requests()
    result = runner.invoke(rc_cli(), ["--config", str(sandbox_config), "--quiet", "sync", "--no-cloud"])
    assert result.exit_code == 0, result.output
    assert file_gets(sandbox) and {r.path for r in file_gets(sandbox)} == {"/api/v0.1/Download/file"}


def test_a_failed_lookup_plans_every_file_from_mast_and_says_so(sandbox, sandbox_config):
    sandbox.add_fault(Fault("503", pattern="path_lookup"))
    summary = rc.plan("tess", config=str(sandbox_config), n=3)
    (tess,) = summary.sources
    assert tess.files > 0 and tess.cloud_lookup_failed == tess.files and tess.files_with_cloud_copy == 0
    assert {r["mirror_url"] for r in rows(sandbox_config).values()} == {None}


def test_resume_against_the_bucket_uses_range_and_if_range_with_its_etag(sandbox, sandbox_config, planned):
    _, planned_rows, _ = planned
    rel, row = next((rel, r) for rel, r in planned_rows.items() if r["mirror_url"])
    product = product_of(sandbox, row)
    body, etag = sandbox.file_bytes(product), sandbox.cloud.etag(product)
    part = rc.load_config(sandbox_config).data_dir / "temp" / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:len(body) // 2])
    part.with_name(part.name + ".validator").write_text(etag + "\n")
    rc.sync(config=str(sandbox_config), target_ids=[row["target_id"]])
    done = rows(sandbox_config)[rel]
    assert done["state"] == "done" and done["checksum_source"] == "s3_etag"
    (get,) = [r for r in file_gets(sandbox) if r.path == product.path]
    assert (get.status, get.range_header, get.if_range) == (206, f"bytes={len(body) // 2}-", etag)
    assert get.bytes_sent == len(body) - len(body) // 2


def test_a_multipart_etag_is_never_taken_for_the_body_md5(tmp_path):
    with Sandbox(seed=42, scale=0.05, s3_part_bytes=32 * 1024) as archive:
        config = tmp_path / "c.yaml"
        config.write_text(endpoint_config_yaml(archive.endpoints(), str(tmp_path / "data"))
                          + "catalog:\n  rate_limit_delay: 0\n")
        rc.plan("tess", config=str(config), n=2)
        assert rc.sync(config=str(config)).files_failed == 0
        done = [r for r in rows(config).values() if r["mirror_url"]]
        multipart = [r for r in done if "-" in archive.cloud.etag(product_of(archive, r))]
        assert multipart and {r["checksum_source"] for r in multipart} == {None}
        assert {r["verify_level"] for r in multipart} == {"fits_checksum"}


def test_the_bucket_answers_as_s3_does(sandbox):
    import hashlib

    import requests

    tid = sandbox.universe.toi_hosts()[0]
    products = [p for p in sandbox.universe.tess_products(tid)]
    with_copy = next(p for p in products if sandbox.cloud.has_copy(p))
    head = requests.head(sandbox.base_url + with_copy.path, timeout=10)
    body = sandbox.file_bytes(with_copy)
    assert head.status_code == 200 and head.headers["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert head.headers["Accept-Ranges"] == "bytes" and int(head.headers["Content-Length"]) == len(body)
    assert "x-amz-request-id" in head.headers and head.headers["Last-Modified"].endswith("GMT")
    missing = requests.get(sandbox.base_url + "/stpubdata/tess/public/tid/s0001/nope_lc.fits", timeout=10)
    assert missing.status_code == 404 and b"<Code>NoSuchKey</Code>" in missing.content
    assert missing.headers["Content-Type"] == "application/xml"
    sandbox.add_fault(Fault("access_denied", pattern=with_copy.filename, count=1))
    denied = requests.get(sandbox.base_url + with_copy.path, timeout=10)
    assert denied.status_code == 403 and b"<Code>AccessDenied</Code>" in denied.content
    assert s3_etag(b"x" * 10, part_bytes=4) == '"' + hashlib.md5(b"".join(
        hashlib.md5(c).digest() for c in (b"xxxx", b"xxxx", b"xx"))).hexdigest() + '-3"'


def test_an_etag_is_a_body_md5_only_when_single_part():
    assert s3_etag_md5('"0123456789abcdef0123456789ABCDEF"') == "0123456789abcdef0123456789abcdef"
    assert s3_etag_md5('"0123456789abcdef0123456789abcdef-3"') is None
    assert s3_etag_md5('"641baa59-af140"') is None and s3_etag_md5(None) is None
    assert s3_etag_md5('W/"0123456789abcdef0123456789abcdef"') is None


def test_the_cloud_copy_is_its_own_politeness_domain_with_its_own_connections():
    gates = HostGates(4, domains={"http://127.0.0.1:9/stpubdata": 16})
    mirror = gates.for_url("http://127.0.0.1:9/stpubdata/tess/public/a.fits")
    archive = gates.for_url("http://127.0.0.1:9/api/v0.1/Download/file?uri=mast:TESS/product/a.fits")
    assert mirror is gates.for_url("http://127.0.0.1:9/stpubdata/kepler/public/b.fits") and mirror is not archive
    assert mirror._slots._value == 16 and archive._slots._value == 4


def test_a_lookup_path_that_is_not_a_plain_key_gives_no_mirror_url():
    from ratdcs_catalog.sources.cloud import _key_of, mirror_url

    base = "https://stpubdata.s3.amazonaws.com"
    assert mirror_url(base, _key_of({"status_code": 200, "path": "/tess/public/tid/s0001/a_lc.fits"})) == \
        base + "/tess/public/tid/s0001/a_lc.fits"
    assert [mirror_url(base, _key_of(entry)) for entry in (
        {"status_code": 404, "path": None}, None, "tess/a.fits", {"path": "/tess/../../etc/passwd"},
        {"path": "/tess/a b.fits"}, {"path": "/tess/a\nHost: evil"}, {"path": 7})] == [None] * 7


def test_a_host_is_one_politeness_domain_however_its_urls_spell_it():
    # The host of each URL is parsed once per scheme and authority (issue 15); it is still urlsplit's host.
    gates = HostGates(4)
    mast = gates.for_url("https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:a/b.fits")
    assert mast is gates.for_url("https://MAST.stsci.edu:443/api/v0.1/Download/file?uri=mast:c/d.fits")
    assert mast is gates.for_url("https://user:secret@mast.stsci.edu?uri=mast:e.fits")
    assert mast is gates.for_url("https://mast.stsci.edu#a/b")
    irsa = gates.for_url("https://irsa.ipac.caltech.edu/ibe/data/ztf/products/sci/a.fits")
    assert irsa is not mast and gates.for_url("https://irsa.ipac.caltech.edu?/mast.stsci.edu") is irsa
    assert sorted(gates._gates) == ["irsa.ipac.caltech.edu", "mast.stsci.edu"]
