"""The sandbox's ground truth: every star, planet, observation and file, derived from a seed.

Everything here is plain Python data built with one seeded NumPy generator, so the same
``(seed, scale)`` always gives the same catalogs, the same file names and the same byte sizes.
Building it takes well under a second; each mission's catalogs and files are made by its own
module (``universe_kepler``, ``universe_k2``, ``universe_tess``, ``universe_ztf``), the per-file
work (FITS bytes) lives in ``fitsgen`` and ``placeholders``.

Numbers that imitate the real archives (KOI disposition shares, quarter lengths, sector
starts) are approximations chosen to look like the archives, not copies of them. The targets of
the recorded real answers are in every universe, in place of the last drawn one of their kind:
Kepler-10 (KIC 11904151), EPIC 228725972 (K2 C10), EPIC 203830112 (K2 C11) and AU Mic
(TIC 441420236, sector 27), so tests can set the sandbox's answers beside the recordings.
"""

from __future__ import annotations

import functools

from . import naming
from . import universe_k2 as k2
from . import universe_tesscut as tesscut_sky
from . import universe_kepler as kepler
from . import universe_survey as survey_sector
from . import universe_tess as tess
from . import universe_ztf as ztf
from .model import Observation, Product

__all__ = ["Observation", "Product", "Universe"]

MISSIONS = {"kepler": kepler, "k2": k2, "tess": tess}


class Universe:
    """The deterministic catalogs and files of one sandbox (see the package docstring)."""

    def __init__(self, seed: int = 42, scale: float = 1.0):
        import numpy as np

        self.seed = int(seed)
        self.scale = float(scale)
        rng = np.random.default_rng(self.seed)
        self.kepler_stars, self.kois = kepler.build(rng)
        self.k2_hosts, self.k2_planets = k2.build(rng)
        self.tic, self.tess_stars, self.tois = tess.build(rng)
        self.ztf_fields = ztf.ZTF_FIELDS
        self.ztf_exposures = ztf.build(rng)
        self._observations: dict[tuple[str, int], list[Observation]] = {}
        self._files: dict[str, list[Product]] = {}
        self._file_index: dict[tuple[str, int], dict[str, Product]] = {}

    # ----------------------------------------------------------------- catalogs
    def confirmed_kepler_hosts(self) -> list[int]:
        """KIC ids hosting a CONFIRMED KOI, in `cumulative` default order, without repeats."""
        return list(dict.fromkeys(r["kepid"] for r in self.kois if r["koi_disposition"] == "CONFIRMED"))

    def kepler_quarters(self, kic: int) -> tuple[int, ...]:
        return self.kepler_stars[kic]["quarters"]

    def kepler_slc_quarters(self, kic: int) -> tuple[int, ...]:
        return self.kepler_stars[kic]["slc_quarters"]

    def k2_campaigns(self, epic: int) -> tuple[int, ...]:
        return self.k2_hosts[epic]["campaigns"]

    def confirmed_k2_hosts(self) -> list[int]:
        """EPIC ids hosting a CONFIRMED default k2pandc row, in table order, without repeats."""
        return list(dict.fromkeys(int(r["epic_hostname"].split()[1]) for r in self.k2_planets
                                  if r["disposition"] == "CONFIRMED" and r["default_flag"] == 1))

    def toi_hosts(self, dispositions=("PC", "CP", "KP")) -> list[int]:
        """TIC ids with a TOI of the given dispositions, in `toi` table order, without repeats."""
        return list(dict.fromkeys(r["tid"] for r in self.tois if r["tfopwg_disp"] in dispositions))

    def tess_sectors(self, tid: int) -> tuple[int, ...]:
        return self.tess_stars[tid]["sectors"]

    def tess_fast_sectors(self, tid: int) -> tuple[int, ...]:
        return self.tess_stars[tid]["fast_sectors"]

    def tic_params(self, tid: int) -> dict:
        """A TESS star's TIC row: a TOI host's, or a survey star's (sector 40, made on demand)."""
        return self.tic.get(int(tid)) or self.survey.tic_row(tid) or self.tic[tid]

    @functools.cached_property
    def survey(self) -> survey_sector.SurveySector:
        """Sector 40's ~20,000 further 2-min targets, made when asked for (universe_survey)."""
        return survey_sector.SurveySector(self.seed)

    def ztf_rows(self, fields=None, jd_min=None, jd_max=None, filtercodes=None, ccdids=None,
                 qids=None) -> list[dict]:
        """Quadrant-level rows of the IBE ztf/products/sci table matching the given filters."""
        return ztf.rows(self.ztf_exposures, fields, jd_min, jd_max, filtercodes, ccdids, qids)

    # ----------------------------------------------------------------- which file is which period
    def kepler_quarter_files(self, kic: int) -> dict[int, str]:
        """{quarter: long-cadence file name}; a star on module 3 in Q4 has another Q4 stamp."""
        return {p.period: p.filename for p in self.kepler_products(kic, "long")}

    def kepler_odd_stamp_stars(self) -> list[int]:
        """KICs (in ``kepler_stars`` order) whose Q4 long-cadence file is not stamped
        2010078095331, the stamp most stars share: the stars module 3 held in Q4."""
        return [kic for kic, star in self.kepler_stars.items() if star["module3_q4"]]

    def k2_campaign_files(self, epic: int, cadence: str = "long") -> dict[int, list[str]]:
        """{campaign: light-curve file names}: two for C9 and C11 (-c91/-c92, -c111/-c112), one
        (-c102) for C10."""
        found: dict[int, list[str]] = {}
        for product in self.k2_products(epic, cadence):
            found.setdefault(product.period, []).append(product.filename)
        return found

    def k2_split_hosts(self) -> list[int]:
        """EPICs (in ``k2_hosts`` order) observed in a campaign downlinked in two parts (9, 10, 11)."""
        return [e for e, h in self.k2_hosts.items() if set(h["campaigns"]) & set(naming.K2_SPLIT_CAMPAIGNS)]

    def tess_sector_files(self, tid: int, cadence: str = "120s") -> dict[int, str]:
        """{sector: light-curve file name} of one cadence ("120s" or "20s")."""
        return {p.period: p.filename for p in self.tess_products(tid, cadence)}

    # ----------------------------------------------------------------- pixel and DV files
    def files_of_kind(self, mission: str, target_id: int, *kinds: str) -> list[Product]:
        """Every listed file of these kinds (``kinds.KINDS`` keys: kepler_lpd, tess_tp, tess_dvt...)
        of one target, in the order MAST lists them."""
        return [p for obs in self.observations_of(mission, target_id) for p in self.observation_files(obs)
                if p.kind in kinds]

    def kepler_tpf_files(self, kic: int, cadence: str = "long") -> dict[int, list[str]]:
        """{quarter: target pixel file names}: one a quarter (long), one a month (short)."""
        return _by_period(self.files_of_kind("kepler", kic, "kepler_lpd" if cadence == "long" else "kepler_spd"))

    def k2_tpf_files(self, epic: int, cadence: str = "long") -> dict[int, list[str]]:
        """{campaign: target pixel file names}: two for C9, C10 and C11 (one a part)."""
        return _by_period(self.files_of_kind("k2", epic, "k2_lpd" if cadence == "long" else "k2_spd"))

    def tess_tpf_files(self, tid: int, cadence: str = "120s") -> dict[int, str]:
        """{sector: target pixel file name} of one cadence ("120s": _tp.fits, "20s": _fast-tp.fits)."""
        kind = "tess_tp" if cadence == "120s" else "tess_fast_tp"
        return {p.period: p.filename for p in self.files_of_kind("tess", tid, kind)}

    def tess_dvt_files(self, tid: int) -> dict[int, str]:
        """{sector: DV time series file name} (one per 120-s sector)."""
        return {p.period: p.filename for p in self.files_of_kind("tess", tid, "tess_dvt")}

    def kepler_dvt_file(self, kic: int) -> str:
        """The star's DV time series file name (one per star, all quarters)."""
        return self.files_of_kind("kepler", kic, "kepler_dvt")[0].filename

    def stamp(self, mission: str, target_id: int) -> tuple[int, int]:
        """(rows, cols) of a star's target pixel files."""
        kind = {"kepler": "kepler_lpd", "k2": "k2_lpd", "tess": "tess_tp"}[mission]
        return self.files_of_kind(mission, target_id, kind)[0].extra["shape"]

    # ----------------------------------------------------------------- TESScut
    @functools.cached_property
    def tess_sky(self) -> tesscut_sky.TessSky:
        return tesscut_sky.TessSky(self)

    def tess_cutout_sectors(self, tid: int) -> tuple[int, ...]:
        """Sectors TESScut has FFI cutouts of at a TESS star's position (its light curves' sectors)."""
        star = self.tic[tid]
        return tuple(s for s, _, _ in self.tess_sky.sectors_at(star["ra"], star["dec"]))

    def tesscut_sectors(self, ra: float, dec: float, radius_deg: float = 0.0) -> list[dict]:
        """TESScut's ``sector`` results at a position: [{"sectorName", "sector", "camera", "ccd"}]."""
        return tesscut_sky.result_rows(self.tess_sky.sectors_at(ra, dec, radius_deg))

    def tesscut_rows(self, sector: int) -> int:
        """Rows of a cutout of this sector at this scale (one per FFI: 30, 10 min or 200 s)."""
        return tesscut_sky.ffi_rows(sector, self.scale)

    # ----------------------------------------------------------------- observations and files
    def observations_of(self, mission: str, target_id: int) -> list[Observation]:
        """MAST observations of one target ("kepler", "k2", "tess"); empty if it is not one."""
        key = (mission, int(target_id))
        if key not in self._observations:
            star = self._star(mission, target_id)
            self._observations[key] = MISSIONS[mission].observations(star, self.scale) if star else []
        return self._observations[key]

    def observations(self) -> list[Observation]:
        """Every MAST observation: Kepler stars, then K2 hosts, then TESS stars."""
        targets = [("kepler", self.kepler_stars), ("k2", self.k2_hosts), ("tess", self.tess_stars)]
        return [obs for mission, stars in targets for target in stars
                for obs in self.observations_of(mission, target)]

    def observation_files(self, obs: Observation) -> list[Product]:
        """Every file MAST lists for an observation (light curves and the rest), in MAST's order."""
        if obs.obs_id not in self._files:
            mission = obs.mission.lower()
            star = self._star(mission, obs.target_id)
            self._files[obs.obs_id] = MISSIONS[mission].observation_files(star, obs, self.scale)
        return self._files[obs.obs_id]

    def _star(self, mission: str, target_id: int) -> dict | None:
        stars = {"kepler": self.kepler_stars, "k2": self.k2_hosts, "tess": self.tess_stars}[mission]
        found = stars.get(int(target_id))
        return found if found is not None or mission != "tess" else self.survey.star(target_id)

    def _light_curves(self, mission: str, target_id: int, cadence: str) -> list[Product]:
        return [p for obs in self.observations_of(mission, target_id) if obs.cadence == cadence
                for p in obs.light_curves]

    def kepler_products(self, kic: int, cadence: str = "long") -> list[Product]:
        """Light curves ("long": one a quarter; "short": one a month)."""
        return self._light_curves("kepler", kic, cadence)

    def k2_products(self, epic: int, cadence: str = "long") -> list[Product]:
        return self._light_curves("k2", epic, cadence)

    def tess_products(self, tid: int, cadence: str = "120s") -> list[Product]:
        return self._light_curves("tess", tid, cadence)

    def ztf_product(self, row: dict) -> Product:
        """The science image of one quadrant row (as returned by ``ztf_rows``)."""
        return ztf.product(row, self.scale)

    # ----------------------------------------------------------------- lookups
    def _index_of(self, name: str) -> dict[str, Product]:
        """The files of the target a MAST file name names, by dataURI and by both static paths."""
        target = naming.target_of(name)
        if target is None:
            return {}
        if target not in self._file_index:
            index = {}
            for obs in self.observations_of(*target):
                for product in self.observation_files(obs):
                    index.update({product.data_uri: product, product.path: product,
                                  naming.archive_path(product): product})
            self._file_index[target] = index
        return self._file_index[target]

    def product_by_uri(self, uri: str) -> Product | None:
        """The MAST product with this dataURI (``mast:KEPLER/...``, or the ``mast:Kepler/...``
        older manifests hold), or None if not in the universe."""
        uri = naming.canonical_uri(uri)
        return self._index_of(uri).get(uri) if uri.startswith("mast:") else None

    def product_by_path(self, path: str) -> Product | None:
        """The MAST product served at this static path (cloud copy or /missions/ URL)."""
        return self._index_of(path).get(path)

    def ztf_product_by_path(self, path: str) -> Product | None:
        """The ZTF image at this /ibe/data/... path, or None if no such exposure exists."""
        row = naming.parse_ztf_path(path)
        if row is None:
            return None
        exposure = self._ztf_index.get((row["filefracday"], row["field"], row["filtercode"]))
        if exposure is None:
            return None
        for quadrant in naming.ztf_quadrant_rows(exposure):
            if quadrant["ccdid"] == row["ccdid"] and quadrant["qid"] == row["qid"]:
                return self.ztf_product(quadrant)
        return None

    @functools.cached_property
    def _ztf_index(self) -> dict:
        return {(e["filefracday"], e["field"], e["filtercode"]): e for e in self.ztf_exposures}

    def size_of(self, uri_or_path: str) -> int | None:
        """True byte size of a product given its dataURI or served path (None if unknown)."""
        product = (self.product_by_uri(uri_or_path) or self.product_by_path(uri_or_path)
                   or self.ztf_product_by_path(uri_or_path))
        return product.size if product else None


def _by_period(products) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for product in products:
        found.setdefault(product.period, []).append(product.filename)
    return found
