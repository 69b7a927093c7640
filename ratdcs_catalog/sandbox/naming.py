"""File names, dataURIs and URL paths, in the archives' own layouts (docs/archive-facts.md section 2).

Kepler long-cadence stamps and the first TESS sector stamp are the archive's; the Kepler
short-cadence stamps, the later TESS stamps and spacecraft-config ids (``scid``) are
synthesised in the same format.
"""

from __future__ import annotations

import datetime as dt
import re

KEPLER_LC_STAMPS = (
    "2009131105131", "2009166043257", "2009259160929", "2009350155506", "2010078095331",
    "2010174085026", "2010265121752", "2010355172524", "2011073133259", "2011177032512",
    "2011271113734", "2012004120508", "2012088054726", "2012179063303", "2012277125453",
    "2013011073258", "2013098041711", "2013131215648",
)
SUBGROUPS = {"kepler_llc": "LLC", "kepler_slc": "SLC", "k2_llc": "LLC", "k2_slc": "SLC", "tess_lc": "LC",
             "tess_fast": "FAST-LC", "ztf_sci": "SCI"}
TESS_SECTOR1_START = dt.datetime(2018, 7, 25, 4, 58, 59)  # stamp 2018206045859
TESS_SECTOR_DAYS = 27.4
JD_UNIX_EPOCH = 2440587.5


def _stamp(when: dt.datetime) -> str:
    """The archives' yyyydddhhmmss stamp."""
    return when.strftime("%Y%j%H%M%S")


def _parse_stamp(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y%j%H%M%S")


def kepler_slc_stamp(quarter: int, month: int) -> str:
    """Short-cadence files come one per month; stamp them 30 days apart before the LC stamp."""
    when = _parse_stamp(KEPLER_LC_STAMPS[quarter]) - dt.timedelta(days=30 * (3 - month))
    return _stamp(when)


def tess_stamp(sector: int) -> str:
    return _stamp(TESS_SECTOR1_START + dt.timedelta(days=TESS_SECTOR_DAYS * (sector - 1)))


def tess_scid(sector: int) -> int:
    return 120 + (sector - 1) // 13


def mast_names(kind: str, target: int, period: int, month: int = 0) -> tuple[str, str, str]:
    """(productFilename, dataURI, cloud-copy path) of one MAST light curve."""
    if kind in ("kepler_llc", "kepler_slc"):
        kic9 = f"{target:09d}"
        if kind == "kepler_llc":
            filename = f"kplr{kic9}-{KEPLER_LC_STAMPS[period]}_llc.fits"
        else:
            filename = f"kplr{kic9}-{kepler_slc_stamp(period, month)}_slc.fits"
        rel = f"kepler/lightcurves/{kic9[:4]}/{kic9}/{filename}"
        return filename, f"mast:Kepler/url/missions/{rel}", "/stpubdata/kepler/public/" + rel[7:]
    if kind in ("k2_llc", "k2_slc"):
        e9 = f"{target:09d}"
        filename = f"ktwo{e9}-c{period:02d}_{'llc' if kind == 'k2_llc' else 'slc'}.fits"
        rel = f"k2/lightcurves/c{period}/{e9[:4]}00000/{e9[4:6]}000/{filename}"
        return filename, f"mast:K2/url/missions/{rel}", "/stpubdata/k2/public/" + rel[3:]
    t16 = f"{target:016d}"
    suffix = "s_lc.fits" if kind == "tess_lc" else "a_fast-lc.fits"
    filename = f"tess{tess_stamp(period)}-s{period:04d}-{t16}-{tess_scid(period):04d}-{suffix}"
    path = (f"/stpubdata/tess/public/tid/s{period:04d}/{t16[0:4]}/{t16[4:8]}/{t16[8:12]}/"
            f"{t16[12:16]}/{filename}")
    return filename, f"mast:TESS/product/{filename}", path


def archive_path(product) -> str:
    """The archive.stsci.edu /missions/... path of a MAST file (the other static layout)."""
    if product.kind.startswith("tess"):
        return "/missions/tess/tid/" + product.path.split("/tid/", 1)[1]
    return "/missions/" + product.data_uri.split("/missions/", 1)[1]


def obs_id(kind: str, target: int, universe, period: int) -> str:
    """The CAOM obs_id of the observation holding this file."""
    if kind in ("kepler_llc", "kepler_slc"):
        star = universe.kepler_stars[target]
        quarters = set(star["quarters"] if kind == "kepler_llc" else star["slc_quarters"])
        bits = "".join("1" if q in quarters else "0" for q in range(18))
        return f"kplr{target:09d}_{'lc' if kind == 'kepler_llc' else 'sc'}_Q{bits}"
    if kind in ("k2_llc", "k2_slc"):
        return f"ktwo{target:09d}-c{period:02d}_{'lc' if kind == 'k2_llc' else 'sc'}"
    base = f"tess{tess_stamp(period)}-s{period:04d}-{target:016d}-{tess_scid(period):04d}"
    return base + ("-s" if kind == "tess_lc" else "-a_fast")


# ----------------------------------------------------------------- ZTF
def jd_to_datetime(jd: float) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(days=jd - JD_UNIX_EPOCH)


def ztf_field_center(field_id: int) -> tuple[float, float]:
    """A made-up but fixed sky position per field."""
    return round((field_id * 7.3) % 360.0, 4), round(-25.0 + (field_id % 40) * 2.1, 4)


def ztf_exposure(jd: float, field_id: int, filtercode: str, fid: int, expid: int,
                 seeing: float) -> dict:
    when = jd_to_datetime(jd)
    fraction = (jd - 0.5) % 1.0
    filefracday = int(when.strftime("%Y%m%d")) * 1_000_000 + int(fraction * 1_000_000)
    ra, dec = ztf_field_center(field_id)
    return {"field": field_id, "filtercode": filtercode, "fid": fid, "expid": expid,
            "obsjd": jd, "obsdate": when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "+00",
            "filefracday": filefracday, "seeing": seeing, "exptime": 30.0, "ra": ra,
            "dec": dec, "nid": int(jd - 2458000)}


def ztf_quadrant_rows(exposure: dict) -> list[dict]:
    """The 64 readout-channel rows (16 CCDs x 4 quadrants) of one exposure."""
    rows = []
    for ccdid in range(1, 17):
        for qid in range(1, 5):
            rcid = (ccdid - 1) * 4 + (qid - 1)
            row = dict(exposure)
            row.update({
                "ccdid": ccdid, "qid": qid, "rcid": rcid, "imgtypecode": "o",
                "pid": exposure["expid"] * 100 + rcid, "infobits": 0, "programid": 1,
                "seeing": round(exposure["seeing"] + 0.01 * (rcid % 7), 3),
                "airmass": round(1.05 + 0.01 * (exposure["expid"] % 60), 3),
                "maglimit": round(20.8 - 0.3 * (exposure["seeing"] - 2.0), 3),
                "ra": round(exposure["ra"] + ((ccdid - 1) % 4 - 1.5) * 1.7 + (qid - 2.5) * 0.4, 5),
                "dec": round(exposure["dec"] + ((ccdid - 1) // 4 - 1.5) * 1.7, 5),
                "ipac_pub_date": "2025-01-01 00:00:00+00",
            })
            rows.append(row)
    return rows


def ztf_image_name(row: dict) -> tuple[str, str]:
    """(filename, URL path) of a quadrant's science image, in IRSA's layout."""
    ffd = f"{row['filefracday']:014d}"
    filename = (f"ztf_{ffd}_{row['field']:06d}_{row['filtercode']}_c{row['ccdid']:02d}_"
                f"{row['imgtypecode']}_q{row['qid']}_sciimg.fits")
    return filename, f"/ibe/data/ztf/products/sci/{ffd[:4]}/{ffd[4:8]}/{ffd[8:]}/{filename}"


_ZTF_PATH = re.compile(
    r"^/ibe/data/ztf/products/sci/(\d{4})/(\d{4})/(\d{6})/"
    r"ztf_(\d{14})_(\d{6})_(z[gri])_c(\d{2})_o_q([1-4])_sciimg\.fits$")


def parse_ztf_path(path: str) -> dict | None:
    """The identifying fields of a science-image path, or None if it is not one."""
    match = _ZTF_PATH.match(path)
    if not match:
        return None
    year, mmdd, frac, ffd, field_id, filtercode, ccdid, qid = match.groups()
    if ffd != year + mmdd + frac:
        return None
    return {"filefracday": int(ffd), "field": int(field_id), "filtercode": filtercode,
            "ccdid": int(ccdid), "qid": int(qid)}
