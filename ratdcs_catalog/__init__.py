"""ratdcs: a catalog-first download manager for astronomical archive data.

Plan every intended file into an SQLite manifest, download what is pending in parallel with
verification, and ask the manifest what is done. The command line is ``ratdcs``; a notebook
can do the same with the functions here::

    import ratdcs_catalog as rc

    config = rc.load_config("config.yaml")           # or None: defaults + environment
    rc.plan("tess", config=config, n=10)              # ratdcs plan tess --n 10
    rc.sync(config=config, workers=4)                 # ratdcs sync --workers 4
    rc.report(config=config)["progress"]              # ratdcs report --json
    rc.verify(config=config, deep=True).intact        # ratdcs verify --deep
    rc.retry(config=config, reason="http_503")        # ratdcs retry --reason http_503
    rc.split(config=config, ratios=[0.7, 0.15, 0.15]) # ratdcs split --ratio 0.7,0.15,0.15
    rc.export("urls", "todo.aria2", config=config)    # ratdcs export urls -o todo.aria2
    table = rc.files(config=config, split="train")     # ratdcs ls --split train (an astropy Table)
    curves = rc.lightcurves(config=config, split="train")  # a lightkurve LightCurveCollection
    with rc.open_manifest(config=config) as m:        # the manifest itself, read-only
        m.query("SELECT state, COUNT(*) FROM files GROUP BY state")

Importing this package is cheap: every function imports what it needs (astropy, astroquery,
the planners, the sync engine) only when called. The submodules that share these names
(``ratdcs_catalog.plan``, ``.sync``, ``.report``, ``.verify``) are reached with
``from ratdcs_catalog.sync import ...`` or ``importlib.import_module("ratdcs_catalog.sync")``;
the package attribute always stays the function. ``config`` is a ``Config``, a path to a YAML
file, or None; ``settings`` are configuration keys with ``__`` for dots
(``download__workers=8``), applied on top, as command-line flags are.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
import types
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TextIO

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config
    from .dataset import SplitSummary, VerifySummary
    from .loaders import FileRecord
    from .manifest import Manifest

__version__ = "0.1.0"

__all__ = ["__version__", "export", "export_index", "files", "iter_files", "lightcurves", "load_config",
           "open_manifest", "plan", "report", "reset", "retry", "split", "split_warnings", "sync",
           "target_pixel_files", "verify"]


# Commands that change something say what they did in data_download.log, one line each (issue 19).
log = logging.getLogger("ratdcs.api")


def _named_keywords(function: Callable) -> Callable:
    """Refuse an unknown keyword with an error naming the closest valid one.

    Python's own TypeError says only "unexpected keyword argument"; a notebook user who typed
    ``worker=8`` deserves ``did you mean 'workers'?``. The error is ``registry.OptionError``, a
    TypeError (and a UsageError, exit 2, where the CLI meets it).
    """
    valid = frozenset(name for name, p in inspect.signature(function).parameters.items()
                      if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))

    @functools.wraps(function)
    def checked(*args, **kwargs):
        if not valid.issuperset(kwargs):  # the registry (8 ms to import) only to name the mistake
            from .registry import check_keywords

            check_keywords(f"{function.__name__}()", kwargs, valid)
        return function(*args, **kwargs)

    return checked


def load_config(path: str | os.PathLike | None = None, **settings: Any) -> "Config":
    """The effective configuration: defaults < ``path`` (or ./config.yaml) < environment < ``settings``.

    Example::

        config = ratdcs_catalog.load_config("config.yaml", data_dir="/data/ratdcs", download__workers=8)
        config.manifest_path        # PosixPath('/data/ratdcs/manifest.sqlite')
    """
    from .config import Config
    from .config import load_config as _load

    from .paths import follow_recorded_data_dir

    config = path if isinstance(path, Config) else _load(path)
    overrides = {key.replace("__", "."): value for key, value in settings.items() if value is not None}
    # An existing manifest's recorded data directory (issue 19); a no-op once followed.
    return follow_recorded_data_dir(config.with_overrides(overrides, origin="python") if overrides else config)


@_named_keywords
def open_manifest(path: str | os.PathLike | None = None, *, config: "Config | str | None" = None,
                  readonly: bool = True) -> "Manifest":
    """Open the manifest (``path``, else the configuration's) for reading; use it as a context manager.

    ``readonly=False`` opens it for writing (and migrates an older manifest); the
    ``Manifest`` methods are then the only writers.

    Example::

        with ratdcs_catalog.open_manifest("data/manifest.sqlite") as m:
            rows = m.query("SELECT source, COUNT(*) AS n FROM files WHERE state = 'done' GROUP BY source")
            print([dict(r) for r in rows])
    """
    from .manifest import open_manifest as _open

    if path is None:
        path = load_config(config).manifest_path
    return _open(path, create=False, readonly=readonly)


def plan(source: str, *, config: "Config | str | None" = None, n: int | None = None, dry_run: bool = False,
         max_bytes: int | None = None, cloud: bool = True, **options: Any):
    """Ask the catalogs which files ``source`` (kepler, k2, tess, ztf, all) needs; write them to the
    manifest. Returns a ``PlanSummary`` (``.as_dict()`` is what ``ratdcs plan --json`` prints).

    ``options`` are the source's options, named as the README's flags without dashes and
    plural where the flag repeats: kepler ``cadence``, ``quarters``; k2 ``cadence``,
    ``campaigns``; tess ``dispositions``, ``cadence``, ``sectors``, ``products``, ``cutout_size``,
    ``all_targets`` (every SPOC target of ``sectors``: ``plan("tess", sectors=[40], all_targets=True)``);
    ztf ``start_date``,
    ``end_date``, ``fields``, ``filters``, ``ccds``, ``probe_sizes``. A name the source does not
    have raises ``OptionError`` (a TypeError) naming the closest one. ``cloud=False`` is
    ``--no-cloud``: no cloud copies are looked up (``transport.cloud = never`` for this call).

    Example::

        summary = ratdcs_catalog.plan("kepler", config="config.yaml", n=5, quarters=[3, 4])
        summary.total.new           # files added to the manifest
        ratdcs_catalog.plan("tess", config="config.yaml", cadence="20s", dry_run=True)
    """
    from .plan import plan as _plan

    config = load_config(config, transport__cloud=None if cloud else "never")
    summary = _plan(config, source, n=n, dry_run=dry_run, max_bytes=max_bytes, **options)
    if not dry_run:
        t = summary.total
        log.info("plan %s: %d targets, %d files (%d new, %d unchanged, %d updated, %d changed upstream), "
                 "%d of unknown size, %d refused; %d catalog requests; manifest %s", source,
                 sum(x.targets for x in summary.sources), sum(x.files for x in summary.sources), t.new, t.unchanged,
                 t.updated, t.changed_upstream, sum(x.files_unknown_size for x in summary.sources),
                 sum(len(x.refused) for x in summary.sources), summary.requests_sent, summary.manifest_path)
    return summary


@_named_keywords
def sync(*, config: "Config | str | None" = None, manifest_path: str | os.PathLike | None = None,
         workers: int | None = None, sources: Sequence[str] = (), target_ids: Sequence[str] = (),
         limit: int | None = None, max_bytes: int | None = None, retry_failed: bool = False, dry_run: bool = False,
         force: bool = False, progress: Any = None, cloud: bool = True, cluster: str | None = None,
         processes: int | str | None = None):
    """Download, verify and place every pending file; returns a ``SyncSummary``.

    The keywords are ``ratdcs sync``'s flags (``workers=4``, ``sources=["tess"]``,
    ``target_ids=[...]``, ``limit``, ``max_bytes``, ``retry_failed``, ``dry_run``, ``force``;
    ``cloud=False`` is ``--no-cloud``: every file from the archive's own URL;
    ``cluster="tcp://scheduler:8786"`` or ``cluster="local:4"`` with ``pip install 'ratdcs[dask]'``;
    ``processes=2`` or ``"auto"``: worker processes the transfers are split among, download.processes).
    ``progress``: None prints nothing; or any object with ``update(n_bytes)`` and ``close()``
    (a tqdm bar works), or a callback - see ``ratdcs_catalog.sync`` the module.

    Example::

        summary = ratdcs_catalog.sync(config="config.yaml", workers=4)
    """
    if sources:  # the registry (8 ms to import) only when there are names to check
        from .registry import source

        for name in sources:
            source(name)  # an unknown source is a usage error, not an empty selection
    from .sync import sync as _sync

    config = load_config(config, download__workers=workers, transport__cloud=None if cloud else "never",
                         download__processes=processes)
    return _sync(config, manifest_path or config.manifest_path, sources=sources, target_ids=target_ids,
                       limit=limit, max_bytes=max_bytes, retry_failed=retry_failed, dry_run=dry_run, force=force,
                       progress=progress, cluster=cluster)


@_named_keywords
def report(section: str | None = None, *, config: "Config | str | None" = None, sql: str | None = None,
           limit: int | None = None, sources: Sequence[str] = (), html: str | os.PathLike | None = None) -> Any:
    """The report ``ratdcs report`` prints, as data.

    - no arguments: {section: rows} for every section (progress, states, failures, incomplete,
      syncs, stats, splits), each a list of dicts; ``limit`` rows of the long ones (default 10);
    - ``section``: that section's rows; ``"failed"`` lists every failed file (of ``sources``);
    - ``sql``: one read-only query's rows as dicts (writes raise ``UsageError``);
    - ``html``: write the whole report, with plots, as one self-contained HTML file at that path
      (needs matplotlib: ``pip install 'ratdcs[plots]'``); returns a ``report_html.HtmlReport``
      (``.path``, ``.size_bytes``, ``.figures``); ``limit`` rows per long table (default 20).

    Example::

        ratdcs_catalog.report("progress", config="config.yaml")
        ratdcs_catalog.report(sql="SELECT error_kind, files FROM failure_reasons")
        ratdcs_catalog.report(config="config.yaml", html="report.html")
    """
    from .errors import UsageError
    from .report import SECTIONS, build_report, failed_files, run_readonly_sql

    config = load_config(config)
    if html is not None:
        return _html_report(html, config=config, section=section, sql=sql, limit=limit, sources=sources)
    if sql is not None:
        if not sql.strip():
            raise UsageError("--sql needs a query",
                             hint="for example --sql \"SELECT state, COUNT(*) FROM files GROUP BY state\"")
        if section:
            raise UsageError(f"--sql and the section {section!r} ask for different things: give one of them",
                             hint=f"`ratdcs report {section}` or `ratdcs report --sql QUERY`")
        return run_readonly_sql(config.manifest_path, sql).dicts()
    if sources and section != "failed":
        raise UsageError("--source applies to `ratdcs report failed` only",
                         hint="the other sections list every source; filter with --sql, e.g. "
                              "\"SELECT * FROM source_progress WHERE source = 'tess'\"")
    with open_manifest(config=config, readonly=False) as manifest:
        if section == "failed":
            return failed_files(manifest, limit, sources=sources)
        sections = build_report(manifest, data_dir=config.data_dir, sections=[section] if section else SECTIONS,
                                limit=limit or 10)
    return sections[section] if section else sections


def _html_report(path, *, config: "Config", section, sql, limit, sources):
    from .errors import UsageError
    from .report_html import write_html_report

    if section or sql is not None or sources:
        given = f"the section {section!r}" if section else "--sql" if sql is not None else "--source"
        raise UsageError(f"--html writes the whole report; {given} cannot go with it",
                         hint="`ratdcs report --html report.html`, or the section alone as text")
    with open_manifest(config=config, readonly=False) as manifest:
        return write_html_report(manifest, path, limit=limit or 20)


@_named_keywords
def verify(*, deep: bool = False, sources: Sequence[str] = (), on_problem: str = "pending",
           config: "Config | str | None" = None, workers: int = 2) -> "VerifySummary":
    """Check every done file on disk (``deep``: re-hash and FITS checks); requeue missing or changed ones.

    Returns a ``VerifySummary``: ``.intact``, ``.checked``, ``.problems``, ``.counts()``, ``.requeued``.

    Example::

        summary = ratdcs_catalog.verify(config="config.yaml", deep=True)
        if not summary.intact:
            print(summary.counts())     # e.g. {'missing_on_disk': 1, 'sha256_changed_on_disk': 1}
    """
    from .dataset import verify_dataset

    config = load_config(config)
    with open_manifest(config=config, readonly=False) as manifest:
        summary = verify_dataset(manifest, config.data_dir, deep=deep, sources=sources, on_problem=on_problem,
                                 fits_checksum=config["verify.fits_checksum"],
                                 max_nan_fraction=config["verify.max_nan_fraction"], workers=workers)
    kinds = ", ".join(f"{kind} {n}" for kind, n in summary.counts().items())
    log.info("verify (%s) of %s: %d done files checked, %d intact, %d not%s; %d rows marked %s", summary.mode,
             config.data_dir, summary.checked, summary.files_ok, len(summary.problems), f" ({kinds})" if kinds else "",
             summary.requeued, summary.requeued_to)
    return summary


@_named_keywords
def retry(*, sources: Sequence[str] = (), reason: str | None = None, config: "Config | str | None" = None) -> int:
    """Failed rows back to pending with their attempts reset (``ratdcs retry``); returns how many moved.

    ``reason``: only failures whose kind or message contains it (``*`` is a wildcard).

    Example::

        ratdcs_catalog.retry(config="config.yaml", sources=["tess"], reason="http_503")
    """
    from .dataset import reason_like

    with open_manifest(config=config, readonly=False) as manifest:
        moved = manifest.retry_failed(sources=sources, reason_like=reason_like(reason))
    log.info("retry: %d failed rows back to pending, attempts reset (sources: %s; reason: %s)", moved,
             ", ".join(sources) or "all", reason or "any")
    return moved


@_named_keywords
def reset(*, sources: Sequence[str] = (), target_ids: Sequence[str] = (), states: Sequence[str] = (),
          file_ids: Sequence[int] = (), everything: bool = False, config: "Config | str | None" = None) -> int:
    """Chosen rows back to pending with attempts and errors cleared (``ratdcs reset``); files on
    disk stay. Rows under a live sync's lease are never touched. Returns how many rows moved.

    Example::

        ratdcs_catalog.reset(config="config.yaml", sources=["kepler"], target_ids=["11904151"])
    """
    from .errors import UsageError

    if not (sources or target_ids or states or file_ids or everything):
        raise UsageError("reset needs a choice of rows: sources, target_ids, states or file_ids",
                         hint="or everything=True to reset every row")
    with open_manifest(config=config, readonly=False) as manifest:
        moved = manifest.reset_files(sources=sources, target_ids=target_ids, states=states, file_ids=file_ids)
    chosen = {"sources": sources, "targets": target_ids, "states": states, "file ids": file_ids}
    log.info("reset: %d rows back to pending, attempts and errors cleared (%s)", moved,
             "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in chosen.items() if v) or "every row")
    return moved


@_named_keywords
def split(*, ratios: Sequence[float] | None = None, seed: int | None = None, sources: Sequence[str] = (),
          ztf_unit: str | None = None, config: "Config | str | None" = None) -> "SplitSummary":
    """Assign train/val/test per split unit and store it in the manifest (``ratdcs split``).

    The unit is the target for the light-curve missions; for ZTF ``ztf_unit`` (image, night or
    field). ``ratios``, ``seed`` and ``ztf_unit`` default to ``data_pipeline.validation.split_ratio``
    / ``random_seed`` / ``ztf_split_unit``. ``summary.warnings`` names any part that came out
    empty or far from the ratios.

    Example::

        summary = ratdcs_catalog.split(config="config.yaml", ratios=[0.7, 0.15, 0.15], seed=7)
        summary.targets             # {'train': ..., 'val': ..., 'test': ...}
    """
    from .dataset import split_targets

    config = load_config(config, data_pipeline__validation__split_ratio=ratios,
                         data_pipeline__validation__random_seed=seed,
                         data_pipeline__validation__ztf_split_unit=ztf_unit)
    with open_manifest(config=config, readonly=False) as manifest:
        summary = split_targets(manifest, ratios=config["data_pipeline.validation.split_ratio"],
                                seed=config["data_pipeline.validation.random_seed"], sources=sources,
                                ztf_unit=config["data_pipeline.validation.ztf_split_unit"])
    log.info("split (seed %d, ratios %s): %s; %d changed split; %d warnings", summary.seed,
             "/".join(f"{r:g}" for r in summary.ratios), ", ".join(f"{k} {v}" for k, v in summary.targets.items()),
             summary.changed, len(summary.warnings))
    return summary


@_named_keywords
def split_warnings(*, config: "Config | str | None" = None, splits: "Sequence[dict] | None" = None) -> list[str]:
    """Why the stored train/val/test split is not what the configured ratios ask (``ratdcs report
    splits`` prints them): a part that is empty, or files far from the ratios. Empty when all is well.
    ``splits``: the ``split_summary`` rows, if already read (``report("splits")``), to spare a pass.

    Example::

        for warning in ratdcs_catalog.split_warnings(config="config.yaml"):
            print(warning)   # ztf: 2 nights cannot give 0.8/0.1/0.1 with a test part: test is empty ...
    """
    from .dataset import check_splits

    config = load_config(config)
    with open_manifest(config=config, readonly=True) as manifest:
        return check_splits(manifest, ratios=config["data_pipeline.validation.split_ratio"],
                            ztf_unit=config["data_pipeline.validation.ztf_split_unit"], summary=splits)


@_named_keywords
def export(what: str, output: "str | os.PathLike | TextIO | None" = None, *, fmt: str | None = None,
           sources: Sequence[str] = (), states: Sequence[str] = (), with_history: bool = False,
           config: "Config | str | None" = None) -> Any:
    """``ratdcs export``: ``what`` is ``"files"`` (fmt csv or json), ``"urls"`` (fmt aria2, curl or
    list; default states: the rows not done yet, ``["all"]`` for every row), ``"tess-metadata"``
    or ``"manifest"``.

    manifest writes a portable copy of the manifest to the path ``output`` (every row pending,
    done rows pinned by their sha256, no local paths; syncs and transfers only ``with_history``)
    and returns how many files it lists: ``ratdcs --db COPY sync`` elsewhere fetches the same bytes.

    files and urls go to ``output``: a path (written atomically; returns the row count), an open
    text stream (returns the count), or None (returns the text). tess-metadata writes one JSON file
    per TESS target into the directory ``output`` (default <data_dir>/tess/metadata) and returns
    their paths.

    Example::

        ratdcs_catalog.export("urls", "todo.aria2", config="config.yaml")   # then: aria2c -i todo.aria2
        table = ratdcs_catalog.export("files", fmt="csv", states=["done"])
    """
    config = load_config(config)
    result = _export(what, output, fmt=fmt, sources=sources, states=states, with_history=with_history, config=config)
    count = len(result) if isinstance(result, list) else result if isinstance(result, int) else \
        result.count("\n") if isinstance(result, str) else "?"
    where = "standard output" if output is None or hasattr(output, "write") else output
    log.info("export %s: %s %s written to %s", what, count,
             "files" if what in ("manifest", "tess-metadata") else "rows", where)
    return result


def _export(what: str, output, *, fmt, sources, states, with_history, config) -> Any:
    import io
    from pathlib import Path

    from .errors import UsageError
    from .exports import NOT_DONE, atomic_output, export_files, export_manifest, export_tess_metadata, export_urls

    if what == "manifest" and (output is None or hasattr(output, "write")):
        raise UsageError("export manifest needs a file path to write the copy to",
                         hint="for example ratdcs export manifest dataset.sqlite")
    with open_manifest(config=config, readonly=False) as manifest:
        if what == "manifest":
            return export_manifest(manifest, output, with_history=with_history)
        if what == "tess-metadata":
            return export_tess_metadata(manifest, Path(output).expanduser().absolute() if output
                                        else config.data_dir / "tess" / "metadata")
        if what == "files":
            def write(out):
                return export_files(manifest, out, fmt or "csv", sources=sources, states=states)
        elif what == "urls":
            chosen = () if "all" in states else (tuple(states) or NOT_DONE)

            def write(out):
                return export_urls(manifest, out, fmt or "aria2", data_dir=config.data_dir, sources=sources,
                                   states=chosen)
        else:
            raise UsageError(f"export: unknown kind {what!r}", hint="choose files, urls, tess-metadata or manifest")
        if output is None:
            buffer = io.StringIO()
            write(buffer)
            return buffer.getvalue()
        if hasattr(output, "write"):
            return write(output)
        with atomic_output(output) as fh:
            return write(fh)


# ---- loaders: the done files as a training set (issue 18) ---------------------------------------

def _records(config, source, split, kind, *, kinds_of: Sequence[str] | None = None,
             what: str = "") -> Iterator["FileRecord"]:
    """The done files chosen by the filters, streamed; filters are checked before the first record."""
    from .loaders import check_filters, iter_records, only_kinds

    sources, splits, kinds = check_filters(source, split, kind)
    if kinds_of is not None:
        kinds = only_kinds(kinds, kinds_of, what)
    config = load_config(config)
    manifest = open_manifest(config=config)

    def stream():
        with manifest:
            yield from iter_records(manifest, config.data_dir, sources=sources, splits=splits, kinds=kinds)

    return stream()


@_named_keywords
def iter_files(*, config: "Config | str | None" = None, source: str | Sequence[str] | None = None, split: str | Sequence[str] | None = None,
               kind: str | Sequence[str] | None = None) -> Iterator["FileRecord"]:
    """The done files, one ``FileRecord`` at a time, streamed from the manifest (``ratdcs ls``).

    Each filter is a value or a list (None: all): ``source`` (kepler, k2, tess, ztf), ``split``
    (train, val, test: the file's split), ``kind`` (a product kind: lc_long, lc, tpf, cutout, ...).
    A record has ``path`` (absolute), ``source``, ``target_id``, ``product_kind``, ``quarter``,
    ``campaign``, ``campaign_part``, ``sector``, ``size_bytes``, ``sha256``, ``verify_level``,
    ``split``, ``label`` (the target's disposition), the target's ``ra_deg`` ... ``distance_pc``,
    ``period_days``, ``rel_path`` and ``file_id``; ``.as_dict()`` gives them as a dict.

    Example::

        for record in ratdcs_catalog.iter_files(config="config.yaml", split="train", kind="lc_long"):
            print(record.path, record.label)
    """
    return _records(config, source, split, kind)


@_named_keywords
def files(*, config: "Config | str | None" = None, source: str | Sequence[str] | None = None, split: str | Sequence[str] | None = None,
          kind: str | Sequence[str] | None = None):
    """The done files as an ``astropy.table.Table``, one row per file (the columns of ``iter_files``'
    records; missing values masked). ``.to_pandas()`` gives a DataFrame when pandas is installed.

    Example::

        table = ratdcs_catalog.files(config="config.yaml", split="train", source=["kepler", "tess"])
        table["path", "label", "period_days"]
    """
    from .loaders import records_table

    return records_table(_records(config, source, split, kind))


@_named_keywords
def export_index(output: "str | os.PathLike", *, fmt: str = "csv", config: "Config | str | None" = None,
                 source: str | Sequence[str] | None = None, split: str | Sequence[str] | None = None, kind: str | Sequence[str] | None = None) -> int:
    """Write the records of ``files()`` to ``output`` as ``fmt`` ``"csv"`` or ``"parquet"`` (pyarrow),
    atomically (``ratdcs export index``); returns the row count.

    Example::

        ratdcs_catalog.export_index("train.parquet", fmt="parquet", config="config.yaml", split="train")
    """
    from .loaders import write_index

    count = write_index(_records(config, source, split, kind), output, fmt)
    log.info("export index: %d rows written to %s (%s)", count, output, fmt)
    return count


@_named_keywords
def lightcurves(*, config: "Config | str | None" = None, source: str | Sequence[str] | None = None, split: str | Sequence[str] | None = None,
                kind: str | Sequence[str] | None = None, remove_nans: bool | None = None, normalize: bool | None = None,
                quality_bitmask: str | None = None, sigma_clip: float | None = None):
    """The done light curves as a ``lightkurve.LightCurveCollection`` (needs ``pip install
    'ratdcs[lightkurve]'``); each one's ``meta`` carries ``LABEL``, ``TARGET_ID``, ``SOURCE``,
    ``SPLIT``, ``PRODUCT_KIND`` and ``PATH``.

    Each file is read with ``quality_bitmask``, then ``remove_nans()``, ``normalize()`` and
    ``remove_outliers(sigma=sigma_clip)`` (0: none); the defaults are the configuration's
    ``data_pipeline.preprocessing`` keys, and these keywords override them.

    Example::

        curves = ratdcs_catalog.lightcurves(config="config.yaml", split="train", normalize=False)
        labels = [lc.meta["LABEL"] for lc in curves]
    """
    from .loaders import light_curve_kinds, read_light_curves

    config = load_config(config, data_pipeline__preprocessing__remove_nans=remove_nans,
                         data_pipeline__preprocessing__normalize_flux=normalize,
                         data_pipeline__preprocessing__quality_bitmask=quality_bitmask,
                         data_pipeline__preprocessing__sigma_clip=sigma_clip)
    key = "data_pipeline.preprocessing."
    records = _records(config, source, split, kind, kinds_of=light_curve_kinds(), what="a light-curve kind")
    return read_light_curves(records, remove_nans=config[key + "remove_nans"], normalize=config[key + "normalize_flux"],
                             quality_bitmask=config[key + "quality_bitmask"], sigma_clip=config[key + "sigma_clip"])


@_named_keywords
def target_pixel_files(*, config: "Config | str | None" = None, source: str | Sequence[str] | None = None, split: str | Sequence[str] | None = None,
                       kind: str | Sequence[str] | None = None, quality_bitmask: str | None = None):
    """The done target pixel files and TESScut cutouts as a ``lightkurve.TargetPixelFileCollection``
    (needs ``pip install 'ratdcs[lightkurve]'``), each one's ``meta`` tagged as in ``lightcurves``;
    ``quality_bitmask`` defaults to ``data_pipeline.preprocessing.quality_bitmask``.

    Example::

        tpfs = ratdcs_catalog.target_pixel_files(config="config.yaml", source="tess", kind="cutout")
    """
    from .loaders import pixel_kinds, read_pixel_files

    config = load_config(config, data_pipeline__preprocessing__quality_bitmask=quality_bitmask)
    records = _records(config, source, split, kind, kinds_of=pixel_kinds(), what="a target-pixel kind")
    return read_pixel_files(records, quality_bitmask=config["data_pipeline.preprocessing.quality_bitmask"])


class _Package(types.ModuleType):
    """This package's module type: ``plan``, ``report``, ``sync`` and ``verify`` stay the functions
    above. Without it, the first import of a submodule of the same name (which the functions
    themselves do) would make the import system replace ``ratdcs_catalog.report`` with the module.
    """


def _function_attribute(name: str) -> property:
    def get(package):
        return package.__dict__[name]

    def set_(package, value):
        if not isinstance(value, types.ModuleType):  # a test may still monkeypatch the function
            package.__dict__[name] = value

    return property(get, set_)


for _name in ("plan", "report", "sync", "verify"):
    setattr(_Package, _name, _function_attribute(_name))
sys.modules[__name__].__class__ = _Package
del _name
