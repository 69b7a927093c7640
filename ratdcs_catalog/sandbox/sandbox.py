"""The Sandbox: a local archive on loopback serving one Universe, with faults and a log."""

from __future__ import annotations

import mimetypes
import threading
import zlib
from email.utils import formatdate
from urllib.parse import parse_qs

from . import dvt, fitsgen, pixels, placeholders
from .faults import Fault, FaultPlan
from .ibe import IbeService
from .mast import MastService
from .network import ConnectionLimit, NetworkProfile
from .reply import Reply, not_found
from .requestlog import RequestLog, RequestRecord
from .s3 import LOOKUP_PATH, PART_BYTES, CloudCopy
from .store import BodyStore
from .tap import TapService
from .tesscut import BASE as TESSCUT_BASE
from .tesscut import TesscutService
from .kinds import KINDS
from .cutouts import Cutout
from .universe import Product, Universe

LOOPBACK = "127.0.0.1"
# Files' modification times: spread over 2016-2022 by name; a replaced file is 45 days newer.
MTIME_FIRST, MTIME_SPAN, MTIME_NEW_VERSION = 1_451_606_400, 7 * 365 * 86_400, 45 * 86_400


class Sandbox:
    """A fake MAST (with TESScut) + Exoplanet Archive + IRSA on ``http://127.0.0.1:PORT``.

    ``scale`` shrinks light curves (rows) and ZTF images (each axis) for fast tests;
    ``redirect_downloads`` makes MAST downloads answer 302 to the file's cloud copy (when it has
    one), as MAST does; ``s3_part_bytes`` is the size from which a cloud-copy object has a
    multipart ETag (s3.py). ``network`` (a ``NetworkProfile``) adds latency,
    a per-connection rate cap and a cap on requests at once per client. Use as a context manager, or call ``start()`` / ``stop()``.
    """

    def __init__(self, seed: int = 42, scale: float = 1.0, cache_dir=None, faults=(), *,
                 host: str = LOOPBACK, port: int = 0, redirect_downloads: bool = False,
                 memory_cache_bytes: int = 512 * 1024 * 1024, s3_part_bytes: int = PART_BYTES,
                 network: NetworkProfile | None = None):
        self.seed = int(seed)
        self.scale = float(scale)
        self.host = host
        self.port = int(port)
        self.redirect_downloads = redirect_downloads
        self.network = network or NetworkProfile()
        self._connections = ConnectionLimit(self.network.max_connections_per_client)
        self.universe = Universe(self.seed, self.scale)
        self._faults = FaultPlan(self.seed, faults)
        self._log = RequestLog()
        key = f"seed{self.seed}-scale{self.scale:g}"
        self._store = BodyStore(memory_cache_bytes, (f"{cache_dir}/{key}" if cache_dir else None))
        self._mast = MastService(self.universe)
        self._tap = TapService(self.universe)
        self._ibe = IbeService(self.universe)
        self._tesscut = TesscutService(self.universe, self._store, self.seed, self.scale)
        self.cloud = CloudCopy(self, s3_part_bytes)  # /stpubdata/ and the path lookup (s3.py)
        self._server = None
        self._thread = None

    # ----------------------------------------------------------------- lifecycle
    def start(self, port: int | None = None) -> "Sandbox":
        """Bind (port 0: any free port) and serve in a background thread; returns self."""
        from .server import Handler, ThreadingServer

        if self._server is not None:
            return self
        self._server = ThreadingServer((self.host, self.port if port is None else int(port)), Handler)
        self._server.sandbox = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"ratdcs-sandbox-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def endpoints(self) -> dict[str, str]:
        """The configuration ``endpoints`` block that points ratdcs at this sandbox."""
        base = self.base_url
        return {"mast": base, "mast_download": base + "/api/v0.1/Download/file",
                "exoplanet_tap": base + "/TAP", "irsa_ibe": base + "/ibe", "tesscut": base + TESSCUT_BASE.rstrip("/"),
                "mast_path_lookup": base + LOOKUP_PATH, "cloud_mirror": base + "/stpubdata"}

    # ----------------------------------------------------------------- faults and log
    def add_fault(self, fault: Fault) -> None:
        self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first.

        Waits for requests still being answered (a stalled or slow one included, up to 10 s),
        so a test reading it right after a call sees that call.
        """
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    # ----------------------------------------------------------------- files
    def file_bytes(self, product: Product, version: int = 0) -> bytes:
        """The exact bytes served for a product (built once, then cached); ``version`` 1 is the
        file after a ``replace`` fault changed it (same size, other bytes)."""
        key = product.filename + (f".version{version}" if version else "")
        return self._store.get(key, lambda: self._build(product, version))

    def _build(self, product: Product, version: int) -> bytes:
        if product.kind == "ztf_sci":
            return fitsgen.build_ztf(product.extra["row"], self.scale, self.seed, product.filename, version)
        recipe, kind, extra = KINDS[product.kind].recipe, product.kind, product.extra
        if recipe == "tar":
            members = [(m.filename, self.file_bytes(m)) for m in extra["members"]]
            return placeholders.tar_bytes(members, version)
        if recipe == "magic":
            return placeholders.build(product, self.seed, version)
        meta = fitsgen.lightcurve_meta(self.universe, product)
        if recipe == "lightcurve":
            return fitsgen.build_lightcurve(kind, meta, product.nrows, self.seed, version)
        if recipe == "dvt":
            return dvt.build_dvt(kind, meta, extra["n_tces"], extra["rows"], self.seed, version)
        body = pixels.build_tpf(kind, meta, extra["shape"], extra["rows"], self.seed, version)
        return placeholders.gzip_stored(body) if recipe == "tpf.gz" else body

    def tesscut_cutout(self, *, sector: int, size=(5, 5), tid: int | None = None, ra: float | None = None,
                       dec: float | None = None) -> Cutout:
        """What TESScut's ``astrocut`` answers for one sector of a TESS star (``tid``) or a position:
        ``Cutout(zip_name, member, body, fits, path)``, the zip's bytes and name, its one member's
        name and FITS bytes, and the request path (``/tesscut/api/v0.1/astrocut?ra=...``).
        ``size`` is (rows, cols) in pixels, as astroquery's ``size=(ny, nx)``."""
        if tid is not None:
            ra, dec = self.universe.tic[tid]["ra"], self.universe.tic[tid]["dec"]
        if ra is None or dec is None:
            raise ValueError("tesscut_cutout needs tid= or both ra= and dec=")
        return self._tesscut.cutout(ra=ra, dec=dec, sector=sector, size=size)

    def validators(self, product: Product, version: int = 0) -> dict[str, str]:
        """``ETag`` and ``Last-Modified`` of a file as served: MAST's are nginx's
        (``"641baa59-af140"``: hex mtime, hex size; recorded), from a modification time
        fixed by the seed and the file name, later for a replaced file."""
        mtime = (MTIME_FIRST + zlib.crc32(f"{self.seed}|{product.filename}".encode()) % MTIME_SPAN
                 + version * MTIME_NEW_VERSION)
        return {"ETag": f'"{mtime:x}-{product.size:x}"', "Last-Modified": formatdate(mtime, usegmt=True)}

    def _file_reply(self, product: Product, match_text: str = "", download: bool = False) -> Reply:
        """A file's answer: MAST's Download/file headers (recorded: octet-stream, quoted file name
        in a lower-case content-disposition, ETag, Last-Modified); static copies say what they hold."""
        version = self._faults.version(product.filename, match_text) if match_text else 0
        headers = {**self.validators(product, version),
                   "content-disposition": f'attachment; filename="{product.filename}"'}
        content_type = "application/octet-stream" if download else _static_type(product.filename)
        return Reply(content_type=content_type, build=lambda: self.file_bytes(product, version), headers=headers,
                     service=product.kind, is_file=True, size=product.size, version=version)

    # ----------------------------------------------------------------- routing
    def _route(self, method: str, path: str, query: str, form: dict, match_text: str = "") -> Reply:
        """The endpoint's answer for a request (faults are applied by the server; ``match_text``
        is what fault patterns search, used here to count requests for ``replace``)."""
        params = dict(parse_qs(query, keep_blank_values=True))
        for key, values in form.items():
            params.setdefault(key, []).extend(values)
        if path == "/api/v0/invoke" and method == "POST":
            return self._mast.invoke(params)
        if path == "/portal/Mashup/Mashup.asmx/columnsconfig":
            return self._mast.columns_config(params)
        if path == "/api/v0.1/Download/file":
            return self._download(query, match_text)
        if path == LOOKUP_PATH:
            return self.cloud.path_lookup(query)
        if path.startswith("/stpubdata/"):
            return self.cloud.object_reply(path, match_text)
        if path.startswith("/missions/"):
            product = self.universe.product_by_path(path)
            return self._file_reply(product, match_text) if product else not_found(path)
        if path.rstrip("/") in ("/TAP/sync", "/TAP//sync") or path == "/TAP//sync":
            return self._tap.sync(params)
        if path == "/ibe/search/ztf/products/sci":
            return self._ibe.search(params)
        if path.startswith(TESSCUT_BASE):
            return self._tesscut.answer(path, params)
        if path.startswith("/ibe/data/"):
            product = self.universe.ztf_product_by_path(path)
            return self._file_reply(product, match_text) if product else not_found(path)
        return not_found(path)

    def _download(self, query: str, match_text: str) -> Reply:
        product, uri = self._mast.find_download(query)
        if product is None:
            return not_found(uri or "a download without ?uri=")
        if self.redirect_downloads and self.cloud.has_copy(product):
            return Reply(status=302, headers={"Location": self.base_url + product.path},
                         service=product.kind)
        return self._file_reply(product, match_text, download=True)


def _static_type(filename: str) -> str:
    """Content-Type of a static copy: FITS as application/fits, the rest by file-name ending."""
    if filename.endswith(".fits"):
        return "application/fits"
    if filename.endswith(".gz"):
        return "application/gzip"
    return mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"
