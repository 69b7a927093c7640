"""IRSA IBE for ZTF: ``/ibe/search/ztf/products/sci`` and ``/ibe/data/ztf/products/sci/...``.

Search takes ``WHERE=<sql>`` (field IN, obsjd BETWEEN, filtercode, ccdid, qid, ...) and/or
``POS=ra,dec``, and answers ``ct=ipac_table`` (the default) or ``ct=csv``. A query it cannot
parse answers HTTP 400 with an XML error document.
"""

from __future__ import annotations

import csv
import io
import math
from xml.sax.saxutils import escape

from . import adql, schemas
from .reply import Reply, text_reply

EXPOSURE_COLUMNS = {"field", "filtercode", "fid", "expid", "obsjd", "obsdate", "filefracday",
                    "exptime", "nid"}
IPAC_TYPES = {"i": "long", "f": "double", "s": "char"}


class IbeService:
    """Answers IBE searches over the universe's ZTF exposures."""

    def __init__(self, universe):
        self.universe = universe
        self.columns = schemas.split_columns(schemas.ZTF_COLUMNS)

    def search(self, params: dict) -> Reply:
        lowered = {k.lower(): v[-1] for k, v in params.items()}
        fmt = lowered.get("ct", "ipac_table").lower()
        try:
            rows = self.rows(lowered.get("where", ""), lowered.get("pos"))
        except (adql.QueryError, ValueError) as err:
            return _error(str(err))
        if fmt == "csv":
            return Reply(content_type="text/csv; charset=utf-8", body_bytes=self._csv(rows),
                         service="ztf/products/sci")
        return Reply(content_type="text/plain; charset=utf-8", body_bytes=self._ipac(rows),
                     service="ztf/products/sci")

    def rows(self, where: str, pos: str | None) -> list[dict]:
        """Quadrant rows matching WHERE (and POS), exposures pre-screened on their columns."""
        names = {name.lower(): name for name, _ in self.columns}
        condition = adql.resolve(adql.parse_condition(where), names) if where.strip() else None
        screens = [c for c in adql.conjuncts(condition) if adql.columns_in(c) <= EXPOSURE_COLUMNS]
        point = tuple(float(x) for x in pos.split(",")[:2]) if pos else None
        out = []
        from . import naming

        for exposure in self.universe.ztf_exposures:
            if not all(adql.evaluate(s, exposure) for s in screens):
                continue
            for row in naming.ztf_quadrant_rows(exposure):
                if condition is not None and not adql.evaluate(condition, row):
                    continue
                if point is not None and not _covers(row, point):
                    continue
                out.append(row)
        return out

    def _csv(self, rows: list[dict]) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([n for n, _ in self.columns])
        for row in rows:
            writer.writerow([row[n] for n, _ in self.columns])
        return buffer.getvalue().encode()

    def _ipac(self, rows: list[dict]) -> bytes:
        """IPAC table text: header lines of names, types, units, nulls, then fixed columns."""
        cells = [[str(row[n]) for n, _ in self.columns] for row in rows]
        widths = [max([len(n), 6] + [len(r[i]) for r in cells])
                  for i, (n, _) in enumerate(self.columns)]
        lines = ["\\fixlen = T"]
        for labels in ([n for n, _ in self.columns], [IPAC_TYPES[t] for _, t in self.columns],
                       [""] * len(self.columns), ["null"] * len(self.columns)):
            lines.append("|" + "|".join(label.rjust(w) for label, w in zip(labels, widths)) + "|")
        for row in cells:
            lines.append(" " + " ".join(value.rjust(w) for value, w in zip(row, widths)) + " ")
        return ("\n".join(lines) + "\n").encode()


def _covers(row: dict, point: tuple[float, float]) -> bool:
    """Whether a quadrant (about 0.86 x 0.86 deg) contains the point, roughly."""
    ra, dec = point
    d_ra = (row["ra"] - ra + 180.0) % 360.0 - 180.0
    return abs(d_ra * math.cos(math.radians(dec))) <= 0.43 and abs(row["dec"] - dec) <= 0.43


def _error(message: str) -> Reply:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<error>\n'
            f"  <message>{escape(message)}</message>\n</error>\n")
    return text_reply(body, status=400, content_type="text/xml; charset=utf-8")
