"""A survey-sized TESS sector: every SPOC 2-min target of sector 40, made on demand.

Sector 40 holds the TOI hosts the universe drew for it plus ``N_SURVEY`` more 2-min targets
that host no TOI (about what SPOC processed in a real sector: ~20,000 2-min targets). They are
not built with the rest of the universe: a survey star is a pure function of ``(seed, index)``
(TIC id, position, magnitude, stamp), and its observation and product rows are made only when
a request reaches them. So the sandbox starts as fast as without them, a Mast.Caom.Filtered
page of this sector costs the rows on that page, and no FITS byte exists until a file is asked for.

What they are in: ``Mast.Caom.Filtered`` (filters on the columns below), ``Mast.Caom.Products``
(by their obsids) and downloads of their files. What they are not in: cone and position
searches, the TIC service, TESScut and ``Universe.tess_stars`` (so tests that count a region's
or the catalog's stars see the universe as before). A survey star has a light curve and a
target pixel file, and no DV products (it has no TCE).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

from . import pixels

SECTOR = 40
N_SURVEY = 20_000
FIRST_TID = 480_000_000   # above every TOI host's TIC id (10e6 .. 470e6)
TID_STRIDE = 97           # tid = FIRST_TID + index * TID_STRIDE + jitter(index), jitter < TID_STRIDE
FIRST_OBSID = 8_000_000_000  # below the main catalog's 9e9 block: no obsid is in both
# Columns whose value differs from one survey observation to the next; every other CAOM column
# of a survey row has one value for all of them (see SurveySector.filter_rows).
VARYING = frozenset({"target_name", "obs_id", "s_ra", "s_dec", "s_region", "obsid", "objID", "proposal_id",
                     "dataURL", "jpegURL"})


class SurveySector:
    """The survey stars of one universe (by index 0..N_SURVEY-1) and their CAOM rows."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._tic_rows: dict[int, dict] = {}  # by index, as asked for

    @functools.cached_property
    def _draws(self):
        """Every survey star's numbers, drawn at once on first use (about a millisecond)."""
        import numpy as np

        rng = np.random.default_rng([self.seed, SECTOR])
        jitter = rng.integers(0, TID_STRIDE, N_SURVEY)
        uniform = rng.random((8, N_SURVEY))
        return (FIRST_TID + np.arange(N_SURVEY) * TID_STRIDE + jitter).tolist(), uniform.round(9).tolist()

    def tid(self, index: int) -> int:
        return self._draws[0][index]

    def index_of_tid(self, tid) -> int | None:
        """The survey index of a TIC id, or None if it is no survey star."""
        try:
            tid = int(str(tid).strip())
        except ValueError:
            return None
        index = (tid - FIRST_TID) // TID_STRIDE
        return index if 0 <= index < N_SURVEY and self.tid(index) == tid else None

    def tic_row(self, tid: int) -> dict | None:
        """The star's TIC-like parameters (what its files' headers need), or None."""
        i = self.index_of_tid(tid)
        if i is None:
            return None
        if i not in self._tic_rows:
            self._tic_rows[i] = self._make_tic_row(i)
        return self._tic_rows[i]

    def _make_tic_row(self, i: int) -> dict:
        draws = self._draws[1]

        def u(k: int) -> float:
            return draws[k - 1][i]

        # Sector 40 looked north of the ecliptic: a band of RA 240-330, Dec +20..+82.
        return {"ID": self.tid(i), "ra": round(240 + 90 * u(1), 6),
                "dec": round(math.degrees(math.asin(0.34 + 0.65 * u(2))), 6),
                "Tmag": round(7.0 + 8.0 * u(3), 3), "Teff": round(3400 + 3600 * u(4)),
                "logg": round(3.9 + 0.8 * u(5), 3), "rad": round(0.4 + 1.8 * u(6), 3),
                "mass": round(0.5 + 1.0 * u(7), 3), "d": round(20 + 900 * u(8), 2)}

    def star(self, tid: int) -> dict | None:
        """The star as universe_tess describes one: sectors, stamp, no TCE."""
        row = self.tic_row(tid)
        if row is None:
            return None
        return {"tid": row["ID"], "sectors": (SECTOR,), "fast_sectors": (), "n_tces": 0,
                "stamp": pixels.stamp_shape("tess_tp", row["Tmag"])}

    # ----------------------------------------------------------------- CAOM
    def obsid(self, index: int) -> int:
        return FIRST_OBSID + index

    def index_of_obsid(self, obsid) -> int | None:
        try:
            index = int(str(obsid).strip()) - FIRST_OBSID
        except ValueError:
            return None
        return index if 0 <= index < N_SURVEY else None

    def filter_rows(self, filters: list, matches: Callable[[object, dict], bool],
                    make_row: Callable[[int], dict]) -> Sequence[dict]:
        """The survey rows a Mast.Caom.Filtered query's ``filters`` match, lazily.

        A filter on ``target_name`` or ``obsid`` values picks indexes by arithmetic (a query for
        other stars ends there, having made nothing); one on a column every survey row shares is
        decided once, on a first row; any other (a position column) is checked row by row, which
        makes every row (still no file).
        """
        indexes: Sequence[int] = range(N_SURVEY)
        rest = []
        for spec in filters:
            name = spec["paramName"]
            if name in ("target_name", "obsid") and not spec.get("freeText") and \
                    not any(isinstance(v, dict) for v in spec.get("values") or []):
                lookup = self.index_of_tid if name == "target_name" else self.index_of_obsid
                wanted = sorted({lookup(v) for v in spec.get("values") or []} - {None})
                indexes = [i for i in wanted if i in indexes]
            else:
                rest.append(spec)
        if not indexes:
            return []
        sample, per_row = None, []
        for spec in rest:
            if spec["paramName"] in VARYING:
                per_row.append(spec)
                continue
            sample = sample or make_row(indexes[0])
            if not matches(sample.get(spec["paramName"]), spec):
                return []
        if per_row:
            rows = [make_row(i) for i in indexes]
            return [r for r in rows if all(matches(r.get(s["paramName"]), s) for s in per_row)]
        return LazyRows(indexes, make_row)


class LazyRows(Sequence):
    """Rows made from indexes only when read: a page of a 20,000-row answer makes its own rows."""

    def __init__(self, indexes: Sequence[int], make_row: Callable[[int], dict]):
        self.indexes, self.make_row = indexes, make_row

    def __len__(self) -> int:
        return len(self.indexes)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self.make_row(i) for i in self.indexes[item]]
        return self.make_row(self.indexes[item])


class Chain(Sequence):
    """Two sequences read as one (the main catalog's rows, then the survey's), sliced lazily."""

    def __init__(self, first: Sequence, second: Sequence):
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def __getitem__(self, item):
        if not isinstance(item, slice):
            return self[item:item + 1][0] if item >= 0 else self[len(self) + item]
        start, stop, step = item.indices(len(self))
        if step != 1:
            return [self[i] for i in range(start, stop, step)]
        n = len(self.first)
        head = list(self.first[start:min(stop, n)]) if start < n else []
        return head + list(self.second[max(start - n, 0):max(stop - n, 0)])
