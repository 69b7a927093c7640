"""ratdcs's verification alone, on the generated files, one thread: where sync's time goes.

For each set, over (up to) 1,000 of its files read from the page cache, in-process:
- ``sha256``: ``verify.hash_file`` (sync computes it while the bytes arrive);
- ``fits``: ``verify.verify_file`` with that hash already known, i.e. size + checksum
  comparison + FITS open + structure + CHECKSUM/DATASUM (what sync adds after the transfer).
Totals are scaled to the whole set. Divided by the run's wall time they say how much of a
sync is verification work before any network or disk cost.
"""

from __future__ import annotations

import time

SAMPLE = 1000


def measure(fileset) -> dict:
    from ratdcs_catalog.verify import hash_file, verify_file

    sample = fileset.files[:SAMPLE]
    scale = len(fileset.files) / len(sample)
    first = fileset.files[0]  # warm-up, not counted: astropy's import is a per-run cost, shown elsewhere
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

    HTTP: a keep-alive GET of the whole body through ratdcs's own session (``make_session``,
    requests), the same with ``trust_env = False``, and through bare urllib3 and http.client. Then
    ``paths.destination`` (resolves the path), a temp file written + fsynced + renamed, and
    ``verify_file`` with the hash known. The first request of each client is not counted.
    """
    import http.client
    import os
    import urllib.parse

    import urllib3
    from ratdcs_catalog.paths import destination
    from ratdcs_catalog.transfer import make_session
    from ratdcs_catalog.verify import verify_file

    files = fileset.files[:n]
    urls = [url_of(f) for f in files]
    session, pool = make_session(), urllib3.PoolManager(maxsize=1)
    lean = make_session()
    lean.trust_env = False  # the cheapest fix to try: no proxy/.netrc environment scan per request
    host = urllib.parse.urlsplit(urls[0])
    conn = http.client.HTTPConnection(host.hostname, host.port)

    def requests_get(url):
        with session.get(url, stream=True, timeout=(60, 60)) as r:
            return r.raw.read()

    def requests_lean_get(url):
        with lean.get(url, stream=True, timeout=(60, 60)) as r:
            return r.raw.read()

    def urllib3_get(url):
        return pool.request("GET", url, preload_content=True).data

    def http_client_get(url):
        conn.request("GET", urllib.parse.urlsplit(url).path)
        return conn.getresponse().read()

    costs = {name: _ms_each(fn, urls) for name, fn in
             (("GET via requests (ratdcs's session)", requests_get),
              ("GET via requests, session.trust_env = False", requests_lean_get),
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
    costs["header cards read without astropy (a sketch, not ratdcs code)"] = _ms_each(
        lambda f: _header_cards(fileset.root / f.name), files)
    for p in data_dir.iterdir():
        p.unlink()
    return costs


def _header_cards(path) -> dict:
    """The primary header's keyword -> raw value, read straight from the 2,880-byte blocks.

    How cheap the structural part of FITS verification can be without astropy: the header is
    80-character ASCII cards up to END; BITPIX and NAXISn give the data size.
    """
    cards = {}
    with open(path, "rb") as fh:
        while block := fh.read(2880):
            for i in range(0, 2880, 80):
                card = block[i:i + 80]
                key = card[:8].rstrip()
                if key == b"END":
                    return cards
                if card[8:10] == b"= ":
                    cards[key.decode("ascii")] = card[10:].split(b"/", 1)[0].strip().decode("ascii")
    return cards


def _ms_each(fn, items) -> float:
    fn(items[0])  # warm-up: connection set-up, imports
    started = time.perf_counter()
    for item in items[1:]:
        fn(item)
    return (time.perf_counter() - started) / max(1, len(items) - 1) * 1000
