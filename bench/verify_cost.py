"""ratdcs's verification alone, on the generated files, one thread: where sync's time goes.

For each set, over (up to) 1,000 of its files read from the page cache, in-process:
- ``sha256``: ``verify.hash_file`` (sync computes it while the bytes arrive);
- ``fits``: ``verify.verify_file`` with that hash already known, i.e. size + checksum
  comparison + FITS open + structure + CHECKSUM/DATASUM (what sync adds after the transfer).
Totals are scaled to the whole set. Divided by the run's wall time they say how much of a
sync is verification work before any network or disk cost.
"""

from __future__ import annotations

import contextlib
import time

SAMPLE = 1000


def measure(fileset) -> dict:
    from ratdcs_catalog.verify import hash_file, verify_file

    sample = fileset.files[:SAMPLE]
    scale = len(fileset.files) / len(sample)
    first = fileset.files[0]  # warm-up, not counted: numpy's import is a per-run cost, shown elsewhere
    verify_file(fileset.root / first.name, product_kind="ztf_sciimg", expected_size=first.size_bytes)
    hash_s = fits_s = 0.0
    failures = 0
    for f in sample:
        path = fileset.root / f.name
        started = time.perf_counter()
        digest = hash_file(path, ("sha256",))
        hashed = time.perf_counter()
        result = verify_file(path, product_kind="ztf_sciimg", expected_size=f.size_bytes,
                             expected_checksum=f"sha256:{f.sha256}", observed_hashes=digest)
        fits_s += time.perf_counter() - hashed
        hash_s += hashed - started
        failures += (not result.ok) or result.level != "fits_checksum"
    return {"files": len(fileset.files), "sampled": len(sample), "sha256_s": hash_s * scale,
            "fits_s": fits_s * scale, "fits_ms_per_file": fits_s / len(sample) * 1000,
            "not_fits_checksum_level": failures}


def per_file_costs(fileset, url_of, data_dir, n: int = 500) -> dict:
    """Milliseconds per small file of each step of ratdcs's per-file path, one thread, in-process.

    HTTP: a keep-alive GET of the whole body through ratdcs's own client
    (``NetworkPolicy().file_client()``, http.client with redirects and the cookie decided per hop),
    and for comparison through a requests session (what ratdcs used before; catalog queries
    still do), ratdcs's client on urllib3 (its transport before issue 15's third stop, and behind a
    proxy now), bare urllib3 and http.client. Then ``paths.destination`` (resolves the path), a
    temp file written + fsynced + renamed, ``fitsheaders.read_layout`` alone,
    ``verify_file`` with the hash known, and the manifest's claim and outcome of a file
    (``manifest_costs``). The first request of each client is not counted.
    """
    import http.client
    import os
    import urllib.parse

    import requests
    import urllib3
    from ratdcs_catalog.fitsheaders import read_layout
    from ratdcs_catalog.net.policy import NetworkPolicy
    from ratdcs_catalog.paths import destination
    from ratdcs_catalog.verify import verify_file

    files = fileset.files[:n]
    urls = [url_of(f) for f in files]
    from ratdcs_catalog.net.files import PoolTransport

    policy = NetworkPolicy()
    client, session, pool = policy.file_client(), requests.Session(), urllib3.PoolManager(maxsize=1)
    pooled = policy.file_client(transport=PoolTransport(policy, pool_size=1))
    host = urllib.parse.urlsplit(urls[0])
    conn = http.client.HTTPConnection(host.hostname, host.port)

    def client_get(url, client=client):
        response = client.get(url, headers={"Accept-Encoding": "identity"}, timeout=60)
        body = response.read(decode_content=False)
        response.release_conn()
        return body

    def requests_get(url):
        with session.get(url, stream=True, timeout=(60, 60)) as r:
            return r.raw.read()

    def urllib3_get(url):
        return pool.request("GET", url, preload_content=True).data

    def http_client_get(url):
        conn.request("GET", urllib.parse.urlsplit(url).path)
        return conn.getresponse().read()

    costs = {name: _ms_each(fn, urls) for name, fn in
             (("GET via ratdcs's FileClient (http.client)", client_get),
              ("GET via ratdcs's FileClient on urllib3 (PoolTransport)", lambda url: client_get(url, pooled)),
              ("GET via a requests Session (what ratdcs used before)", requests_get),
              ("GET via bare urllib3", urllib3_get),
              ("GET via http.client", http_client_get))}
    data_dir.mkdir(parents=True, exist_ok=True)
    costs["paths.destination (resolve)"] = _ms_each(lambda f: destination(data_dir, f"ztf/x/{f.name}"), files)
    payload = (fileset.root / files[0].name).read_bytes()

    def write_fsync_rename(f):
        temp, final = data_dir / (f.name + ".part"), data_dir / f.name
        with open(temp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, final)

    costs["temp file write + fsync + rename"] = _ms_each(write_fsync_rename, files)
    costs["verify_file (hash known)"] = _ms_each(
        lambda f: verify_file(fileset.root / f.name, product_kind="ztf_sciimg", expected_size=f.size_bytes,
                              expected_checksum=f"sha256:{f.sha256}", observed_hashes={"sha256": f.sha256}),
        files)
    def layout(f):
        with open(fileset.root / f.name, "rb") as fh:
            return read_layout(fh, f.size_bytes)

    costs["fitsheaders.read_layout (headers only)"] = _ms_each(layout, files)
    costs.update(manifest_costs(fileset, urls, data_dir / "manifest.sqlite"))
    for p in data_dir.iterdir():
        p.unlink()
    return costs


def manifest_costs(fileset, urls: list[str], path, batch: int = 256) -> dict:
    """Milliseconds per file of the two manifest writes a sync makes for every file, on the writer's
    thread: the claim (a batch of ``batch`` rows moved to 'downloading' under a lease) and the
    outcome (a batch of done rows with one transfer record each), as ``Run`` makes them (256 is
    the most it claims or records at once).

    What any sync of the set pays in the manifest, whatever its transfers cost: with the FITS
    verification above, the work ratdcs does per file beyond python-floor's (bench/README.md,
    ninth stop). The planned manifest is made fresh in ``path`` (removed after)."""
    from peers import plan_manifest
    from ratdcs_catalog.manifest import Manifest
    from ratdcs_catalog.records import FileOutcome, TransferRecord, utc_now

    _remove_database(path)
    plan_manifest(path, fileset, urls)
    claim_s = record_s = 0.0
    files = 0
    with Manifest.open(path) as m:
        sync_id = m.start_sync("bench", 4, {})
        while True:
            started = time.perf_counter()
            rows = m.claim_batch("bench", batch, 600)
            claimed = time.perf_counter()
            if not rows:
                break
            outcomes = [FileOutcome(r.file_id, "done", observed_size_bytes=r.expected_size_bytes,
                                    observed_sha256="0" * 64, verify_level="fits_checksum", checksum_source="plan",
                                    transfers=(TransferRecord(utc_now(), utc_now(), "done", 200, None,
                                                              r.expected_size_bytes or 0, url=r.url),))
                        for r in rows]
            before_record = time.perf_counter()
            m.record_outcomes("bench", sync_id, outcomes)
            record_s += time.perf_counter() - before_record
            claim_s += claimed - started
            files += len(rows)
    _remove_database(path)
    return {f"manifest: claim a row (batches of {batch})": claim_s / files * 1000,
            f"manifest: record a done outcome and its transfer (batches of {batch})": record_s / files * 1000}


def _remove_database(path) -> None:
    """An SQLite database and its WAL files, where they exist."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _ms_each(fn, items) -> float:
    fn(items[0])  # warm-up: connection set-up, imports
    started = time.perf_counter()
    for item in items[1:]:
        fn(item)
    return (time.perf_counter() - started) / max(1, len(items) - 1) * 1000
