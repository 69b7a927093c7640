"""What "good" means for one downloaded file: size, checksum, FITS structure, FITS checksums.

Checks run from cheap to expensive and stop at the first failure; the result names the highest
level reached (``size`` < ``checksum`` < ``fits`` < ``fits_checksum``), which the manifest keeps
per row. A level is "reached" only when there was something to check it against: a file with no
expected size and no checksum starts at the FITS checks.

Why each check exists (ARCHIVES.md section 5): interrupted downloads left truncated files that
later failed with "Empty or corrupt FITS"; resumed downloads appended a whole body to a partial
file. Size catches the first, the archive's own FITS CHECKSUM/DATASUM cards catch both, and the
structure check catches an HTML error page or a product of the wrong kind saved under a FITS name.

astropy is imported inside the functions that need it, so importing this module is cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = ["LEVELS", "VerifyResult", "hash_file", "parse_checksum", "verify_file"]

LEVELS = ("size", "checksum", "fits", "fits_checksum")
FITS_CHECKSUM_POLICIES = ("strict", "warn", "off")
HASH_ALGORITHMS = ("sha256", "md5")
_READ_BYTES = 1 << 20
_FITS_LOCK = threading.Lock()

# Light-curve columns every product needs (ARCHIVES.md section 2); the quality column is named
# SAP_QUALITY in Kepler/K2 files and QUALITY in TESS files.
LC_HDU = "LIGHTCURVE"
LC_COLUMNS = ("TIME", "SAP_FLUX", "SAP_FLUX_ERR", "PDCSAP_FLUX", "PDCSAP_FLUX_ERR")
LC_QUALITY_COLUMNS = ("SAP_QUALITY", "QUALITY")
LC_FLUX_COLUMN = "PDCSAP_FLUX"


@dataclasses.dataclass
class VerifyResult:
    """The verdict on one file. ``level`` is the highest check passed (None: none applied)."""

    ok: bool
    level: str | None
    error_kind: str | None = None
    error: str | None = None
    nan_fraction: float | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)


class _Failed(Exception):
    """Internal: one check failed; carries the error kind and the sentence for the manifest."""

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
    """Light curves and ZTF images are FITS; other kinds only when their name says so."""
    return product_kind.startswith(("lc", "ztf")) or path.name.lower().endswith((".fits", ".fits.gz", ".fit"))


def verify_file(
    path: str | Path,
    *,
    product_kind: str,
    expected_size: int | None = None,
    expected_checksum: str | None = None,
    observed_hashes: Mapping[str, str] | None = None,
    fits_checksum: str = "strict",
    max_nan_fraction: float | None = None,
) -> VerifyResult:
    """Check one file against what the plan and the archive said it should be.

    ``observed_hashes`` are digests already computed while the bytes arrived (so the file is not
    read twice); any algorithm missing there is computed from the file. ``fits_checksum`` is the
    CHECKSUM/DATASUM policy: strict fails the file, warn records a warning, off skips the check.
    """
    if fits_checksum not in FITS_CHECKSUM_POLICIES:
        raise ValueError(f"fits_checksum must be one of {FITS_CHECKSUM_POLICIES}, not {fits_checksum!r}")
    path = Path(path)
    result = VerifyResult(ok=True, level=None)
    try:
        _check_size(path, expected_size, result)
        _check_checksum(path, expected_checksum, observed_hashes, result)
        if is_fits_product(product_kind, path):
            _check_fits(path, product_kind, fits_checksum, max_nan_fraction, result)
    except _Failed as failed:
        result.ok, result.error_kind, result.error = False, failed.kind, failed.message
    return result


def _check_size(path: Path, expected_size: int | None, result: VerifyResult) -> None:
    try:
        found = path.stat().st_size
    except OSError as exc:
        raise _Failed("missing", f"{path.name}: cannot read the file ({exc.strerror})") from None
    if expected_size is None:
        return
    if found != expected_size:
        raise _Failed("size_mismatch", f"size mismatch for {path.name}: expected {expected_size} bytes, "
                                       f"found {found}")
    result.level = "size"


def _check_checksum(path: Path, expected: str | None, observed: Mapping[str, str] | None,
                    result: VerifyResult) -> None:
    parsed = parse_checksum(expected)
    if parsed is None:
        if expected:
            result.warnings.append(f"expected checksum {expected!r} is not sha256:<hex> or md5:<hex>; not checked")
        return
    algorithm, digest = parsed
    found = (observed or {}).get(algorithm) or hash_file(path, (algorithm,))[algorithm]
    if found.lower() != digest:
        raise _Failed("checksum_mismatch", f"{algorithm} mismatch for {path.name}: expected {digest}, found {found}")
    result.level = "checksum"


@dataclasses.dataclass
class _Hdu:
    """What the checks need from one HDU, read from its header only (no data in memory)."""

    index: int
    name: str
    header: Any
    header_start: int
    data_start: int
    data_span: int  # bytes of data including the padding to 2880
    is_image: bool
    columns: list[str] | None  # binary tables only
    row_dtype: Any = None


def _check_fits(path: Path, product_kind: str, policy: str, max_nan_fraction: float | None,
                result: VerifyResult) -> None:
    """Structure from the headers (astropy), then CHECKSUM/DATASUM and NaNs streamed in blocks,
    so memory stays flat whatever the file size (a 38 MB ZTF image is never loaded whole)."""
    hdus = _read_headers(path)
    _check_span(path, hdus)
    if product_kind.startswith("lc"):
        _check_light_curve(path, hdus)
    elif product_kind.startswith("ztf"):
        _check_image(path, hdus)
    result.level = "fits"
    if policy != "off":
        _apply_checksum_policy(path, policy, hdus, result)
    if product_kind.startswith("lc"):
        result.nan_fraction = _nan_fraction(path, _lc_hdu(hdus))
        _check_nan_fraction(path, result.nan_fraction, max_nan_fraction)


def _read_headers(path: Path) -> list[_Hdu]:
    from astropy.io import fits

    # astropy reports truncation and unreadable HDUs only as warnings, and catch_warnings swaps
    # process-wide state: two threads at once would read each other's warnings. Header parsing
    # is quick, so it runs one at a time; the expensive checks below run in parallel.
    with _FITS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False, lazy_load_hdus=False, checksum=False) as hdul:
                hdus = [_describe_hdu(i, hdu) for i, hdu in enumerate(hdul)]
        except Exception as exc:  # astropy raises many types (OSError, ValueError, VerifyError) for garbage
            raise _Failed("fits_invalid", f"{path.name} is not a readable FITS file: {exc}") from None
    _check_truncation(path, caught)
    return hdus


def _describe_hdu(index: int, hdu) -> _Hdu:
    info = hdu.fileinfo()
    columns = row_dtype = None
    if hasattr(hdu, "columns") and not hdu.is_image:
        columns = list(hdu.columns.names)
        row_dtype = hdu.columns.dtype
    return _Hdu(index, hdu.name, hdu.header, info["hdrLoc"], info["datLoc"], info["datSpan"], bool(hdu.is_image),
                columns, row_dtype)


def _check_truncation(path: Path, caught: list) -> None:
    # astropy drops an HDU it cannot read with a warning ("There may be extra bytes after the
    # last HDU or the file is corrupted") instead of raising; for a downloaded file that is damage.
    for warning in caught:
        text = str(warning.message)
        if any(sign in text.lower() for sign in ("truncated", "corrupted", "error validating header")):
            raise _Failed("fits_invalid", f"{path.name} is a truncated or damaged FITS file: "
                                          f"{' '.join(text.split())}")


def _check_span(path: Path, hdus: list[_Hdu]) -> None:
    # astropy reads a file cut inside its last data block without complaint; the HDUs' own
    # sizes say how long the file must be (each data unit padded to 2880-byte blocks).
    needed = hdus[-1].data_start + hdus[-1].data_span
    found = path.stat().st_size
    if found < needed:
        raise _Failed("fits_invalid", f"{path.name} is a truncated FITS file: its headers need {needed} bytes, "
                                      f"found {found}")


def _lc_hdu(hdus: list[_Hdu]) -> _Hdu | None:
    return next((h for h in hdus if h.name == LC_HDU and h.columns is not None), None)


def _check_light_curve(path: Path, hdus: list[_Hdu]) -> None:
    table = _lc_hdu(hdus)
    if table is None:
        names = ", ".join(h.name for h in hdus)
        raise _Failed("fits_missing_hdu", f"{path.name}: expected a {LC_HDU} binary table HDU, found HDUs {names}")
    missing = [c for c in LC_COLUMNS if c not in table.columns]
    if not any(c in table.columns for c in LC_QUALITY_COLUMNS):
        missing.append(" or ".join(LC_QUALITY_COLUMNS))
    if missing:
        raise _Failed("fits_missing_column", f"{path.name}: light curve lacks column(s) {', '.join(missing)}")


def _check_image(path: Path, hdus: list[_Hdu]) -> None:
    for hdu in hdus:
        h = hdu.header
        if hdu.is_image and h.get("NAXIS") == 2 and h.get("NAXIS1", 0) > 0 and h.get("NAXIS2", 0) > 0:
            return
    raise _Failed("fits_not_image", f"{path.name}: expected a 2-D image, found no image HDU with NAXIS = 2")


# ---- FITS checksum convention, streamed ----------------------------------------------------------
# CHECKSUM makes the 32-bit ones' complement sum of the whole HDU (header + data) all ones;
# DATASUM is the ones' complement sum of the data alone, as an unsigned decimal string.

_SUM_BLOCK = 2880 * 1456  # ~4 MB, a whole number of FITS blocks (so of 32-bit words)


def _fold(total: int) -> int:
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def _ones_complement_sum(fh, start: int, length: int) -> int:
    import numpy as np

    fh.seek(start)
    total = 0
    while length > 0:
        block = fh.read(min(_SUM_BLOCK, length))
        if len(block) % 4 or not block:
            raise _Failed("fits_invalid", f"{Path(fh.name).name} ends inside an HDU")
        total += int(np.frombuffer(block, dtype=">u4").sum(dtype=np.uint64))
        length -= len(block)
    return _fold(total)


def _checksum_failures(path: Path, hdus: list[_Hdu]) -> tuple[bool, list[str]]:
    """(any HDU carries the cards, what does not verify)."""
    present, failures = False, []
    with open(path, "rb") as fh:
        for hdu in hdus:
            has_checksum, has_datasum = "CHECKSUM" in hdu.header, "DATASUM" in hdu.header
            if not (has_checksum or has_datasum):
                continue
            present = True
            label = f"HDU {hdu.index} ({hdu.name})"
            data_sum = _ones_complement_sum(fh, hdu.data_start, hdu.data_span)
            if has_datasum and str(hdu.header["DATASUM"]).strip() != str(data_sum):
                failures.append(f"DATASUM of {label} says {hdu.header['DATASUM']}, the data sums to {data_sum}")
            if has_checksum:
                header_sum = _ones_complement_sum(fh, hdu.header_start, hdu.data_start - hdu.header_start)
                if _fold(header_sum + data_sum) != 0xFFFFFFFF:
                    failures.append(f"CHECKSUM of {label} does not verify")
    return present, failures


def _apply_checksum_policy(path: Path, policy: str, hdus: list[_Hdu], result: VerifyResult) -> None:
    present, failures = _checksum_failures(path, hdus)
    if not present:
        return
    if not failures:
        result.level = "fits_checksum"
        return
    message = (f"FITS CHECKSUM/DATASUM of {path.name} do not verify ({'; '.join(failures)}): "
               "the bytes differ from what the archive wrote")
    if policy == "strict":
        raise _Failed("fits_checksum", message)
    result.warnings.append(message)


def _nan_fraction(path: Path, table: _Hdu | None) -> float | None:
    """Share of NaN in the flux column, read a block of rows at a time."""
    import numpy as np

    if table is None or table.row_dtype is None or LC_FLUX_COLUMN not in (table.row_dtype.names or ()):
        return None
    row_bytes, rows = int(table.header.get("NAXIS1", 0)), int(table.header.get("NAXIS2", 0))
    if not rows or not row_bytes:
        return None
    field_dtype, offset = table.row_dtype.fields[LC_FLUX_COLUMN][:2]
    field_dtype = field_dtype.newbyteorder(">")  # on disk, FITS numbers are big-endian
    view = np.dtype({"names": ["flux"], "formats": [field_dtype], "offsets": [offset], "itemsize": row_bytes})
    per_block = max(1, _SUM_BLOCK // row_bytes)
    nans = 0
    with open(path, "rb") as fh:
        fh.seek(table.data_start)
        for first in range(0, rows, per_block):
            count = min(per_block, rows - first)
            flux = np.frombuffer(fh.read(count * row_bytes), dtype=view)["flux"]
            nans += int(np.count_nonzero(np.isnan(flux)))
    return nans / rows


def _check_nan_fraction(path: Path, fraction: float | None, limit: float | None) -> None:
    if limit is None or fraction is None or math.isnan(fraction):
        return
    if fraction > limit:
        raise _Failed("nan_fraction", f"{path.name}: {fraction:.1%} of {LC_FLUX_COLUMN} is NaN, "
                                      f"above the limit of {limit:.1%} (verify.max_nan_fraction)")
