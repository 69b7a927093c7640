"""File names, dataURIs and URL paths, in the archives' own layouts (docs/archive-facts.md section 2).

Real stamps: the Kepler long-cadence stamps most stars share, the Kepler short-cadence stamps
(lightkurve's ``data/short_cadence_month_lookup.csv``, taken from the archive's files), the Q4
stamp of stars on module 3 and the DV stamp (both recorded for Kepler-10), and the TESS stamps
and spacecraft-config ids (``scid``) of sectors 1 and 27 (recorded). The other TESS stamps and
scids, and the TESS DV stamps and pipeline-run numbers, are synthesised in the same format.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

KEPLER_LC_STAMPS = (
    "2009131105131", "2009166043257", "2009259160929", "2009350155506", "2010078095331",
    "2010174085026", "2010265121752", "2010355172524", "2011073133259", "2011177032512",
    "2011271113734", "2012004120508", "2012088054726", "2012179063303", "2012277125453",
    "2013011073258", "2013098041711", "2013131215648",
)
# (quarter, month) -> stamp of the short-cadence file; Q0, Q1 have one month, Q17 two.
KEPLER_SC_STAMPS = {
    (0, 1): "2009131110544", (1, 1): "2009166044711", (2, 1): "2009201121230", (2, 2): "2009231120729",
    (2, 3): "2009259162342", (3, 1): "2009291181958", (3, 2): "2009322144938", (3, 3): "2009350160919",
    (4, 1): "2010019161129", (4, 2): "2010049094358", (4, 3): "2010078100744", (5, 1): "2010111051353",
    (5, 2): "2010140023957", (5, 3): "2010174090439", (6, 1): "2010203174610", (6, 2): "2010234115140",
    (6, 3): "2010265121752", (7, 1): "2010296114515", (7, 2): "2010326094124", (7, 3): "2010355172524",
    (8, 1): "2011024051157", (8, 2): "2011053090032", (8, 3): "2011073133259", (9, 1): "2011116030358",
    (9, 2): "2011145075126", (9, 3): "2011177032512", (10, 1): "2011208035123", (10, 2): "2011240104155",
    (10, 3): "2011271113734", (11, 1): "2011303113607", (11, 2): "2011334093404", (11, 3): "2012004120508",
    (12, 1): "2012032013838", (12, 2): "2012060035710", (12, 3): "2012088054726", (13, 1): "2012121044856",
    (13, 2): "2012151031540", (13, 3): "2012179063303", (14, 1): "2012211050319", (14, 2): "2012242122129",
    (14, 3): "2012277125453", (15, 1): "2012310112549", (15, 2): "2012341132017", (15, 3): "2013011073258",
    (16, 1): "2013017113907", (16, 2): "2013065031647", (16, 3): "2013098041711", (17, 1): "2013121191144",
    (17, 2): "2013131215648",
}
# Module 3 failed on 2010-01-09, nine days into Q4: a star on it that quarter has a short Q4
# file stamped at the failure (Kepler-10: kplr011904151-2010009091648_llc.fits, recorded).
MODULE3_Q4_STAMP = "2010009091648"
KEPLER_DV_STAMP = "20160128150956"          # Kepler-10's DV time series (recorded; DR25)
TESS_RECORDED = {1: ("2018206045859", 120), 27: ("2020186164531", 189)}  # sector: (stamp, scid)
TESS_SECTOR1_START = dt.datetime(2018, 7, 25, 4, 58, 59)  # stamp 2018206045859
TESS_SECTOR_DAYS = 27.4
TESS_DV_DELAY = dt.timedelta(days=1, hours=1, minutes=45, seconds=45)  # sector 27: LC stamp -> DV stamp
JD_UNIX_EPOCH = 2440587.5
# K2 campaigns downlinked in two parts: C9 and C11 as two observations (-c91/-c92, -c111/-c112),
# C10 as one observation whose light curve is part 2 only (-c102) and whose pixels are both.
K2_SPLIT_CAMPAIGNS = (9, 10, 11)


def _stamp(when: dt.datetime) -> str:
    """The archives' yyyydddhhmmss stamp."""
    return when.strftime("%Y%j%H%M%S")


def _parse_stamp(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y%j%H%M%S")


# ----------------------------------------------------------------- Kepler
def kepler_lc_stamp(quarter: int, module3: bool = False) -> str:
    return MODULE3_Q4_STAMP if module3 and quarter == 4 else KEPLER_LC_STAMPS[quarter]


def kepler_sc_stamp(quarter: int, month: int, module3: bool = False) -> str:
    """A short-cadence month's stamp (assumed: a module-3 star's one Q4 month ends at the failure)."""
    return MODULE3_Q4_STAMP if module3 and quarter == 4 else KEPLER_SC_STAMPS[(quarter, month)]


def kepler_sc_months(quarter: int, module3: bool = False) -> tuple[int, ...]:
    """The short-cadence months a quarter has (module-3 stars lose Q4's months 2 and 3)."""
    months = tuple(m for q, m in KEPLER_SC_STAMPS if q == quarter)
    return months[:1] if module3 and quarter == 4 else months


def kepler_file(kic: int, folder: str, filename: str) -> tuple[str, str, str]:
    """(productFilename, dataURI, cloud-copy path) of a Kepler file in ``folder`` (lightcurves, ...)."""
    kic9 = f"{kic:09d}"
    rel = f"kepler/{folder}/{kic9[:4]}/{kic9}/{filename}"
    return filename, f"mast:KEPLER/url/missions/{rel}", "/stpubdata/kepler/public/" + rel[len("kepler/"):]


def kepler_obs_id(kic: int, cadence: str, files_by_quarter: dict) -> str:
    """``kplr011904151_lc_Q111111110111011101``: one digit per quarter, the number of files."""
    digits = "".join(str(files_by_quarter.get(q, 0)) for q in range(18))
    return f"kplr{kic:09d}_{'lc' if cadence == 'long' else 'sc'}_Q{digits}"


# ----------------------------------------------------------------- K2
def k2_tag(campaign: int, part: int = 0) -> str:
    """The campaign as file names spell it: ``05``, ``102`` (C10 part 2)."""
    return f"{campaign}{part}" if part else f"{campaign:02d}"


def k2_period(campaign: int, part: int = 0) -> str:
    """The campaign as descriptions spell it: ``C10-2`` (recorded), ``C5`` (assumed)."""
    return f"C{campaign}-{part}" if part else f"C{campaign}"


def k2_file(epic: int, folder: str, campaign: int, part: int, suffix: str) -> tuple[str, str, str]:
    """(productFilename, dataURI, cloud-copy path) of a K2 file: ``lightcurves/c102/228700000/25000/``."""
    e9 = f"{epic:09d}"
    filename = f"ktwo{e9}-c{k2_tag(campaign, part)}_{suffix}"
    folder_path = f"c{campaign}{part or ''}/{e9[:4]}00000/{e9[4:6]}000"
    rel = f"k2/{folder}/{folder_path}/{filename}"
    return filename, f"mast:K2/url/missions/{rel}", "/stpubdata/k2/public/" + rel[len("k2/"):]


def k2_obs_id(epic: int, campaign: int, part: int, cadence: str) -> str:
    """``ktwo228725972-c10_lc`` (C10, both parts), ``ktwo203830112-c111_lc`` (C11 part 1)."""
    tag = f"{campaign}{part}" if part and campaign != 10 else f"{campaign:02d}"
    return f"ktwo{epic:09d}-c{tag}_{'lc' if cadence == 'long' else 'sc'}"


# ----------------------------------------------------------------- TESS
@functools.lru_cache(maxsize=None)  # one stamp a sector; asked for once a file row
def tess_stamp(sector: int) -> str:
    if sector in TESS_RECORDED:
        return TESS_RECORDED[sector][0]
    return _stamp(TESS_SECTOR1_START + dt.timedelta(days=TESS_SECTOR_DAYS * (sector - 1)))


def tess_scid(sector: int) -> int:
    return TESS_RECORDED[sector][1] if sector in TESS_RECORDED else 120 + (sector - 1) // 13


def tess_base(tid: int, sector: int) -> str:
    """``tess2020186164531-s0027-0000000441420236-0189``: what every SPOC file name starts with."""
    return f"tess{tess_stamp(sector)}-s{sector:04d}-{tid:016d}-{tess_scid(sector):04d}"


def tess_dv_names(tid: int, sector: int, n_tces: int) -> dict[str, list[str]]:
    """DV file names by kind: ``tess<dv stamp>-s0027-s0027-<tic16>[-NN]-00362_<kind>``."""
    stamp = _stamp(_parse_stamp(tess_stamp(sector)) + TESS_DV_DELAY)
    head, run = f"tess{stamp}-s{sector:04d}-s{sector:04d}-{tid:016d}", f"{13 * sector + 11:05d}"
    return {"tess_dvr_pdf": [f"{head}-{run}_dvr.pdf"], "tess_dvr_xml": [f"{head}-{run}_dvr.xml"],
            "tess_dvm": [f"{head}-{run}_dvm.pdf"],
            "tess_dvs": [f"{head}-{n:02d}-{run}_dvs.pdf" for n in range(1, n_tces + 1)],
            "tess_dvt": [f"{head}-{run}_dvt.fits"]}


def tess_file(tid: int, sector: int, filename: str) -> tuple[str, str, str]:
    """(productFilename, dataURI, cloud-copy path) of a TESS file (DV files: assumed same folder)."""
    t16 = f"{tid:016d}"
    path = (f"/stpubdata/tess/public/tid/s{sector:04d}/{t16[0:4]}/{t16[4:8]}/{t16[8:12]}/"
            f"{t16[12:16]}/{filename}")
    return filename, f"mast:TESS/product/{filename}", path


# ----------------------------------------------------------------- any MAST file
def archive_path(product) -> str:
    """The archive.stsci.edu /missions/... path of a MAST file (the other static layout)."""
    if product.data_uri.startswith("mast:TESS/"):
        return "/missions/tess/tid/" + product.path.split("/tid/", 1)[1]
    return "/missions/" + product.data_uri.split("/missions/", 1)[1]


_TARGET = re.compile(r"(?:kplr(?P<kic>\d{9})[-_])|(?:ktwo(?P<epic>\d{9})-)"
                     r"|(?:tess\d{13}-s\d{4}-(?:s\d{4}-)?(?P<tic>\d{16})-)")


def target_of(name: str) -> tuple[str, int] | None:
    """("kepler"|"k2"|"tess", id) named by a MAST file name, URI or path; None if none is."""
    match = _TARGET.search(name.rsplit("/", 1)[-1])
    if not match:
        return None
    mission = next(key for key, value in match.groupdict().items() if value)
    return {"kic": "kepler", "epic": "k2", "tic": "tess"}[mission], int(match.group(mission))


def canonical_uri(uri: str) -> str:
    """A dataURI with its collection upper-cased: manifests from before the sandbox listed
    ``mast:Kepler/...``; MAST lists ``mast:KEPLER/...`` (recorded), and the sandbox serves both."""
    head, sep, rest = uri.partition("/")
    return head.upper().replace("MAST:", "mast:", 1) + sep + rest if head.lower().startswith("mast:") else uri


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
