"""Generated file sets for the transfer benchmark: real FITS images with CHECKSUM/DATASUM.

Each file is a primary HDU holding a 2-D float32 image of random pixels, written by astropy
with ``checksum=True``, so ratdcs's verification (size, sha256, FITS structure, CHECKSUM and
DATASUM) does its full work. A FITS file is a whole number of 2,880-byte blocks: one header
block plus the data blocks, so sizes are the nearest multiple of 2,880 bytes to the target,
and the smallest possible image file is 5,760 bytes (header + one data block). The "4 KB" set
is therefore 5,760-byte files.

A set is generated once into ``<root>/<name>/`` and reused while its ``set.json`` matches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

BLOCK = 2880
FLOATS_PER_BLOCK = BLOCK // 4


@dataclasses.dataclass(frozen=True)
class SetSpec:
    name: str          # short id used in paths and the table: a, b, c
    label: str         # what the issue calls it: "400 x 500 KB"
    count: int
    target_bytes: int

    def file_bytes(self) -> int:
        """The FITS size nearest the target: one header block plus at least one data block."""
        return max(2, round(self.target_bytes / BLOCK)) * BLOCK


@dataclasses.dataclass(frozen=True)
class GeneratedFile:
    name: str
    size_bytes: int
    sha256: str


@dataclasses.dataclass
class FileSet:
    spec: SetSpec
    root: Path         # the directory nginx serves this set from
    files: list[GeneratedFile]

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


def ensure_set(spec: SetSpec, serve_root: Path, seed: int = 7) -> FileSet:
    """The set under ``serve_root/spec.name``, generated unless an identical one is there."""
    root = serve_root / spec.name
    meta = root / "set.json"
    if meta.exists():
        saved = json.loads(meta.read_text())
        if saved["spec"] == dataclasses.asdict(spec):
            return FileSet(spec, root, [GeneratedFile(**f) for f in saved["files"]])
    root.mkdir(parents=True, exist_ok=True)
    files = [_write_image(root, spec, i, seed) for i in range(spec.count)]
    meta.write_text(json.dumps({"spec": dataclasses.asdict(spec),
                                "files": [dataclasses.asdict(f) for f in files]}))
    return FileSet(spec, root, files)


def _write_image(root: Path, spec: SetSpec, index: int, seed: int) -> GeneratedFile:
    import numpy as np
    from astropy.io import fits

    rows = spec.file_bytes() // BLOCK - 1
    rng = np.random.default_rng((seed, index, spec.count))
    pixels = rng.standard_normal((rows, FLOATS_PER_BLOCK), dtype=np.float32)
    hdu = fits.PrimaryHDU(pixels)
    hdu.header["FIELDID"] = (600 + index % 50, "bench: fake ZTF field")
    hdu.header["CCDID"] = (index % 16 + 1, "bench: fake CCD")
    hdu.header["FILTER"] = ("ZTF_r", "bench")
    name = f"ztf_bench_{spec.name}_{index:05d}_sciimg.fits"
    path = root / name
    hdu.writeto(path, checksum=True, overwrite=True)
    return GeneratedFile(name, path.stat().st_size, _sha256(path))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
