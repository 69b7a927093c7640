"""The manifest exported: per-star TESS metadata JSON, the files table, URL lists, a portable manifest.

- ``export_tess_metadata``: the seed project's per-star JSON, completed (TOIs, periods, sectors).
- ``export_files`` / ``export_urls``: the manifest as a flat table, or as input for aria2c / curl / wget.
- ``export_manifest``: a copy of the manifest another machine can sync from (every row pending,
  done rows' bytes pinned by their sha256, no local paths, leases or history).

Everything is written through ``atomic_output`` (a temporary file renamed into place).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

from .errors import DataDirError, UsageError
from .paths import check_relative_path, check_url

__all__ = [
    "EXPORT_COLUMNS",
    "NOT_DONE",
    "URL_FORMATS",
    "atomic_output",
    "export_files",
    "export_manifest",
    "export_tess_metadata",
    "export_urls",
    "tess_metadata",
]

URL_FORMATS = ("aria2", "curl", "list")
NOT_DONE = ("pending", "downloading", "failed")


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, option: str = "--output") -> Iterator[TextIO]:
    """Write a text file via a temporary file in the same directory, renamed into place on success;
    a failure leaves no half-written file. Unwritable places raise ``DataDirError`` (its hint
    names ``option``, the flag that chose the path)."""
    path = Path(path).expanduser().absolute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # mkstemp makes the file 0600; an export is an ordinary file, made as the umask says.
        os.fchmod(fd, 0o666 & ~_current_umask())
    except OSError as exc:
        raise DataDirError(f"cannot write {path}: {exc.strerror or exc}",
                           hint=f"choose a writable place with {option}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # disk full, or the path is a directory
            raise DataDirError(f"cannot write {path}: {exc.strerror or exc}",
                               hint=f"choose a writable place with {option}") from None
        raise


def export_tess_metadata(manifest, out_dir: Path) -> list[Path]:
    """Write ``TIC{id}_metadata.json`` (the seed project's schema, completed) for every TESS target
    with downloaded files; returns the paths written. Fields: see ``tess_metadata``.

    Example::

        with open_manifest("data/manifest.sqlite", readonly=True) as m:
            export_tess_metadata(m, Path("data/tess/metadata"))
    """
    by_target: dict[str, list] = {}
    for row in manifest.done_files_of("tess"):
        by_target.setdefault(row["target_id"], []).append(row)
    targets = manifest.targets_of("tess")
    written = []
    for target_id, rows in by_target.items():
        document = tess_metadata(target_id, targets.get(target_id), rows)
        path = Path(out_dir) / f"TIC{int(target_id)}_metadata.json"
        with atomic_output(path) as fh:
            json.dump(document, fh, indent=2)
            fh.write("\n")
        written.append(path)
    return written


_SECTOR = re.compile(r"-s(\d{4})-")


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no value


def _toi_rows(target) -> list[dict]:
    """The star's TOI rows as the Exoplanet Archive gave them (targets.catalog_row_json["toi"])."""
    try:
        catalog = json.loads(target["catalog_row_json"] or "{}") if target is not None else {}
    except (TypeError, ValueError):
        return []
    rows = catalog.get("toi") if isinstance(catalog, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _observation(f) -> dict[str, Any]:
    name = f["rel_path"].rsplit("/", 1)[-1]
    sector = f["sector"] if f["sector"] is not None else (int(m.group(1)) if (m := _SECTOR.search(name)) else None)
    return {"filename": name, "sector": sector, "product_kind": f["product_kind"], "path": f["rel_path"],
            "url": f["url"], "archive_uri": f["archive_uri"],
            "size_bytes": f["observed_size_bytes"] if f["observed_size_bytes"] is not None
            else f["expected_size_bytes"],
            "sha256": f["observed_sha256"], "downloaded_at": f["downloaded_at"]}


def tess_metadata(target_id: str, target, files: Sequence) -> dict[str, Any]:
    """One TIC's metadata document, every field documented in docs/commands.md (`export tess-metadata`).

    ``tic_id``, ``ra``/``dec`` (degrees), ``toi`` (every TOI of the star), ``disposition`` (the
    target's TFOPWG disposition), ``tois`` (per TOI: number, disposition, ``period_days`` where the
    catalog gives ``pl_orbper``), ``orbital_periods_days``, ``sectors`` (of the downloaded files),
    ``stellar_parameters``, ``observations`` (one per downloaded file, with path and size),
    ``products`` (files per kind) and ``download_timestamp``.
    """
    def value(column: str):
        return target[column] if target is not None else None

    observations = [_observation(f) for f in files]
    tois = [{"toi": _number(r.get("toi")), "disposition": r.get("tfopwg_disp"),
             "period_days": _number(r.get("pl_orbper"))} for r in _toi_rows(target)]
    return {
        "tic_id": int(target_id),
        "ra": value("ra_deg"),
        "dec": value("dec_deg"),
        "toi": [t["toi"] for t in tois if t["toi"] is not None],
        "disposition": value("disposition"),
        "tois": tois,
        "orbital_periods_days": [t["period_days"] for t in tois if t["period_days"] is not None],
        "sectors": sorted({o["sector"] for o in observations if o["sector"] is not None}),
        "stellar_parameters": {"teff": value("teff_k"), "logg": value("logg_cgs"), "radius": value("radius_rsun"),
                               "mass": value("mass_msun"), "tmag": value("magnitude"),
                               "distance": value("distance_pc")},
        "observations": observations,
        # Every kind downloaded for this star (lc, tpf, dvt, cutout, ...), with how many files of each.
        "products": {kind: sum(1 for o in observations if o["product_kind"] == kind)
                     for kind in sorted({o["product_kind"] for o in observations})},
        "download_timestamp": max((f["downloaded_at"] for f in files if f["downloaded_at"]), default=None),
    }


def export_manifest(manifest, path: str | os.PathLike, *, with_history: bool = False) -> int:
    """Write a portable copy of the manifest to ``path`` (atomically); returns how many files it lists.

    ``ratdcs --db PATH sync`` elsewhere (another data directory) fetches the same files and fails any
    whose bytes differ from the recorded sha256 (checksum_mismatch). Every row is pending; done
    rows carry ``expected_checksum = sha256:<observed>``; no leases, errors, local paths, download
    times; syncs and transfers only ``with_history``.

    Example::

        with open_manifest("data/manifest.sqlite", readonly=True) as m:
            export_manifest(m, "dataset-v1.sqlite")
    """
    path = Path(path).expanduser().absolute()
    if path.exists() and path.resolve() == Path(manifest.path).resolve():
        raise UsageError(f"export manifest: {path} is the manifest itself", hint="write the copy to another path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)  # an empty file: SQLite makes it a new database
    except OSError as exc:
        raise DataDirError(f"cannot write {path}: {exc.strerror or exc}", hint="choose a writable place") from None
    try:
        count = manifest.write_portable_copy(Path(tmp), with_history=with_history)
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise DataDirError(f"cannot write {path}: {exc.strerror or exc}", hint="choose a writable place") from None
        raise
    return count


EXPORT_COLUMNS = ("file_id", "source", "target_id", "product_kind", "state", "rel_path", "url", "archive_uri",
                  "expected_size_bytes", "expected_checksum", "observed_size_bytes", "observed_sha256",
                  "verify_level", "attempts", "last_error_kind", "last_error", "downloaded_at", "verified_at",
                  "split")


def _export_rows(manifest, sources: Sequence[str], states: Sequence[str]):
    return manifest.iter_files_with_split(EXPORT_COLUMNS, sources=sources, states=states)


def export_files(manifest, out: TextIO, fmt: str = "csv", *, sources: Sequence[str] = (),
                 states: Sequence[str] = ()) -> int:
    """Write the files table (with each target's split) as CSV or JSON to ``out``; returns the row count.

    Rows stream from SQLite, so a million-row manifest does not have to fit in memory.
    """
    if fmt not in ("csv", "json"):
        raise UsageError(f"export files: unknown format {fmt!r}", hint="use --format csv or --format json")
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in _export_rows(manifest, sources, states):
            writer.writerow(["" if v is None else v for v in row])
            count += 1
        return count
    out.write("[")
    for row in _export_rows(manifest, sources, states):
        out.write(("\n  " if count == 0 else ",\n  ") + json.dumps(dict(zip(EXPORT_COLUMNS, row))))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def export_urls(manifest, out: TextIO, fmt: str = "aria2", *, data_dir: Path | None = None,
                sources: Sequence[str] = (), states: Sequence[str] = NOT_DONE) -> int:
    """Write the URLs of the chosen rows for another transfer tool; returns how many.

    - ``aria2``: ``aria2c -i FILE`` input: each URL, then ``dir=``, ``out=`` (the manifest's path
      under the data directory) and ``checksum=sha-256=...`` where the manifest knows one;
    - ``curl``: a ``curl -K FILE`` config of ``url = ...`` / ``output = ...`` pairs;
    - ``list``: one URL per line (``wget -i``).
    Default rows: those not done yet (pending, downloading, failed).
    """
    if fmt not in URL_FORMATS:
        raise UsageError(f"export urls: unknown format {fmt!r}", hint=f"use one of {', '.join(URL_FORMATS)}")
    root = Path(data_dir).absolute() if data_dir is not None else None
    out.write(_URL_HEADERS[fmt].format(data_dir=root or "."))
    count = 0
    for row in _export_rows(manifest, sources, states):
        record = dict(zip(EXPORT_COLUMNS, row))
        out.write(_url_entry(fmt, record, root))
        count += 1
    return count


_URL_HEADERS = {
    "aria2": "# ratdcs export urls --format aria2; run: aria2c -i THIS_FILE --check-integrity=true "
             "--auto-file-renaming=false\n",
    "curl": "# ratdcs export urls --format curl; run: curl --fail --retry 3 --create-dirs -K THIS_FILE\n",
    "list": "",
}


def _url_entry(fmt: str, r: dict, root: Path | None) -> str:
    # Checked again here, not only when planned: each line of these files is an instruction to
    # another tool, and a manifest may come from an older ratdcs or be edited by hand.
    url, rel_path = check_url(r["url"]), check_relative_path(r["rel_path"])
    if fmt == "list":
        return url + "\n"
    if fmt == "curl":
        target = (root / rel_path) if root else Path(rel_path)
        return f'url = "{_curl_quote(url)}"\noutput = "{_curl_quote(str(target))}"\n'
    lines = [url]
    if root:
        lines.append(f"  dir={root}")
    lines.append(f"  out={rel_path}")
    checksum = _aria2_checksum(r["expected_checksum"]) or (
        f"sha-256={r['observed_sha256']}" if r["observed_sha256"] else None)
    if checksum:
        lines.append(f"  checksum={checksum}")
    return "\n".join(lines) + "\n"


def _aria2_checksum(text: str | None) -> str | None:
    """'sha256:<hex>' -> 'sha-256=<hex>' (aria2's names for hash types)."""
    from .verify import parse_checksum

    parsed = parse_checksum(text)
    if parsed is None:
        return None
    algorithm, digest = parsed
    return f"{'sha-256' if algorithm == 'sha256' else algorithm}={digest}"


def _curl_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
