"""Tabular catalog services: the NASA Exoplanet Archive's TAP and IRSA's IBE search, as CSV.

Both answer CSV when asked; values come back as text and are converted by the planners,
which know what each column means. Errors come back in other clothes (a VOTable or XML error
document, an HTML page) and are turned into ``ArchiveError`` with the query shown.
"""

from __future__ import annotations

import csv
import io
import re

from ..errors import ArchiveError
from ..net.catalog import CatalogHTTP
from ..net.policy import looks_like_html

__all__ = ["answer_format", "ibe_search", "tap_query"]


def tap_query(http: CatalogHTTP, tap_url: str, adql: str) -> list[dict[str, str]]:
    """Run one ADQL query on a TAP service (synchronous endpoint), returning rows as dicts."""
    what = f"Exoplanet Archive TAP query [{adql}]"
    response = http.request("POST", tap_url.rstrip("/") + "/sync", what=what,
                            data={"query": adql, "format": "csv", "request": "doQuery", "lang": "ADQL"})
    return _parse_csv(response.text, what, response.url, error_pattern=_VOTABLE_ERROR)


def ibe_search(http: CatalogHTTP, ibe_url: str, table: str, where: str) -> list[dict[str, str]]:
    """Search an IRSA IBE table (e.g. ``ztf/products/sci``) with a WHERE clause, as CSV."""
    what = f"IRSA IBE search {table} [WHERE {where}]"
    response = http.request("GET", f"{ibe_url.rstrip('/')}/search/{table}", what=what,
                            params={"WHERE": where, "ct": "csv"})
    return _parse_csv(response.text, what, response.url, error_pattern=_XML_ERROR)


# A TAP error is a VOTable with <INFO name="QUERY_STATUS" value="ERROR">message</INFO>;
# IBE's is an XML document with an <error>/<message> element.
_VOTABLE_ERROR = re.compile(r'QUERY_STATUS"\s+value="ERROR"[^>]*>(.*?)</INFO>', re.S | re.I)
_XML_ERROR = re.compile(r"<(?:error|message)[^>]*>(.*?)</(?:error|message)>", re.S | re.I)


def answer_format(text: str) -> str | None:
    """The format of a catalog answer that is not CSV, by its first characters; None for CSV.

    IBE answers IPAC tables by default (``\\fixlen = T`` comments, ``|`` header rows) and TAP
    VOTables: a proxy that drops the query string, or a changed default, gives those back
    instead of the CSV asked for, and read as CSV they look like one odd column.
    """
    head = text.lstrip()[:2000]
    if looks_like_html(head.encode("utf-8", "replace")):
        return "an HTML page"
    if "<votable" in head.lower():
        return "a VOTable"
    if head.startswith("<"):
        return "an XML document"
    if head.startswith(("{", "[")):
        return "JSON"
    first = head.split("\n", 1)[0]
    if first.startswith(("\\", "|")):
        return "an IPAC table"
    return None


def _parse_csv(text: str, what: str, url: str, *, error_pattern: re.Pattern) -> list[dict[str, str]]:
    stripped = text.lstrip()
    found = answer_format(text)
    if stripped.startswith("<") and (match := error_pattern.search(text)):
        detail = " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())
        raise ArchiveError(f"{what}: the archive refused the query: {detail}",
                           hint="check the query options (dates, fields, filters); the manifest was not changed")
    if found is not None:
        raise ArchiveError(f"{what}: the archive answered {found}, not the CSV asked for ({url[:300]})",
                           hint="a proxy or a changed service default may have dropped the format parameter; "
                                "check the endpoint in `ratdcs config` and try the URL in a browser "
                                "(the manifest was not changed)")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        return []
    rows = list(reader)
    if any(None in row for row in rows):
        raise ArchiveError(f"{what}: malformed CSV answer (a row has more values than the header)")
    return rows
