"""The sandbox's ground truth: every star, planet, observation and file, derived from a seed.

Everything here is plain Python data built with one seeded NumPy generator, so the same
``(seed, scale)`` always gives the same catalogs, the same file names and the same byte sizes.
Building it takes well under a second; the per-file work (FITS bytes) lives in ``fitsgen``.

Numbers that imitate the real archives (KOI disposition shares, quarter lengths, sector
starts) are approximations chosen to look like the archives, not copies of them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from . import fitsgen, naming

KOI_DISPOSITIONS = (("CONFIRMED", 0.29), ("CANDIDATE", 0.20), ("FALSE POSITIVE", 0.51))
K2_DISPOSITIONS = (("CONFIRMED", 0.50), ("CANDIDATE", 0.40), ("FALSE POSITIVE", 0.08),
                   ("REFUTED", 0.02))
TOI_DISPOSITIONS = (("PC", 0.58), ("CP", 0.11), ("KP", 0.09), ("APC", 0.05), ("FP", 0.13),
                    ("FA", 0.04))
ZTF_FIELDS = (245, 246, 296, 297, 600, 601, 680, 681, 795, 796)
ZTF_FILTERS = ("zg", "zr", "zi")
ZTF_FIRST_JD = 2458197.5   # 2018-03-17, start of ZTF public survey operations
ZTF_LAST_JD = 2461041.5    # 2025-12-31


@dataclass(frozen=True)
class Product:
    """One downloadable file of the universe.

    ``path`` is the URL path the sandbox serves it at (for MAST files the static cloud-copy
    path that a download may redirect to); ``size`` is the exact byte count served.
    """

    filename: str
    data_uri: str
    size: int
    path: str
    kind: str                 # fitsgen kind: kepler_llc, kepler_slc, k2_llc, k2_slc, tess_lc, ...
    target_id: int            # KIC, EPIC or TIC (0 for ZTF)
    period: int               # quarter, campaign or sector (0 for ZTF)
    nrows: int                # light-curve rows (image height for ZTF)
    subgroup: str             # productSubGroupDescription (LLC, SLC, LC, FAST-LC, SCI)
    obs_id: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)


def _pick(rng, choices, size):
    """Draw labels with the given shares (a tuple of (label, probability))."""
    labels = [c[0] for c in choices]
    probs = [c[1] for c in choices]
    return [labels[i] for i in rng.choice(len(labels), size=size, p=probs)]


def _unique_ids(rng, low, high, n):
    """n distinct integers in [low, high), in random order (no full permutation of the range)."""
    ids = rng.integers(low, high, size=int(n * 1.3) + 16)
    import numpy as np

    _, first = np.unique(ids, return_index=True)
    ids = ids[sorted(first)]
    return [int(x) for x in ids[:n]]


class Universe:
    """The deterministic catalogs and files of one sandbox (see the package docstring)."""

    def __init__(self, seed: int = 42, scale: float = 1.0):
        import numpy as np

        self.seed = int(seed)
        self.scale = float(scale)
        rng = np.random.default_rng(self.seed)
        self._build_kepler(rng)
        self._build_k2(rng)
        self._build_tess(rng)
        self._build_ztf(rng)
        self._product_cache: dict[tuple, Product] = {}
        self._products_by_uri: dict[str, Product] | None = None
        self._products_by_path: dict[str, Product] | None = None

    # ----------------------------------------------------------------- Kepler
    def _build_kepler(self, rng) -> None:
        n_stars = 2400
        kics = _unique_ids(rng, 1_000_000, 13_000_000, n_stars)
        n_planets = rng.choice([1, 2, 3, 4, 5], size=n_stars, p=[0.75, 0.15, 0.06, 0.03, 0.01])
        ras = rng.uniform(280.0, 301.0, n_stars)
        decs = rng.uniform(36.5, 52.0, n_stars)
        teffs = rng.normal(5600, 700, n_stars).clip(3200, 9000)
        loggs = rng.normal(4.35, 0.3, n_stars).clip(2.5, 5.1)
        rads = (10 ** rng.normal(0.0, 0.2, n_stars)).clip(0.15, 12.0)
        kepmags = rng.uniform(9.0, 16.5, n_stars)
        self.kepler_stars: dict[int, dict] = {}
        for i, kic in enumerate(kics):
            self.kepler_stars[kic] = {
                "kepid": kic, "ra": round(float(ras[i]), 6), "dec": round(float(decs[i]), 6),
                "teff": round(float(teffs[i])), "logg": round(float(loggs[i]), 3),
                "radius": round(float(rads[i]), 3), "kepmag": round(float(kepmags[i]), 3),
                "quarters": self._draw_quarters(rng), "n_planets": int(n_planets[i]),
            }
        for star in self.kepler_stars.values():
            star["slc_quarters"] = self._draw_slc(rng, star["quarters"])
        self._build_kois(rng, kics)

    @staticmethod
    def _draw_quarters(rng) -> tuple[int, ...]:
        """A realistic subset of Q0-Q17: late starts, early ends, module-3 seasonal gaps."""
        first = 0 if rng.random() < 0.4 else (1 if rng.random() < 0.85 else int(rng.integers(2, 11)))
        last = 17 if rng.random() < 0.9 else int(rng.integers(max(first, 8), 17))
        # Module 3 failed in January 2010 (Q4); stars that fell on it lose one season in four.
        dead_season = int(rng.integers(0, 4)) if rng.random() < 0.2 else None
        quarters = [q for q in range(first, last + 1)
                    if dead_season is None or q < 6 or (q - 2) % 4 != dead_season]
        return tuple(quarters or [first])

    @staticmethod
    def _draw_slc(rng, quarters) -> tuple[int, ...]:
        """About 8% of stars also have short-cadence data for one to four quarters."""
        usable = [q for q in quarters if q > 0]
        if not usable or rng.random() >= 0.08:
            return ()
        n = int(rng.integers(1, min(4, len(usable)) + 1))
        return tuple(sorted(int(q) for q in rng.choice(usable, size=n, replace=False)))

    def _build_kois(self, rng, kics) -> None:
        n_kois = sum(self.kepler_stars[k]["n_planets"] for k in kics)
        dispositions = _pick(rng, KOI_DISPOSITIONS, n_kois)
        periods = 10 ** rng.uniform(-0.3, 2.6, n_kois)
        depths = 10 ** rng.uniform(1.5, 4.3, n_kois)
        self.kois: list[dict] = []
        kepler_number = 0
        at = 0
        for koi_number, kic in enumerate(kics, start=1):
            star = self.kepler_stars[kic]
            letters = iter("bcdefgh")
            host_number = None
            for j in range(star["n_planets"]):
                disposition = dispositions[at]
                name = None
                if disposition == "CONFIRMED":
                    if host_number is None:
                        kepler_number += 1
                        host_number = kepler_number
                    name = f"Kepler-{host_number} {next(letters)}"
                self.kois.append(self._koi_row(star, koi_number, j + 1, disposition, name,
                                               float(periods[at]), float(depths[at])))
                at += 1
        # The archive's default order of `cumulative` is by KOI name.
        self.kois.sort(key=lambda row: row["kepoi_name"])

    @staticmethod
    def _koi_row(star, koi_number, planet, disposition, kepler_name, period, depth) -> dict:
        quarters = set(star["quarters"])
        return {
            "kepid": star["kepid"], "kepoi_name": f"K{koi_number:05d}.{planet:02d}",
            "kepler_name": kepler_name, "koi_disposition": disposition,
            "koi_pdisposition": "FALSE POSITIVE" if disposition == "FALSE POSITIVE" else "CANDIDATE",
            "koi_period": round(period, 6), "koi_depth": round(depth, 1),
            "koi_duration": round(2.0 + 1.5 * math.log10(1 + period), 4),
            "koi_time0bk": round(131.5 + (koi_number * 7.31 + planet) % period, 5),
            "koi_prad": round(star["radius"] * 109.1 * math.sqrt(depth * 1e-6), 2),
            "ra": star["ra"], "dec": star["dec"], "koi_steff": float(star["teff"]),
            "koi_slogg": star["logg"], "koi_srad": star["radius"], "koi_kepmag": star["kepmag"],
            "koi_smass": round(star["radius"] ** 0.8, 3), "koi_smet": 0.0,
            "koi_quarters": "".join("1" if q in quarters else "0" for q in range(1, 33)),
            "koi_score": 1.0 if disposition == "CONFIRMED" else 0.5,
            "koi_delivname": "q1_q17_dr25_koi", "koi_vet_stat": "Done",
        }

    # ----------------------------------------------------------------- K2
    def _build_k2(self, rng) -> None:
        n_hosts = 420
        epics = _unique_ids(rng, 201_000_000, 251_810_000, n_hosts)
        second = {5: 16, 16: 18, 6: 17, 4: 13, 3: 12, 8: 19}
        self.k2_hosts: dict[int, dict] = {}
        self.k2_planets: list[dict] = []
        k2_number = 0
        for epic in epics:
            campaign = int(rng.integers(0, 20))
            campaigns = [campaign]
            if campaign in second and rng.random() < 0.3:
                campaigns.append(second[campaign])
            host = {"epic": epic, "ra": round(float(rng.uniform(0, 360)), 6),
                    "dec": round(float(rng.uniform(-28, 25)), 6),
                    "teff": round(float(rng.normal(5400, 800))),
                    "radius": round(float(rng.uniform(0.3, 2.5)), 3),
                    "campaigns": tuple(sorted(campaigns))}
            # About one host campaign in five also has a short-cadence file. Chosen by the ids,
            # not drawn: a draw here would shift every later draw and change the whole universe.
            host["slc_campaigns"] = tuple(c for c in host["campaigns"] if (epic + c) % 5 == 0)
            self.k2_hosts[epic] = host
            n_planets = int(rng.choice([1, 2, 3], p=[0.8, 0.15, 0.05]))
            dispositions = _pick(rng, K2_DISPOSITIONS, n_planets)
            if "CONFIRMED" in dispositions:
                k2_number += 1
            for j, disposition in enumerate(dispositions):
                self.k2_planets.extend(self._k2_rows(rng, host, j, disposition, k2_number))

    @staticmethod
    def _k2_rows(rng, host, j, disposition, k2_number) -> list[dict]:
        """k2pandc keeps one row per planet and reference; exactly one is the default."""
        epic = host["epic"]
        confirmed = disposition == "CONFIRMED"
        name = f"K2-{k2_number} {'bcd'[j]}" if confirmed else f"EPIC {epic}.{j + 1:02d}"
        period = round(float(10 ** rng.uniform(-0.2, 1.8)), 6)
        n_refs = int(rng.integers(1, 4))
        rows = []
        for ref in range(n_refs):
            rows.append({
                "pl_name": name, "hostname": f"K2-{k2_number}" if confirmed else f"EPIC {epic}",
                "epic_hostname": f"EPIC {epic}", "epic_candname": f"EPIC {epic}.{j + 1:02d}",
                "disposition": disposition, "disp_refname": f"Reference {ref + 1}",
                "default_flag": 1 if ref == 0 else 0,
                "k2_campaigns": ",".join(str(c) for c in host["campaigns"]),
                "k2_campaigns_num": len(host["campaigns"]), "pl_orbper": period,
                "ra": host["ra"], "dec": host["dec"], "st_teff": float(host["teff"]),
                "st_rad": host["radius"], "st_logg": 4.4, "st_mass": round(host["radius"] ** 0.8, 3),
                "sy_kepmag": round(10.0 + host["epic"] % 600 / 100.0, 3), "rowupdate": "2024-05-01",
            })
        return rows

    # ----------------------------------------------------------------- TESS
    def _build_tess(self, rng) -> None:
        n_hosts = 1800
        tids = _unique_ids(rng, 10_000_000, 470_000_000, n_hosts)
        dispositions = _pick(rng, TOI_DISPOSITIONS, n_hosts * 3)
        self.tic: dict[int, dict] = {}
        self.tess_stars: dict[int, dict] = {}
        self.tois: list[dict] = []
        at = 0
        for n, tid in enumerate(tids):
            star = self._tic_row(rng, tid)
            self.tic[tid] = star
            sectors = self._draw_sectors(rng)
            fast = tuple(s for s in sectors if s >= 27) if rng.random() < 0.08 else ()
            self.tess_stars[tid] = {"tid": tid, "sectors": sectors, "fast_sectors": fast}
            for j in range(int(rng.choice([1, 2, 3], p=[0.9, 0.08, 0.02]))):
                self.tois.append(self._toi_row(rng, star, 101 + n, j + 1, dispositions[at]))
                at += 1

    @staticmethod
    def _draw_sectors(rng) -> tuple[int, ...]:
        """Most stars fall in one or two sectors; a few near the ecliptic poles in dozens."""
        n = int(rng.choice([1, 2, 3, 4, 6, 9, 13, 26], p=[0.35, 0.25, 0.12, 0.1, 0.07, 0.05, 0.04, 0.02]))
        return tuple(sorted(int(s) for s in rng.choice(range(1, 84), size=n, replace=False)))

    @staticmethod
    def _tic_row(rng, tid) -> dict:
        teff = float(rng.normal(5700, 900))
        return {
            "ID": tid, "version": "20190415", "objType": "STAR", "typeSrc": "tmgaia2",
            "ra": round(float(rng.uniform(0, 360)), 6),
            "dec": round(float(math.degrees(math.asin(rng.uniform(-1, 1)))), 6),
            "Tmag": round(float(rng.uniform(6.0, 13.5)), 3), "Teff": round(teff),
            "logg": round(float(rng.normal(4.3, 0.3)), 3),
            "rad": round(float(10 ** rng.normal(0.0, 0.25)), 3),
            "mass": round(float(10 ** rng.normal(0.0, 0.15)), 3),
            "d": round(float(10 ** rng.uniform(1.0, 3.0)), 2),
            "MH": round(float(rng.normal(0.0, 0.2)), 3), "lumclass": "DWARF",
            "disposition": None, "objID": str(400_000_000 + tid % 1_000_000_000),
        }

    @staticmethod
    def _toi_row(rng, star, prefix, planet, disposition) -> dict:
        tid = star["ID"]
        return {
            "tid": tid, "tidstr": f"TIC {tid}", "toi": round(prefix + planet / 100.0, 2),
            "toipfx": str(prefix), "toipfxstr": f"TOI {prefix}",
            "ctoi_alias": f"{tid}.{planet:02d}", "pl_pnum": 1, "tfopwg_disp": disposition,
            "st_tmag": star["Tmag"], "ra": star["ra"], "dec": star["dec"],
            "pl_orbper": round(float(10 ** rng.uniform(-0.5, 1.7)), 6),
            "st_teff": float(star["Teff"]), "st_logg": star["logg"], "st_rad": star["rad"],
            "st_dist": star["d"], "toi_created": "2019-01-01 00:00:00",
            "rowupdate": "2024-06-01 00:00:00",
        }

    # ----------------------------------------------------------------- ZTF
    def _build_ztf(self, rng) -> None:
        """About 200 exposures per field over 2018-2025, each split into 64 quadrant rows."""
        self.ztf_fields = ZTF_FIELDS
        exposures = []
        for field_id in ZTF_FIELDS:
            nights = rng.uniform(ZTF_FIRST_JD, ZTF_LAST_JD, 200)
            filters = rng.integers(0, 3, 200)
            seeing = rng.uniform(1.4, 3.2, 200)
            for jd, f, s in zip(sorted(nights), filters, seeing):
                exposures.append((float(jd), field_id, int(f), float(s)))
        exposures.sort()
        self.ztf_exposures: list[dict] = []
        for n, (jd, field_id, f, s) in enumerate(exposures):
            jd = round(jd - (jd - 0.5) % 1 + 0.15 + (n % 97) * 0.003, 6)  # at night, UT ~03:36+
            self.ztf_exposures.append(naming.ztf_exposure(jd, field_id, ZTF_FILTERS[f], f + 1,
                                                          50_000_000 + n * 17, round(s, 2)))

    # ----------------------------------------------------------------- accessors
    def confirmed_kepler_hosts(self) -> list[int]:
        """KIC ids hosting a CONFIRMED KOI, in `cumulative` default order, without repeats."""
        return list(dict.fromkeys(r["kepid"] for r in self.kois
                                  if r["koi_disposition"] == "CONFIRMED"))

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
        return self.tic[tid]

    def ztf_rows(self, fields=None, jd_min=None, jd_max=None, filtercodes=None, ccdids=None,
                 qids=None) -> list[dict]:
        """Quadrant-level rows of the IBE ztf/products/sci table matching the given filters."""
        rows = []
        for exposure in self.ztf_exposures:
            if fields is not None and exposure["field"] not in fields:
                continue
            if jd_min is not None and exposure["obsjd"] < jd_min:
                continue
            if jd_max is not None and exposure["obsjd"] > jd_max:
                continue
            if filtercodes is not None and exposure["filtercode"] not in filtercodes:
                continue
            rows.extend(r for r in naming.ztf_quadrant_rows(exposure)
                        if (ccdids is None or r["ccdid"] in ccdids)
                        and (qids is None or r["qid"] in qids))
        return rows

    # ----------------------------------------------------------------- products
    def kepler_products(self, kic: int, cadence: str = "long") -> list[Product]:
        star = self.kepler_stars[kic]
        if cadence == "long":
            return [self._product("kepler_llc", kic, q) for q in star["quarters"]]
        return [self._product("kepler_slc", kic, q, month)
                for q in star["slc_quarters"] for month in (1, 2, 3)]

    def k2_products(self, epic: int, cadence: str = "long") -> list[Product]:
        host = self.k2_hosts[epic]
        if cadence == "long":
            return [self._product("k2_llc", epic, c) for c in host["campaigns"]]
        return [self._product("k2_slc", epic, c) for c in host["slc_campaigns"]]

    def tess_products(self, tid: int, cadence: str = "120s") -> list[Product]:
        star = self.tess_stars[tid]
        if cadence == "120s":
            return [self._product("tess_lc", tid, s) for s in star["sectors"]]
        return [self._product("tess_fast", tid, s) for s in star["fast_sectors"]]

    def ztf_product(self, row: dict) -> Product:
        """The science image of one quadrant row (as returned by ``ztf_rows``)."""
        name, path = naming.ztf_image_name(row)
        height, width = fitsgen.ztf_shape(self.scale)
        return Product(filename=name, data_uri=path, path=path, kind="ztf_sci", target_id=0,
                       period=0, nrows=height, subgroup="SCI",
                       size=fitsgen.ztf_size(self.scale),
                       extra={"row": row})

    def product_for(self, kind: str, target_id: int, period: int, month: int = 0) -> Product:
        """A MAST product by kind (kepler_llc, kepler_slc, k2_llc, k2_slc, tess_lc, tess_fast)."""
        return self._product(kind, target_id, period, month)

    def _product(self, kind: str, target_id: int, period: int, month: int = 0) -> Product:
        key = (kind, target_id, period, month)
        product = self._product_cache.get(key)
        if product is None:
            product = self._product_cache[key] = self._make_product(*key)
        return product

    def _make_product(self, kind: str, target_id: int, period: int, month: int) -> Product:
        filename, uri, path = naming.mast_names(kind, target_id, period, month)
        nrows = fitsgen.lightcurve_rows(kind, period, self.scale)
        return Product(filename=filename, data_uri=uri, path=path, kind=kind,
                       target_id=target_id, period=period, nrows=nrows,
                       subgroup=naming.SUBGROUPS[kind],
                       size=fitsgen.lightcurve_size(kind, nrows),
                       obs_id=naming.obs_id(kind, target_id, self, period),
                       extra={"month": month})

    def all_mast_products(self) -> list[Product]:
        """Every MAST file of the universe (light curves of all cadences)."""
        out = []
        for kic in self.kepler_stars:
            out += self.kepler_products(kic, "long") + self.kepler_products(kic, "short")
        for epic in self.k2_hosts:
            out += self.k2_products(epic, "long") + self.k2_products(epic, "short")
        for tid in self.tess_stars:
            out += self.tess_products(tid, "120s") + self.tess_products(tid, "20s")
        return out

    def _index(self) -> None:
        by_uri, by_path = {}, {}
        for product in self.all_mast_products():
            by_uri[product.data_uri] = product
            by_path[product.path] = product
            by_path[naming.archive_path(product)] = product
        self._products_by_uri, self._products_by_path = by_uri, by_path

    def product_by_uri(self, uri: str) -> Product | None:
        """The MAST product with this dataURI (``mast:...``), or None if not in the universe."""
        if self._products_by_uri is None:
            self._index()
        return self._products_by_uri.get(uri)

    def product_by_path(self, path: str) -> Product | None:
        """The MAST product served at this static path (cloud copy or /missions/ URL)."""
        if self._products_by_path is None:
            self._index()
        return self._products_by_path.get(path)

    def ztf_product_by_path(self, path: str) -> Product | None:
        """The ZTF image at this /ibe/data/... path, or None if no such exposure exists."""
        row = naming.parse_ztf_path(path)
        if row is None:
            return None
        exposure = self._ztf_by_ffd().get((row["filefracday"], row["field"], row["filtercode"]))
        if exposure is None:
            return None
        for quadrant in naming.ztf_quadrant_rows(exposure):
            if quadrant["ccdid"] == row["ccdid"] and quadrant["qid"] == row["qid"]:
                return self.ztf_product(quadrant)
        return None

    @functools.cached_property
    def _ztf_index(self) -> dict:
        return {(e["filefracday"], e["field"], e["filtercode"]): e for e in self.ztf_exposures}

    def _ztf_by_ffd(self) -> dict:
        return self._ztf_index

    def size_of(self, uri_or_path: str) -> int | None:
        """True byte size of a product given its dataURI or served path (None if unknown)."""
        product = (self.product_by_uri(uri_or_path) or self.product_by_path(uri_or_path)
                   or self.ztf_product_by_path(uri_or_path))
        return product.size if product else None
