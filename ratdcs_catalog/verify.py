"""What "good" means for one downloaded file: size, checksum, FITS structure, FITS checksums.

Checks run from cheap to expensive and stop at the first failure; the result names the highest
level reached (``size`` < ``checksum`` < ``fits`` < ``fits_checksum``), which the manifest keeps
per row. A level is "reached" only when there was something to check it against: a file with no
expected size and no checksum starts at the FITS checks.

Why each check exists (docs/archive-facts.md section 5): interrupted downloads left truncated files that
later failed with "Empty or corrupt FITS"; resumed downloads appended a whole body to a partial
file. Size catches the first, the archive's own FITS CHECKSUM/DATASUM cards catch both, and the
structure check catches an HTML error page or a product of the wrong kind saved under a FITS name.

FITS headers are read by ``fitsheaders`` (no astropy), and numpy is imported inside the functions
that sum data, so importing this module is cheap and checks run in parallel threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import math
import os
from pathlib import Path
from typing import Iterable, Mapping

from .fitsheaders import FitsLayoutError, Hdu, fold, ones_complement_sum, read_layout

__all__ = ["LEVELS", "VerifyFailed", "VerifyResult", "check_dv_timeseries", "check_image", "check_light_curve",
           "check_target_pixel_file", "hash_file", "parse_checksum", "verify_file"]

LEVELS = ("size", "checksum", "fits", "fits_checksum")
FITS_CHECKSUM_POLICIES = ("strict", "warn", "off")
HASH_ALGORITHMS = ("sha256", "md5")
_READ_BYTES = 1 << 20

# Light-curve columns every product needs (docs/archive-facts.md section 2); the quality column is named
# SAP_QUALITY in Kepler/K2 files and QUALITY in TESS files.
LC_HDU = "LIGHTCURVE"
LC_COLUMNS = ("TIME", "SAP_FLUX", "SAP_FLUX_ERR", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR")
LC_QUALITY_COLUMNS = ("SAP_QUALITY", "QUALITY")


@dataclasses.dataclass
class VerifyResult:
    """The verdict on one file. ``level`` is the highest check passed (None: none applied)."""

    ok: bool
    level: str | None
    error_kind: str | None = None
    error: str | None = None
    nan_fraction: float | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)


class VerifyFailed(Exception):
    """One check failed; carries the error kind and the sentence for the manifest. A product
    kind's verifier (``registry.ProductKind.verifier``) raises it."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def hash_file(path: str | Path, algorithms: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file's bytes, read once in 1 MiB blocks, for each algorithm named."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as fh:
        while block := fh.read(_READ_BYTES):
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def parse_checksum(text: str | None) -> tuple[str, str] | None:
    """'sha256:<hex>' or 'md5:<hex>' -> (algorithm, lower-case hex); None for anything else."""
    if not text or ":" not in text:
        return None
    algorithm, _, digest = text.partition(":")
    algorithm = algorithm.strip().lower().replace("-", "")
    if algorithm not in HASH_ALGORITHMS or not digest.strip():
        return None
    return algorithm, digest.strip().lower()


def is_fits_product(product_kind: str, path: Path) -> bool:
    """Kinds with a FITS verifier in the registry are FITS; other kinds only when their name says so."""
    from .registry import kind

    return kind(product_kind).is_fits or path.name.lower().endswith((".fits", ".fit", ".fits.gz"))


def _gzip_size(path: Path) -> int:
    """Decompress the whole stream once: its size, or the gzip's own error kind. The CRC and the
    length in the gzip trailer are checked at the end, so a flipped byte anywhere is caught."""
    import gzip
    import zlib

    size = 0
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(_READ_BYTES):
                size += len(block)
    except EOFError:
        raise VerifyFailed("gzip_truncated", f"{path.name}: the gzip stream ends before its end marker "
                                             f"(after {size} bytes of FITS): a truncated download") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise VerifyFailed("gzip_corrupt", f"{path.name}: the gzip stream is damaged ({exc}) after {size} bytes "
                                           "of FITS") from None
    return size


@contextlib.contextmanager
def _fits_stream(path: Path, contents: bytes | None = None):
    """(file object, size) of the FITS bytes: the file itself, or the stream inside its gzip.

    Kepler and K2 target pixel files are gzipped on the archive (``*_lpd-targ.fits.gz``) and kept
    so on disk; their structure and CHECKSUM/DATASUM are checked on the decompressed stream.
    ``contents``: the file's bytes, when the caller holds them all (a gzip is read from the file).
    """
    if contents is not None and contents[:2] != b"\x1f\x8b":
        fh = io.BytesIO(contents)
        fh.name = str(path)  # messages name the file, as for one opened from disk
        yield fh, len(contents)
        return
    with open(path, "rb", buffering=0) as fh:  # reads are whole blocks; a buffer would copy them
        packed = fh.read(2) == b"\x1f\x8b"  # gzip's magic: a .part's name does not say (one open per file)
        fh.seek(0)
        if not packed:
            yield fh, os.fstat(fh.fileno()).st_size
            return
    import gzip

    size = _gzip_size(path)
    with gzip.open(path, "rb") as fh:
        yield fh, size


def verify_file(
    path: str | Path,
    *,
    product_kind: str,
    expected_size: int | None = None,
    expected_checksum: str | None = None,
    observed_hashes: Mapping[str, str] | None = None,
    fits_checksum: str = "strict",
    max_nan_fraction: float | None = None,
    contents: bytes | None = None,
) -> VerifyResult:
    """Check one file against what the plan and the archive said it should be.

    ``observed_hashes`` are digests already computed while the bytes arrived (so the file is not
    read twice); any algorithm missing there is computed from the file. ``fits_checksum`` is the
    CHECKSUM/DATASUM policy: strict fails the file, warn records a warning, off skips the check.
    ``contents``: the file's whole bytes when the caller still holds them (a small download, just
    written): size, digests and FITS are checked on them, and the file is not read back.
    """
    if fits_checksum not in FITS_CHECKSUM_POLICIES:
        raise ValueError(f"fits_checksum must be one of {FITS_CHECKSUM_POLICIES}, not {fits_checksum!r}")
    path = path if isinstance(path, Path) else Path(path)  # a Path again re-parses it (per file, issue 15)
    result = VerifyResult(ok=True, level=None)
    try:
        _check_size(path, expected_size, result, contents)
        _check_checksum(path, expected_checksum, observed_hashes, result, contents)
        if is_fits_product(product_kind, path):
            _check_fits(path, product_kind, fits_checksum, max_nan_fraction, result, contents)
    except VerifyFailed as failed:
        result.ok, result.error_kind, result.error = False, failed.kind, failed.message
    return result


def _check_size(path: Path, expected_size: int | None, result: VerifyResult, contents: bytes | None = None) -> None:
    try:
        found = path.stat().st_size if contents is None else len(contents)
    except OSError as exc:
        raise VerifyFailed("missing", f"{path.name}: cannot read the file ({exc.strerror})") from None
    if expected_size is None:
        return
    if found != expected_size:
        raise VerifyFailed("size_mismatch", f"size mismatch for {path.name}: expected {expected_size} bytes, "
                                       f"found {found}")
    result.level = "size"


def _check_checksum(path: Path, expected: str | None, observed: Mapping[str, str] | None,
                    result: VerifyResult, contents: bytes | None = None) -> None:
    parsed = parse_checksum(expected)
    if parsed is None:
        if expected:
            result.warnings.append(f"expected checksum {expected!r} is not sha256:<hex> or md5:<hex>; not checked")
        return
    algorithm, digest = parsed
    found = (observed or {}).get(algorithm)
    if not found and contents is not None:
        found = hashlib.new(algorithm, contents).hexdigest()
    elif not found:
        found = hash_file(path, (algorithm,))[algorithm]
    if found.lower() != digest:
        raise VerifyFailed("checksum_mismatch", f"{algorithm} mismatch for {path.name}: expected {digest}, found {found}")
    result.level = "checksum"


def _check_fits(path: Path, product_kind: str, policy: str, max_nan_fraction: float | None,
                result: VerifyResult, contents: bytes | None = None) -> None:
    """Structure from the headers, then CHECKSUM/DATASUM and NaNs read in blocks, so memory
    stays flat whatever the file size (a 38 MB ZTF image is never loaded whole)."""
    from .registry import kind, load

    spec = kind(product_kind)
    with _fits_stream(path, contents) as (fh, size):
        try:
            hdus = read_layout(fh, size)
        except FitsLayoutError as exc:
            raise VerifyFailed("fits_invalid", f"{path.name} is not a readable FITS file: {exc}") from None
        if spec.verifier:
            load(spec.verifier)(path, hdus)
        result.level = "fits"
        if policy != "off":
            _apply_checksum_policy(fh, path, policy, hdus, result)
        if spec.flux_column:
            result.nan_fraction = _nan_fraction(fh, _table_with(hdus, spec.flux_column), spec.flux_column)
    if spec.flux_column:
        _check_nan_fraction(path, result.nan_fraction, max_nan_fraction, spec.flux_column)


def _lc_hdu(hdus: list[Hdu]) -> Hdu | None:
    return next((h for h in hdus if h.name == LC_HDU and h.kind == "BINTABLE"), None)


def _table_with(hdus: list[Hdu], column: str) -> Hdu | None:
    """The first binary table that has ``column`` (a light curve's LIGHTCURVE HDU)."""
    for hdu in hdus:
        if hdu.kind == "BINTABLE":
            try:
                if any(c.name == column for c in hdu.columns or ()):
                    return hdu
            except FitsLayoutError:
                continue
    return None


def _column_names(path: Path, hdu: Hdu) -> list[str]:
    try:
        return [c.name for c in hdu.columns or ()]
    except FitsLayoutError as exc:
        raise VerifyFailed("fits_invalid", f"{path.name} is not a readable FITS file: {exc}") from None


def check_light_curve(path: Path, hdus: list[Hdu]) -> None:
    """A light curve: a LIGHTCURVE binary table with time, both fluxes, their errors and a quality column."""
    table = _lc_hdu(hdus)
    if table is None:
        names = ", ".join(h.name for h in hdus)
        raise VerifyFailed("fits_missing_hdu", f"{path.name}: expected a {LC_HDU} binary table HDU, found HDUs {names}")
    columns = _column_names(path, table)
    missing = [c for c in LC_COLUMNS if c not in columns]
    if not any(c in columns for c in LC_QUALITY_COLUMNS):
        missing.append(" or ".join(LC_QUALITY_COLUMNS))
    if missing:
        raise VerifyFailed("fits_missing_column", f"{path.name}: light curve lacks column(s) {', '.join(missing)}")


# Pixel tables: TARGETTABLES in Kepler/K2 files, PIXELS in TESS files and TESScut cutouts.
TPF_TABLES = ("TARGETTABLES", "PIXELS")
TPF_COLUMNS = ("TIME", "FLUX", "FLUX_ERR", "QUALITY")


def check_target_pixel_file(path: Path, hdus: list[Hdu]) -> None:
    """A target pixel file: a pixel table with TIME, an image-shaped FLUX, FLUX_ERR and QUALITY,
    and the APERTURE image (docs/archive-facts.md section 2)."""
    table = next((h for h in hdus if h.name in TPF_TABLES and h.kind == "BINTABLE"), None)
    if table is None:
        raise VerifyFailed("fits_missing_hdu", f"{path.name}: expected a {' or '.join(TPF_TABLES)} binary table, "
                                               f"found HDUs {', '.join(h.name for h in hdus)}")
    columns = _column_names(path, table)
    missing = [c for c in TPF_COLUMNS if c not in columns]
    if missing:
        raise VerifyFailed("fits_missing_column", f"{path.name}: target pixel table lacks {', '.join(missing)}")
    flux = table.columns[columns.index("FLUX")]
    shape = str(table.card(f"TDIM{columns.index('FLUX') + 1}") or "")
    if flux.repeat < 1 or (flux.repeat > 1 and shape.count(",") != 1):
        raise VerifyFailed("fits_not_pixels", f"{path.name}: FLUX holds {flux.repeat} values a row with shape "
                                              f"{shape or 'none'}, not an image of pixels")
    if not any(h.name == "APERTURE" and h.is_image and h.int_card("NAXIS") == 2 for h in hdus):
        raise VerifyFailed("fits_missing_hdu", f"{path.name}: expected an APERTURE image, found HDUs "
                                               f"{', '.join(h.name for h in hdus)}")


def check_dv_timeseries(path: Path, hdus: list[Hdu]) -> None:
    """A data-validation time series: one binary table per TCE, each with TIME."""
    tces = [h for h in hdus[1:] if h.kind == "BINTABLE" and "TIME" in _column_names(path, h)]
    if not tces:
        raise VerifyFailed("fits_missing_hdu", f"{path.name}: expected one table with TIME per TCE, found HDUs "
                                               f"{', '.join(h.name for h in hdus)}")


def check_image(path: Path, hdus: list[Hdu]) -> None:
    """An image product: some HDU holds a non-empty 2-D image."""
    for hdu in hdus:
        if hdu.is_image and hdu.int_card("NAXIS") == 2 and hdu.int_card("NAXIS1") > 0 and hdu.int_card("NAXIS2") > 0:
            return
    raise VerifyFailed("fits_not_image", f"{path.name}: expected a 2-D image, found no image HDU with NAXIS = 2")


# ---- FITS checksum convention, read in blocks ----------------------------------------------------

_SUM_BLOCK = 2880 * 1456  # ~4 MB, a whole number of FITS blocks (so of 32-bit words)


def _data_sum(fh, hdu: Hdu) -> int:
    fh.seek(hdu.data_start)
    total, length = 0, hdu.data_span
    while length > 0:
        block = fh.read(min(_SUM_BLOCK, length))
        if len(block) % 4 or not block:
            raise VerifyFailed("fits_invalid", f"{Path(fh.name).name} ends inside an HDU")
        total += ones_complement_sum(block)
        length -= len(block)
    return fold(total)


def _checksum_failures(fh, hdus: list[Hdu]) -> tuple[bool, list[str]]:
    """(any HDU carries the cards, what does not verify)."""
    present, failures = False, []
    for hdu in hdus:
        has_checksum, has_datasum = "CHECKSUM" in hdu.cards, "DATASUM" in hdu.cards
        if not (has_checksum or has_datasum):
            continue
        present = True
        label = f"HDU {hdu.index} ({hdu.name})"
        data_sum = _data_sum(fh, hdu)
        datasum = str(hdu.card("DATASUM")).strip()
        if has_datasum and datasum != str(data_sum):
            failures.append(f"DATASUM of {label} says {datasum}, the data sums to {data_sum}")
        if has_checksum and fold(hdu.header_sum + data_sum) != 0xFFFFFFFF:
            failures.append(f"CHECKSUM of {label} does not verify")
    return present, failures


def _apply_checksum_policy(fh, path: Path, policy: str, hdus: list[Hdu], result: VerifyResult) -> None:
    present, failures = _checksum_failures(fh, hdus)
    if not present:
        return
    if not failures:
        result.level = "fits_checksum"
        return
    message = (f"FITS CHECKSUM/DATASUM of {path.name} do not verify ({'; '.join(failures)}): "
               "the bytes differ from what the archive wrote")
    if policy == "strict":
        raise VerifyFailed("fits_checksum", message)
    result.warnings.append(message)


_FLOAT_CODES = {"E": ">f4", "D": ">f8"}


def _nan_fraction(fh, table: Hdu | None, column: str) -> float | None:
    """Share of NaN in the flux column, read a block of rows at a time."""
    import numpy as np

    if table is None:
        return None
    flux = next((c for c in table.columns or () if c.name == column), None)
    row_bytes, rows = table.int_card("NAXIS1"), table.int_card("NAXIS2")
    if flux is None or not rows or not row_bytes or not flux.repeat:
        return None
    if flux.code not in _FLOAT_CODES:
        return 0.0  # integers cannot be NaN
    field = np.dtype((_FLOAT_CODES[flux.code], (flux.repeat,))) if flux.repeat > 1 else np.dtype(_FLOAT_CODES[flux.code])
    view = np.dtype({"names": ["flux"], "formats": [field], "offsets": [flux.offset], "itemsize": row_bytes})
    per_block = max(1, _SUM_BLOCK // row_bytes)
    nans = 0
    fh.seek(table.data_start)
    for first in range(0, rows, per_block):
        count = min(per_block, rows - first)
        values = np.frombuffer(fh.read(count * row_bytes), dtype=view)["flux"]
        nans += int(np.count_nonzero(np.isnan(values)))
    return nans / (rows * flux.repeat)


def _check_nan_fraction(path: Path, fraction: float | None, limit: float | None, column: str) -> None:
    if limit is None or fraction is None or math.isnan(fraction):
        return
    if fraction > limit:
        raise VerifyFailed("nan_fraction", f"{path.name}: {fraction:.1%} of {column} is NaN, "
                                      f"above the limit of {limit:.1%} (verify.max_nan_fraction)")
