"""A small real dataset for report/verify/export/split tests: a manifest written through the
``Manifest`` API (plan -> claim -> outcomes, as plan and sync do), and real FITS files on disk.

The FITS files are a Kepler light curve made by the sandbox's generator (the archive's layout,
fresh CHECKSUM/DATASUM cards), so they pass deep verification until a test damages them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.records import FileOutcome, PlannedFile, TransferRecord, utc_now

from shared_data import sandbox_light_curve

LC_SIZE = 455040  # bytes of the generated light curve every done file is a copy of

TESS_A, TESS_B = "261136679", "150428135"
TARGETS = [
    {"source": "kepler", "target_id": "5110407", "name": "KIC 5110407", "teff_k": 5700.0, "magnitude": 12.1,
     "magnitude_band": "Kp"},
    {"source": "kepler", "target_id": "11904151", "name": "KIC 11904151", "teff_k": 5600.0},
    {"source": "tess", "target_id": TESS_A, "name": f"TIC {TESS_A}", "teff_k": 5618.0, "logg_cgs": 4.4,
     "radius_rsun": 1.1, "mass_msun": 0.98, "magnitude": 9.4, "magnitude_band": "Tmag", "distance_pc": 87.2,
     "disposition": "CP"},
    {"source": "tess", "target_id": TESS_B, "name": f"TIC {TESS_B}", "teff_k": 3400.0, "logg_cgs": 4.9,
     "radius_rsun": 0.3, "mass_msun": 0.28, "magnitude": 11.9, "magnitude_band": "Tmag", "distance_pc": 31.0,
     "disposition": "PC"},
    {"source": "ztf", "target_id": "600", "name": "ZTF field 600"},
]

# rel_path -> (source, target_id, product_kind, final state, error kind, error)
FILES = {
    "kepler/kplr005110407-2009350155506_llc.fits": ("kepler", "5110407", "lc_long", "done", None, None),
    "kepler/kplr005110407-2010078095331_llc.fits": ("kepler", "5110407", "lc_long", "failed", "http_503",
                                                    "503 Service Unavailable after 3 retries"),
    "kepler/kplr011904151-2009350155506_llc.fits": ("kepler", "11904151", "lc_long", "done", None, None),
    f"tess/fits/tess2018206045859-s0001-0000000{TESS_A}-0120-s_lc.fits": ("tess", TESS_A, "lc", "done", None, None),
    f"tess/fits/tess2018234235059-s0002-0000000{TESS_A}-0121-s_lc.fits": ("tess", TESS_A, "lc", "done", None, None),
    f"tess/fits/tess2018206045859-s0001-0000000{TESS_B}-0120-s_lc.fits": ("tess", TESS_B, "lc", "done", None, None),
    f"tess/fits/tess2018234235059-s0002-0000000{TESS_B}-0121-s_lc.fits": (
        "tess", TESS_B, "lc", "failed", "size_mismatch", f"size mismatch: expected {LC_SIZE} bytes, found 1024"),
    f"tess/fits/tess2018263035959-s0003-0000000{TESS_B}-0123-s_lc.fits": ("tess", TESS_B, "lc", "pending", None, None),
    "ztf/images/ztf_20240101123456_000600_zg_c01_o_q1_sciimg.fits": ("ztf", "600", "ztf_sciimg", "pending", None, None),
}


@dataclasses.dataclass
class Dataset:
    data_dir: Path
    manifest_path: Path

    def path(self, rel_path: str) -> Path:
        return self.data_dir / rel_path

    def file_id(self, rel_path: str) -> int:
        with open_manifest(self.manifest_path, readonly=True) as m:
            return m.query("SELECT file_id FROM files WHERE rel_path = ?", (rel_path,))[0][0]

    def state(self, rel_path: str) -> tuple:
        with open_manifest(self.manifest_path, readonly=True) as m:
            return tuple(m.query("SELECT state, last_error_kind FROM files WHERE rel_path = ?", (rel_path,))[0])


def fresh_fits(dest: Path) -> Path:
    """A light curve whose FITS checksums verify (as the archive serves it)."""
    return sandbox_light_curve(dest)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_dataset(root: Path) -> Dataset:
    """data_dir = root/data, manifest at its default place inside it; 5 done files on disk."""
    data_dir = root / "data"
    template = fresh_fits(root / "template.fits")
    size = template.stat().st_size
    ds = Dataset(data_dir, data_dir / "manifest.sqlite")
    with open_manifest(ds.manifest_path) as m:
        with m.transaction():
            plan_id = m.begin_plan("all", {"test": True})
            m.upsert_targets(TARGETS, plan_id)
            planned = [PlannedFile(src, tid, kind, f"http://archive.test/{rel}", rel,
                                   archive_uri=f"mast:TEST/{rel}" if src != "ztf" else None,
                                   expected_size_bytes=size if src != "ztf" else None)
                       for rel, (src, tid, kind, *_rest) in FILES.items()]
            m.finish_plan(plan_id, len(TARGETS), m.upsert_files(planned, plan_id))
        sync_id = m.start_sync("test:1", 2, {})
        claimed = {r.rel_path: r.file_id for r in m.claim_batch("test:1", 100, 60)}
        outcomes = []
        for rel, (_s, _t, _k, state, kind, error) in FILES.items():
            if state == "done":
                path = data_dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(template.read_bytes())
                outcomes.append(FileOutcome(claimed[rel], "done", size, sha256(path), "fits_checksum",
                                            transfers=(TransferRecord(utc_now(), utc_now(), "done", 200, None, size),)))
            elif state == "failed":
                outcomes.append(FileOutcome(claimed[rel], "failed", error_kind=kind, error=error,
                                            transfers=(TransferRecord(utc_now(), utc_now(), "failed", 503),)))
        m.record_outcomes("test:1", sync_id, outcomes)
        m.release_leases("test:1")
        m.finish_sync(sync_id, files_done=5, files_failed=2, files_adopted=0, bytes_received=5 * size)
    return ds


def flip_byte(path: Path, offset: int = 5000) -> None:
    """Corrupt one byte in place, keeping the size (what a bad disk or a careless tool does)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
