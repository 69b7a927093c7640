"""Conformance of the cloud-copy route with a real S3 implementation: moto's threaded S3 server.

The sandbox's S3 imitation (sandbox/s3.py) is ratdcs's own; here the same sync runs against
moto (a widely used model of S3) on 127.0.0.1: the light curves the sandbox makes (its fitsgen)
are uploaded to a bucket ``stpubdata``, the plan's mirror URLs point at it, and the sync must
verify the ETag-MD5, resume with Range + If-Range, and fall back to MAST (the sandbox) for a key
the bucket does not hold, or a private one (403). Skipped when moto is not installed (the ``test`` extra installs it).
"""

import sqlite3

import pytest

import ratdcs_catalog as rc

moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[test]')")
boto3 = pytest.importorskip("boto3", reason="boto3 (a moto dependency) is not installed")


@pytest.fixture(scope="module")
def s3():
    """moto's S3 on a free loopback port, and a boto3 client for it (moto takes any credentials)."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    base = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=base, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    client.create_bucket(Bucket="stpubdata")
    yield base, client
    server.stop()


def rows(config):
    with sqlite3.connect(config.manifest_path) as conn:
        conn.row_factory = sqlite3.Row
        return {r["rel_path"]: dict(r) for r in conn.execute("SELECT * FROM files ORDER BY file_id")}


def transfers(config, rel):
    with sqlite3.connect(config.manifest_path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT t.* FROM transfers t JOIN files f USING (file_id) "
                                              "WHERE f.rel_path = ? ORDER BY transfer_id", (rel,))]


def test_sync_through_moto_verifies_etag_md5_resumes_and_falls_back(s3, sandbox, sandbox_config):
    base, client = s3
    config = rc.load_config(sandbox_config, endpoints__cloud_mirror=base + "/stpubdata")
    rc.plan("tess", config=config, n=5)
    mirrored = [(rel, r) for rel, r in rows(config).items() if r["mirror_url"]]
    assert len(mirrored) >= 4 and all(r["mirror_url"].startswith(base + "/stpubdata/") for _, r in mirrored)
    (missing_rel, missing), (private_rel, private), (resumed_rel, resumed), *rest = mirrored
    etags = {}
    for rel, row in [(private_rel, private), (resumed_rel, resumed), *rest]:  # every copy but one is uploaded
        key = row["mirror_url"][len(base + "/stpubdata/"):]
        body = sandbox.file_bytes(sandbox.universe.product_by_uri(row["archive_uri"]))
        # Public, as stpubdata's objects are; the private one answers anonymous requests 403 AccessDenied.
        acl = {} if rel == private_rel else {"ACL": "public-read"}
        etags[rel] = client.put_object(Bucket="stpubdata", Key=key, Body=body, **acl)["ETag"]
    # An interrupted transfer from the bucket: half the body and the version it is of.
    body = sandbox.file_bytes(sandbox.universe.product_by_uri(resumed["archive_uri"]))
    part = config.data_dir / "temp" / (resumed_rel + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:len(body) // 2])
    part.with_name(part.name + ".validator").write_text(etags[resumed_rel] + "\n")
    sandbox.clear_requests()

    summary = rc.sync(config=config, workers=4)

    assert summary.files_failed == 0
    done = rows(config)
    for rel, _ in [(resumed_rel, resumed), *rest]:
        assert done[rel]["state"] == "done" and done[rel]["checksum_source"] == "s3_etag"
        assert done[rel]["verify_level"] == "fits_checksum"
        assert [t["url"] for t in transfers(config, rel)] == [done[rel]["mirror_url"]]  # moto served it
    (resume,) = transfers(config, resumed_rel)
    assert (resume["http_status"], resume["range_start"], resume["bytes_received"]) == \
        (206, len(body) // 2, len(body) - len(body) // 2)
    assert (config.data_dir / resumed_rel).read_bytes() == body
    for rel, row, status in ((missing_rel, missing, 404), (private_rel, private, 403)):
        assert [(t["url"], t["http_status"], t["outcome"]) for t in transfers(config, rel)] == [
            (row["mirror_url"], status, "retry"), (row["url"], 200, "done")]
        assert done[rel]["state"] == "done" and done[rel]["checksum_source"] is None
    from_mast = [r.query for r in sandbox.requests if r.method == "GET" and "Download/file" in r.path]
    no_copy = [r for r in done.values() if not r["mirror_url"]]
    assert sorted(from_mast) == sorted(f"uri={r['archive_uri']}" for r in (missing, private, *no_copy))

