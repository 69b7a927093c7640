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
