"""What the universe is made of: files (``Product``) and MAST observations (``Observation``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import dvt, fitsgen, pixels, placeholders
from .kinds import KINDS, describe


@dataclass(frozen=True)
class Product:
    """One downloadable file of the universe.

    ``path`` is the URL path the sandbox serves it at (for MAST files the static cloud-copy
    path that a download may redirect to); ``size`` is the exact byte count served.
    ``description`` and ``subgroup`` are the MAST product row's (``subgroup`` None: JSON null).
    """

    filename: str
    data_uri: str
    size: int
    path: str
    kind: str                 # kinds.KINDS key (kepler_llc, tess_tp, ...) or ztf_sci
    target_id: int            # KIC, EPIC or TIC (0 for ZTF)
    period: int               # quarter, campaign or sector (0 for ZTF and whole-mission files)
    nrows: int                # light-curve rows (image height for ZTF; 0 for other files)
    subgroup: str | None      # productSubGroupDescription (LLC, SLC, LC, FAST-LC, TP, ..., SCI)
    obs_id: str = ""
    description: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Observation:
    """One MAST (CAOM) observation: a Kepler star's cadence, a K2 campaign (or one part of a
    split campaign), a TESS sector's cadence. Its files come from ``Universe.observation_files``."""

    obs_id: str
    mission: str              # Kepler, K2, TESS (obs_collection and project)
    target_id: int
    cadence: str              # long, short (Kepler, K2); 120s, 20s (TESS)
    sequence_number: int      # K2 campaign, TESS sector; -999 for Kepler, as MAST answers
    exptime: int              # t_exptime, seconds
    light_curves: tuple       # its light-curve Products, in order (the first is dataURL for K2/TESS)
    part: int = 0             # K2 split campaign part of a one-part observation (C9, C11); else 0


def light_curve(kind: str, names: tuple[str, str, str], *, target: int, period: int, period_text: str,
                nrows: int, obs_id: str, **extra) -> Product:
    """A light-curve Product: size from fitsgen's formula for ``nrows`` rows."""
    filename, uri, path = names
    return Product(filename=filename, data_uri=uri, size=fitsgen.lightcurve_size(kind, nrows), path=path,
                   kind=kind, target_id=target, period=period, nrows=nrows, subgroup=KINDS[kind].subgroup,
                   obs_id=obs_id, description=describe(kind, period_text), extra=extra)


def other_file(kind: str, names: tuple[str, str, str], *, target: int, obs_id: str, period: int = 0,
               period_text: str = "", rows: int = 0, scale: float = 1.0, members=(), **extra) -> Product:
    """A file that is not a light curve; its size follows its recipe (``pixels``, ``dvt``,
    ``placeholders``). ``extra`` holds what its bytes need: a pixel file's ``shape`` (rows, cols)
    and ``window``/``month``, a DV file's ``n_tces``."""
    filename, uri, path = names
    spec = KINDS[kind]
    if spec.recipe in ("tpf", "tpf.gz"):
        size = pixels.tpf_size(kind, extra["shape"], rows)
        size = placeholders.gzip_size(size) if spec.recipe == "tpf.gz" else size
    elif spec.recipe == "dvt":
        size = dvt.dvt_size(kind, extra["n_tces"], rows)
    elif spec.recipe == "tar":
        size = placeholders.tar_size(m.size for m in members)
    else:
        size = placeholders.spread_size(spec.base_bytes, filename, scale)
    if members:
        extra["members"] = tuple(members)
    if rows:
        extra["rows"] = rows
    return Product(filename=filename, data_uri=uri, size=size, path=path, kind=kind, target_id=target,
                   period=period, nrows=0, subgroup=spec.subgroup, obs_id=obs_id,
                   description=describe(kind, period_text), extra=extra)
