"""NASA Exoplanet Archive TAP: ``/TAP/sync`` (GET or POST, ``//sync`` too).

Tables: ``cumulative`` (Kepler KOIs), ``k2pandc`` (K2 planets and candidates), ``toi``, and
``TAP_SCHEMA.tables`` / ``TAP_SCHEMA.columns`` (astroquery reads the first before any
query). Formats: ``votable`` (the TAP default, what pyvo asks for), ``csv``, ``tsv``,
``json``. Parameters may be given as ``query=...&format=...`` or the TAP way,
``REQUEST=doQuery&LANG=ADQL&QUERY=...&MAXREC=...``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from xml.sax.saxutils import escape

from . import adql, schemas
from .reply import Reply, text_reply

VOTABLE_TYPES = {"i": 'datatype="long"', "f": 'datatype="double"', "s": 'datatype="char" arraysize="*"'}
LONG_NULL = -9223372036854775808


class TapService:
    """Answers TAP sync queries from a Universe."""

    def __init__(self, universe):
        self.universe = universe

    @functools.cached_property
    def tables(self) -> dict[str, tuple[list[tuple[str, str]], list[dict]]]:
        """Table name (lower case) -> (columns as (name, type), rows in default order)."""
        u = self.universe
        tables = {
            "cumulative": (schemas.split_columns(schemas.CUMULATIVE_COLUMNS), u.kois),
            "k2pandc": (schemas.split_columns(schemas.K2PANDC_COLUMNS), u.k2_planets),
            "toi": (schemas.split_columns(schemas.TOI_COLUMNS), u.tois),
        }
        described = {"cumulative": "Kepler Objects of Interest (cumulative)",
                     "k2pandc": "K2 Planets and Candidates", "toi": "TESS Objects of Interest"}
        schema_rows = [{"schema_name": "TAP_SCHEMA", "table_name": name, "table_type": "table",
                        "description": f"TAP_SCHEMA {name[11:]}"}
                       for name in ("TAP_SCHEMA.tables", "TAP_SCHEMA.columns")]
        schema_rows += [{"schema_name": "public", "table_name": n, "table_type": "table",
                         "description": described[n]} for n in tables]
        column_rows = [{"table_name": n, "column_name": c, "datatype":
                        {"i": "long", "f": "double", "s": "char"}[t]}
                       for n, (cols, _) in tables.items() for c, t in cols]
        tables["tap_schema.tables"] = (
            [("schema_name", "s"), ("table_name", "s"), ("table_type", "s"), ("description", "s")],
            schema_rows)
        tables["tap_schema.columns"] = (
            [("table_name", "s"), ("column_name", "s"), ("datatype", "s")], column_rows)
        return tables

    def sync(self, params: dict) -> Reply:
        """One synchronous query; params are the decoded GET or POST parameters."""
        lowered = {k.lower(): v[-1] for k, v in params.items()}
        text = lowered.get("query", "")
        fmt = (lowered.get("format") or lowered.get("responseformat") or "votable").lower()
        maxrec = lowered.get("maxrec")
        try:
            query = adql.parse_query(text) if text else _missing_query()
            columns, rows, overflow = self.run(query, int(maxrec) if maxrec else None)
        except (adql.QueryError, ValueError) as err:
            return _error_reply(str(err), fmt)
        return Reply(status=200, content_type=_content_type(fmt),
                     body_bytes=render(columns, rows, fmt, overflow), service=query.table)

    def run(self, query: adql.Query, maxrec: int | None):
        """(columns, rows, overflowed) of a parsed query."""
        entry = self.tables.get(query.table.lower())
        if entry is None:
            raise adql.QueryError(f"table {query.table!r} does not exist")
        all_columns, rows = entry
        names = {name.lower(): name for name, _ in all_columns}
        types = dict(all_columns)
        where = adql.resolve(query.where, names) if query.where else None
        if where is not None:
            rows = [row for row in rows if adql.evaluate(where, row)]
        selected = [n for n, _ in all_columns] if query.columns is None else \
            [adql.resolve(("col", c), names)[1] for c in query.columns]
        rows = _order(rows, [(adql.resolve(("col", c), names)[1], d) for c, d in query.order])
        out = [{c: row.get(c) for c in selected} for row in rows]
        if query.distinct:
            out = list({tuple(r.items()): r for r in out}.values())
        limit = min(x for x in (query.top, maxrec, math.inf) if x is not None)
        overflow = maxrec is not None and len(out) > maxrec
        if limit != math.inf:
            out = out[:int(limit)]
        return [(c, types[c]) for c in selected], out, overflow


def _missing_query():
    raise adql.QueryError("no QUERY parameter given; expected QUERY=<ADQL>")


def _order(rows: list[dict], order: list[tuple[str, bool]]) -> list[dict]:
    """Stable multi-key sort; NULLs sort last, as the archive's Oracle does ascending."""
    for column, descending in reversed(order):
        present = [r for r in rows if r.get(column) is not None]
        missing = [r for r in rows if r.get(column) is None]
        present.sort(key=lambda r: r[column], reverse=descending)
        rows = present + missing
    return rows


def _content_type(fmt: str) -> str:
    if fmt == "csv":
        return "text/csv; charset=utf-8"
    if fmt == "tsv":
        return "text/tab-separated-values; charset=utf-8"
    if fmt == "json":
        return "application/json; charset=utf-8"
    return "text/xml; charset=utf-8"


def render(columns, rows, fmt: str, overflow: bool = False) -> bytes:
    if fmt in ("csv", "tsv"):
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        writer.writerow([name for name, _ in columns])
        for row in rows:
            writer.writerow(["" if row[name] is None else _plain(row[name]) for name, _ in columns])
        return buffer.getvalue().encode()
    if fmt == "json":
        return json.dumps(rows).encode()
    return _votable(columns, rows, overflow).encode()


def _plain(value):
    return repr(value) if isinstance(value, float) else value


def _votable(columns, rows, overflow: bool) -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n',
             '<RESOURCE type="results">\n<INFO name="QUERY_STATUS" value="OK"/>\n<TABLE>\n']
    for name, kind in columns:
        values = f'<VALUES null="{LONG_NULL}"/>' if kind == "i" else ""
        parts.append(f'<FIELD name="{name}" {VOTABLE_TYPES[kind]}>{values}</FIELD>\n')
    parts.append("<DATA><TABLEDATA>\n")
    for row in rows:
        cells = []
        for name, kind in columns:
            value = row[name]
            if value is None:
                value = LONG_NULL if kind == "i" else ""
            cells.append(f"<TD>{escape(str(value))}</TD>")
        parts.append("<TR>" + "".join(cells) + "</TR>\n")
    parts.append("</TABLEDATA></DATA>\n</TABLE>\n")
    if overflow:
        parts.append('<INFO name="QUERY_STATUS" value="OVERFLOW"/>\n')
    parts.append("</RESOURCE>\n</VOTABLE>\n")
    return "".join(parts)


def _error_reply(message: str, fmt: str) -> Reply:
    if fmt in ("csv", "tsv", "json"):
        return text_reply(f"ERROR\n{message}\n", status=400)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
            f'<RESOURCE type="results">\n<INFO name="QUERY_STATUS" value="ERROR">{escape(message)}'
            "</INFO>\n</RESOURCE>\n</VOTABLE>\n")
    return text_reply(body, status=400, content_type="text/xml; charset=utf-8")
