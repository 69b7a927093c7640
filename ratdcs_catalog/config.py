"""Layered configuration: built-in defaults < config.yaml < .env and environment < command-line flags.

Every setting is declared once in ``SETTINGS`` with its default, type and a one-line
description; the shipped ``config.yaml`` lists the same keys (a test keeps the two equal).
Each effective value remembers where it came from, so ``ratdcs config`` can explain it.

Keys are dotted paths into the YAML tree (``download.workers`` is ``workers:`` under
``download:``). Every key can be set from the environment as ``RATDCS_`` + the key in upper
case with dots as double underscores (``RATDCS_DOWNLOAD__WORKERS=8``); the seed project's
variable names (``RATDCS_DATA_DIR``, ``KEPLER_MAX_TARGETS``, ``MAX_RETRIES``, ...) keep working.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import ConfigError
from .strict_yaml import shorten

__all__ = ["Config", "SETTINGS", "Setting", "load_config", "read_secret"]

@dataclasses.dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    type: str  # "str" | "url" | "int" | "auto|int" | "float" | "bool" | "path" | "list[str]" | "list[int]" | "list[float]"
    help: str
    nullable: bool = False
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    env_aliases: tuple[str, ...] = ()


# Each worker is a thread with its own connection and file; past a few dozen an archive sees abuse,
# and far past this a typo (workers: 40000) would only exhaust memory and file descriptors.
MAX_WORKERS = 256
# Longest timeout, delay or lease taken, in seconds (a day; leases a week): larger values are typos,
# and past about 1e9 the sockets and locks underneath overflow.
DAY_SECONDS = 86_400.0

S = Setting
SETTINGS: tuple[Setting, ...] = (
    S("data_dir", "./data", "path",
      "where downloaded files go (relative: to the config file that sets it, else the current directory)",
      env_aliases=("RATDCS_DATA_DIR",)),
    S("manifest", None, "path", "the SQLite manifest; default <data_dir>/manifest.sqlite", nullable=True,
      env_aliases=("RATDCS_DB",)),
    S("log_file", None, "path", "the log file; default <data_dir>/data_download.log", nullable=True),
    S("endpoints.mast", "https://mast.stsci.edu", "url",
      "MAST base URL (/api/v0/invoke and /portal/Mashup/Mashup.asmx/columnsconfig)"),
    S("endpoints.mast_download", "https://mast.stsci.edu/api/v0.1/Download/file", "url",
      "MAST download endpoint, called with ?uri=mast:..."),
    S("endpoints.exoplanet_tap", "https://exoplanetarchive.ipac.caltech.edu/TAP", "url",
      "NASA Exoplanet Archive TAP service (queries go to <this>/sync)"),
    S("endpoints.tesscut", "https://mast.stsci.edu/tesscut/api/v0.1", "url",
      "MAST TESScut service (FFI cutouts: <this>/sector and <this>/astrocut)"),
    S("endpoints.irsa_ibe", "https://irsa.ipac.caltech.edu/ibe", "url",
      "IRSA Image Browse Engine (search/ztf/products/sci and data/ztf/products/sci)"),
    S("endpoints.mast_path_lookup", "https://mast.stsci.edu/api/v0.1/path_lookup/", "url",
      "MAST's path lookup: a product's key in the public cloud copy, asked with ?uri=mast:...&uri=..."),
    S("endpoints.cloud_mirror", "https://stpubdata.s3.amazonaws.com", "url",
      "MAST's public cloud copy (the stpubdata S3 bucket); a file's mirror URL is <this>/<key>"),
    S("auth.mast_token_env", "MAST_API_TOKEN", "str",
      "name of the environment variable holding a MAST token; the token itself is never stored or logged"),
    S("catalog.rate_limit_delay", 1.0, "float", "seconds to wait between catalog queries to one archive",
      minimum=0, maximum=DAY_SECONDS, env_aliases=("RATE_LIMIT_DELAY",)),
    S("catalog.batch_size", 100, "int", "targets per catalog/product query", minimum=1),
    S("catalog.timeout_seconds", 120.0, "float", "timeout of one catalog query", minimum=1, maximum=DAY_SECONDS),
    S("catalog.max_retries", 3, "int", "retries of a catalog query after 5xx or connection errors", minimum=0),
    S("catalog.executing_polls", 30, "int", "how often to re-ask a MAST service that answers EXECUTING", minimum=1),
    S("catalog.page_size", 50000, "int", "rows per page asked of MAST (pagesize); longer answers come in pages",
      minimum=1, maximum=500000),
    S("catalog.obsids_per_request", 500, "int",
      "observations per MAST product query when `plan tess --all-targets` plans a whole sector", minimum=1,
      maximum=5000),
    S("kepler.max_targets", 100, "int", "host stars planned by `plan kepler` and `plan all`", minimum=1,
      env_aliases=("KEPLER_MAX_TARGETS",)),
    S("kepler.cadence", "long", "str", "long (LLC, ~30 min) or short (SLC, ~1 min) light curves",
      choices=("long", "short")),
    S("kepler.quarters", [], "list[int]", "quarters to plan (0-17); empty means every observed quarter"),
    S("kepler.products", ["lc"], "list[str]", "what `plan kepler` plans: lc (light curves), tpf (target pixel files)",
      choices=("lc", "tpf")),
    S("k2.max_targets", 20, "int", "K2 host stars planned by `plan k2`", minimum=1),
    S("k2.campaigns", [], "list[int]", "K2 campaigns to plan; empty means all"),
    S("k2.products", ["lc"], "list[str]", "what `plan k2` plans: lc, tpf", choices=("lc", "tpf")),
    S("tess.max_targets", 150, "int", "TOI host stars planned by `plan tess` and `plan all`", minimum=1,
      env_aliases=("TESS_MAX_TARGETS",)),
    S("tess.dispositions", ["PC", "CP", "KP"], "list[str]", "TFOPWG dispositions of the TOIs to plan"),
    S("tess.cadence", "120s", "str", "SPOC light curve cadence: 120s (LC) or 20s (FAST-LC)",
      choices=("120s", "20s")),
    S("tess.sectors", [], "list[int]", "sectors to plan; empty means all"),
    S("tess.products", ["lc"], "list[str]", "what `plan tess` plans: lc, tpf, dv (DV time series), cutout (FFI cutouts)",
      choices=("lc", "tpf", "dv", "cutout")),
    S("tess.cutout_size", 10, "int", "side in pixels of each TESScut FFI cutout", minimum=1, maximum=100),
    S("ztf.max_images", 100, "int", "science images planned by `plan ztf` and `plan all`", minimum=1,
      env_aliases=("ZTF_MAX_IMAGES",)),
    S("ztf.start_date", "2024-01-01", "str", "first night (UTC date) of `plan ztf` and `plan all`"),
    S("ztf.end_date", "2024-01-31", "str", "last night (UTC date, inclusive) of `plan ztf` and `plan all`"),
    S("ztf.fields", [], "list[int]", "ZTF field ids; empty means every field"),
    S("ztf.filters", ["zg", "zr", "zi"], "list[str]", "filter codes to plan"),
    S("ztf.ccds", [], "list[int]", "CCD ids (1-16); empty means all"),
    S("ztf.sample", "spread", "str", "which n images `plan ztf` takes: spread (across nights and fields) or first (by time)",
      choices=("spread", "first")),
    S("ztf.probe_concurrency", 4, "int", "parallel HEAD requests of `plan ztf --probe-sizes`", minimum=1,
      maximum=64),
    S("download.workers", 4, "int", "parallel transfers of `ratdcs sync`", minimum=1, maximum=MAX_WORKERS),
    S("download.processes", "auto", "auto|int",
      "worker processes of `ratdcs sync` (the workers split among them); auto: one per transfer, up to 4, "
      "with 2 or more cores, for 1,000 or more files averaging under 1 MiB on Linux (many small files are "
      "bound by Python, not the network), else 1",
      minimum=1, maximum=64),
    S("download.max_retries", 3, "int", "retries of one file within a sync before it is marked failed",
      minimum=0, env_aliases=("MAX_RETRIES",)),
    S("download.max_attempts", 5, "int", "syncs that may try one file; `--retry-failed` skips rows past it",
      minimum=1),
    S("download.chunk_size", 1048576, "int", "bytes read from the network per chunk", minimum=1024,
      env_aliases=("CHUNK_SIZE",)),
    S("download.timeout_seconds", 60.0, "float", "connect/read timeout of one transfer", minimum=0.1,
      maximum=DAY_SECONDS),
    # Issue 20: a read timeout bounds the gap between two bytes only, so a server trickling a byte a
    # second held a transfer for hours. Headers get a fixed budget (real archives answer in seconds;
    # 300 s leaves room for a few slow hops under the 60 s read timeout). Bodies get a floor rate:
    # 1 KiB/s per transfer is 32 kbit/s for four workers, below any link a sync is usable on, so only
    # a stuck or hostile server trips it; a 30 s window lets a slow real link's pauses average out.
    S("download.request_deadline_seconds", 300.0, "float",
      "longest wait for a file's final headers, connecting and redirects included; then a stall, retried",
      minimum=0.1, maximum=DAY_SECONDS),
    S("download.min_bytes_per_second", 1024, "int",
      "slowest body accepted, averaged over stall_window_seconds; slower is a stall, retried (0: no check)",
      minimum=0),
    S("download.stall_window_seconds", 30.0, "float", "the window min_bytes_per_second is measured over",
      minimum=0.1, maximum=DAY_SECONDS),
    S("download.backoff_base_seconds", 1.0, "float", "first retry delay; doubles each retry, with jitter",
      minimum=0, maximum=DAY_SECONDS),
    S("download.backoff_max_seconds", 60.0, "float", "longest retry delay", minimum=0, maximum=DAY_SECONDS),
    S("download.per_host_connections", 4, "int", "concurrent requests to one archive host", minimum=1,
      maximum=MAX_WORKERS),
    S("download.requests_per_second", None, "float", "cap on requests per second to one host (empty: none)",
      nullable=True, minimum=0.001),
    S("download.lease_seconds", 600.0, "float", "how long a claimed row stays reserved for one sync process",
      minimum=1, maximum=7 * DAY_SECONDS),
    S("download.free_space_margin_bytes", 104857600, "int", "free space kept in reserve beyond the download",
      minimum=0),
    S("download.hash_md5", False, "bool", "also compute md5 of every file (sha256 is always computed)"),
    S("transport.cloud", "auto", "str", "use MAST's cloud copy: auto (first, MAST after any failure of it), "
      "prefer (first, MAST only after a 403/404) or never", choices=("auto", "prefer", "never")),
    S("transport.cloud_connections", 16, "int", "concurrent requests to the cloud copy (S3 takes more than MAST)",
      minimum=1, maximum=MAX_WORKERS),
    S("verify.fits_checksum", "strict", "str", "FITS CHECKSUM/DATASUM policy", choices=("strict", "warn", "off")),
    S("verify.max_nan_fraction", None, "float", "fail light curves whose flux is NaN above this fraction",
      nullable=True, minimum=0),
    # Read by ratdcs_catalog.lightcurves() / target_pixel_files() (loaders.py), whose keywords override them.
    S("data_pipeline.preprocessing.normalize_flux", True, "bool",
      "lightcurves(): divide each light curve by its median flux"),
    S("data_pipeline.preprocessing.remove_nans", True, "bool", "lightcurves(): drop cadences whose flux is NaN"),
    S("data_pipeline.preprocessing.quality_bitmask", "default", "str",
      "lightcurves(), target_pixel_files(): quality flags to drop on read: none, default or hard",
      choices=("none", "default", "hard")),
    S("data_pipeline.preprocessing.sigma_clip", 5.0, "float",
      "lightcurves(): drop outliers beyond this many sigma (0: keep all)", minimum=0),
    S("data_pipeline.validation.split_ratio", [0.8, 0.1, 0.1], "list[float]", "train, val, test fractions"),
    S("data_pipeline.validation.random_seed", 42, "int", "seed of the train/val/test assignment"),
    S("data_pipeline.validation.ztf_split_unit", "night", "str", "what `split` keeps together for ZTF: image, night or field",
      choices=("image", "night", "field")),
)
del S

_BY_KEY = {s.key: s for s in SETTINGS}


def env_name(key: str) -> str:
    """The generic environment variable for a key: RATDCS_DOWNLOAD__WORKERS."""
    return "RATDCS_" + key.upper().replace(".", "__")


class Config(Mapping[str, Any]):
    """The effective configuration: a read-only mapping key -> value, with ``origin(key)``."""

    def __init__(self, values: dict[str, Any], origins: dict[str, str], config_path: Path | None,
                 config_paths: tuple[Path, ...] | None = None):
        self._values = values
        self._origins = origins
        self.config_path = config_path  # the last file read (later files override earlier ones)
        self.config_paths = config_paths if config_paths is not None else ((config_path,) if config_path else ())

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def origin(self, key: str) -> str:
        return self._origins[key]

    def with_overrides(self, overrides: Mapping[str, Any], origin: str = "command line") -> "Config":
        """A copy with flag values applied on top (None means "flag not given"); a relative path
        is taken from the current directory."""
        values, origins = dict(self._values), dict(self._origins)
        for key, value in overrides.items():
            if value is None:
                continue
            values[key] = resolve_path(key, coerce(key, value, origin), Path.cwd())
            origins[key] = origin
        return Config(values, origins, self.config_path, self.config_paths)

    @property
    def data_dir(self) -> Path:
        return Path(self["data_dir"]).expanduser().absolute()

    @property
    def manifest_path(self) -> Path:
        m = self["manifest"]
        return Path(m).expanduser().absolute() if m else self.data_dir / "manifest.sqlite"

    @property
    def log_path(self) -> Path:
        f = self["log_file"]
        return Path(f).expanduser().absolute() if f else self.data_dir / "data_download.log"


def load_config(
    path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Read defaults, then the config file(s), then ``.env`` and the environment.

    The file is ``path`` if given (a list: several files, each later one overriding the earlier
    ones), else ``$RATDCS_CONFIG``, else ``./config.yaml`` if present. A relative path in a file
    (``data_dir: ./data``) is taken from that file's directory; from ``.env``, the environment or a
    flag, from the current directory. Every problem found (unknown keys, bad values, in every
    file and variable) is reported in one ``ConfigError``.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    values = {s.key: s.default for s in SETTINGS}
    origins = {s.key: "default" for s in SETTINGS}
    problems = _Problems()
    config_paths = _find_config_files(path, environ, cwd)
    for config_path in config_paths:
        for key, value in problems.collect(_read_yaml_settings, config_path, problems, default={}).items():
            converted = problems.collect(coerce, key, value, f"{config_path}", default=_INVALID)
            if converted is not _INVALID:
                values[key] = resolve_path(key, converted, config_path.parent)
                origins[key] = str(config_path)
    for key, (value, origin) in _environment_settings(environ, cwd, problems).items():
        converted = problems.collect(coerce, key, value, origin, default=_INVALID)
        if converted is not _INVALID:
            values[key] = resolve_path(key, converted, cwd)
            origins[key] = origin
    problems.raise_if_any()
    return Config(values, origins, config_paths[-1] if config_paths else None, tuple(config_paths))


class _Problems:
    """Configuration errors gathered across files and variables, so that one run names them all."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def add(self, error: ConfigError) -> None:
        self.errors.append(error)

    def collect(self, function, *args, default=None):
        try:
            return function(*args)
        except ConfigError as exc:
            self.add(exc)
            return default

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            lines = [f"  {e.message}" + (f" ({e.hint.split('? ')[0]}?)" if e.hint and "did you mean" in e.hint
                                          else "") for e in self.errors]
            raise ConfigError(f"{len(self.errors)} problems in the configuration:\n" + "\n".join(lines),
                              hint="fix each one; `ratdcs config` lists every setting with its default")


def resolve_path(key: str, value: Any, base: Path) -> Any:
    """A path setting made absolute: ``~`` expanded, a relative one joined to ``base``."""
    if value is None or _BY_KEY[key].type != "path":
        return value
    path = Path(value).expanduser()
    return os.path.normpath(path if path.is_absolute() else (base / path).absolute())  # no "sub/../"


def _find_config_files(path, environ, cwd: Path) -> list[Path]:
    if path is not None:
        paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        return [_existing(Path(p), "--config") for p in paths]
    if environ.get("RATDCS_CONFIG"):
        return [_existing(Path(environ["RATDCS_CONFIG"]), "RATDCS_CONFIG")]
    default = cwd / "config.yaml"
    return [default.absolute()] if default.is_file() else []


def _existing(candidate: Path, how: str) -> Path:
    if not candidate.is_file():
        raise ConfigError(f"configuration file {candidate} (from {how}) does not exist",
                          hint="check the path, or run without it to use the defaults")
    return candidate.absolute()


def _read_yaml_settings(path: Path, problems: _Problems) -> dict[str, Any]:
    from .strict_yaml import load_config_yaml

    tree = load_config_yaml(path)
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level, found {type(tree).__name__}")
    return _flatten(tree, path, problems)


def _flatten(tree: dict, path: Path, problems: _Problems, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if key in _BY_KEY:
            flat[key] = value
        elif isinstance(value, dict) and any(k.startswith(key + ".") for k in _BY_KEY):
            flat.update(_flatten(value, path, problems, key + "."))
        else:
            problems.add(ConfigError(f"{path}: unknown setting {shorten(key)}", hint=_suggest(key)))
    return flat


def _refuse_unknown_variables(variables: Mapping[str, str], where: str, problems: _Problems) -> None:
    """A RATDCS_ variable that names no setting is a typo (RATDCS_DOWNLOAD__WORKERZ), refused as
    an unknown key in config.yaml is: silently ignoring it would run with the default."""
    known = {"RATDCS_CONFIG"} | {name for s in SETTINGS for name in (*s.env_aliases, env_name(s.key))}
    for name in variables:
        if name.startswith("RATDCS_") and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean ${close[0]}? " if close else ""
            problems.add(ConfigError(f"{where} ${name}: no ratdcs setting has this name",
                                     hint=hint + "variables are RATDCS_ + the key in capitals, __ for each dot "
                                                 "(RATDCS_DOWNLOAD__WORKERS); the shipped config.yaml lists every key"))


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, list(_BY_KEY), n=1, cutoff=0.5)
    if not close:
        leaf = key.rsplit(".", 1)[-1]
        close = [k for k in _BY_KEY if k.rsplit(".", 1)[-1] == leaf][:1]
    if close:
        return f"did you mean '{close[0]}'? `ratdcs config` lists every setting"
    return "`ratdcs config` lists every setting"


def _environment_settings(environ: Mapping[str, str], cwd: Path, problems: _Problems
                          ) -> dict[str, tuple[Any, str]]:
    """Settings from .env (in the current directory) overlaid by the real environment."""
    sources: list[tuple[Mapping[str, str], str]] = []
    dotenv_path = cwd / ".env"
    if dotenv_path.is_file():
        from dotenv import dotenv_values

        sources.append(({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}, str(dotenv_path)))
    sources.append((environ, "environment"))
    found: dict[str, tuple[Any, str]] = {}
    for variables, where in sources:
        _refuse_unknown_variables(variables, where, problems)
        for setting in SETTINGS:
            for name in (*setting.env_aliases, env_name(setting.key)):
                if name in variables:
                    found[setting.key] = (_parse_env_value(setting, variables[name]), f"{where} ${name}")
    return found


def read_secret(name: str, *, cwd: Path | None = None) -> str | None:
    """A secret (the MAST token) from the environment, else from ./.env, as other settings layer.

    Secrets are not settings: they are never part of ``Config``, so ``ratdcs config``, the log
    and the manifest never see them; the caller holds the value only for its session cookie.
    """
    if os.environ.get(name):
        return os.environ[name]
    dotenv_path = (Path.cwd() if cwd is None else cwd) / ".env"
    if not dotenv_path.is_file():
        return None
    from dotenv import dotenv_values

    return dotenv_values(dotenv_path).get(name) or None


_PLAIN_NUMBER = re.compile(r"\s*-?[0-9]+(\.[0-9]+)?\s*")


def _parse_env_value(setting: Setting, raw: str) -> Any:
    if setting.type.startswith("list[") and not raw.strip().startswith("["):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if setting.type in ("str", "path") or (setting.type in ("int", "float", "auto|int") and _PLAIN_NUMBER.fullmatch(raw)):
        return raw  # coerce() converts a plain number as YAML would
    import yaml  # only here: RATDCS_DATA_DIR=... alone must not cost a sync yaml's import (40 ms)

    try:
        return yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        return raw


def coerce(key: str, value: Any, origin: str) -> Any:
    """Check ``value`` against the setting's type and limits; return it in canonical form."""
    setting = _BY_KEY.get(key)
    if setting is None:
        raise ConfigError(f"{origin}: unknown setting '{key}'", hint=_suggest(key))
    if setting.nullable and isinstance(value, str) and not value.strip():
        value = None  # RATDCS_DB= means "the default", as it did before paths were checked
    if value is None:
        if setting.nullable:
            return None
        raise ConfigError(f"{origin}: setting '{key}' needs a value ({setting.type}), found nothing")
    converted = _convert(setting, value)
    if converted is _INVALID:
        raise ConfigError(
            f"{origin}: setting '{key}' expects {_describe(setting.type)}, found {shorten(value)}",
            hint=f"default is {setting.default!r}: {setting.help}")
    _check_limits(setting, converted, origin)
    return converted


_INVALID = object()


def _convert(setting: Setting, value: Any) -> Any:
    kind = setting.type
    if kind.startswith("list["):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            return _INVALID
        items = [_convert_scalar(kind[5:-1], v) for v in value]
        return _INVALID if any(i is _INVALID for i in items) else items
    return _convert_scalar(kind, value)


def _convert_scalar(kind: str, value: Any) -> Any:
    if kind == "auto|int":
        return "auto" if isinstance(value, str) and value.strip().lower() == "auto" else _convert_scalar("int", value)
    if kind == "url":
        text = _convert_scalar("str", value)
        return text if text is not _INVALID and _is_http_url(text) else _INVALID
    if kind == "path" and isinstance(value, str) and not value.strip():
        return _INVALID  # an empty RATDCS_DATA_DIR= would silently mean the current directory
    if kind in ("str", "path"):
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()  # YAML reads 2024-01-01 as a date; we keep dates as text
        return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else _INVALID
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        return _INVALID
    if isinstance(value, bool):
        return _INVALID
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return _INVALID
    if kind == "float":
        try:
            number = float(value) if isinstance(value, (int, float, str)) else _INVALID
        except (ValueError, OverflowError):  # OverflowError: a whole number of 400 digits
            return _INVALID
        # YAML reads .nan and .inf as floats: no timeout, lease or delay means either.
        return number if number is _INVALID or math.isfinite(number) else _INVALID
    raise AssertionError(f"unknown setting type {kind}")


def _is_http_url(text: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:  # that, or an unclosed [ in the host
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in text)


def _describe(kind: str) -> str:
    names = {"str": "text", "url": "an http(s) URL with a host", "path": "a path", "int": "a whole number",
             "auto|int": "auto or a whole number",
             "float": "a number", "bool": "true or false"}
    if kind.startswith("list["):
        return f"a list of {names[kind[5:-1]].replace('a ', '')}s"
    return names[kind]


def _check_limits(setting: Setting, value: Any, origin: str) -> None:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if setting.choices and v not in setting.choices:
            raise ConfigError(f"{origin}: setting '{setting.key}' must be one of {', '.join(setting.choices)}, "
                              f"found {shorten(v)}")
        if setting.minimum is not None and isinstance(v, (int, float)) and v < setting.minimum:
            raise ConfigError(f"{origin}: setting '{setting.key}' must be at least {setting.minimum:g}, found {shorten(v)}")
        if setting.maximum is not None and isinstance(v, (int, float)) and v > setting.maximum:
            raise ConfigError(f"{origin}: setting '{setting.key}' must be at most {setting.maximum:g}, found {shorten(v)}")


def render_yaml_defaults() -> str:
    """The text of the shipped config.yaml: every key, its default and a one-line comment."""
    import json

    lines = ["# ratdcs configuration: every setting with its default.",
             "# Precedence: defaults < this file < .env and environment variables < command-line flags.",
             "# `ratdcs config` prints the effective values and where each one came from.", ""]
    opened: list[str] = []
    for s in SETTINGS:
        *sections, leaf = s.key.split(".")
        common = 0
        while common < min(len(sections), len(opened)) and sections[common] == opened[common]:
            common += 1
        for depth in range(common, len(sections)):
            if depth == 0:
                lines.append("")
            lines.append("  " * depth + f"{sections[depth]}:")
        opened = sections
        value = "null" if s.default is None else json.dumps(s.default)
        if isinstance(s.default, bool):
            value = "true" if s.default else "false"
        env = f" (env {s.env_aliases[0]})" if s.env_aliases else ""
        lines.append("  " * len(sections) + f"{leaf}: {value}  # {s.help}{env}")
    return "\n".join(lines) + "\n"
