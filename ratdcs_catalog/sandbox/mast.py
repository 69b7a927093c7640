"""MAST: /api/v0/invoke services, columnsconfig, and file downloads (docs/archive-facts.md section 1).

Services answered: ``Mast.Caom.Filtered`` (and ``.Position``), ``Mast.Caom.Cone``,
``Mast.Caom.Products``,
``Mast.Catalogs.Filtered.Tic.Rows`` (and ``.Position.Rows``), ``Mast.Catalogs.All.Tic``
(the histogram astroquery reads before a TIC criteria query). Anything else answers
``status: ERROR`` with a message, as MAST does for an unknown service.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import math
from urllib.parse import parse_qs, quote

from . import schemas
from .reply import Reply, json_reply, not_found

MJD_OFFSET_KEPLER = 2454833 - 2400000.5
MJD_OFFSET_TESS = 2457000 - 2400000.5
TIC_FIELDS = [(name, {"s": "string", "i": "int", "f": "float"}[kind])
              for name, kind in schemas.split_columns(schemas.TIC_COLUMNS)]
CAOM_SEPARATED = ("obs_collection", "project", "filters", "wavelength_region",
                  "target_classification")
VOT_TYPES = {"string": "char", "float": "double", "int": "int", "boolean": "boolean"}


class MastService:
    """Answers MAST requests from a Universe."""

    def __init__(self, universe):
        self.universe = universe

    # ----------------------------------------------------------------- observations
    @functools.cached_property
    def _catalog(self) -> tuple[list[dict], dict, dict]:
        """CAOM rows (one per Kepler star and cadence, K2 campaign, TESS sector and cadence),
        the products of each obsid, and the rows by obsid."""
        rows, products = [], []
        u = self.universe
        groups = []
        for kic, star in u.kepler_stars.items():
            groups.append(u.kepler_products(kic, "long"))
            if star["slc_quarters"]:
                groups.append(u.kepler_products(kic, "short"))
        for epic in u.k2_hosts:
            groups += [[p] for p in u.k2_products(epic, "long") + u.k2_products(epic, "short")]
        for tid in u.tess_stars:
            groups += [[p] for p in u.tess_products(tid, "120s") + u.tess_products(tid, "20s")]
        for index, group in enumerate(groups):
            rows.append(self._obs_row(index, group))
            products.append(group)
        by_id = {row["obsid"]: row for row in rows}
        return rows, {row["obsid"]: group for row, group in zip(rows, products)}, by_id

    @property
    def observations(self) -> list[dict]:
        return self._catalog[0]

    def _obs_row(self, index: int, products) -> dict:
        first = products[0]
        kind, target = first.kind, first.target_id
        collection = "Kepler" if kind.startswith("kepler") else "K2" if kind.startswith("k2") else "TESS"
        ra, dec = self._position(kind, target)
        t_min, t_max = self._time_range(products)
        return {
            "intentType": "science", "obs_collection": collection,
            "provenance_name": "SPOC" if collection == "TESS" else collection,
            "instrument_name": "Photometer" if collection == "TESS" else "Kepler",
            "project": collection, "filters": "TESS" if collection == "TESS" else "KEPLER",
            "wavelength_region": "OPTICAL", "target_name": self._target_name(kind, target),
            "target_classification": "", "obs_id": first.obs_id, "s_ra": ra, "s_dec": dec,
            "dataproduct_type": "timeseries", "proposal_pi": "", "calib_level": 3,
            "t_min": t_min, "t_max": t_max,
            "t_exptime": {"kepler_slc": 58.85, "k2_slc": 58.85, "tess_lc": 120.0,
                          "tess_fast": 20.0}.get(kind, 1765.5),
            "em_min": 600.0 if collection == "TESS" else 420.0,
            "em_max": 1000.0 if collection == "TESS" else 900.0, "obs_title": "",
            "t_obs_release": round(t_max + 120, 5), "proposal_id": "", "proposal_type": "",
            "sequence_number": None if collection == "Kepler" else first.period,
            "s_region": f"CIRCLE ICRS {ra:.6f} {dec:.6f} 0.00138889", "jpegURL": None,
            "dataURL": None, "dataRights": "PUBLIC", "mtFlag": False, "srcDen": None,
            "obsid": str(9_000_000_000 + index), "objID": str(1_000_000_000 + index),
        }

    def _position(self, kind: str, target: int) -> tuple[float, float]:
        u = self.universe
        if kind.startswith("kepler"):
            star = u.kepler_stars[target]
        elif kind.startswith("k2"):
            star = u.k2_hosts[target]
        else:
            star = u.tic[target]
        return star["ra"], star["dec"]

    @staticmethod
    def _target_name(kind: str, target: int) -> str:
        if kind.startswith("kepler"):
            return f"kplr{target:09d}"
        return f"ktwo{target:09d}" if kind.startswith("k2") else str(target)

    @staticmethod
    def _time_range(products) -> tuple[float, float]:
        from . import fitsgen

        spans = [fitsgen._time_span(p.kind, p.period, p.extra.get("month", 0)) for p in products]
        offset = MJD_OFFSET_TESS if products[0].kind.startswith("tess") else MJD_OFFSET_KEPLER
        return (round(min(s[0] for s in spans) + offset, 5),
                round(max(s[0] + s[1] for s in spans) + offset, 5))

    def product_rows(self, obsid: str) -> list[dict]:
        """Mast.Caom.Products rows of one observation (empty if the obsid is unknown)."""
        _, products, by_id = self._catalog
        if obsid not in by_id:
            return []
        return [self._product_row(by_id[obsid], p) for p in products[obsid]]

    @staticmethod
    def _product_row(obs: dict, product) -> dict:
        descriptions = {"LLC": "Lightcurve Long Cadence (CLC)", "SLC": "Lightcurve Short Cadence (CSC)",
                        "LC": "Light curves", "FAST-LC": "Fast-cadence light curves"}
        return {
            "obsID": obs["obsid"], "obs_collection": obs["obs_collection"],
            "dataproduct_type": "timeseries", "obs_id": obs["obs_id"],
            "description": descriptions[product.subgroup], "type": "S",
            "dataURI": product.data_uri, "productType": "SCIENCE",
            "productGroupDescription": "Minimum Recommended Products",
            "productSubGroupDescription": product.subgroup, "productDocumentationURL": "",
            "project": obs["project"], "prvversion": "", "proposal_id": "",
            "productFilename": product.filename, "size": product.size,
            "parent_obsid": obs["obsid"], "dataRights": "PUBLIC", "calib_level": 3,
            "filters": obs["filters"],
        }

    # ----------------------------------------------------------------- invoke
    def invoke(self, form: dict) -> Reply:
        """POST /api/v0/invoke with ``request=<JSON>``."""
        try:
            request = json.loads(form.get("request", [""])[0])
            service = request["service"]
        except (ValueError, KeyError, TypeError):
            return json_reply(_error("Request is missing or not valid JSON"), mast=True)
        params = request.get("params") or {}
        handler = {
            "Mast.Caom.Filtered": self._caom_filtered,
            "Mast.Caom.Filtered.Position": self._caom_filtered,
            "Mast.Caom.Cone": self._caom_cone,
            "Mast.Caom.Products": self._caom_products,
            "Mast.Catalogs.Filtered.Tic.Rows": self._tic_rows,
            "Mast.Catalogs.Filtered.Tic.Position.Rows": self._tic_rows,
            "Mast.Catalogs.All.Tic": self._tic_histograms,
        }.get(service)
        if handler is None:
            return json_reply(_error(f"Unknown service: {service}"), service=service, mast=True)
        try:
            answer = handler(params, request)
        except QueryError as err:
            answer = _error(str(err))
        return json_reply(answer, service=service, mast=True)

    def _caom_filtered(self, params: dict, request: dict) -> dict:
        rows = _apply_filters(self.observations, params.get("filters") or [],
                              {n for n, _ in schemas.CAOM_FIELDS})
        if params.get("position"):
            rows = _within(rows, params["position"], "s_ra", "s_dec")
        if str(params.get("columns", "*")).upper().startswith("COUNT"):
            return _complete([{"Column1": len(rows)}], [("Column1", "int")], request)
        return _complete(rows, schemas.CAOM_FIELDS, request)

    def _caom_cone(self, params: dict, request: dict) -> dict:
        """Cone search (astroquery's query_region / query_object): ra, dec, radius in degrees."""
        try:
            position = f"{float(params['ra'])}, {float(params['dec'])}, {float(params.get('radius', 0.2))}"
        except (KeyError, TypeError, ValueError):
            raise QueryError("Mast.Caom.Cone needs numeric ra, dec and radius") from None
        rows = _within(self.observations, position, "s_ra", "s_dec")
        return _complete(rows, schemas.CAOM_FIELDS, request)

    def _caom_products(self, params: dict, request: dict) -> dict:
        obsids = [o.strip() for o in str(params.get("obsid", "")).split(",") if o.strip()]
        rows = [row for obsid in obsids for row in self.product_rows(obsid)]
        return _complete(rows, schemas.PRODUCT_FIELDS, request)

    def _tic_rows(self, params: dict, request: dict) -> dict:
        rows = _apply_filters(list(self.universe.tic.values()), params.get("filters") or [],
                              {n for n, _ in TIC_FIELDS})
        if "ra" in params and "dec" in params:
            rows = _within(rows, f"{params['ra']}, {params['dec']}, {params.get('radius', 0.2)}",
                           "ra", "dec")
        full = [{name: row.get(name) for name, _ in TIC_FIELDS} for row in rows]
        return _complete(full, TIC_FIELDS, request)

    def _tic_histograms(self, params: dict, request: dict) -> dict:
        """The column statistics astroquery merges into the TIC columns config.

        ``ID`` is left out on purpose so astroquery treats it as discrete and sends exact
        ids (``ID=[...]``); min/max filters on it are answered as well.
        """
        continuous = {name: {"hist": [], "min": 0, "max": 1, "type": "numeric"}
                      for name, kind in TIC_FIELDS if kind == "float"}
        discrete = {name: {"hist": []} for name in ("objType", "lumclass", "typeSrc")}
        table = {"name": "Table", "Columns": [], "Fields": [], "Rows": [],
                 "ExtendedProperties": {"discreteHistogram": discrete,
                                        "continuousHistogram": continuous,
                                        "Paging": {"page": 1, "pageSize": 0, "pagesFiltered": 1}}}
        return {"status": "COMPLETE", "msg": "", "data": {"name": "NewDataSet", "Tables": [table]}}

    # ----------------------------------------------------------------- columnsconfig
    def columns_config(self, form: dict) -> Reply:
        """POST /portal/Mashup/Mashup.asmx/columnsconfig with ``colConfigId=...``."""
        config_id = (form.get("colConfigId") or [""])[0]
        if config_id in ("Mast.Caom.Cone", "Mast.Caom.Filtered", "Mast.Caom.Filtered.Position"):
            return json_reply(_caom_config(schemas.CAOM_FIELDS), service=config_id)
        if config_id == "Mast.Caom.Products":
            return json_reply(_caom_config(schemas.PRODUCT_FIELDS), service=config_id)
        if config_id == "Mast.Catalogs.Tess.Cone":
            config = {name: {"text": name} for name, _ in TIC_FIELDS}
            config["_selected_"] = {"text": "selected", "type": "boolean", "hidden": True}
            return json_reply(config, service=config_id)
        # MAST answers an unknown config id with an empty object, which astroquery reads
        # as an error.
        return json_reply({}, service=config_id)

    # ----------------------------------------------------------------- download
    def find_download(self, query: str):
        """The product named by ``?uri=`` (None if absent or outside the universe)."""
        uri = (parse_qs(query).get("uri") or [""])[0]
        return self.universe.product_by_uri(uri), uri


class QueryError(ValueError):
    """A request MAST would answer with status ERROR."""


def _error(msg: str) -> dict:
    return {"status": "ERROR", "msg": msg, "data": [], "fields": [],
            "paging": {"page": 1, "pageSize": 0, "pagesFiltered": 0, "rows": 0,
                       "rowsFiltered": 0, "rowsTotal": 0}}


def _complete(rows: list[dict], fields, request: dict) -> dict:
    """A COMPLETE answer holding one page of rows, with MAST's paging block."""
    page_size = int(request.get("pagesize") or 50000)
    page = int(request.get("page") or 1)
    pages = max(1, math.ceil(len(rows) / page_size))
    chunk = rows[(page - 1) * page_size: page * page_size]
    return {"status": "COMPLETE", "msg": "",
            "fields": [{"name": n, "type": t} for n, t in fields], "data": chunk,
            "paging": {"page": page, "pageSize": page_size, "pagesFiltered": pages,
                       "rows": len(chunk), "rowsFiltered": len(rows), "rowsTotal": len(rows)}}


def _apply_filters(rows: list[dict], filters: list, columns: set) -> list[dict]:
    lookup = {c.lower(): c for c in columns}
    for spec in filters:
        name = lookup.get(str(spec.get("paramName", "")).lower())
        if name is None:
            raise QueryError(f"Invalid column name: {spec.get('paramName')}")
        rows = [row for row in rows if _matches(row.get(name), spec)]
    return rows


def _matches(value, spec: dict) -> bool:
    """One MAST filter: exact values, a free-text wildcard, or [{min, max}] ranges."""
    values = spec.get("values") or []
    ranges = [v for v in values if isinstance(v, dict)]
    exact = {str(v).casefold() for v in values if not isinstance(v, dict)}
    if value is None:
        return False
    for r in ranges:
        if float(r.get("min", -math.inf)) <= float(value) <= float(r.get("max", math.inf)):
            return True
    if str(value).casefold() in exact:
        return True
    free = spec.get("freeText")
    return bool(free) and fnmatch.fnmatch(str(value).casefold(), free.replace("%", "*").casefold())


def _within(rows: list[dict], position: str, ra_key: str, dec_key: str) -> list[dict]:
    ra, dec, radius = (float(x) for x in str(position).split(","))
    out = []
    for row in rows:
        cos_d = (math.sin(math.radians(dec)) * math.sin(math.radians(row[dec_key]))
                 + math.cos(math.radians(dec)) * math.cos(math.radians(row[dec_key]))
                 * math.cos(math.radians(row[ra_key] - ra)))
        if math.degrees(math.acos(max(-1.0, min(1.0, cos_d)))) <= radius:
            out.append(row)
    return out


def _caom_config(fields) -> dict:
    config = {"_selected_": {"text": "selected", "add": True, "type": "boolean", "hidden": True}}
    for name, kind in fields:
        entry = {"text": name, "vot.datatype": VOT_TYPES[kind], "vot.ID": name, "vot.name": name}
        if name == "obsid":
            entry["vot.datatype"] = "long"
        if name in CAOM_SEPARATED:
            entry["separator"] = ";"
        config[name] = entry
    return config


def download_url(base: str, uri: str) -> str:
    """The download URL of a dataURI, quoted as astroquery quotes it."""
    return f"{base}?uri={quote(uri, safe=':/')}"
