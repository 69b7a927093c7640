"""TESScut in the sandbox universe: which sectors' full-frame images cover a position, and how many
FFI cadences a sector has.

A position within the search radius of a universe TESS star (1 arcsec at least, so a star's own
coordinates find it with astroquery's default radius 0) is covered by that star's sectors, on the
camera and CCD its light curves name. Any other position gets sectors drawn from a generator
seeded by the universe seed and the position rounded to 1e-4 degrees, the way stars' sectors are
drawn; about one position in twenty is in no sector (TESScut answers an empty list there).

FFIs were taken every 30 minutes in sectors 1-26, every 10 minutes in 27-55 and every 200 s from
sector 56 on; a cutout has one row per FFI of the sector, times the scale.
"""

from __future__ import annotations

import math
import zlib

from . import fitsgen
from .universe_tess import draw_sectors

MATCH_FLOOR_DEG = 1.0 / 3600
EMPTY_SKY_SHARE = 0.05
MIN_ROWS = 8


def ffi_cadence_seconds(sector: int) -> int:
    return 1800 if sector < 27 else 600 if sector < 56 else 200


def ffi_rows(sector: int, scale: float) -> int:
    """FFI cadences of a sector (a sector's 27.4 days less the ~0.6-day downlink gap), times scale."""
    days = fitsgen.TESS_SECTOR_DAYS - 0.6
    return max(MIN_ROWS, int(round(days * 86_400 / ffi_cadence_seconds(sector) * scale)))


def sector_name(sector: int, camera: int, ccd: int) -> str:
    """``tess-s0001-4-2``: how TESScut names a sector's camera and CCD."""
    return f"tess-s{sector:04d}-{camera}-{ccd}"


def result_rows(sectors) -> list[dict]:
    """``[(sector, camera, ccd), ...]`` as TESScut's ``results`` (strings, the sector zero-padded)."""
    return [{"sectorName": sector_name(s, cam, ccd), "sector": f"{s:04d}", "camera": str(cam), "ccd": str(ccd)}
            for s, cam, ccd in sectors]


def separation_deg(ra1, dec1, ra2, dec2):
    """Great-circle distance in degrees (haversine); works on NumPy arrays."""
    import numpy as np

    ra1, dec1, ra2, dec2 = (np.radians(v) for v in (ra1, dec1, ra2, dec2))
    a = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


class TessSky:
    """Positions of the universe's TESS stars, for TESScut's sector search."""

    def __init__(self, universe):
        import numpy as np

        self.universe = universe
        self.tids = list(universe.tess_stars)
        self.ra = np.array([universe.tic[t]["ra"] for t in self.tids], dtype="f8")
        self.dec = np.array([universe.tic[t]["dec"] for t in self.tids], dtype="f8")

    def star_sectors(self, tid: int) -> list[tuple[int, int, int]]:
        """(sector, camera, ccd) of a TESS star's FFIs: the sectors of its light curves."""
        camera, ccd = fitsgen.tess_camera_ccd(tid)
        return [(s, camera, ccd) for s in self.universe.tess_sectors(tid)]

    def nearest(self, ra: float, dec: float, radius_deg: float = 0.0) -> int | None:
        """The TIC id of the closest TESS star within the radius (1 arcsec at least), or None."""
        distance = separation_deg(ra, dec, self.ra, self.dec)
        at = int(distance.argmin())
        return self.tids[at] if distance[at] <= max(radius_deg, MATCH_FLOOR_DEG) else None

    def sectors_at(self, ra: float, dec: float, radius_deg: float = 0.0) -> list[tuple[int, int, int]]:
        """(sector, camera, ccd) covering a position, sorted by sector (stars' sectors within the
        radius, the nearest star's camera first; else drawn from the position)."""
        import numpy as np

        distance = separation_deg(ra, dec, self.ra, self.dec)
        within = np.flatnonzero(distance <= max(radius_deg, MATCH_FLOOR_DEG))
        if not within.size:
            return self._drawn(ra, dec)
        found: dict[int, tuple[int, int, int]] = {}
        for at in within[np.argsort(distance[within])]:
            for row in self.star_sectors(self.tids[at]):
                found.setdefault(row[0], row)
        return [found[s] for s in sorted(found)]

    def _drawn(self, ra: float, dec: float) -> list[tuple[int, int, int]]:
        import numpy as np

        key = zlib.crc32(f"{round(ra % 360.0, 4):.4f} {round(dec, 4):.4f}".encode())
        rng = np.random.default_rng([self.universe.seed, key])
        if rng.random() < EMPTY_SKY_SHARE:
            return []
        camera = 1 + key % 4
        return [(s, camera, 1 + (key // 4 + s) % 4) for s in draw_sectors(rng)]


def parse_angle(text: str) -> float:
    """Degrees from TESScut's ``radius``: a number of degrees, or with a unit (``0.1d``, ``5 arcmin``,
    ``30s``/``30 arcsec``). Raises ValueError on anything else."""
    text = str(text).strip().lower()
    units = (("arcmin", 1 / 60), ("arcsec", 1 / 3600), ("deg", 1.0), ("d", 1.0), ("m", 1 / 60), ("s", 1 / 3600))
    for suffix, factor in units:
        if text.endswith(suffix):
            value = float(text[: -len(suffix)].strip()) * factor
            break
    else:
        value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not an angle: {text!r}")
    return value
