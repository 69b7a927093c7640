"""Sources and product kinds: the one place each is named.

A **source** (kepler, k2, tess, ztf) is a planner plus its typed options; a **product kind**
(lc_long, lc_fast, ztf_sciimg, ...) is what a manifest row holds, with the checks that say a file
of that kind is good. Everything that lists sources or kinds reads them from here: the
``ratdcs plan`` subcommands and their flags, ``plan all``, the Python API's keyword checks, the
``--source`` choices of sync, report, verify, retry, reset and export, the manifest's refusal of
an unknown source, and ``verify``'s choice of checks. pooch's ``known_downloaders`` is the model:
a table looked up once, not an if-chain repeated in every module.

Adding a source is one planner module plus one ``register_source(Source(...))`` call; adding a
product kind is one ``register_kind(ProductKind(...))`` (with a verifier function named by its
import path) plus the ``Product`` entries that say where each source's planner finds it.
Planners and verifiers are named as ``"module:function"`` and imported on first use, so reading
the registry (``ratdcs --help``) imports no planner, no HTTP library and no astropy.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Any, Callable, Iterable, Mapping

from .errors import UsageError

__all__ = [
    "KINDS",
    "Option",
    "OptionError",
    "PLAN_ALL",
    "Product",
    "ProductKind",
    "SOURCES",
    "Source",
    "check_keywords",
    "kind",
    "load",
    "register_kind",
    "register_source",
    "source",
    "source_names",
    "unregister",
]


class OptionError(UsageError, TypeError):
    """An unknown or misspelt keyword: a ``TypeError`` to Python callers, exit 2 on the command line."""


def check_keywords(function: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Refuse keywords not in ``valid``, naming the closest valid one (``cadance`` -> ``cadence``)."""
    valid = sorted(set(valid))
    for name in given:
        if name in valid:
            continue
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        raise OptionError(f"{function} got an unexpected keyword argument {name!r}{guess}",
                          hint=f"valid keywords: {', '.join(valid)}")


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a source's planner: its Python keyword, command-line flag and config key.

    A value that is None (or an empty list) means "not given": the config key's value is used,
    else ``default``. ``kind`` is str, int, bool or choice; ``multiple`` makes a repeatable flag
    (a list); ``comma_list`` takes one flag value split at commas (``--filter zg,zr``).
    When the option is given (true, or a value), each option named in ``requires`` must have a
    value (given or configured), and no option named in ``excludes`` (``"n"``: ``--n``) may be given.
    """

    name: str
    flag: str
    help: str
    config_key: str | None = None
    default: Any = None
    kind: str = "str"
    choices: tuple[str, ...] = ()
    multiple: bool = False
    comma_list: bool = False
    minimum: int | None = None
    maximum: int | None = None
    metavar: str | None = None
    requires: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def resolve(self, value: Any, config: Mapping[str, Any]) -> Any:
        """The value the planner gets: the caller's (checked), else the configuration's, else the default."""
        if value is None or (isinstance(value, (list, tuple)) and not value):
            return config[self.config_key] if self.config_key else self.default
        return self.coerce(value)

    def coerce(self, value: Any) -> Any:
        """Check a value given in Python or on the command line; UsageError names the flag."""
        if self.comma_list and isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if self.multiple or self.comma_list:
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                value = [value]
            return [self._one(v) for v in value]
        return self._one(value)

    def _one(self, value: Any) -> Any:
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise UsageError(f"{self.flag}: expected true or false, got {value!r}")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if not (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
                    raise UsageError(f"{self.flag}: expected a whole number, got {value!r}")
                value = int(value)
            if (self.minimum is not None and value < self.minimum) or (
                    self.maximum is not None and value > self.maximum):
                raise UsageError(f"{self.flag}: {value} is outside {self._range()}")
            return value
        if self.choices and value not in self.choices:
            raise UsageError(f"{self.flag}: {value!r} is not one of {', '.join(self.choices)}")
        return value if self.kind == "choice" or self.choices else str(value)

    def _range(self) -> str:
        low = "" if self.minimum is None else str(self.minimum)
        high = "" if self.maximum is None else str(self.maximum)
        return f"the range {low}-{high}" if low and high else f"the range >= {low}" if low else f"<= {high}"


@dataclasses.dataclass(frozen=True)
class ProductKind:
    """What a row's ``product_kind`` means: how a file of that kind is checked.

    ``verifier`` (``"module:function"``) checks a FITS file's structure: it is called with the
    file's path and its HDUs (``fitsheaders.Hdu``) and raises ``verify.VerifyFailed``. None: the
    kind is not FITS, and only size and checksum are checked. ``flux_column`` names the column
    whose NaN fraction is recorded (and limited by ``verify.max_nan_fraction``).
    """

    name: str
    description: str
    verifier: str | None = None
    flux_column: str | None = None
    unpack: str | None = None  # "zip": the download is a zip holding the one FITS file kept on disk

    @property
    def is_fits(self) -> bool:
        return self.verifier is not None


@dataclasses.dataclass(frozen=True)
class Product:
    """Where a source's planner finds one kind of file and where its files go.

    ``mast_subgroup`` is MAST's ``productSubGroupDescription``; ``filename_suffix`` is the end of
    the archive's file name; ``folder`` is the destination under the data directory;
    ``cadence`` is the ``--cadence`` value that selects it (None: always).
    """

    kind: str
    folder: str
    mast_subgroup: str | None = None
    filename_suffix: str | None = None
    cadence: str | None = None
    group: str = "lc"  # what --products names it: lc, tpf, dv, cutout


@dataclasses.dataclass(frozen=True)
class Source:
    """One archive source: its planner, its options and the products it plans."""

    name: str
    title: str  # the first line of `ratdcs plan NAME --help`
    help: str   # the rest of that help text
    planner: str  # "module:function", called as planner(ctx, n=..., **options) -> SourcePlan
    size_key: str  # the config key giving n when --n is not given
    target_label: str  # what a target id is: KIC, EPIC, TIC, ZTF field
    options: tuple[Option, ...] = ()
    products: tuple[Product, ...] = ()

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)

    def product(self, cadence: str | None = None, group: str = "lc") -> Product:
        """The product of a group that a cadence selects (the only one when the source has no cadences)."""
        for p in self.products:
            if p.group == group and (p.cadence == cadence or p.cadence is None):
                return p
        raise KeyError(f"{self.name} has no {group} product for cadence {cadence!r}")

    def selected(self, groups, cadence: str | None = None) -> list[Product]:
        """The products ``--products`` and ``--cadence`` choose, in registry order."""
        return [p for p in self.products if p.group in groups and (p.cadence is None or p.cadence == cadence)]

    def resolve_options(self, given: Mapping[str, Any], config: Mapping[str, Any], *,
                        n: int | None = None) -> dict[str, Any]:
        """Every option's value for the planner: given (checked) < configuration < default.
        ``n`` is ``--n`` as given (None: not given), for options that exclude it."""
        check_keywords(f"plan({self.name!r})", given, (o.name for o in self.options))
        resolved = {o.name: o.resolve(given.get(o.name), config) for o in self.options}
        flags = {o.name: o.flag for o in self.options} | {"n": "--n"}
        for o in self.options:
            if not _given(given.get(o.name)) or given.get(o.name) is False:
                continue
            for name in o.requires:
                if not _given(resolved.get(name)):
                    key = self.option(name).config_key
                    raise UsageError(f"{o.flag} needs {flags[name]}",
                                     hint=f"add {flags[name]}" + (f" (or set {key})" if key else ""))
            for name in o.excludes:
                if _given(n if name == "n" else given.get(name)):
                    raise UsageError(f"{o.flag} cannot be combined with {flags[name]}",
                                     hint=f"{o.flag} plans every target; drop {flags[name]}, or drop {o.flag} "
                                          "to choose targets")
        return resolved


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, (list, tuple)) and not value)


KINDS: dict[str, ProductKind] = {}
SOURCES: dict[str, Source] = {}
# `ratdcs plan all`: the seed project's set, in the order --max-bytes spends its budget.
PLAN_ALL = ("kepler", "tess", "ztf")


def register_kind(product_kind: ProductKind) -> ProductKind:
    KINDS[product_kind.name] = product_kind
    return product_kind


def register_source(spec: Source) -> Source:
    """Add a source; its products' kinds must be registered first."""
    unknown = [p.kind for p in spec.products if p.kind not in KINDS]
    if unknown or spec.name == "all":
        raise ValueError(f"source {spec.name!r}: unknown product kind(s) {unknown} or a reserved name")
    SOURCES[spec.name] = spec
    return spec


def unregister(source_name: str | None = None, kind_name: str | None = None) -> None:
    """Take a source or kind out again (tests that register a toy source)."""
    SOURCES.pop(source_name or "", None)
    KINDS.pop(kind_name or "", None)


def source_names() -> tuple[str, ...]:
    """Every source, in registration order (the --source choices)."""
    return tuple(SOURCES)


def source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise UsageError(f"unknown source {name!r}", hint=f"choose from {', '.join((*SOURCES, 'all'))}") from None


def kind(name: str) -> ProductKind:
    """A row's product kind; one this ratdcs does not know is checked as a plain file."""
    return KINDS.get(name) or ProductKind(name, "unknown to this ratdcs: size and checksum only")


_LOADED: dict[str, Callable] = {}


def load(path: str) -> Callable:
    """The function named ``"module:function"`` (imported once)."""
    if path not in _LOADED:
        module, _, name = path.partition(":")
        _LOADED[path] = getattr(importlib.import_module(module), name)
    return _LOADED[path]


# ---- the product kinds ---------------------------------------------------------------------------

_LC = "ratdcs_catalog.verify:check_light_curve"
register_kind(ProductKind("lc_long", "Kepler/K2 long-cadence light curve (~30 min)", _LC, "PDCSAP_FLUX"))
register_kind(ProductKind("lc_short", "Kepler/K2 short-cadence light curve (~1 min)", _LC, "PDCSAP_FLUX"))
register_kind(ProductKind("lc", "TESS SPOC 2-minute light curve", _LC, "PDCSAP_FLUX"))
register_kind(ProductKind("lc_fast", "TESS SPOC 20-second light curve", _LC, "PDCSAP_FLUX"))
register_kind(ProductKind("ztf_sciimg", "ZTF science image (one CCD quadrant)", "ratdcs_catalog.verify:check_image"))
_TPF = "ratdcs_catalog.verify:check_target_pixel_file"
register_kind(ProductKind("tpf_long", "Kepler/K2 long-cadence target pixel file (gzipped FITS)", _TPF, "FLUX"))
register_kind(ProductKind("tpf_short", "Kepler/K2 short-cadence target pixel file (gzipped FITS)", _TPF, "FLUX"))
register_kind(ProductKind("tpf", "TESS SPOC 2-minute target pixel file", _TPF, "FLUX"))
register_kind(ProductKind("tpf_fast", "TESS SPOC 20-second target pixel file", _TPF, "FLUX"))
register_kind(ProductKind("dvt", "TESS data-validation time series (one table per TCE)",
                          "ratdcs_catalog.verify:check_dv_timeseries"))
register_kind(ProductKind("cutout", "TESS full-frame-image cutout (TESScut): a target pixel file, from its zip",
                          _TPF, "FLUX", unpack="zip"))

# ---- the sources ---------------------------------------------------------------------------------

_CADENCE_KEPLER = Option("cadence", "--cadence", "Long (~30 min, LLC) or short (~1 min, SLC) cadence; default long.",
                         config_key="kepler.cadence", kind="choice", choices=("long", "short"))


def _kepler_products(folder: str) -> tuple[Product, ...]:
    # Kepler and K2 name their light curves and target pixel files alike (docs/archive-facts.md
    # section 2); the pixel files are gzipped on the archive and kept so.
    return (Product("lc_long", folder, "LLC", "_llc.fits", cadence="long"),
            Product("lc_short", folder, "SLC", "_slc.fits", cadence="short"),
            Product("tpf_long", f"{folder}/tpf", "LPD-TARG", "_lpd-targ.fits.gz", cadence="long", group="tpf"),
            Product("tpf_short", f"{folder}/tpf", "SPD-TARG", "_spd-targ.fits.gz", cadence="short", group="tpf"))


def _products_option(source: str, groups: tuple[str, ...]) -> Option:
    return Option("products", "--products", f"What to plan, comma-separated: {', '.join(groups)} "
                  "(light curves, target pixel files" + (", DV time series, FFI cutouts" if "dv" in groups else "")
                  + "); default lc.", config_key=f"{source}.products", comma_list=True, choices=groups,
                  metavar="KINDS")


register_source(Source(
    "kepler", "Hosts of CONFIRMED Kepler planets (KOI `cumulative` table) and their light curves.",
    "Example:\n    ratdcs plan kepler --n 100 --quarter 3 --quarter 4",
    "ratdcs_catalog.sources.kepler:plan_kepler", "kepler.max_targets", "KIC",
    options=(_CADENCE_KEPLER,
             Option("quarters", "--quarter", "Only these quarters (repeatable); default every observed quarter.",
                    config_key="kepler.quarters", kind="int", multiple=True, minimum=0, maximum=17),
             _products_option("kepler", ("lc", "tpf"))),
    products=_kepler_products("kepler")))

register_source(Source(
    "k2", "Hosts of confirmed K2 planets (`k2pandc`) and their K2 light curves.",
    "Example:\n    ratdcs plan k2 --n 20",
    "ratdcs_catalog.sources.kepler:plan_k2", "k2.max_targets", "EPIC",
    options=(Option("cadence", "--cadence", "Default long.", default="long", kind="choice",
                    choices=("long", "short")),
             Option("campaigns", "--campaign", "Only these campaigns (repeatable).", config_key="k2.campaigns",
                    kind="int", multiple=True, minimum=0, maximum=19),
             _products_option("k2", ("lc", "tpf"))),
    products=_kepler_products("k2")))

register_source(Source(
    "tess", "TOI host stars, their TIC stellar parameters, and their SPOC light curves.",
    "Example:\n    ratdcs plan tess --n 150 --disposition PC,CP",
    "ratdcs_catalog.sources.tess:plan_tess", "tess.max_targets", "TIC",
    options=(Option("dispositions", "--disposition",
                    "TOI dispositions, comma-separated (PC, CP, KP, APC, FP, FA); default PC,CP,KP.",
                    config_key="tess.dispositions", comma_list=True, metavar="CODES"),
             Option("cadence", "--cadence", "2-minute (default) or 20-second light curves.",
                    config_key="tess.cadence", kind="choice", choices=("120s", "20s")),
             Option("sectors", "--sector", "Only this sector (repeatable).", config_key="tess.sectors", kind="int",
                    multiple=True, minimum=1),
             _products_option("tess", ("lc", "tpf", "dv", "cutout")),
             Option("cutout_size", "--cutout-size", "Side of an FFI cutout in pixels (with --products cutout); "
                    "default 10.", config_key="tess.cutout_size", kind="int", minimum=1, maximum=100),
             Option("all_targets", "--all-targets", "Every SPOC target of the --sector(s), not TOI hosts: "
                    "MAST's observations of the sector, page by page (no TOI list; not with --n or "
                    "--disposition).", default=False, kind="bool", requires=("sectors",),
                    excludes=("n", "dispositions"))),
    # The 20-s files end "-a_fast-lc.fits", the 120-s ones "-s_lc.fits" (docs/archive-facts.md section 2).
    products=(Product("lc", "tess/fits", "LC", "_lc.fits", cadence="120s"),
              Product("lc_fast", "tess/fits", "FAST-LC", "_fast-lc.fits", cadence="20s"),
              Product("tpf", "tess/tpf", "TP", "_tp.fits", cadence="120s", group="tpf"),
              Product("tpf_fast", "tess/tpf", "FAST-TP", "_fast-tp.fits", cadence="20s", group="tpf"),
              Product("dvt", "tess/dv", "DVT", "_dvt.fits", group="dv"),
              Product("cutout", "tess/cutouts", None, "_astrocut.fits", group="cutout"))))

register_source(Source(
    "ztf", "ZTF science images in a date range from IRSA (sizes unknown unless --probe-sizes).",
    "Example:\n    ratdcs plan ztf --start-date 2024-01-01 --end-date 2024-01-31 --field 600 --filter zg,zr",
    "ratdcs_catalog.sources.ztf:plan_ztf", "ztf.max_images", "ZTF field",
    options=(Option("start_date", "--start-date", "First night (UTC).", config_key="ztf.start_date",
                    metavar="YYYY-MM-DD"),
             Option("end_date", "--end-date", "Last night (UTC), inclusive.", config_key="ztf.end_date",
                    metavar="YYYY-MM-DD"),
             Option("fields", "--field", "ZTF field id (repeatable).", config_key="ztf.fields", kind="int",
                    multiple=True),
             Option("filters", "--filter", "Filter codes, comma-separated: zg,zr,zi.", config_key="ztf.filters",
                    comma_list=True, metavar="CODES"),
             Option("ccds", "--ccd", "CCD id 1-16 (repeatable).", config_key="ztf.ccds", kind="int", multiple=True),
             Option("sample", "--sample", "Which n images: spread (across the range's nights and fields) "
                    "or first (by time).", config_key="ztf.sample", kind="choice", choices=("spread", "first")),
             Option("probe_sizes", "--probe-sizes", "Ask IRSA for each file's size (HEAD requests).",
                    default=False, kind="bool")),
    products=(Product("ztf_sciimg", "ztf/images"),)))
