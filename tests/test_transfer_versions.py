"""A resume never splices two versions of a file: If-Range with the version the partial file holds,
a 200 answer starts over; and an archive that announces another size than planned stops the
transfer before a byte is written ("changed upstream")."""

import hashlib
import random

from ratdcs_catalog.net.policy import NetworkPolicy
from ratdcs_catalog.net.testing import MockTransport, Response
from ratdcs_catalog.net.gates import HostGates
from ratdcs_catalog.partials import load_validator, save_validator, validator_of
from ratdcs_catalog.transfer import Fetcher, TransferOptions

OLD = bytes(range(256)) * 1024          # 262,144 bytes: more than one chunk, so its version is recorded
NEW = bytes(reversed(range(256))) * 1024  # the same size, other bytes: what the archive serves now
URL = "https://archive.example/kplr011904151-2010009091648_llc.fits"
CHUNK = 64 * 1024


def fetcher(transport, *, max_retries=3):
    client = NetworkPolicy(backoff_base_seconds=0.0).file_client(transport=transport)
    return Fetcher(client, HostGates(4), TransferOptions(chunk_size=CHUNK, max_retries=max_retries),
                   sleep=lambda s: None, rng=random.Random(1))


class Archive:
    """Serves one file that may change version between requests; honours Range and If-Range."""

    def __init__(self, versions):
        self.versions = versions  # [(etag, bytes), ...]: the n-th request gets versions[min(n, last)]
        self.seen = []

    def __call__(self, request):
        etag, body = self.versions[min(len(self.seen), len(self.versions) - 1)]
        self.seen.append(request)
        headers = {"ETag": etag, "Last-Modified": "Thu, 23 Mar 2023 01:24:41 GMT",
                   "Content-Type": "application/octet-stream"}
        wanted = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        if wanted and (if_range is None or if_range == etag):
            start = int(wanted.split("=")[1].rstrip("-"))
            return Response(206, {**headers, "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"},
                            body[start:])
        if not self.seen[:-1]:  # the first answer breaks off halfway (a reset), leaving a partial file
            from urllib3.exceptions import ProtocolError

            return Response(200, {**headers, "Content-Length": str(len(body))},
                            [body[:100_000], ProtocolError("Connection broken: connection reset by peer")])
        return Response(200, headers, body)


def test_a_file_replaced_between_two_attempts_is_the_new_version_whole(tmp_path):
    archive = Archive([('"v1"', OLD), ('"v2"', NEW)])
    temp = tmp_path / "f.part"
    result = fetcher(MockTransport(archive)).fetch(URL, temp, expected_size=len(NEW))
    assert result.outcome == "done" and temp.read_bytes() == NEW  # never OLD[:100000] + NEW[100000:]
    assert result.hashes["sha256"] == hashlib.sha256(NEW).hexdigest()
    assert [r.headers.get("If-Range") for r in archive.seen] == [None, '"v1"']
    assert [(r.error_kind, r.range_start) for r in result.records] == [("connection_reset", None),
                                                                      ("changed_upstream", 100_000)]
    assert 'validator "v1" is now "v2"' in result.records[1].error and "started over" in result.records[1].error


def test_an_unchanged_file_resumes_from_the_last_byte_with_if_range(tmp_path):
    archive = Archive([('"v1"', OLD)])
    temp = tmp_path / "f.part"
    result = fetcher(MockTransport(archive)).fetch(URL, temp, expected_size=len(OLD))
    assert result.outcome == "done" and temp.read_bytes() == OLD
    assert [(r.headers.get("Range"), r.headers.get("If-Range")) for r in archive.seen] == [
        (None, None), ("bytes=100000-", '"v1"')]
    assert result.records[-1].bytes_received == len(OLD) - 100_000


def test_the_version_survives_the_process_so_a_later_sync_resumes_with_if_range(tmp_path):
    temp = tmp_path / "f.part"
    temp.write_bytes(OLD[:100_000])
    save_validator(temp, '"v1"')  # what a sync killed mid-transfer leaves beside its .part
    archive = Archive([('"v2"', NEW)])
    archive.seen.append(None)  # not the first request: no reset
    result = fetcher(MockTransport(archive)).fetch(URL, temp, expected_size=len(NEW))
    assert archive.seen[1].headers["If-Range"] == '"v1"' and temp.read_bytes() == NEW
    assert result.records[0].error_kind == "changed_upstream"
    assert load_validator(temp) == '"v2"'  # the bytes now on disk are v2's


def test_a_206_of_another_version_is_never_appended(tmp_path):
    def ignores_if_range(request):
        if "Range" in request.headers:
            return Response(206, {"ETag": '"v2"', "Content-Range": f"bytes 100000-{len(NEW) - 1}/{len(NEW)}"},
                            NEW[100_000:])
        return Response(200, {"ETag": '"v2"'}, NEW)

    temp = tmp_path / "f.part"
    temp.write_bytes(OLD[:100_000])
    save_validator(temp, '"v1"')
    result = fetcher(MockTransport(ignores_if_range)).fetch(URL, temp, expected_size=len(NEW))
    assert [r.error_kind for r in result.records] == ["changed_upstream", None]
    assert temp.read_bytes() == NEW


def test_another_size_than_planned_stops_before_the_body(tmp_path):
    transport = MockTransport(lambda request: Response(200, {"ETag": '"v3"'}, NEW + b"more"))
    temp = tmp_path / "f.part"
    result = fetcher(transport).fetch(URL, temp, expected_size=len(NEW))
    assert (result.outcome, result.error_kind) == ("failed", "changed_upstream")
    assert result.error == (f"the archive now serves {len(NEW) + 4} bytes of kplr011904151-2010009091648_llc.fits, "
                            f"the plan recorded {len(NEW)}: the file changed upstream since it was planned; nothing "
                            "was written - run `ratdcs plan` again to pick up the new size, then `ratdcs sync`")
    assert len(transport.requests) == 1 and not (temp.exists() and temp.stat().st_size)


def test_validator_prefers_a_strong_etag_then_last_modified():
    assert validator_of({"ETag": '"641baa59-af140"', "Last-Modified": "x"}) == '"641baa59-af140"'
    assert validator_of({"ETag": 'W/"weak"', "Last-Modified": "Thu, 23 Mar 2023 01:24:41 GMT"}) == \
        "Thu, 23 Mar 2023 01:24:41 GMT"
    assert validator_of({}) is None


def test_sync_records_a_size_the_archive_changed_since_the_plan_as_changed_upstream(sync_env):
    import sqlite3

    planned = sync_env.plan(sync_env.kepler_products(2))
    conn = sqlite3.connect(sync_env.db)
    with conn:  # the archive now serves other sizes than the plan recorded (as if re-processed)
        conn.execute("UPDATE files SET expected_size_bytes = expected_size_bytes + 2880 WHERE rel_path = ?",
                     (planned[0].rel_path,))
    summary = sync_env.sync()
    assert (summary.files_done, summary.files_failed) == (1, 1)
    row = sync_env.rows()[planned[0].rel_path]
    assert (row["state"], row["last_error_kind"], row["changed_upstream"]) == ("failed", "changed_upstream", 1)
    assert "the file changed upstream since it was planned; nothing was written" in row["last_error"]
    assert not (sync_env.data_dir / planned[0].rel_path).exists()
    assert [t["bytes_received"] for t in sync_env.transfers() if t["rel_path"] == planned[0].rel_path] == [0]
