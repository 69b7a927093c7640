"""ZTF science images: IRSA IBE search by date range, URLs built at the archive's real layout.

IRSA gives no sizes and no checksums (docs/archive-facts.md section 4): rows keep their size unknown
unless ``probe_sizes`` asks for a HEAD pass with bounded concurrency.
"""

from __future__ import annotations

import concurrent.futures
import datetime as _dt
import logging
import re

from .. import registry
from ..errors import ArchiveError, NoTargetsError, UnsafeProductError, UsageError
from ..net.catalog import CatalogHTTP
from ..records import PlannedFile
from ..paths import check_relative_path, check_url
from .common import PlannerContext, SourcePlan, TargetPlan, archive_size, to_float
from .tables import ibe_search

__all__ = ["FILTER_CODES", "SAMPLES", "julian_date", "parse_date", "plan_ztf", "probe_sizes_of", "spread_rows"]

log = logging.getLogger("ratdcs.plan")

FILTER_CODES = ("zg", "zr", "zi")
SAMPLES = ("spread", "first")
_UNIX_EPOCH_JD = 2440587.5


def parse_date(text: str, option: str) -> _dt.date:
    try:
        day = _dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a date (expected YYYY-MM-DD, a real calendar day)",
                         hint="for example --start-date 2024-01-01") from None
    if day.year > 2100:  # and 9999-12-31 would overflow computing the night after it
        raise UsageError(f"{option}: {day} is past any ZTF observing night", hint=f"for example {option} 2024-01-31")
    return day


def julian_date(day: _dt.date) -> float:
    """Julian date at 00:00 UTC of ``day``."""
    midnight = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc)
    return midnight.timestamp() / 86400.0 + _UNIX_EPOCH_JD


def ztf_where(start: _dt.date, end: _dt.date, fields: list[int], filters: list[str], ccds: list[int]) -> str:
    clauses = [f"obsjd BETWEEN {julian_date(start):.5f} AND {julian_date(end + _dt.timedelta(days=1)):.5f}"]
    if fields:
        clauses.append(f"field IN ({','.join(str(int(f)) for f in fields)})")
    if filters and set(filters) != set(FILTER_CODES):
        clauses.append(f"filtercode IN ({','.join(repr(f) for f in filters)})")
    if ccds:
        clauses.append(f"ccdid IN ({','.join(str(int(c)) for c in ccds)})")
    return " AND ".join(clauses)


def check_ztf_options(start_date: str, end_date: str, filters: list[str], ccds: list[int], fields: list[int]):
    start, end = parse_date(start_date, "--start-date"), parse_date(end_date, "--end-date")
    if end < start:
        raise UsageError(f"--end-date {end} is before --start-date {start}", hint="swap them")
    unknown = [f for f in filters if f not in FILTER_CODES]
    if unknown or not filters:
        raise UsageError(f"--filter: unknown ZTF filter code {', '.join(unknown) or '(none given)'}",
                         hint=f"choose from {', '.join(FILTER_CODES)}")
    bad_ccds = [c for c in ccds if not 1 <= c <= 16]
    if bad_ccds:
        raise UsageError(f"--ccd: ZTF CCD ids are 1-16, got {', '.join(map(str, bad_ccds))}")
    if any(f < 0 for f in fields):
        raise UsageError("--field: ZTF field ids are positive numbers")
    return start, end


def plan_ztf(ctx: PlannerContext, *, n: int, start_date: str, end_date: str, fields: list[int] = (),
             filters: list[str] = FILTER_CODES, ccds: list[int] = (), probe_sizes: bool = False,
             sample: str = "spread") -> SourcePlan:
    """``n`` science exposures in the date range, grouped by field: ``spread`` takes them across
    the nights and fields of the range, ``first`` the first ``n`` by time; with ``probe_sizes``, a
    HEAD per file for its size (``ztf.probe_concurrency`` at a time)."""
    if sample not in SAMPLES:
        raise UsageError(f"--sample: unknown ZTF sample {sample!r}", hint=f"choose from {', '.join(SAMPLES)}")
    start, end = check_ztf_options(start_date, end_date, list(filters), list(ccds), list(fields))
    where = ztf_where(start, end, list(fields), list(filters), list(ccds))
    rows = ibe_search(ctx.http, ctx.config["endpoints.irsa_ibe"], "ztf/products/sci", where)
    rows = [r for r in rows if (r.get("imgtypecode") or "o") == "o"]
    rows.sort(key=lambda r: (to_float(r.get("obsjd")) or 0.0, _int(r.get("field")), _int(r.get("ccdid")),
                             _int(r.get("qid")), r.get("filtercode") or ""))
    query = f"IRSA ztf/products/sci WHERE {where}"
    if not rows:
        raise NoTargetsError(f"no targets matched: {query}", hint="widen the dates, fields or filters")
    if sample == "spread":
        rows = spread_rows(rows, n)
    by_field: dict[str, TargetPlan] = {}
    refused: list[str] = []
    seen: set[str] = set()
    for row in rows:
        if len(seen) == n:
            break
        try:
            planned = _science_image(row, ctx.config["endpoints.irsa_ibe"])
        except UnsafeProductError as exc:
            refused.append(str(exc))
            continue
        if planned.rel_path in seen:
            continue
        seen.add(planned.rel_path)
        field = planned.target_id
        if field not in by_field:
            by_field[field] = TargetPlan(_field_target(field, row), [])
        by_field[field].files.append(planned)
    plan = SourcePlan("ztf", query, list(by_field.values()), refused)
    if probe_sizes:
        for target in plan.targets:
            target.files, misses = probe_sizes_of(ctx.http, target.files, ctx.config["ztf.probe_concurrency"])
            plan.probes_failed += misses
    return plan


def spread_rows(rows: list[dict], n: int) -> list[dict]:
    """Up to ``n`` rows (kept in time order) spread over the (night, field) groups of ``rows``.

    The first n by time are often one field on one or two nights, which no train/val/test split
    by night or field can use. Taken in rounds instead: each round takes the next image of
    evenly spaced groups, so n below the number of groups still spans the whole date range.
    Deterministic: it depends only on the rows (already sorted by time). Takes a few more than
    ``n`` (the planner stops at n), so a refused or duplicate row does not cut the sample short.
    """
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((str(row.get("filefracday") or "")[:8], _int(row.get("field"))), []).append(row)
    queues = [groups[k] for k in sorted(groups)]
    chosen: list[dict] = []
    depth = 0
    want = n + 16
    while len(chosen) < want:
        live = [q for q in queues if depth < len(q)]
        if not live:
            break
        need = want - len(chosen)
        picked = live if need >= len(live) else [live[i * len(live) // need] for i in range(need)]
        chosen.extend(q[depth] for q in picked)
        depth += 1
    order = {id(row): i for i, row in enumerate(rows)}
    return sorted(chosen, key=lambda row: order[id(row)])


def _science_image(row: dict, ibe_url: str) -> PlannedFile:
    """The sciimg URL at IRSA's layout: /ibe/data/ztf/products/sci/YYYY/MMDD/dddddd/ztf_..._sciimg.fits."""
    ffd, code, kind = str(row.get("filefracday") or ""), row.get("filtercode") or "", row.get("imgtypecode") or "o"
    field, ccd, qid = _int(row.get("field")), _int(row.get("ccdid")), _int(row.get("qid"))
    if not re.fullmatch(r"\d{14}", ffd) or code not in FILTER_CODES or not re.fullmatch(r"[a-z]", kind) \
            or not (field >= 0 and 1 <= ccd <= 16 and 1 <= qid <= 4):
        raise UnsafeProductError(f"refused ZTF row with unusable metadata (filefracday={ffd!r}, field={field}, "
                                 f"filtercode={code!r}, ccdid={ccd}, qid={qid})")
    name = f"ztf_{ffd}_{field:06d}_{code}_c{ccd:02d}_{kind}_q{qid}_sciimg.fits"
    url = f"{ibe_url.rstrip('/')}/data/ztf/products/sci/{ffd[:4]}/{ffd[4:8]}/{ffd[8:]}/{name}"
    product = registry.source("ztf").product()
    return PlannedFile(source="ztf", target_id=str(field), product_kind=product.kind, url=check_url(url),
                       rel_path=check_relative_path(f"{product.folder}/{name}"))


def _field_target(field: str, row: dict) -> dict:
    return {"source": "ztf", "target_id": field, "name": f"ZTF field {field}", "ra_deg": to_float(row.get("ra")),
            "dec_deg": to_float(row.get("dec")), "catalog_row": {"field": int(field)}}


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def probe_sizes_of(http: CatalogHTTP, files: list[PlannedFile], concurrency: int) -> tuple[list[PlannedFile], int]:
    """Fill unknown sizes with HEAD requests (``concurrency`` at a time); returns (files, probes failed).

    The HEADs go through the catalog client, so they are retried, spaced by its pause between
    requests to one host, and counted in ``requests_sent`` like any query.
    """
    import dataclasses

    def head(planned: PlannedFile) -> int | None:
        # A failed probe leaves the size unknown; sync learns it at download.
        what = f"size probe of {planned.url}"
        try:
            response = http.head(planned.url, what=what)
        except ArchiveError as exc:
            log.info("%s", exc)
            return None
        except Exception as exc:  # requests' other errors: a redirect loop, a URL it cannot send
            log.info("%s failed: %s", what, exc)
            return None
        size = archive_size(response.headers.get("Content-Length"))
        return size or None  # an absurd Content-Length says as little as none

    unknown = [f for f in files if f.expected_size_bytes is None]
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        sizes = dict(zip((f.rel_path for f in unknown), pool.map(head, unknown)))
    probed = [dataclasses.replace(f, expected_size_bytes=sizes[f.rel_path]) if f.rel_path in sizes else f
              for f in files]
    return probed, sum(1 for v in sizes.values() if v is None)
