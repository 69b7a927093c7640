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
import threading
from urllib.parse import parse_qs, quote

from . import mast_rows, schemas
from .mast_survey import SurveyRows
from .universe_survey import Chain
from .reply import Reply, json_reply

FIRST_OBSID = 9_000_000_000
TIC_FIELDS = [(name, {"s": "string", "i": "int", "f": "float"}[kind])
              for name, kind in schemas.split_columns(schemas.TIC_COLUMNS)]
CAOM_SEPARATED = ("obs_collection", "project", "filters", "wavelength_region",
                  "target_classification")
VOT_TYPES = {"string": "char", "float": "double", "int": "int", "boolean": "boolean"}


class MastService:
    """Answers MAST requests from a Universe."""

    def __init__(self, universe):
        self.universe = universe
        self._recent: dict[str, list[dict]] = {}
        self._recent_lock = threading.Lock()  # the server answers requests on several threads

    # ----------------------------------------------------------------- observations
    @functools.cached_property
    def _catalog(self) -> tuple[list[dict], dict]:
        """CAOM rows (one per Observation: a Kepler star's cadence, a K2 campaign or campaign
        part, a TESS sector's cadence) and (row, Observation) by obsid."""
        rows, by_id = [], {}
        for index, obs in enumerate(self.universe.observations()):
            obsid = FIRST_OBSID + index
            row = mast_rows.observation_row(obs, obsid, self._position(obs), mast_rows.urls(obs))
            rows.append(row)
            by_id[obsid] = (row, obs)
        return rows, by_id

    @property
    def observations(self) -> list[dict]:
        return self._catalog[0]

    def _position(self, obs) -> tuple[float, float]:
        u = self.universe
        star = {"Kepler": u.kepler_stars, "K2": u.k2_hosts, "TESS": u.tic}[obs.mission][obs.target_id]
        return star["ra"], star["dec"]

    def product_rows(self, obsid) -> list[dict]:
        """Mast.Caom.Products rows of one observation (empty if the obsid is unknown)."""
        survey_index = self.universe.survey.index_of_obsid(obsid)
        if survey_index is not None:
            return self.survey.product_rows(survey_index)
        _, by_id = self._catalog
        try:
            row, obs = by_id[int(str(obsid).strip())]
        except (KeyError, ValueError):
            return []
        return [mast_rows.product_row(row, obs, p) for p in self.universe.observation_files(obs)]

    @functools.cached_property
    def survey(self) -> SurveyRows:
        """The survey sector's rows (universe_survey), made when a query reaches them."""
        return SurveyRows(self.universe)

    def _survey_rows(self, filters: list):
        """The survey sector's rows these (checked, canonically named) filters match, made lazily."""
        return self.universe.survey.filter_rows(filters, _matches, self.survey.observation_row)

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
        filters = _canonical(params.get("filters") or [], {n for n, _ in schemas.CAOM_FIELDS})
        rows = self._filtered(filters)
        fields = schemas.CAOM_FIELDS
        if not params.get("position"):  # the survey sector answers filters, not position searches
            rows = Chain(rows, self._survey_rows(filters))
        if params.get("position"):
            # A position search adds objID1 and distance (recorded: Kepler-10, AU Mic).
            rows = [{**row, "objID1": row["objID"], "distance": distance}
                    for row, distance in _within(rows, params["position"], "s_ra", "s_dec", _footprint)]
            fields = fields + [("objID1", "string"), ("distance", "float")]
        if str(params.get("columns", "*")).upper().startswith("COUNT"):
            return _complete([{"Column1": len(rows)}], [("Column1", "int")], request)
        return _complete(rows, fields, request)

    def _filtered(self, filters: list) -> list[dict]:
        """The main catalog's rows these filters match; the last few answers are kept, so the
        pages of one long query filter the catalog once (the catalog never changes)."""
        key = json.dumps(filters, sort_keys=True, default=str)
        with self._recent_lock:
            found = self._recent.get(key)
        if found is None:
            found = _apply_filters(self.observations, filters, {n for n, _ in schemas.CAOM_FIELDS})
            with self._recent_lock:
                while len(self._recent) >= 8:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[key] = found
        return found

    def _caom_cone(self, params: dict, request: dict) -> dict:
        """Cone search (astroquery's query_region / query_object): ra, dec, radius in degrees."""
        try:
            position = f"{float(params['ra'])}, {float(params['dec'])}, {float(params.get('radius', 0.2))}"
        except (KeyError, TypeError, ValueError):
            raise QueryError("Mast.Caom.Cone needs numeric ra, dec and radius") from None
        # A cone search adds distance (astroquery's recorded caom.json: arcseconds).
        rows = [{**row, "distance": distance}
                for row, distance in _within(self.observations, position, "s_ra", "s_dec", _footprint)]
        return _complete(rows, schemas.CAOM_FIELDS + [("distance", "float")], request)

    def _caom_products(self, params: dict, request: dict) -> dict:
        obsids = [o.strip() for o in str(params.get("obsid", "")).split(",") if o.strip()]
        rows = [row for obsid in obsids for row in self.product_rows(obsid)]
        return _complete(rows, schemas.PRODUCT_FIELDS, request)

    def _tic_rows(self, params: dict, request: dict) -> dict:
        rows = _apply_filters(list(self.universe.tic.values()), params.get("filters") or [],
                              {n for n, _ in TIC_FIELDS})
        if "ra" in params and "dec" in params:
            rows = [row for row, _ in _within(rows, f"{params['ra']}, {params['dec']}, {params.get('radius', 0.2)}",
                                              "ra", "dec")]
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
        """The product named by ``?uri=`` (None if absent or outside the universe). Both
        ``mast:KEPLER/...`` (as MAST lists it) and ``mast:Kepler/...`` (older manifests) answer."""
        uri = (parse_qs(query).get("uri") or [""])[0]
        return self.universe.product_by_uri(uri), uri


class QueryError(ValueError):
    """A request MAST would answer with status ERROR."""


def envelope(status: str, msg: str = "") -> dict:
    """An answer without rows: ERROR (with its message) or EXECUTING (ask again).

    No recorded answer has either status (../shared/replay_data/README.md); the shape is the
    documented one (the five keys of every answer, in the recorded order), which is all
    astroquery reads: ``status`` to poll again or raise, ``msg`` for the error it raises.
    """
    return {"status": status, "msg": msg, "data": [], "fields": [],
            "paging": {"page": 1, "pageSize": 0, "pagesFiltered": 0, "rows": 0, "rowsFiltered": 0, "rowsTotal": 0}}


def _error(msg: str) -> dict:
    return envelope("ERROR", msg)


def _complete(rows: list[dict], fields, request: dict) -> dict:
    """A COMPLETE answer holding one page of rows, with MAST's paging block (keys and order as
    recorded: page 1 of 9 with pageSize 100 says pagesFiltered 9, rows 100, rowsFiltered 883)."""
    try:
        page_size = max(1, int(request.get("pagesize") or 50000))
        page = max(1, int(request.get("page") or 1))
    except (TypeError, ValueError):
        raise QueryError("pagesize and page must be whole numbers") from None
    pages = max(1, math.ceil(len(rows) / page_size))
    chunk = rows[(page - 1) * page_size: page * page_size]
    return {"status": "COMPLETE", "msg": "", "data": chunk,
            "fields": [{"name": n, "type": t} for n, t in fields],
            "paging": {"page": page, "pageSize": page_size, "pagesFiltered": pages,
                       "rows": len(chunk), "rowsFiltered": len(rows), "rowsTotal": len(rows)}}


def _canonical(filters: list, columns: set) -> list[dict]:
    """The filters with each paramName spelt as the column is (MAST matches names case-blind)."""
    lookup = {c.lower(): c for c in columns}
    out = []
    for spec in filters:
        name = lookup.get(str(spec.get("paramName", "")).lower()) if isinstance(spec, dict) else None
        if name is None:
            raise QueryError(f"Invalid column name: {spec.get('paramName') if isinstance(spec, dict) else spec}")
        out.append({**spec, "paramName": name})
    return out


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


def _footprint(row: dict) -> float:
    """An observation's footprint radius in degrees, from its s_region (Kepler's square: its half side)."""
    return float(row["s_region"].split()[-1]) if row["s_region"].startswith("CIRCLE") else mast_rows.KEPLER_HALF_SIDE


def _within(rows: list[dict], position: str, ra_key: str, dec_key: str,
            footprint=lambda row: 0.0) -> list[tuple[dict, float]]:
    """(row, distance in arcseconds) of the rows within ``"ra, dec, radius"`` (degrees).

    CAOM searches match footprints, not centres: lightkurve's recorded search for Kepler-10 asks
    a radius of 1e-4 arcsec at a point 0.07 arcsec from the row's s_ra/s_dec, and gets the row
    with distance 0. So a row matches within ``radius`` of its footprint; the distance is 0 inside.
    """
    try:
        ra, dec, radius = (float(x) for x in str(position).split(","))
    except ValueError:
        raise QueryError(f"position must be 'ra, dec, radius' in degrees, got {position!r}") from None
    out = []
    for row in rows:
        cos_d = (math.sin(math.radians(dec)) * math.sin(math.radians(row[dec_key]))
                 + math.cos(math.radians(dec)) * math.cos(math.radians(row[dec_key]))
                 * math.cos(math.radians(row[ra_key] - ra)))
        outside = math.degrees(math.acos(max(-1.0, min(1.0, cos_d)))) - footprint(row)
        if outside <= radius:  # inside the footprint MAST says 0, a JSON integer (recorded)
            out.append((row, round(outside * 3600, 6) if outside > 0 else 0))
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
