"""From the manifest to a training set: the done files as records, a table, an index file, or
lightkurve objects (issue 18).

A record is one done file with its absolute path, when it was observed, how it was verified,
its split, its label (the target's disposition: Kepler ``koi_disposition``, K2 ``disposition``,
TESS ``tfopwg_disp``) and its target's catalog parameters. Records stream from SQLite
(``iter_records``), so a million-row manifest never has to fit in memory; the table, the index
file and the light curves are built from that stream. astropy, pyarrow and lightkurve are
imported by the functions that need them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .errors import UsageError

__all__ = ["FileRecord", "RECORD_COLUMNS", "check_filters", "iter_records", "light_curve_kinds", "pixel_kinds",
           "read_light_curves", "read_pixel_files", "records_table", "write_index"]

INDEX_FORMATS = ("csv", "parquet")
# The period column of each source's catalog row(s), as plan stored them in catalog_row_json.
_PERIOD_KEYS = {"kepler": "koi_period", "k2": "pl_orbper", "tess": "pl_orbper"}


@dataclasses.dataclass(frozen=True)
class FileRecord:
    """One done file, as a training set sees it. ``label`` is the target's disposition;
    ``period_days`` the first catalog row's orbital period (None where the catalog gives none)."""

    path: str
    source: str
    target_id: str
    product_kind: str
    quarter: int | None
    campaign: int | None
    campaign_part: int | None
    sector: int | None
    size_bytes: int | None
    sha256: str | None
    verify_level: str | None
    split: str | None
    label: str | None
    ra_deg: float | None
    dec_deg: float | None
    teff_k: float | None
    logg_cgs: float | None
    radius_rsun: float | None
    mass_msun: float | None
    magnitude: float | None
    distance_pc: float | None
    period_days: float | None
    rel_path: str
    file_id: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RECORD_COLUMNS = tuple(f.name for f in dataclasses.fields(FileRecord))
_INT_COLUMNS = ("quarter", "campaign", "campaign_part", "sector", "size_bytes", "file_id")
_FLOAT_COLUMNS = ("ra_deg", "dec_deg", "teff_k", "logg_cgs", "radius_rsun", "mass_msun", "magnitude",
                  "distance_pc", "period_days")


# ---- filters and records -------------------------------------------------------------------------

def _values(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def check_filters(source=None, split=None, kind=None) -> tuple[tuple[str, ...], ...]:
    """Each filter (a value, a list, or None for all) as a tuple, an unknown value refused."""
    from .dataset import SPLITS
    from .registry import KINDS, source_names

    chosen = []
    for name, value, known in (("source", source, source_names()), ("split", split, SPLITS),
                               ("kind", kind, tuple(KINDS))):
        values = _values(value)
        unknown = [v for v in values if v not in known]
        if unknown:
            raise UsageError(f"unknown {name} {', '.join(map(repr, unknown))}",
                             hint=f"choose from {', '.join(known)}")
        chosen.append(values)
    return tuple(chosen)


def iter_records(manifest, data_dir: Path, *, sources: Sequence[str] = (), splits: Sequence[str] = (),
                 kinds: Sequence[str] = ()) -> Iterator[FileRecord]:
    """The done files (of these sources, splits and kinds) as ``FileRecord``s, in file_id order."""
    data_dir = Path(data_dir).expanduser().absolute()
    for row in manifest.iter_done_file_records(sources=sources, splits=splits, kinds=kinds):
        fields = {k: row[k] for k in row.keys() if k != "catalog_row_json"}
        yield FileRecord(path=str(data_dir / row["rel_path"]), **fields,
                         period_days=period_from_catalog(row["source"], row["catalog_row_json"]))


def period_from_catalog(source: str, catalog_row_json: str | None) -> float | None:
    """The first catalog row's orbital period in days: Kepler ``koi_period``, K2 and TESS ``pl_orbper``
    (a host with several planets has one row each; the first is the one plan listed first)."""
    key = _PERIOD_KEYS.get(source)
    if key is None or not catalog_row_json:
        return None
    rows = json.loads(catalog_row_json)
    if isinstance(rows, dict):  # tess: {"toi": [rows], "tic": {...}}
        rows = rows.get("toi") or []
    for row in rows if isinstance(rows, list) else []:
        try:
            return float(row[key])
        except (KeyError, TypeError, ValueError):
            continue
    return None


# ---- a table, an index file ----------------------------------------------------------------------

def records_table(records: Iterable[FileRecord]):
    """An ``astropy.table.Table`` of the records, one row per file; missing values masked."""
    import numpy as np
    from astropy.table import MaskedColumn, Table

    columns: dict[str, list] = {name: [] for name in RECORD_COLUMNS}
    for record in records:
        for name in RECORD_COLUMNS:
            columns[name].append(getattr(record, name))
    table = Table()
    for name, values in columns.items():
        mask = [v is None for v in values]
        dtype = np.int64 if name in _INT_COLUMNS else np.float64 if name in _FLOAT_COLUMNS else str
        fill = 0 if dtype is np.int64 else np.nan if dtype is np.float64 else ""
        data = np.array([fill if m else v for v, m in zip(values, mask)], dtype=dtype)
        table[name] = MaskedColumn(data, mask=mask) if any(mask) else data
    return table


def write_index(records: Iterable[FileRecord], path: str | os.PathLike, fmt: str) -> int:
    """Write the records to ``path`` as CSV or Parquet, atomically; returns the row count."""
    from .exports import atomic_output

    if fmt not in INDEX_FORMATS:
        raise UsageError(f"unknown index format {fmt!r}", hint=f"choose {' or '.join(INDEX_FORMATS)}")
    writer = _write_parquet if fmt == "parquet" else _write_csv
    if fmt == "parquet":
        _pyarrow()  # before the output file is opened: a missing pyarrow leaves nothing behind
    with atomic_output(path) as fh:
        return writer(records, fh)


def _write_csv(records: Iterable[FileRecord], fh) -> int:
    import csv

    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(RECORD_COLUMNS)
    count = 0
    for count, record in enumerate(records, 1):
        writer.writerow(["" if v is None else v for v in dataclasses.astuple(record)])
    return count


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UsageError("Parquet needs pyarrow, which is not installed",
                         hint="pip install pyarrow, or write CSV with --format csv") from None
    return pyarrow


def _write_parquet(records: Iterable[FileRecord], fh, batch_rows: int = 50_000) -> int:
    """Parquet in row groups of ``batch_rows``, so a million records never sit in memory at once."""
    pa = _pyarrow()
    types = {name: pa.int64() if name in _INT_COLUMNS else pa.float64() if name in _FLOAT_COLUMNS else pa.string()
             for name in RECORD_COLUMNS}
    schema = pa.schema([(name, types[name]) for name in RECORD_COLUMNS])
    fh.flush()
    count, batch = 0, []
    with pa.parquet.ParquetWriter(fh.buffer, schema) as writer:
        for record in records:
            batch.append(record.as_dict())
            if len(batch) == batch_rows:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count, batch = count + len(batch), []
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return count + len(batch)


# ---- lightkurve ----------------------------------------------------------------------------------

def light_curve_kinds() -> tuple[str, ...]:
    """The registry's kinds that lightkurve reads as light curves (checked as light curves)."""
    from .registry import KINDS

    return tuple(k.name for k in KINDS.values() if k.verifier == "ratdcs_catalog.verify:check_light_curve")


def pixel_kinds() -> tuple[str, ...]:
    """The registry's kinds that lightkurve reads as target pixel files (tpf*, TESScut cutouts)."""
    from .registry import KINDS

    return tuple(k.name for k in KINDS.values() if k.verifier == "ratdcs_catalog.verify:check_target_pixel_file")


def lightkurve_module():
    try:
        import lightkurve
    except ImportError:
        raise UsageError("loading light curves needs lightkurve, which is not installed",
                         hint="pip install 'ratdcs[lightkurve]'") from None
    return lightkurve


def only_kinds(kinds: Sequence[str], allowed: Sequence[str], what: str) -> tuple[str, ...]:
    """``kinds`` if each is one of ``allowed`` (all of them when none is given)."""
    wrong = [k for k in kinds if k not in allowed]
    if wrong:
        raise UsageError(f"{', '.join(map(repr, wrong))} {'is' if len(wrong) == 1 else 'are'} not {what}",
                         hint=f"choose from {', '.join(allowed)}")
    return tuple(kinds) or tuple(allowed)


def _tag(obj, record: FileRecord):
    """The record's label, target, split and path in the object's ``meta``.

    A target pixel file's ``meta`` is a read-only view of its primary header (lightkurve's
    ``HduToMetaMapping``): it becomes a dict copy of that header, with the record's keys added."""
    tags = {"LABEL": record.label, "TARGET_ID": record.target_id, "SOURCE": record.source,
            "SPLIT": record.split, "PRODUCT_KIND": record.product_kind, "PATH": record.path}
    if hasattr(obj.meta, "update"):
        obj.meta.update(tags)
    else:
        obj.meta = {**obj.meta, **tags}
    return obj


def read_light_curves(records: Iterable[FileRecord], *, remove_nans: bool, normalize: bool, quality_bitmask: str,
                      sigma_clip: float):
    """A ``LightCurveCollection``, each read with ``quality_bitmask`` then cleaned as asked
    (``sigma_clip`` 0: no clipping)."""
    lk = lightkurve_module()
    curves = []
    for record in records:
        lc = lk.read(record.path, quality_bitmask=quality_bitmask)
        if remove_nans:
            lc = lc.remove_nans()
        if normalize:
            lc = lc.normalize()
        if sigma_clip:
            lc = lc.remove_outliers(sigma=sigma_clip)
        curves.append(_tag(lc, record))
    return lk.LightCurveCollection(curves)


def read_pixel_files(records: Iterable[FileRecord], *, quality_bitmask: str):
    """A ``TargetPixelFileCollection`` of the records' files."""
    lk = lightkurve_module()
    return lk.TargetPixelFileCollection([_tag(lk.read(r.path, quality_bitmask=quality_bitmask), r)
                                         for r in records])
