"""MAST's Portal API (``/api/v0/invoke``): observations, products and TIC rows, in batches.

Why not astroquery's ``Observations``/``Catalogs`` here: a plan needs a bounded, countable set
of requests with timeouts and typed errors; astroquery's MAST client builds its URLs at import
time, has no timeouts, turns ``ERROR`` into warnings and caches answers on disk. The request
and response shapes below are the ones astroquery sends and reads (docs/archive-facts.md section 1).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Sequence

from ..errors import ArchiveError
from ..net.catalog import CatalogHTTP

__all__ = ["MastClient"]

log = logging.getLogger("ratdcs.catalog")

PAGE_SIZE = 50000  # astroquery's; catalog.page_size


class MastClient:
    def __init__(self, http: CatalogHTTP, base_url: str, *, executing_polls: int = 30, page_size: int = PAGE_SIZE):
        self.http = http
        self.invoke_url = base_url.rstrip("/") + "/api/v0/invoke"
        self.executing_polls = executing_polls
        self.page_size = page_size

    def invoke(self, service: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """All rows of one service call, following pages; EXECUTING is re-asked, ERROR raised."""
        rows: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= pages:
            answer = self._complete_answer(service, params, page)
            data = answer.get("data") or []
            rows.extend(data)
            pages = int((answer.get("paging") or {}).get("pagesFiltered") or 1)
            if not data:  # a page past the rows: no more to follow, whatever pagesFiltered said
                break
            page += 1
        return rows

    def _complete_answer(self, service: str, params: dict, page: int) -> dict:
        what = f"MAST {service} ({_describe(params)})"
        body = {"service": service, "params": params, "format": "json", "pagesize": self.page_size, "page": page,
                "removenullcolumns": False}
        for _ in range(self.executing_polls):
            response = self.http.request("POST", self.invoke_url, what=what,
                                         data={"request": json.dumps(body)})
            answer = _parse_json(response, what)
            status = answer.get("status")
            if status == "COMPLETE":
                return answer
            if status == "ERROR":
                raise ArchiveError(f"{what}: MAST answered ERROR: {answer.get('msg') or '(no message)'}",
                                   hint="check the query options; if they are right, MAST may be having "
                                        "trouble - try again later (the manifest was not changed)")
            if status != "EXECUTING":
                raise ArchiveError(f"{what}: unexpected MAST status {status!r}")
            log.info("%s: MAST is still executing the query; asking again", what)
            self.http.sleep(max(self.http.rate_limit_delay, 0.0))
        raise ArchiveError(f"{what}: still EXECUTING after {self.executing_polls} polls",
                           hint="MAST is slow right now; try again later or raise catalog.executing_polls")

    # ---- the three services ratdcs uses ---------------------------------------------------

    def observations(self, collection: str, target_names: Sequence[str],
                     dataproduct_type: str = "timeseries") -> list[dict]:
        filters = [{"paramName": "obs_collection", "values": [collection]},
                   {"paramName": "dataproduct_type", "values": [dataproduct_type]},
                   {"paramName": "target_name", "values": list(target_names)}]
        return self.invoke("Mast.Caom.Filtered", {"columns": "*", "filters": filters})

    def sector_observations(self, collection: str, sector: int, exptime: float,
                            provenance: str = "SPOC") -> list[dict]:
        """Every time-series observation of one sector at one exposure time (TESS's
        ``sequence_number`` is the sector; ``t_exptime`` 120 or 20 s), in pages of ``page_size``."""
        filters = [{"paramName": "obs_collection", "values": [collection]},
                   {"paramName": "dataproduct_type", "values": ["timeseries"]},
                   {"paramName": "provenance_name", "values": [provenance]},
                   {"paramName": "sequence_number", "values": [int(sector)]},
                   {"paramName": "t_exptime", "values": [{"min": exptime, "max": exptime}]}]
        return self.invoke("Mast.Caom.Filtered", {"columns": "*", "filters": filters})

    def products(self, obsids: Iterable[str]) -> list[dict]:
        return self.invoke("Mast.Caom.Products", {"obsid": ",".join(str(o) for o in obsids)})

    def tic_rows(self, tic_ids: Sequence[str]) -> list[dict]:
        filters = [{"paramName": "ID", "values": [str(t) for t in tic_ids]}]
        return self.invoke("Mast.Catalogs.Filtered.Tic.Rows", {"columns": "*", "filters": filters})


def _parse_json(response, what: str) -> dict:
    try:
        answer = response.json()
    except ValueError:
        excerpt = " ".join(response.text[:120].split())
        raise ArchiveError(f"{what}: MAST answered with malformed JSON ({excerpt!r})",
                           hint="MAST may be having trouble; try again later (the manifest was not changed)"
                           ) from None
    if not isinstance(answer, dict):
        raise ArchiveError(f"{what}: MAST answered JSON of the wrong shape (a {type(answer).__name__})")
    return answer


def _describe(params: dict) -> str:
    """A short, readable form of the query for messages."""
    if "obsid" in params:
        ids = str(params["obsid"]).split(",")
        return f"obsid={ids[0]}..{ids[-1]} ({len(ids)} ids)" if len(ids) > 1 else f"obsid={ids[0]}"
    parts = []
    for f in params.get("filters", []):
        values = f.get("values", [])
        shown = ",".join(map(str, values[:3])) + (f",... ({len(values)} values)" if len(values) > 3 else "")
        parts.append(f"{f.get('paramName')}={shown}")
    return " ".join(parts)
