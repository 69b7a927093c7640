"""MAST's public cloud copy, the ``stpubdata`` S3 bucket, and MAST's path lookup (issue 16).

- ``GET /api/v0.1/path_lookup/?uri=mast:...&uri=...``: what astroquery's ``mast_relative_path``
  asks (recorded shape, astroquery's ``mast_relative_path.json``): ``{uri: {"status_code": 200,
  "path": "/tess/public/tid/..."}}``, and ``{"status_code": 404, "path": null}`` for a product
  with no cloud copy or one outside the universe.
- ``GET|HEAD /stpubdata/<key>``: the object, as S3 serves it: ``ETag`` the body's MD5 in quotes
  for an object uploaded in one part, ``"<md5 of the parts' MD5s>-<parts>"`` for one of at least
  ``part_bytes`` (multipart, as the AWS CLI uploads past 8 MiB), ``Last-Modified``,
  ``Accept-Ranges: bytes``, ``Range``/``If-Range`` (by the server, as for every file),
  ``x-amz-request-id``; a key with no object is ``404`` with S3's XML error ``NoSuchKey``.
- Some products have no cloud copy (about one in six, fixed by the seed and the file name; MAST's
  own redirect then serves the file itself). Fault kinds ``no_such_key`` and ``access_denied``
  answer S3's 404 ``NoSuchKey`` / 403 ``AccessDenied`` for objects that do exist; the other file
  faults (``reset``, ``flip_bytes``, ``503``, ...) apply on this route as on every other.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from .reply import Reply, json_reply

PREFIX = "/stpubdata/"
LOOKUP_PATH = "/api/v0.1/path_lookup/"
PART_BYTES = 8 * 1024 * 1024  # the AWS CLI's multipart threshold and part size
NO_COPY_ONE_IN = 6
S3_TYPE = "binary/octet-stream"  # S3's Content-Type for an object uploaded without one
ERROR_KINDS = {"no_such_key": (404, "NoSuchKey", "The specified key does not exist."),
               "access_denied": (403, "AccessDenied", "Access Denied")}


class CloudCopy:
    """The bucket and the path lookup of one Sandbox (its universe, files, faults and validators)."""

    def __init__(self, sandbox, part_bytes: int = PART_BYTES):
        self.sandbox = sandbox
        self.part_bytes = int(part_bytes)
        self._etags: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def has_copy(self, product) -> bool:
        """Whether the bucket holds this MAST product (ZTF and TESScut files never)."""
        if not product.path.startswith(PREFIX):
            return False
        return zlib.crc32(f"{self.sandbox.seed}|cloud|{product.filename}".encode()) % NO_COPY_ONE_IN != 0

    # ----------------------------------------------------------------- path lookup
    def path_lookup(self, query: str) -> Reply:
        uris = parse_qs(query, keep_blank_values=True).get("uri", [])
        answer = {}
        for uri in uris:
            product = self.sandbox.universe.product_by_uri(uri)
            if product is not None and self.has_copy(product):
                answer[uri] = {"status_code": 200, "path": "/" + product.path[len(PREFIX):]}
            else:
                answer[uri] = {"status_code": 404, "path": None}
        return json_reply(answer, service="path_lookup")

    # ----------------------------------------------------------------- objects
    def object_reply(self, path: str, match_text: str) -> Reply:
        product = self.sandbox.universe.product_by_path(path)
        key = path[len(PREFIX):]
        if product is None or not self.has_copy(product):
            return error_reply("no_such_key", key)
        version = self.sandbox._faults.version(product.filename, match_text)
        last_modified = self.sandbox.validators(product, version)["Last-Modified"]
        headers = {"ETag": self.etag(product, version), "Last-Modified": last_modified,
                   "x-amz-request-id": _request_id(key, version), "x-amz-id-2": _request_id(key, version + 7)}
        variants = {kind: (lambda kind=kind: error_reply(kind, key)) for kind in ERROR_KINDS}
        return Reply(content_type=S3_TYPE, build=lambda: self.sandbox.file_bytes(product, version), headers=headers,
                     service=product.kind, is_file=True, size=product.size, version=version, variants=variants)

    def etag(self, product, version: int = 0) -> str:
        """S3's ETag of the object: the body's MD5, or the multipart form for a large one."""
        with self._lock:
            known = self._etags.get((product.filename, version))
        if known is None:
            known = s3_etag(self.sandbox.file_bytes(product, version), self.part_bytes)
            with self._lock:
                self._etags[(product.filename, version)] = known
        return known


def s3_etag(body: bytes, part_bytes: int = PART_BYTES) -> str:
    """The ETag S3 gives ``body`` uploaded as the AWS CLI uploads it (parts of ``part_bytes``)."""
    if len(body) < part_bytes:
        return f'"{hashlib.md5(body).hexdigest()}"'
    parts = [hashlib.md5(body[i:i + part_bytes]).digest() for i in range(0, len(body), part_bytes)]
    return f'"{hashlib.md5(b"".join(parts)).hexdigest()}-{len(parts)}"'


def error_reply(kind: str, key: str) -> Reply:
    """S3's XML error document (``NoSuchKey`` names the key; ``AccessDenied`` does not)."""
    status, code, message = ERROR_KINDS[kind]
    key_line = f"<Key>{escape(key)}</Key>" if kind == "no_such_key" else ""
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"{key_line}<RequestId>{_request_id(key, status)}</RequestId>"
            f"<HostId>{_request_id(key, status + 1)}</HostId></Error>").encode()
    return Reply(status=status, content_type="application/xml", body_bytes=body, service="s3_error",
                 headers={"x-amz-request-id": _request_id(key, status)})


def _request_id(key: str, salt: int) -> str:
    return hashlib.blake2b(f"{salt}|{key}".encode(), digest_size=8).hexdigest().upper()
