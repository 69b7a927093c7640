"""ZTF in the sandbox universe: exposures of ten fields over 2018-2025, and their science images."""

from __future__ import annotations

from . import fitsgen, naming
from .model import Product

ZTF_FIELDS = (245, 246, 296, 297, 600, 601, 680, 681, 795, 796)
ZTF_FILTERS = ("zg", "zr", "zi")
ZTF_FIRST_JD = 2458197.5   # 2018-03-17, start of ZTF public survey operations
ZTF_LAST_JD = 2461041.5    # 2025-12-31


def build(rng) -> list[dict]:
    """About 200 exposures per field over 2018-2025 (each is 64 quadrant rows), sorted by time."""
    exposures = []
    for field_id in ZTF_FIELDS:
        nights = rng.uniform(ZTF_FIRST_JD, ZTF_LAST_JD, 200)
        filters = rng.integers(0, 3, 200)
        seeing = rng.uniform(1.4, 3.2, 200)
        for jd, f, s in zip(sorted(nights), filters, seeing):
            exposures.append((float(jd), field_id, int(f), float(s)))
    exposures.sort()
    out: list[dict] = []
    for n, (jd, field_id, f, s) in enumerate(exposures):
        jd = round(jd - (jd - 0.5) % 1 + 0.15 + (n % 97) * 0.003, 6)  # at night, UT ~03:36+
        out.append(naming.ztf_exposure(jd, field_id, ZTF_FILTERS[f], f + 1, 50_000_000 + n * 17, round(s, 2)))
    return out


def rows(exposures, fields=None, jd_min=None, jd_max=None, filtercodes=None, ccdids=None,
         qids=None) -> list[dict]:
    """Quadrant-level rows of the IBE ztf/products/sci table matching the given filters."""
    found = []
    for exposure in exposures:
        if fields is not None and exposure["field"] not in fields:
            continue
        if jd_min is not None and exposure["obsjd"] < jd_min:
            continue
        if jd_max is not None and exposure["obsjd"] > jd_max:
            continue
        if filtercodes is not None and exposure["filtercode"] not in filtercodes:
            continue
        found.extend(r for r in naming.ztf_quadrant_rows(exposure)
                     if (ccdids is None or r["ccdid"] in ccdids) and (qids is None or r["qid"] in qids))
    return found


def product(row: dict, scale: float) -> Product:
    """The science image of one quadrant row."""
    name, path = naming.ztf_image_name(row)
    height, _ = fitsgen.ztf_shape(scale)
    return Product(filename=name, data_uri=path, path=path, kind="ztf_sci", target_id=0, period=0,
                   nrows=height, subgroup="SCI", size=fitsgen.ztf_size(scale), extra={"row": row})
