"""The rows MAST answers: CAOM observations (``Mast.Caom.Filtered``) and products (``Mast.Caom.Products``).

Values follow the recorded answers (``../shared/replay_data/mast_lightkurve_cassettes.json``):
ids (``obsid``, ``objID``, ``obsID``, ``parent_obsid``) are JSON integers although ``fields``
calls them strings; absent values are ``null``, never ``""``; Kepler's ``sequence_number`` is
-999 (its quarter is in each product's ``description``), K2's the campaign, TESS's the sector;
``t_exptime`` is 1800/60 (Kepler, K2) and 120/20 (TESS). Per-mission constants are the recorded
ones; ``proposal_id`` values are synthesised in the recorded format.
"""

from __future__ import annotations

import math

from .kinds import KINDS
from .model import Observation, Product

ARCHIVE_HOST = "http://archive.stsci.edu"  # Kepler observations' dataURL/jpegURL name it (recorded)
KEPLER_HALF_SIDE = 0.002222                # degrees: Kepler's s_region is a square 16 arcsec wide
MJD_OFFSET_KEPLER = 2454833 - 2400000.5
MJD_OFFSET_TESS = 2457000 - 2400000.5

# Columns that differ by mission, as recorded (Kepler-10, EPIC 228725972 C10, AU Mic S27).
MISSION_COLUMNS = {
    "Kepler": {"provenance_name": "Kepler", "instrument_name": "Kepler", "project": "Kepler",
               "filters": "KEPLER", "wavelength_region": "OPTICAL", "proposal_pi": "William Borucki",
               "calib_level": 2, "em_min": 418.4, "em_max": 905, "obs_title": "Kepler Key Project",
               "proposal_type": "Kepler", "mtFlag": None, "srcDen": 5885},
    "K2": {"provenance_name": "K2", "instrument_name": "Kepler", "project": "K2", "filters": "KEPLER",
           "wavelength_region": "Optical", "proposal_pi": None, "calib_level": 2, "em_min": 420,
           "em_max": 910, "obs_title": None, "proposal_type": None, "mtFlag": False, "srcDen": None},
    "TESS": {"provenance_name": "SPOC", "instrument_name": "Photometer", "project": "TESS", "filters": "TESS",
             "wavelength_region": "OPTICAL", "proposal_pi": "Ricker, George", "calib_level": 3, "em_min": 600,
             "em_max": 1000, "obs_title": None, "proposal_type": None, "mtFlag": False, "srcDen": None},
}
RELEASE_DAYS = {"Kepler": None, "K2": 92, "TESS": 49}   # t_obs_release - t_max (recorded; Kepler: null)
PRODUCT_PROJECT = {"Kepler": "Kepler", "K2": "K2", "TESS": "SPOC"}
PRODUCT_TYPE = {"Kepler": "C", "K2": "S", "TESS": "S"}
PRVVERSION = {"Kepler": None, "K2": "37", "TESS": "2834068c03"}
TESS_PIPELINE_PRVVERSION = "spoc-5.0.9-20200827"       # TESS pixel files and 20-s light curves
TESS_PIPELINE_KINDS = ("tess_tp", "tess_fast", "tess_fast_tp")


def observation_row(obs: Observation, obsid: int, position: tuple[float, float], urls: tuple) -> dict:
    """One CAOM row; ``urls`` is (jpegURL, dataURL)."""
    ra, dec = position
    t_min, t_max = time_range(obs.light_curves)
    columns = MISSION_COLUMNS[obs.mission]
    release = RELEASE_DAYS[obs.mission]
    return {
        "intentType": "science", "obs_collection": obs.mission, "provenance_name": columns["provenance_name"],
        "instrument_name": columns["instrument_name"], "project": columns["project"],
        "filters": columns["filters"], "wavelength_region": columns["wavelength_region"],
        "target_name": target_name(obs.mission, obs.target_id), "target_classification": None,
        "obs_id": obs.obs_id, "s_ra": ra, "s_dec": dec, "dataproduct_type": "timeseries",
        "proposal_pi": columns["proposal_pi"], "calib_level": columns["calib_level"], "t_min": t_min,
        "t_max": t_max, "t_exptime": obs.exptime, "em_min": columns["em_min"], "em_max": columns["em_max"],
        "obs_title": columns["obs_title"], "t_obs_release": None if release is None else round(t_max + release),
        "proposal_id": proposal_id(obs), "proposal_type": columns["proposal_type"],
        "sequence_number": obs.sequence_number, "s_region": s_region(obs.mission, ra, dec),
        "jpegURL": urls[0], "dataURL": urls[1], "dataRights": "PUBLIC", "mtFlag": columns["mtFlag"],
        "srcDen": columns["srcDen"], "obsid": obsid, "objID": 1_000_000_000 + obsid % 1_000_000_000,
    }


def product_row(obs_row: dict, obs: Observation, product: Product) -> dict:
    """One Mast.Caom.Products row of a file of this observation."""
    kind = KINDS[product.kind]
    prvversion = TESS_PIPELINE_PRVVERSION if product.kind in TESS_PIPELINE_KINDS else PRVVERSION[obs.mission]
    return {
        "obsID": obs_row["obsid"], "obs_collection": obs.mission, "dataproduct_type": "timeseries",
        "obs_id": obs.obs_id, "description": product.description, "type": PRODUCT_TYPE[obs.mission],
        "dataURI": product.data_uri, "productType": kind.product_type, "productGroupDescription": kind.group,
        "productSubGroupDescription": kind.subgroup, "productDocumentationURL": None,
        "project": PRODUCT_PROJECT[obs.mission], "prvversion": prvversion, "proposal_id": obs_row["proposal_id"],
        "productFilename": product.filename, "size": product.size, "parent_obsid": obs_row["obsid"],
        "dataRights": "PUBLIC", "calib_level": kind.calib_level, "filters": obs_row["filters"],
    }


def target_name(mission: str, target: int) -> str:
    """``kplr011904151``, ``ktwo228725972``, or the bare TIC number."""
    return {"Kepler": f"kplr{target:09d}", "K2": f"ktwo{target:09d}"}.get(mission, str(target))


def proposal_id(obs: Observation) -> str:
    """Kepler's is "EX" (recorded); K2's (GO10032) and TESS's (G03263) are synthesised."""
    if obs.mission == "Kepler":
        return "EX"
    if obs.mission == "K2":
        return f"GO{obs.sequence_number}{obs.target_id % 100:03d}"
    return f"G0{(obs.sequence_number - 1) // 13 + 1}{obs.target_id % 1000:03d}"


def s_region(mission: str, ra: float, dec: float) -> str:
    """Kepler: a 16-arcsec square (recorded shape); K2 and TESS: circles of 4 and 5 arcsec radius."""
    if mission == "Kepler":
        d = KEPLER_HALF_SIDE
        w = d / math.cos(math.radians(dec))
        corners = ((ra - w, dec + d), (ra - w, dec - d), (ra + w, dec - d), (ra + w, dec + d))
        return "POLYGON ICRS " + " ".join(f"{x:.8f} {y:.8f}" for x, y in corners)
    if mission == "K2":
        return f"CIRCLE ICRS {ra:.8f} {dec:.8f} 0.00111111"
    return f"CIRCLE {ra:.8f} {dec:.8f} 0.00138889"


def time_range(light_curves) -> tuple[float, float]:
    """(t_min, t_max) in MJD over the light curves' observing windows."""
    from . import fitsgen

    spans = [fitsgen.time_span(p.kind, p.period, p.extra.get("month", 0), p.extra.get("window", (0.0, 1.0)))
             for p in light_curves]
    offset = MJD_OFFSET_TESS if light_curves[0].kind.startswith("tess") else MJD_OFFSET_KEPLER
    return (round(min(s[0] for s in spans) + offset, 5), round(max(s[0] + s[1] for s in spans) + offset, 5))


def urls(obs: Observation) -> tuple[str | None, str | None]:
    """(jpegURL, dataURL): Kepler's name archive.stsci.edu (preview, tarball), K2's are dataURIs
    (preview, light curve), TESS has no preview and its light curve's dataURI (all recorded)."""
    from . import naming, universe_k2, universe_kepler

    if obs.mission == "Kepler":
        return (ARCHIVE_HOST + naming.archive_path(universe_kepler.preview(obs)),
                ARCHIVE_HOST + naming.archive_path(universe_kepler.tarball(obs)))
    preview = universe_k2.preview(obs).data_uri if obs.mission == "K2" and obs.cadence == "long" else None
    return preview, obs.light_curves[0].data_uri
