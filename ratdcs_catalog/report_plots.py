"""The HTML report's figures: matplotlib drawn straight to SVG text, one function per figure.

Each function takes rows the manifest already aggregated (a few hundred at most, however large
the manifest) and returns a complete SVG document. Figures are drawn on ``matplotlib.figure.Figure``
with no pyplot, so a notebook's backend and open figures are left alone; text is drawn as paths
(``svg.fonttype = path``), so the file needs no font; dense layers (the sky map's cells or
points) are rasterized into the SVG as one PNG, so a million targets cost the same as a thousand.

matplotlib is an optional dependency (``pip install 'ratdcs[plots]'``), imported by
``load_matplotlib`` only when an HTML report is asked for.
"""

from __future__ import annotations

import io
import math
from datetime import datetime, timezone
from typing import Any, Sequence

from .errors import UsageError

__all__ = ["bytes_figure", "completeness_figure", "failures_figure", "kinds_figure", "load_matplotlib", "sky_figure",
           "splits_figure", "states_figure", "throughput_figure"]

STATE_COLORS = {"done": "#2e7d32", "downloading": "#1565c0", "pending": "#9e9e9e", "failed": "#c62828"}
SPLIT_COLORS = {"train": "#1565c0", "val": "#ef6c00", "test": "#6a1b9a", "unassigned": "#9e9e9e"}
SOURCE_COLORS = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#455a64")
_RC = {"svg.fonttype": "none", "svg.hashsalt": "ratdcs", "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False}


def load_matplotlib():
    """matplotlib's ``Figure``, or a ``UsageError`` naming the extra that brings it."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("the HTML report draws its plots with matplotlib, which is not installed",
                         hint="pip install 'ratdcs[plots]' (or pip install matplotlib)") from None
    return matplotlib, Figure


def _figure(width: float, height: float, **kwargs):
    return load_matplotlib()[1](figsize=(width, height), layout="constrained", **kwargs)


def _svg(fig) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format="svg", dpi=100,
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]  # without the XML prolog and DOCTYPE: an image needs neither


def _draw(width: float, height: float, paint, **kwargs) -> str:
    """A figure of ``width`` x ``height`` inches, painted by ``paint(fig)`` under the report's style."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(width, height, **kwargs)
        paint(fig)
        return _svg(fig)


def _hbars(ax, labels: Sequence[str], stacks: dict[str, Sequence[float]], colors: dict[str, str]) -> None:
    """Horizontal bars, one per label, stacked from ``stacks`` (name -> value per label), first label on top."""
    y = list(range(len(labels)))
    left = [0.0] * len(labels)
    for name, values in stacks.items():
        if any(values):
            ax.barh(y, values, left=left, color=colors.get(name), label=name, height=0.6)
        left = [a + b for a, b in zip(left, values)]
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)  # beside, never on a bar


def states_figure(states: Sequence[dict[str, Any]]) -> str:
    """Files per source, stacked by state (rows of ``source_state_summary``)."""
    sources = sorted({r["source"] for r in states})
    stacks = {state: [sum(r["files"] for r in states if r["source"] == s and r["state"] == state) for s in sources]
              for state in STATE_COLORS}

    def paint(fig):
        ax = fig.add_subplot()
        _hbars(ax, sources, stacks, STATE_COLORS)
        ax.set_xlabel("files")
    return _draw(5.6, 0.5 + 0.45 * len(sources), paint)


def kinds_figure(kinds: Sequence[dict[str, Any]]) -> str:
    """Files per source and product kind: done, failed, the rest (rows of ``kind_progress``)."""
    labels = [f"{r['source']} {r['product_kind']}" for r in kinds]
    stacks = {"done": [r["files_done"] or 0 for r in kinds], "failed": [r["files_failed"] or 0 for r in kinds],
              "pending": [r["files_planned"] - (r["files_done"] or 0) - (r["files_failed"] or 0) for r in kinds]}

    def paint(fig):
        ax = fig.add_subplot()
        _hbars(ax, labels, stacks, STATE_COLORS)
        ax.set_xlabel("files")
    return _draw(5.6, 0.5 + 0.35 * len(labels), paint)


def _byte_unit(largest: float) -> tuple[float, str]:
    for scale, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if largest >= scale:
            return scale, unit
    return 1.0, "bytes"


def bytes_figure(states: Sequence[dict[str, Any]]) -> str:
    """Bytes planned against bytes downloaded per source (rows of ``source_state_summary``)."""
    sources = sorted({r["source"] for r in states})
    planned = [sum(r["bytes"] or 0 for r in states if r["source"] == s) for s in sources]
    done = [sum(r["bytes"] or 0 for r in states if r["source"] == s and r["state"] == "done") for s in sources]
    scale, unit = _byte_unit(max(planned, default=0))

    def paint(fig):
        ax = fig.add_subplot()
        y = range(len(sources))
        ax.barh([i - 0.18 for i in y], [p / scale for p in planned], height=0.36, color="#90a4ae", label="planned")
        ax.barh([i + 0.18 for i in y], [d / scale for d in done], height=0.36, color=STATE_COLORS["done"],
                label="downloaded")
        ax.set_yticks(list(y), sources)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return _draw(5.6, 0.6 + 0.5 * len(sources), paint)


def throughput_figure(buckets: Sequence[dict[str, Any]], start: int, bucket_seconds: int) -> str:
    """MB/s and attempts (succeeded or failed) per time bucket of the transfer log."""
    times = [datetime.fromtimestamp(start + b["bucket"] * bucket_seconds, tz=timezone.utc) for b in buckets]
    rates = [(b["bytes"] or 0) / 1e6 / bucket_seconds for b in buckets]
    failed = [b["failed_attempts"] or 0 for b in buckets]
    ok = [b["attempts"] - f for b, f in zip(buckets, failed)]
    width = bucket_seconds / 86400 * 0.9  # bar width in days, matplotlib's date unit

    def paint(fig):
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
        top.bar(times, rates, width=width, align="edge", color="#1565c0")
        top.set_ylabel("MB/s")
        top.set_title(f"per {_duration(bucket_seconds)}, UTC", fontsize=8, loc="right")
        bottom.bar(times, ok, width=width, align="edge", color=STATE_COLORS["done"], label="succeeded")
        bottom.bar(times, failed, width=width, align="edge", bottom=ok, color=STATE_COLORS["failed"], label="failed")
        bottom.set_ylabel("attempts")
        bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        _date_axis(bottom)
    return _draw(6.4, 3.4, paint)


def _date_axis(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))


def _duration(seconds: int) -> str:
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return "second" if seconds == 1 else f"{seconds} seconds"


def failures_figure(failures: Sequence[dict[str, Any]]) -> str:
    """Failed attempts of the transfer log by kind: retried, and given up on."""
    kinds = [r["error_kind"] for r in failures]
    stacks = {"gave up": [r["gave_up"] or 0 for r in failures],
              "retried": [r["attempts"] - (r["gave_up"] or 0) for r in failures]}

    def paint(fig):
        ax = fig.add_subplot()
        _hbars(ax, kinds, stacks, {"gave up": STATE_COLORS["failed"], "retried": "#ef9a9a"})
        ax.set_xlabel("attempts")
    return _draw(5.6, 0.6 + 0.35 * len(kinds), paint)


def sky_figure(*, points: Sequence[tuple[str, float, float]] = (), bins: Sequence[tuple[int, int, int]] = (),
               step_deg: float = 2.0) -> str:
    """The targets on the sky (Mollweide, RA increasing to the left): one dot per target coloured
    by source (``points``, drawn as vectors: keep them to a thousand or so), or targets per cell on a log scale (``bins`` of ``step_deg``)."""
    def paint(fig):
        ax = fig.add_subplot(projection="mollweide")
        if bins:
            _paint_bins(fig, ax, bins, step_deg)
        else:
            _paint_points(ax, points)
        ticks = list(range(-150, 180, 30))
        ax.set_xticks([math.radians(t) for t in ticks], [f"{(-t) % 360}°" for t in ticks], fontsize=7)
        ax.grid(True, color="#cfd8dc", linewidth=0.5)
    return _draw(6.4, 3.5, paint)


def _sky_x(ra_deg: float) -> float:
    """Mollweide longitude (radians) of a right ascension, east to the left as on the sky."""
    return -math.radians((ra_deg + 180.0) % 360.0 - 180.0)


def _paint_points(ax, points) -> None:
    sources = sorted({p[0] for p in points})
    for n, source in enumerate(sources):
        mine = [p for p in points if p[0] == source]
        ax.scatter([_sky_x(p[1]) for p in mine], [math.radians(p[2]) for p in mine], s=14,
                   color=SOURCE_COLORS[n % len(SOURCE_COLORS)], label=f"{source} ({len(mine)})",
                   edgecolors="none")
    if sources:
        ax.legend(loc="lower right", fontsize=8, bbox_to_anchor=(1.08, -0.12), frameon=False)


def _paint_bins(fig, ax, bins, step_deg: float) -> None:
    import numpy as np
    from matplotlib.colors import LogNorm

    n_x, n_y = round(360 / step_deg), round(180 / step_deg)
    counts = np.zeros((n_y, n_x))
    for i, j, targets in bins:
        x = math.degrees(_sky_x((i + 0.5) * step_deg))
        counts[min(max(j, 0), n_y - 1), int((x + 180) // step_deg) % n_x] += targets
    edges_x = np.radians(np.linspace(-180, 180, n_x + 1))
    edges_y = np.radians(np.linspace(-90, 90, n_y + 1))
    mesh = ax.pcolormesh(edges_x, edges_y, np.ma.masked_equal(counts, 0), norm=LogNorm(vmin=1), cmap="viridis",
                         rasterized=True, shading="flat")
    fig.colorbar(mesh, ax=ax, shrink=0.6, label=f"targets per {step_deg:g}° cell")


def completeness_figure(rows: Sequence[dict[str, Any]], buckets: int = 10) -> str:
    """Targets per completeness bucket (share of their files done), stacked by source."""
    sources = sorted({r["source"] for r in rows})
    labels = [f"{100 * b // buckets}-{100 * (b + 1) // buckets - 1}%" for b in range(buckets)] + ["100%"]

    def paint(fig):
        ax = fig.add_subplot()
        bottom = [0] * (buckets + 1)
        for n, source in enumerate(sources):
            counts = [sum(r["targets"] for r in rows if r["source"] == source and r["bucket"] == b)
                      for b in range(buckets + 1)]
            ax.bar(range(buckets + 1), counts, bottom=bottom, color=SOURCE_COLORS[n % len(SOURCE_COLORS)],
                   label=source)
            bottom = [a + b for a, b in zip(bottom, counts)]
        ax.set_xticks(range(buckets + 1), labels, rotation=45, ha="right", fontsize=7)
        ax.set_xlabel("files done, per target")
        ax.set_ylabel("targets")
        ax.legend(fontsize=8, frameon=False)
    return _draw(5.6, 3.2, paint)


def splits_figure(splits: Sequence[dict[str, Any]]) -> str:
    """Files per source and split, stacked (rows of ``split_summary``)."""
    sources = sorted({r["source"] for r in splits})
    names = [s for s in SPLIT_COLORS if any(r["split"] == s for r in splits)]
    stacks = {name: [sum(r["files"] or 0 for r in splits if r["source"] == s and r["split"] == name)
                     for s in sources] for name in names}

    def paint(fig):
        ax = fig.add_subplot()
        _hbars(ax, sources, stacks, SPLIT_COLORS)
        ax.set_xlabel("files")
    return _draw(5.6, 0.6 + 0.45 * len(sources), paint)
