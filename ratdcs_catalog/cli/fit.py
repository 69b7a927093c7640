"""Tables that fit the terminal: the long columns (paths, error messages) cut with an ellipsis.

``ratdcs report failed`` once printed lines of ~450 characters (issue 19): a URL, a path and a
full error message per file. Here the short columns keep their width and the long ones share
what is left of the terminal's width; ``--wide`` or ``--json`` give the full text.
"""

from __future__ import annotations

import shutil
from typing import Any, Sequence

__all__ = ["ELLIPSIS", "cut_end", "cut_middle", "fit_rows", "terminal_width"]

ELLIPSIS = "…"
GAP = 2  # spaces between columns in render_rows' aligned table


def terminal_width(fallback: int = 100) -> int:
    """Columns of the terminal (``COLUMNS`` when set; ``fallback`` when the output is not a terminal)."""
    return shutil.get_terminal_size((fallback, 24)).columns


def cut_end(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, its end replaced by an ellipsis if it must be cut."""
    return text if len(text) <= width else text[:max(width - 1, 0)] + ELLIPSIS


def cut_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters keeping its start and end (a path keeps its file name)."""
    if len(text) <= width:
        return text
    tail = (width - 1) * 2 // 3
    return text[:width - 1 - tail] + ELLIPSIS + text[len(text) - tail:] if tail else cut_end(text, width)


def fit_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], width: int,
             cuts: dict[str, str]) -> list[dict[str, Any]]:
    """``rows`` (only ``columns``) with the columns named in ``cuts`` ("end" or "middle") shortened
    so the aligned table is at most ``width`` characters wide. Whitespace runs in a cut column
    (a multi-line error) become one space, so each row stays one line."""
    texts = [{c: _text(r.get(c), c in cuts) for c in columns} for r in rows]
    natural = {c: max([len(c)] + [len(t[c]) for t in texts]) for c in columns}
    fixed = sum(natural[c] for c in columns if c not in cuts) + GAP * (len(columns) - 1)
    widths = _share(width - fixed, {c: natural[c] for c in columns if c in cuts})
    cutters = {"end": cut_end, "middle": cut_middle}
    return [{c: cutters[cuts[c]](t[c], widths[c]) if c in cuts else r.get(c) for c in columns}
            for t, r in zip(texts, rows)]


def _text(value: Any, collapse: bool) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.split()) if collapse else text


def _share(room: int, natural: dict[str, int]) -> dict[str, int]:
    """Widths for the cut columns: the narrow ones get all they need, the rest share equally
    (never narrower than their header: on a very narrow terminal the lines overflow instead)."""
    widths, left = {}, dict(sorted(natural.items(), key=lambda kv: kv[1]))
    while left:
        column, need = next(iter(left.items()))
        widths[column] = max(min(need, room // len(left)), len(column))
        room -= widths[column]
        del left[column]
    return widths
