"""Plan-time mapping of MAST products to MAST's public cloud copy (the ``stpubdata`` S3 bucket, issue 16).

MAST's path lookup is what astroquery's ``Observations.get_cloud_uris`` asks
(``astroquery.mast.utils.mast_relative_path``): ``GET <endpoints.mast_path_lookup>?uri=<dataURI>&uri=...``,
answered with one entry per URI::

    {"mast:TESS/product/tess...-s_lc.fits": {"status_code": 200, "path": "/tess/public/tid/s0001/.../tess...-s_lc.fits"},
     "mast:HST/product/does_not_exist.fits": {"status_code": 404, "path": null}}

The path, without its leading '/', is the object's key in the bucket; the file's ``mirror_url`` is
``<endpoints.cloud_mirror>/<key>``. A URI whose path is null (or missing) has no copy: its
``mirror_url`` stays NULL. astroquery then asks S3 itself (``head_object``) whether each object is
there; ratdcs does not spend a request per file at plan time: a key the bucket does not hold answers
403/404 at sync, and that file comes from MAST (sync/routes.py).

The lookup is optional: if it fails, the plan goes on without cloud copies for that batch and the
summary says how many files could not be looked up.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any, Iterable
from urllib.parse import quote

from ..errors import ArchiveError
from ..net.catalog import CatalogHTTP

__all__ = ["BATCH", "attach_cloud_copies", "cloud_keys", "mirror_url"]

log = logging.getLogger("ratdcs.plan")

# URIs per lookup request: astroquery sends 50 and notes "414 Request-URI Too Large" beyond;
# TESS dataURIs run to ~80 characters, so 40 keeps a request near 4 KB.
BATCH = 40
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+=-]*$")


def cloud_keys(http: CatalogHTTP, lookup_url: str, uris: list[str]) -> dict[str, str | None]:
    """Each URI's key in the cloud copy (None: no copy): one request, at most ``BATCH`` URIs."""
    what = f"MAST path lookup ({len(uris)} URIs from {uris[0]})"
    response = http.request("GET", lookup_url, what=what, params=[("uri", uri) for uri in uris[:BATCH]])
    try:
        answer = response.json()
    except ValueError:
        raise ArchiveError(f"{what}: the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise ArchiveError(f"{what}: the answer is JSON of the wrong shape (a {type(answer).__name__})")
    return {uri: _key_of(answer.get(uri)) for uri in uris[:BATCH]}


def mirror_url(base: str, key: str | None) -> str | None:
    """``<base>/<key>``, or None for a key that is missing or not a plain object key."""
    if not key or not _KEY.match(key) or ".." in key.split("/"):
        return None
    return f"{base.rstrip('/')}/{quote(key, safe='/')}"


def attach_cloud_copies(ctx: Any, plans: Iterable) -> None:
    """Give every MAST file of ``plans`` its ``mirror_url`` (None where there is no copy).

    Sets ``cloud_lookup_failed`` on a source plan whose files could not be looked up (the lookup
    failed after its retries): those files are planned without a copy.
    """
    plans = list(plans)
    uris = sorted({f.archive_uri for p in plans for t in p.targets for f in t.files
                   if (f.archive_uri or "").startswith("mast:")})
    if not uris:
        return
    keys: dict[str, str | None] = {}
    failed: set[str] = set()
    for start in range(0, len(uris), BATCH):
        batch = uris[start:start + BATCH]
        try:
            keys.update(cloud_keys(ctx.http, ctx.config["endpoints.mast_path_lookup"], batch))
        except ArchiveError as exc:  # optional data: the lookup failing costs the files their copy, not the plan
            failed.update(uris[start:])  # after its retries: the service is down, so ask no more
            log.warning("cloud copy lookup failed; %d files are planned without one: %s", len(failed), exc)
            break
    base = ctx.config["endpoints.cloud_mirror"]
    for p in plans:
        for target in p.targets:
            target.files = [dataclasses.replace(f, mirror_url=mirror_url(base, keys.get(f.archive_uri)))
                            if f.archive_uri in keys else f for f in target.files]
        p.cloud_lookup_failed = sum(1 for t in p.targets for f in t.files if f.archive_uri in failed)


def _key_of(entry: Any) -> str | None:
    path = entry.get("path") if isinstance(entry, dict) else None
    return path.lstrip("/") if isinstance(path, str) else None
