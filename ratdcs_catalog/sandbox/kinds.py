"""Every kind of MAST file the sandbox lists, and the product-row facts MAST gives for it.

One entry per kind, so the product rows (``mast_rows``), the sizes and the bytes
(``placeholders``) all read the same table. ``source`` says how sure each entry is:
*recorded* (seen in a real answer, ``../shared/replay_data/mast_lightkurve_cassettes.json``),
*inferred* (what other tools' code shows MAST answers, named in the note) or *assumed*
(nothing recorded: the sandbox's guess, in the recorded style).

``recipe`` says how the bytes are made: ``lightcurve`` (a real light curve, ``fitsgen``), ``tpf``
(a real target pixel file, ``pixels``), ``tpf.gz`` (one gzipped, as Kepler and K2 serve them),
``dvt`` (a real DV time series, ``dvt``), ``tar`` (a real tar of the observation's light curves),
``magic`` (the format's magic bytes, then seeded random bytes: not a readable PNG/PDF/XML).
"""

from __future__ import annotations

from dataclasses import dataclass

RECOMMENDED = "Minimum Recommended Products"


@dataclass(frozen=True)
class Kind:
    subgroup: str | None        # productSubGroupDescription (None is JSON null)
    description: str            # may hold {period}: "Q4", "C10-2"
    product_type: str           # productType
    group: str | None           # productGroupDescription
    calib_level: int
    recipe: str
    source: str                 # recorded / inferred / assumed
    base_bytes: int = 0         # magic: bytes at full scale (before a +-20% spread per file)


KINDS: dict[str, Kind] = {
    # Kepler (recorded: Kepler-10's long-cadence observation, 19 of its product rows).
    "kepler_llc": Kind("LLC", "Lightcurve Long Cadence (CLC) - {period}", "SCIENCE", RECOMMENDED, 2,
                       "lightcurve", "recorded"),
    # lightkurve's lksearch finds a Kepler product's quarter with description.endswith("Q4"),
    # short cadence included, and its month from the file stamp: so no month in the text.
    "kepler_slc": Kind("SLC", "Lightcurve Short Cadence (CSC) - {period}", "SCIENCE", RECOMMENDED, 2,
                       "lightcurve", "inferred (lksearch KeplerSearch)"),
    "kepler_lpd": Kind("LPD-TARG", "Target Pixel Long Cadence (TPL) - {period}", "SCIENCE", RECOMMENDED, 2,
                       "tpf.gz", "recorded"),
    "kepler_spd": Kind("SPD-TARG", "Target Pixel Short Cadence (TPS) - {period}", "SCIENCE", RECOMMENDED, 2,
                       "tpf.gz", "assumed"),
    "kepler_dvt": Kind(None, "Data Validation time series", "AUXILIARY", None, 2, "dvt", "recorded"),
    "kepler_preview": Kind(None, "Preview-Full", "PREVIEW", None, 2, "magic", "recorded", base_bytes=29528),
    "kepler_tar_lc": Kind(None, "tar file for Lightcurves Long Cadence (CLC) - all quarters", "SCIENCE",
                          RECOMMENDED, 2, "tar", "recorded"),
    "kepler_tar_sc": Kind(None, "tar file for Lightcurves Short Cadence (CSC) - all quarters", "SCIENCE",
                          RECOMMENDED, 2, "tar", "assumed"),
    # K2 (recorded: EPIC 228725972's campaign-10 observation, 6 product rows).
    "k2_llc": Kind("LLC", "Lightcurve Long Cadence (KLC) - {period}", "SCIENCE", RECOMMENDED, 2,
                   "lightcurve", "recorded"),
    "k2_slc": Kind("SLC", "Lightcurve Short Cadence (KSC) - {period}", "SCIENCE", RECOMMENDED, 2,
                   "lightcurve", "assumed"),
    "k2_lpd": Kind("LPD-TARG", "Target Pixel Long Cadence (KTL) - {period}", "SCIENCE", RECOMMENDED, 2,
                   "tpf.gz", "recorded"),
    "k2_spd": Kind("SPD-TARG", "Target Pixel Short Cadence (KTS) - {period}", "SCIENCE", RECOMMENDED, 2,
                   "tpf.gz", "assumed"),
    "k2_preview": Kind(None, "Preview-Full", "PREVIEW", None, 2, "magic", "recorded", base_bytes=20935),
    # TESS SPOC (recorded: AU Mic sector 27, 120 s and 20 s, 10 product rows).
    "tess_lc": Kind("LC", "Light curves", "SCIENCE", RECOMMENDED, 3, "lightcurve", "recorded"),
    "tess_tp": Kind("TP", "Target pixel files", "SCIENCE", RECOMMENDED, 2, "tpf", "recorded"),
    "tess_fast": Kind("FAST-LC", "Light curves", "SCIENCE", RECOMMENDED, 3, "lightcurve", "recorded"),
    "tess_fast_tp": Kind("FAST-TP", "Target pixel files", "SCIENCE", RECOMMENDED, 2, "tpf", "recorded"),
    "tess_dvt": Kind("DVT", "Data validation time series", "SCIENCE", RECOMMENDED, 3, "dvt", "recorded"),
    "tess_dvr_pdf": Kind("DVR", "full data validation report", "INFO", None, 3, "magic", "recorded",
                         base_bytes=16_359_762),
    "tess_dvr_xml": Kind("DVR", "full data validation report (xml)", "INFO", None, 3, "magic", "recorded",
                         base_bytes=256_473),
    "tess_dvm": Kind("DVM", "Data validation mini report", "INFO", RECOMMENDED, 3, "magic", "recorded",
                     base_bytes=5_545_078),
    "tess_dvs": Kind("DVS", "TCE summary report", "INFO", RECOMMENDED, 3, "magic", "recorded",
                     base_bytes=730_000),
}

LIGHT_CURVE_KINDS = frozenset(k for k, v in KINDS.items() if v.recipe == "lightcurve")

# The magic bytes a "magic" file starts with, by file-name ending.
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-1.5\n", ".xml": b'<?xml version="1.0"?>\n'}


def describe(kind: str, period: str = "") -> str:
    """The product row's ``description`` of a file of this kind (period: "Q4", "C10-2")."""
    return KINDS[kind].description.format(period=period)
