"""`ratdcs sandbox serve`: run the local fake archive until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading

from pathlib import Path

import click

__all__ = ["sandbox"]


@click.group()
def sandbox():
    """A local archive (fake MAST, TESScut, Exoplanet Archive TAP and IRSA IBE) for tests and trials.

    \b
    Example:
        ratdcs sandbox serve --scale 0.05 --write-config sandbox.yaml
        ratdcs --config sandbox.yaml plan kepler --n 5
    """


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Anything but loopback exposes the sandbox to your network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Seed of the universe (catalogs, files) and of rate-based faults.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Shrink light curves, pixel files and TESScut cutouts (cadences) and ZTF images "
                   "(each axis); 1 is real size.")
@click.option("--faults", "fault_specs", multiple=True, metavar="SPEC",
              help="Inject a fault: KIND[@PATTERN][:key=value,...]. Repeatable. See below.")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Also keep generated files in this folder (kept across runs).")
@click.option("--write-config", "config_out", type=click.Path(dir_okay=False),
              help="Write the endpoint keys pointing here (only those: layer the file over your own "
                   "configuration with a second --config) to this file; an existing file is refused.")
@click.option("--force", "overwrite_config", is_flag=True,
              help="With --write-config: replace the file if it exists.")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="data_dir to put in the written configuration.")
@click.option("--redirect-downloads", is_flag=True,
              help="Answer MAST downloads with a 302 to the static copy, as MAST does.")
@click.option("--latency", metavar="TIME",
              help="Time to first byte of every answer and redirect hop (one round trip; two on a new "
                   "connection), like 80ms or 0.2s. Default: none (loopback).")
@click.option("--bandwidth", metavar="RATE",
              help="Rate cap per connection, like 500KB/s or 20MB/s. Default: none.")
@click.option("--max-connections", type=click.IntRange(min=1), metavar="N",
              help="At most N requests at once per client address; one more gets 503 with Retry-After. "
                   "Default: no cap.")
def serve(host, port, seed, scale, fault_specs, cache_dir, config_out, overwrite_config, data_dir,
          redirect_downloads, latency, bandwidth, max_connections):
    """Serve a deterministic archive on HTTP until Ctrl-C or SIGTERM.

    Prints the configuration that points ratdcs at it (and writes it with
    --write-config), so `ratdcs --config PATH plan ...` and `ratdcs --config PATH sync`
    run against the sandbox as they would against the real archives. The file holds
    only the endpoint keys (and data_dir with --data-dir), so it layers over your own:
    `ratdcs --config config.yaml --config PATH sync`. An existing file is left alone
    unless --force. TESScut
    (FFI cutouts, as astroquery's Tesscut asks for them) is under
    /tesscut/api/v0.1/ (sector, astrocut).

    \b
    Faults (--faults, repeatable): KIND[@PATTERN][:key=value,...]
      KIND     429 500 502 503 reset short_body flip_bytes ignore_range
               no_content_length slow stall html_200 redirect_loop
               mast_executing mast_error bad_json replace
               zip_slip zip_many
      PATTERN  regular expression searched in path?query (plus &form-body for
               POSTs, so it can name a MAST service or an ADQL table)
      keys     count=N (first N matches), rate=P (seeded probability),
               retry_after=S, cut_at=F|BYTES, n_bytes=N, bytes_per_second=B,
               stall_seconds=S, msg=TEXT, after=N (replace)
      Faults are tried in the order given; the first that fires wins.
      replace@PATTERN:after=N changes the archive instead: each matching file
      is served as it is for its first N requests (default 1), then as a new
      version: same size, other bytes (still valid FITS), new ETag and
      Last-Modified. It combines with the other faults; a resume across it
      splices two versions unless the client sends If-Range.
      zip_slip and zip_many fire on TESScut zips only: a member named
      ../../evil.fits, or two cutouts where one sector was asked for.
    \b
    Network profile (MAST or IRSA from a university network, docs/sandbox.md):
        ratdcs sandbox serve --scale 0.2 --latency 80ms --bandwidth 20MB/s
    \b
    Examples:
        ratdcs sandbox serve --faults '503@Download/file:count=2,retry_after=1'
        ratdcs sandbox serve --faults 'reset@_llc\\.fits:rate=0.1' --faults 'mast_executing@Mast.Caom.Filtered:count=3'
        ratdcs sandbox serve --faults 'reset@_llc\\.fits:count=1' --faults 'replace@_llc\\.fits:after=1'
        ratdcs sandbox serve --faults 'zip_slip@astrocut:count=1'
    """
    from ..sandbox import FaultSpecError, Sandbox, endpoint_config_yaml, parse_fault

    try:
        faults = [parse_fault(spec) for spec in fault_specs]
    except FaultSpecError as err:
        raise click.BadParameter(str(err), param_hint="--faults") from None
    _refuse_to_overwrite(config_out, overwrite_config)
    network = _network_profile(latency, bandwidth, max_connections)
    archive = Sandbox(seed=seed, scale=scale, cache_dir=cache_dir, faults=faults, host=host,
                      port=port, redirect_downloads=redirect_downloads, network=network)
    try:
        archive.start()
    except OSError as err:
        raise click.ClickException(f"cannot listen on {host}:{port}: {err.strerror}; "
                                   "choose another --port (0 picks a free one)") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.secho(f"Warning: listening on {host}, not loopback: other machines can reach the sandbox.",
                    fg="yellow", err=True)
    # Absolute: a relative data_dir would be taken from wherever the config is used later.
    text = endpoint_config_yaml(archive.endpoints(),
                                data_dir=str(Path(data_dir).absolute()) if data_dir else None)
    if config_out:
        try:
            with open(config_out, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as err:
            archive.stop()
            raise click.BadParameter(f"cannot write {config_out}: {err.strerror}", param_hint="--write-config") \
                from None
    click.echo(text, nl=False)
    wrote = (f" - wrote {config_out} (endpoint keys only; layer it: `ratdcs --config config.yaml "
             f"--config {config_out} ...`)") if config_out else ""
    click.echo(f"Sandbox archive (seed {seed}, scale {scale:g}) at {archive.base_url}{wrote}; "
               "Ctrl-C or SIGTERM stops it.", err=True)
    if network.active:
        click.echo(f"Network profile: {network.describe()}.", err=True)
    _wait_for_stop()
    archive.stop()
    click.echo("Sandbox stopped.", err=True)


def _refuse_to_overwrite(config_out: str | None, overwrite: bool) -> None:
    """A user's own configuration is not replaced by six lines of endpoints (issue 19)."""
    if config_out and Path(config_out).exists() and not overwrite:
        from ..errors import UsageError

        raise UsageError(f"--write-config {config_out}: the file exists; not overwritten",
                         hint=f"pass --force to replace it, or write another file and layer both: "
                              f"`ratdcs --config {config_out} --config sandbox.yaml ...`")


def _network_profile(latency, bandwidth, max_connections):
    from ..sandbox import NetworkProfile
    from ..sandbox.network import parse_bandwidth, parse_latency

    for option, value, parse in (("--latency", latency, parse_latency), ("--bandwidth", bandwidth, parse_bandwidth)):
        try:
            value and parse(value)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint=option) from None
    return NetworkProfile.parse(latency=latency, bandwidth=bandwidth, max_connections=max_connections)


def _wait_for_stop() -> None:
    """Block until SIGINT or SIGTERM; both end the command normally (exit 0)."""
    stop = threading.Event()
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
