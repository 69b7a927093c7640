"""Where the team's shared public data lives: ``../shared/`` beside the project root.

Tests that read it skip with a reason when it is absent (a clone on another machine), and never
copy it into the project; fixtures that must travel with the project are made by its own code
(``ratdcs_catalog.sandbox.fitsgen``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED = PROJECT_ROOT.parent / "shared"
REALDATA = SHARED / "realdata"
REPLAY_DATA = SHARED / "replay_data"


def real_files(pattern: str = "*.fits") -> list[Path]:
    """The shared real files matching ``pattern``, sorted; empty when the folder is absent."""
    return sorted(REALDATA.glob(pattern)) if REALDATA.is_dir() else []


def real_light_curves() -> list[Path]:
    """The shared real light curves (the folder also holds a target pixel file)."""
    return [p for p in real_files() if "tpf" not in p.name]


def skip_without(path: Path):
    """A skip mark naming the missing shared folder."""
    return pytest.mark.skipif(not path.exists(), reason=f"shared data {path} is absent (a clone elsewhere): "
                                                        "see ../shared/README in the team's workspace")


def sandbox_light_curve(dest: Path, *, name: str = "kplr011904151-2009350155506_llc.fits", rows: int = 4370) -> Path:
    """A Kepler long-cadence light curve made by the sandbox's generator (PRIMARY, LIGHTCURVE with
    the archive's 20 columns, APERTURE; fresh CHECKSUM/DATASUM): the real structure, travelling
    with the project."""
    from ratdcs_catalog.sandbox.fitsgen import _placeholder_meta, build_lightcurve

    meta = {**_placeholder_meta("kepler_llc"), "target": 11904151, "filename": name}
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(build_lightcurve("kepler_llc", meta, rows, seed=42))
    return dest
