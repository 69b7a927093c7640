"""When a MAST product was observed: Kepler quarter, K2 campaign (and part), TESS sector.

Read from the archive's own metadata first, as MAST gives it (docs/archive-facts.md section 2,
confirmed against recorded answers in ../shared/replay_data):

- Kepler: the product's ``description`` ends "Lightcurve Long Cadence (CLC) - Q4"; file stamps
  are *not* one per quarter for every star (Kepler-10's Q4 file is ``-2010009091648_llc``, not
  the ``2010078095331`` most stars share), so the stamp table is only a fallback;
- K2: "Lightcurve Long Cadence (KLC) - C10-2": campaigns 9, 10 and 11 came down in two parts,
  named ``c91``/``c92``, ``c101``/``c102``, ``c111``/``c112`` in file names; the observation's
  ``sequence_number`` is the campaign (10 for both parts);
- TESS: the description says only "Light curves"; the observation's ``sequence_number`` is the
  sector, and the SPOC file name carries it too (``-s0027-``).

Each function returns the PlannedFile fields it knows (``quarter``, ``campaign``,
``campaign_part``, ``sector``); an empty dict when the metadata names no period.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

__all__ = ["QUARTER_STAMPS", "k2_campaign", "kepler_quarter", "tess_sector"]

# The long-cadence file stamp most stars share per quarter: a fallback where MAST's description
# names no quarter (an older or trimmed answer).
QUARTER_STAMPS = {
    0: "2009131105131", 1: "2009166043257", 2: "2009259160929", 3: "2009350155506",
    4: "2010078095331", 5: "2010174085026", 6: "2010265121752", 7: "2010355172524",
    8: "2011073133259", 9: "2011177032512", 10: "2011271113734", 11: "2012004120508",
    12: "2012088054726", 13: "2012179063303", 14: "2012277125453", 15: "2013011073258",
    16: "2013098041711", 17: "2013131215648",
}
_STAMP_QUARTER = {stamp: quarter for quarter, stamp in QUARTER_STAMPS.items()}
# K2 campaigns run 0-19; a two-digit tag above that is a split campaign's part (c91 = C9 part 1).
K2_LAST_CAMPAIGN = 19

_QUARTER_IN_DESCRIPTION = re.compile(r"\bQ(\d{1,2})\b")
_CAMPAIGN_IN_DESCRIPTION = re.compile(r"\bC(\d{1,2})(?:-(\d))?\b")


def kepler_quarter(product: Mapping[str, Any], observation: Mapping[str, Any] | None = None) -> dict[str, int]:
    match = _QUARTER_IN_DESCRIPTION.search(str(product.get("description") or ""))
    if match:
        return {"quarter": int(match.group(1))}
    stamp = re.match(r"kplr\d{9}-(\d{13})_", str(product.get("productFilename") or ""))
    quarter = _STAMP_QUARTER.get(stamp.group(1)) if stamp else None
    return {} if quarter is None else {"quarter": quarter}


def k2_campaign(product: Mapping[str, Any], observation: Mapping[str, Any] | None = None) -> dict[str, int]:
    match = _CAMPAIGN_IN_DESCRIPTION.search(str(product.get("description") or ""))
    if match:
        found = {"campaign": int(match.group(1))}
        return {**found, "campaign_part": int(match.group(2))} if match.group(2) else found
    tag = re.match(r"ktwo\d{9}-c(\d{2,3})_", str(product.get("productFilename") or ""))
    if tag:
        return _campaign_tag(tag.group(1))
    sequence = _sequence_number(observation)
    return {} if sequence is None else {"campaign": sequence}


def _campaign_tag(digits: str) -> dict[str, int]:
    """'05' -> C5, '102' -> C10 part 2, '91' -> C9 part 1."""
    if len(digits) == 3:
        return {"campaign": int(digits[:2]), "campaign_part": int(digits[2])}
    if int(digits) > K2_LAST_CAMPAIGN:
        return {"campaign": int(digits[0]), "campaign_part": int(digits[1])}
    return {"campaign": int(digits)}


def tess_sector(product: Mapping[str, Any], observation: Mapping[str, Any] | None = None) -> dict[str, int]:
    sequence = _sequence_number(observation)
    if sequence is not None:
        return {"sector": sequence}
    tag = re.search(r"-s(\d{4})-", str(product.get("productFilename") or ""))
    return {"sector": int(tag.group(1))} if tag else {}


def _sequence_number(observation: Mapping[str, Any] | None) -> int | None:
    """The observation's sequence_number when it is a real one (Kepler's is -999: none)."""
    value = (observation or {}).get("sequence_number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None
