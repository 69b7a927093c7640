"""``ratdcs report --html PATH``: the report as one self-contained HTML page, plots beside tables.

The page holds everything it shows: CSS in a ``<style>`` element, each figure an SVG inside a
``data:`` URI (``report_plots.py``), no script, no font, no link to anything outside the file, so
it opens offline, attached to an e-mail or years later. Every text that comes from the manifest
(target names, paths, error messages) is escaped.

What it reads, all aggregated in SQLite (a million-row manifest is written in a few seconds into
a file of a few hundred KB; bench/report_scale.py --html): the report's sections (``report.py``:
the schema's views) and the manifest's chart reads (``ChartReads``: the transfer log per time
bucket and per failure kind, targets on the sky, per-target completeness).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from .report import build_report

__all__ = ["HtmlReport", "bucket_seconds", "read_page_data", "read_throughput", "render_page", "write_html_report"]

# Up to this many targets the sky map draws each one (as vectors); above, targets per cell of SKY_STEP_DEG.
SKY_POINTS_MAX = 1_000
SKY_STEP_DEG = 2.0
COMPLETENESS_BUCKETS = 10
# At most this many bars on the throughput plot: the bucket grows with the log's time span.
MAX_TIME_BUCKETS = 120
_NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
                 2 * 86400, 7 * 86400, 30 * 86400)
_SECTIONS = ("progress", "kinds", "states", "failures", "incomplete", "syncs", "splits")


@dataclasses.dataclass(frozen=True)
class HtmlReport:
    """What ``write_html_report`` wrote: where, how large, how many figures."""

    path: Path
    size_bytes: int
    figures: int


def write_html_report(manifest, path: str | os.PathLike, *, limit: int = 20) -> HtmlReport:
    """Write the HTML report of ``manifest`` to ``path`` (atomically); ``limit`` rows per long table.

    Example::

        with open_manifest("data/manifest.sqlite") as m:
            write_html_report(m, "report.html").size_bytes
    """
    from . import report_plots
    from .exports import atomic_output

    report_plots.load_matplotlib()  # before any reading: without matplotlib, fail at once
    page = render_page(read_page_data(manifest, limit=limit), manifest_path=manifest.path)
    with atomic_output(path, option="--html") as out:
        out.write(page)
    path = Path(path).expanduser().absolute()
    return HtmlReport(path, path.stat().st_size, page.count('<img class="plot"'))


def bucket_seconds(span_seconds: float) -> int:
    """The smallest round bucket (1 s, 2 s, 5 s, ... 1 day, 1 week, 30 days, then whole days)
    giving at most MAX_TIME_BUCKETS bars over ``span_seconds``."""
    for seconds in _NICE_SECONDS:
        if span_seconds / seconds < MAX_TIME_BUCKETS:
            return seconds
    return (int(span_seconds // MAX_TIME_BUCKETS) // 86400 + 1) * 86400  # whole days: grouped by day in SQL


def read_page_data(manifest, *, limit: int = 20) -> dict[str, Any]:
    """Every row the page shows, read from the manifest: the report's sections and the chart reads."""
    data: dict[str, Any] = build_report(manifest, sections=_SECTIONS, limit=limit)
    data.update(read_throughput(manifest))
    data["transfer_failures"] = manifest.transfer_failures()
    positioned = manifest.targets_with_position()
    data["targets_with_position"] = positioned
    data["sky_points"] = manifest.target_positions(SKY_POINTS_MAX) if positioned <= SKY_POINTS_MAX else []
    data["sky_bins"] = manifest.target_sky_bins(SKY_STEP_DEG) if positioned > SKY_POINTS_MAX else []
    data["completeness"] = manifest.target_completeness(COMPLETENESS_BUCKETS)
    return data


# Characters of an ISO-8601 time that name its day, hour, minute and second, and their formats.
_MOMENTS = ((86400, 10, "%Y-%m-%d"), (3600, 13, "%Y-%m-%dT%H"), (60, 16, "%Y-%m-%dT%H:%M"), (1, 19, "%Y-%m-%dT%H:%M:%S"))


def read_throughput(manifest) -> dict[str, Any]:
    """The transfer log in time buckets: ``throughput`` rows (``bucket`` numbered from
    ``time_start``, Unix seconds, a multiple of ``bucket_seconds``), with the bucket's bytes,
    attempts and failed attempts. SQLite groups the log by the text of a whole day, hour, minute
    or second (the largest that divides the bucket); Python adds those up into buckets."""
    first, last, attempts = manifest.transfer_time_span()
    start, end = _epoch(first), _epoch(last)
    if not attempts or start is None or end is None:
        return {"transfer_attempts": 0}
    size = bucket_seconds(end - start + 1)
    unit, chars, fmt = next(m for m in _MOMENTS if size % m[0] == 0)
    start -= start % size
    buckets: dict[int, dict[str, Any]] = {}
    for row in manifest.transfers_by_moment(chars):
        moment = _epoch(row["moment"], fmt)
        if moment is None:  # a time ratdcs did not write; it has no place on the axis
            continue
        bucket = buckets.setdefault((moment - start) // size, {"bytes": 0, "attempts": 0, "failed_attempts": 0})
        for key in bucket:
            bucket[key] += row[key] or 0
    return {"transfer_attempts": attempts, "bucket_seconds": size, "time_start": start,
            "throughput": [{"bucket": n, **counts} for n, counts in sorted(buckets.items())]}


def _epoch(text: str | None, fmt: str = "%Y-%m-%dT%H:%M:%S") -> int | None:
    """Unix seconds of an ISO-8601 UTC time, read to the precision ``fmt`` names; None if unreadable."""
    try:
        moment = datetime.strptime((text or "")[:len(datetime(2000, 1, 1).strftime(fmt))], fmt)
    except ValueError:
        return None
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


@dataclasses.dataclass
class _Section:
    anchor: str
    title: str
    about: str
    figure: Callable[[], str] | None  # draws the SVG; None: nothing to draw (``empty`` says why)
    tables: list[tuple[str, Sequence[dict[str, Any]]]]
    empty: str = ""


def _sections(data: dict[str, Any]) -> list[_Section]:
    from . import report_plots as plots

    states, kinds, splits = data["states"], data["kinds"], data["splits"]
    sky = data["sky_points"] or data["sky_bins"]
    return [
        _Section("states", "Progress by source and state", "Files per source in each state.",
                 (lambda: plots.states_figure(states)) if states else None,
                 [("Files and bytes per source and state (source_state_summary)", states)], "No files planned yet."),
        _Section("kinds", "Progress by product kind", "Files per source and product kind: done, failed, still to fetch.",
                 (lambda: plots.kinds_figure(kinds)) if kinds else None,
                 [("Per source and product kind (kind_progress)", kinds)], "No files planned yet."),
        _Section("bytes", "Bytes planned and downloaded", "Bytes are the archive's sizes where known, else what was "
                 "received; files of unknown size count as 0 bytes until they arrive.",
                 (lambda: plots.bytes_figure(states)) if states else None,
                 [("Per source, GB = 10^9 bytes (source_progress)", data["progress"])], "No files planned yet."),
        _Section("throughput", "Throughput over time", "From the transfer log: bytes received per second and "
                 "attempts per time bucket, by when each attempt ended.",
                 (lambda: plots.throughput_figure(data["throughput"], data["time_start"], data["bucket_seconds"]))
                 if data["transfer_attempts"] else None,
                 [("Recent syncs (recent_syncs)", data["syncs"])], "No transfer recorded yet: run `ratdcs sync`."),
        _Section("failures", "Failures by kind", "Failed attempts in the transfer log (retried, or the last one "
                 "before the file was marked failed), and the files failed now with an example of each reason.",
                 (lambda: plots.failures_figure(data["transfer_failures"])) if data["transfer_failures"] else None,
                 [("Failed attempts by kind (transfers)", data["transfer_failures"]),
                  ("Failed files by reason (failure_reasons)", data["failures"])], "No failed attempt recorded."),
        _Section("sky", "Targets on the sky", _sky_about(data),
                 (lambda: plots.sky_figure(points=data["sky_points"], bins=data["sky_bins"],
                                           step_deg=SKY_STEP_DEG)) if sky else None,
                 [], "No target has a position (RA/Dec) in the manifest."),
        _Section("completeness", "Per-target completeness", "Targets by the share of their files done, and the "
                 "targets with the most files still missing.",
                 (lambda: plots.completeness_figure(data["completeness"], COMPLETENESS_BUCKETS))
                 if data["completeness"] else None,
                 [("Targets with files still missing (incomplete_targets)", data["incomplete"])],
                 "No files planned yet."),
        _Section("splits", "Train/val/test splits", "Files per source and split (`ratdcs split`).",
                 (lambda: plots.splits_figure(splits)) if splits else None,
                 [("Targets and files per split (split_summary)", splits)], "No targets yet."),
    ]


def _sky_about(data: dict[str, Any]) -> str:
    n = data["targets_with_position"]
    if data["sky_bins"]:
        return (f"{n:,} targets with a position, counted per {SKY_STEP_DEG:g}° cell (Mollweide projection, "
                "RA increasing to the left).")
    return f"{n:,} targets with a position, one dot each (Mollweide projection, RA increasing to the left)."


def render_page(data: dict[str, Any], *, manifest_path: str | os.PathLike, now: datetime | None = None) -> str:
    """The whole HTML document for ``data`` (``read_page_data``)."""
    from . import __version__

    now = now or datetime.now(timezone.utc)
    sections = _sections(data)
    body = [f"<h1>ratdcs report</h1>\n<p class=\"meta\">Manifest <code>{_e(manifest_path)}</code>, "
            f"{_e(now.strftime('%Y-%m-%d %H:%M:%S'))} UTC, ratdcs {_e(__version__)}.</p>",
            _totals(data), "<nav>" + " · ".join(f'<a href="#{s.anchor}">{_e(s.title)}</a>' for s in sections)
            + "</nav>"]
    body += [_render_section(s) for s in sections]
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>ratdcs report: {_e(Path(manifest_path).name)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def _totals(data: dict[str, Any]) -> str:
    states = data["states"]
    files = {s: sum(r["files"] for r in states if r["state"] == s) for s in ("done", "failed", "pending", "downloading")}
    planned = sum(files.values())
    bytes_planned = sum(r["bytes"] or 0 for r in states)
    bytes_done = sum(r["bytes"] or 0 for r in states if r["state"] == "done")
    unknown = sum(r["files_unknown_size"] or 0 for r in states)
    share = f" ({100 * files['done'] / planned:.1f}%)" if planned else ""
    tiles = [("files planned", f"{planned:,}"), ("done", f"{files['done']:,}{share}"), ("failed", f"{files['failed']:,}"),
             ("still to fetch", f"{files['pending'] + files['downloading']:,}"),
             ("bytes planned", _size(bytes_planned)), ("bytes downloaded", _size(bytes_done))]
    if unknown:
        tiles.append(("files of unknown size", f"{unknown:,}"))
    return "<div class=\"tiles\">" + "".join(
        f"<div><b>{_e(value)}</b><span>{_e(label)}</span></div>" for label, value in tiles) + "</div>"


def _size(n: float) -> str:
    for scale, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} bytes"


def _render_section(section: _Section) -> str:
    if section.figure is not None:
        svg = base64.b64encode(section.figure().encode("utf-8")).decode("ascii")
        figure = (f"<figure><img class=\"plot\" alt=\"{_e(section.title)}\" "
                  f"src=\"data:image/svg+xml;base64,{svg}\"></figure>")
    else:
        figure = f"<p class=\"empty\">{_e(section.empty)}</p>"
    tables = "".join(_table(caption, rows) for caption, rows in section.tables)
    return (f"<section id=\"{section.anchor}\">\n<h2>{_e(section.title)}</h2>\n<p>{_e(section.about)}</p>\n"
            f"<div class=\"row\">{figure}<div class=\"tables\">{tables}</div></div>\n</section>")


def _table(caption: str, rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return f"<table><caption>{_e(caption)}</caption><tr><td>(none)</td></tr></table>"
    columns = list(rows[0])
    head = "".join(f"<th>{_e(c).replace('_', '_<wbr>')}</th>" for c in columns)  # break long names at _
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    return f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        text = str(value)
        return f"<td class=\"long\">{_e(text)}</td>" if len(text) > 40 else f"<td>{_e(text)}</td>"
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"
    return f"<td class=\"n\">{_e(text)}</td>"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#212121}
h1{margin:0 0 .2em}h2{margin:1.6em 0 .3em;border-bottom:1px solid #cfd8dc}
.meta{color:#607d8b;margin:0 0 1em}nav{margin:1em 0;font-size:13px}a{color:#1565c0}
.tiles{display:flex;flex-wrap:wrap;gap:.8em}.tiles div{background:#eceff1;border-radius:6px;padding:.5em .9em}
.tiles b{display:block;font-size:18px}.tiles span{color:#546e7a;font-size:12px}
.row{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}figure{margin:0}
img.plot{max-width:100%;height:auto}.tables{flex:1 1 28em;min-width:0;overflow-x:auto}
table{border-collapse:collapse;margin:0 0 1em;font-size:12px}caption{text-align:left;font-weight:600;padding:.3em 0;white-space:nowrap}
th,td{border-bottom:1px solid #eceff1;padding:.2em .6em;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f5f7f8;white-space:normal}td.long{white-space:normal;overflow-wrap:anywhere;min-width:16em;max-width:38em}td.n{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#78909c;font-style:italic}code{font-size:12px}
"""
