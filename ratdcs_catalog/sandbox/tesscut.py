"""TESScut: ``/tesscut/api/v0.1/sector`` and ``/tesscut/api/v0.1/astrocut``, as astroquery's
``Tesscut`` (``get_sectors``, ``download_cutouts``, ``get_cutouts``) and lightkurve's
``TessTargetPixelFile`` download use them.

``sector`` (GET, or POST with a form body as astroquery 0.4.11 sends it): ``ra``, ``dec`` (degrees)
and ``radius`` (degrees, or with a unit: ``0.1d``, ``5 arcmin``, ``30s``; default 0) answer JSON
``{"results": [{"sectorName": "tess-s0001-4-2", "sector": "0001", "camera": "4", "ccd": "2"}, ...]}``
(the rows as a real answer for pi Men prints them; the envelope is what astroquery reads,
``response.json().get("results", [])``).

``astrocut`` (GET for ``download_cutouts``, POST for ``get_cutouts``): ``ra``, ``dec``, ``y`` (rows),
``x`` (columns), ``units`` (``px``, the default, or ``d``: degrees, 21 arcsec a pixel) and
``sector`` (optional: every covering sector without it) answer a zip (``application/zip``, with
``Content-Disposition: attachment; filename="astrocut_..._5x5px.zip"``) holding one cutout per
sector (``cutouts``). A position in no asked sector answers 200 with JSON ``{"msg": ...}``, which
astroquery turns into a NoResultsWarning; a bad parameter answers 400 with JSON ``{"msg": ...}``
(both shapes assumed). Cutouts are at most 100 pixels a side here.
"""

from __future__ import annotations

import math
import zlib
from email.utils import formatdate
from urllib.parse import urlencode

from . import cutouts, fitsgen
from .reply import Reply, json_reply, not_found
from .universe_tesscut import ffi_rows, parse_angle

BASE = "/tesscut/api/v0.1/"
MAX_SIDE = 100
ARCSEC_PER_PIXEL = 21.0


class TesscutError(ValueError):
    """A TESScut request the service refuses (answered 400 with the message)."""


class TesscutService:
    """Answers TESScut requests from a Universe; ``store`` keeps built cutouts (a BodyStore)."""

    def __init__(self, universe, store, seed: int, scale: float):
        self.universe, self.store, self.seed, self.scale = universe, store, seed, scale
        self.sky = universe.tess_sky

    def answer(self, path: str, params: dict) -> Reply:
        service = path[len(BASE):].strip("/")
        if service not in ("sector", "astrocut"):
            return not_found(path)
        try:
            return self.sector(params) if service == "sector" else self.astrocut(params)
        except TesscutError as err:
            return json_reply({"msg": str(err)}, status=400, service=f"tesscut.{service}")

    # ----------------------------------------------------------------- sector
    def sector(self, params: dict) -> Reply:
        ra, dec = _position(params)
        radius = _value(params, "radius", "0")
        try:
            radius_deg = parse_angle(radius)
        except ValueError:
            raise TesscutError(f"radius must be degrees or an angle with a unit (5 arcmin), got {radius!r}") from None
        rows = self.universe.tesscut_sectors(ra, dec, radius_deg)
        return json_reply({"results": rows}, service="tesscut.sector")

    # ----------------------------------------------------------------- astrocut
    def astrocut(self, params: dict) -> Reply:
        ra, dec = _position(params)
        y, x = _size(params)
        sectors = self.sky.sectors_at(ra, dec)
        wanted = _value(params, "sector", "")
        if wanted:
            try:
                sectors = [row for row in sectors if row[0] == int(wanted)]
            except ValueError:
                raise TesscutError(f"sector must be a whole number, got {wanted!r}") from None
        if not sectors:
            return json_reply({"msg": f"No TESS data found at RA {ra}, Dec {dec}"
                                      + (f" in sector {wanted}" if wanted else "")}, service="tesscut.astrocut")
        members = [self.member(ra, dec, (y, x), row) for row in sectors]
        variants = {"zip_slip": lambda: cutouts.zip_bytes([(cutouts.ZIP_SLIP_NAME, members[0][1])]),
                    "zip_many": lambda: cutouts.zip_bytes(members + [self.member(ra, dec, (y, x), _next(sectors[-1]))])}
        return self._zip_reply(cutouts.zip_name(ra, dec, x, y), cutouts.zip_bytes(members), variants)

    def member(self, ra: float, dec: float, size, row) -> tuple[str, bytes]:
        """(name, FITS bytes) of the cutout of one (sector, camera, ccd), built once."""
        (y, x), (sector, camera, ccd) = size, row
        name = cutouts.member_name(sector, camera, ccd, ra, dec, x, y)
        return name, self.store.get(f"tesscut/{name}", lambda: self._build(ra, dec, (y, x), row, name))

    def _build(self, ra, dec, shape, row, name) -> bytes:
        sector, camera, ccd = row
        meta = {"ra": ra, "dec": dec, "filename": name, "target": 0, "mag": None, "planets": ()}
        tid = self.sky.nearest(ra, dec, ARCSEC_PER_PIXEL / 3600)
        if tid is not None:
            star = self.universe.tic[tid]
            meta.update(target=tid, mag=star["Tmag"], planets=tuple(
                (t["pl_orbper"], fitsgen.TESS_SECTOR1_BTJD + 1.0, 2000.0, 2.5)
                for t in self.universe.tois if t["tid"] == tid))
        return cutouts.build_cutout(meta, shape, sector, camera, ccd, ffi_rows(sector, self.scale), self.scale,
                                    self.seed)

    def _zip_reply(self, name: str, body: bytes, variants: dict) -> Reply:
        # Validators from the bytes: one zip name serves other sectors' zips, sometimes of equal size.
        mtime = 1_600_000_000 + zlib.crc32(body) % 86_400_000
        headers = {"Content-Disposition": f'attachment; filename="{name}"',
                   "Last-Modified": formatdate(mtime, usegmt=True), "ETag": f'"{mtime:x}-{len(body):x}"'}
        return Reply(content_type="application/zip", body_bytes=body, headers=headers, service="tesscut.astrocut",
                     is_file=True, size=len(body), variants=variants)

    def cutout(self, *, ra: float, dec: float, sector: int, size=(5, 5)) -> cutouts.Cutout:
        """What ``astrocut`` answers for one sector at (ra, dec): see ``Sandbox.tesscut_cutout``."""
        y, x = int(size[0]), int(size[1])
        ra, dec = _position({"ra": [str(ra)], "dec": [str(dec)]})
        query = {"ra": ra, "dec": dec, "y": y, "x": x, "units": "px", "sector": sector}
        row = next((r for r in self.sky.sectors_at(ra, dec) if r[0] == int(sector)), None)
        if row is None:
            raise ValueError(f"no TESS sector {sector} at RA {ra}, Dec {dec}; "
                             f"covering sectors: {[r[0] for r in self.sky.sectors_at(ra, dec)]}")
        name, fits = self.member(ra, dec, (y, x), row)
        return cutouts.Cutout(cutouts.zip_name(ra, dec, x, y), name, cutouts.zip_bytes([(name, fits)]), fits,
                              BASE + "astrocut?" + urlencode(query))


def _value(params: dict, key: str, default=None):
    values = params.get(key)
    return values[-1].strip() if values else default


def _position(params: dict) -> tuple[float, float]:
    try:
        ra, dec = float(_value(params, "ra", "")), float(_value(params, "dec", ""))
    except ValueError:
        raise TesscutError("ra and dec are required, in decimal degrees (ra=84.29&dec=-80.47)") from None
    if not (math.isfinite(ra) and math.isfinite(dec)) or not -90 <= dec <= 90:
        raise TesscutError(f"ra and dec must be finite degrees with -90 <= dec <= 90, got {ra}, {dec}")
    return ra % 360.0, dec


def _size(params: dict) -> tuple[int, int]:
    """(rows, columns) of the cutout from y, x and units (px or d)."""
    units = _value(params, "units", "px") or "px"
    try:
        y, x = float(_value(params, "y", "5")), float(_value(params, "x", "5"))
    except ValueError:
        raise TesscutError("x and y must be numbers (pixels with units=px, degrees with units=d)") from None
    if units == "d":
        y, x = y * 3600 / ARCSEC_PER_PIXEL, x * 3600 / ARCSEC_PER_PIXEL
    elif units != "px":
        raise TesscutError(f"units must be px or d, got {units!r}")
    if not (math.isfinite(y) and math.isfinite(x)) or not (0 < y <= MAX_SIDE and 0 < x <= MAX_SIDE):
        raise TesscutError(f"cutout size must be from 1 to {MAX_SIDE} pixels a side, got x={x:g}, y={y:g}")
    return max(1, math.ceil(y - 1e-9)), max(1, math.ceil(x - 1e-9))


def _next(row) -> tuple[int, int, int]:
    """Another sector on the same camera and CCD: the second member of a ``zip_many`` answer."""
    sector, camera, ccd = row
    return sector + 1, camera, ccd
