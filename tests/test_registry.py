"""The registry is the one place a source or product kind is named: a toy source added through it
alone is planned and synced; the CLI, the API's keywords and the schema follow it."""

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import ratdcs_catalog as rc
from ratdcs_catalog import registry
from ratdcs_catalog.cli import cli
from ratdcs_catalog.records import PlannedFile
from ratdcs_catalog.sources.common import SourcePlan, TargetPlan
from ratdcs_catalog.verify import VerifyFailed

ROOT = Path(__file__).resolve().parents[1]


# ---- a toy source: one module's worth of planner and verifier, and one registry entry -----------

def plan_toy(ctx, *, n, flavour):
    """Asks the toy archive's catalog (JSON) which blobs exist; keeps those of the flavour."""
    base = ctx.config["endpoints.mast"].rstrip("/")
    listing = ctx.http.request("GET", f"{base}/toy/catalog.json", what="toy catalog").json()
    product = registry.source("toy").product()
    targets = []
    for entry in [e for e in listing if e["flavour"] == flavour][:n]:
        files = [PlannedFile("toy", entry["id"], product.kind, f"{base}/toy/files/{entry['name']}",
                             f"{product.folder}/{entry['name']}", expected_size_bytes=entry["size"],
                             expected_checksum=f"sha256:{entry['sha256']}")]
        targets.append(TargetPlan({"source": "toy", "target_id": entry["id"], "name": f"Toy {entry['id']}"}, files))
    return SourcePlan("toy", f"flavour = {flavour}", targets)


def check_toy(path, hdus):
    """A toy blob is a FITS file whose primary header says OBJECT = 'TOY'."""
    if hdus[0].card("OBJECT") != "TOY":
        raise VerifyFailed("toy_not_toy", f"{path.name}: OBJECT is {hdus[0].card('OBJECT')!r}, expected 'TOY'")


def toy_fits(label: str) -> bytes:
    import numpy as np
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.arange(16, dtype=">i4").reshape(4, 4))
    hdu.header["OBJECT"] = label
    buffer = io.BytesIO()
    fits.HDUList([hdu]).writeto(buffer, checksum=True)
    return buffer.getvalue()


@pytest.fixture
def toy_source():
    registry.register_kind(registry.ProductKind("toy_blob", "a toy archive's blob", f"{__name__}:check_toy"))
    registry.register_source(registry.Source(
        "toy", "Blobs of a toy archive.", "Example:\n    ratdcs plan toy --flavour sweet",
        f"{__name__}:plan_toy", "kepler.max_targets", "toy id",
        options=(registry.Option("flavour", "--flavour", "Which blobs.", default="sweet",
                                 kind="choice", choices=("sweet", "sour")),),
        products=(registry.Product("toy_blob", "toy/blobs"),)))
    yield
    registry.unregister("toy", "toy_blob")


@pytest.fixture
def toy_archive(stub_server, tmp_path):
    blobs = {"a.fits": ("1", "sweet", toy_fits("TOY")), "b.fits": ("2", "sweet", toy_fits("NOT A TOY")),
             "c.fits": ("3", "sour", toy_fits("TOY"))}
    listing = [{"id": i, "flavour": f, "name": name, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
               for name, (i, f, body) in blobs.items()]
    stub_server.routes["/toy/catalog.json"] = (200, {"Content-Type": "application/json"}, json.dumps(listing).encode())
    for name, (_, _, body) in blobs.items():
        stub_server.routes[f"/toy/files/{name}"] = (200, {"Content-Type": "application/octet-stream"}, body)
    config = tmp_path / "toy.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nendpoints:\n  mast: {stub_server.url('')}\n"
                      "catalog:\n  rate_limit_delay: 0\ndownload:\n  backoff_base_seconds: 0.01\n")
    return config


def test_a_toy_source_added_through_the_registry_alone_is_planned_and_synced(toy_source, toy_archive):
    result = CliRunner().invoke(cli, ["--config", str(toy_archive), "plan", "toy", "--flavour", "sweet", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"]["new"] == 2
    summary = rc.sync(config=toy_archive, workers=2, sources=["toy"])
    assert (summary.files_done, summary.files_failed) == (1, 1)
    rows = {r["rel_path"]: dict(r) for r in rc.report(sql="SELECT * FROM files", config=toy_archive)}
    assert rows["toy/blobs/a.fits"]["state"] == "done"
    assert rows["toy/blobs/a.fits"]["verify_level"] == "fits_checksum"
    assert (rows["toy/blobs/b.fits"]["state"], rows["toy/blobs/b.fits"]["last_error_kind"]) == ("failed", "toy_not_toy")
    data = rc.load_config(toy_archive).data_dir
    assert (data / "toy/blobs/a.fits").read_bytes()[:6] == b"SIMPLE"
    assert not (data / "toy/blobs/b.fits").exists() and (data / "quarantine/toy/blobs/b.fits").exists()
    failed = CliRunner().invoke(cli, ["--config", str(toy_archive), "report", "failed", "--source", "toy", "--json"])
    assert [r["rel_path"] for r in json.loads(failed.output)] == ["toy/blobs/b.fits"]


def test_the_python_api_plans_20_second_tess_files_by_the_readme_name(sandbox, sandbox_config):
    ordered = sandbox.universe.toi_hosts()  # 20-s data exists for a few stars, from sector 27 on
    n = next(i for i, tid in enumerate(ordered) if sandbox.universe.tess_fast_sectors(tid)) + 1
    dry = rc.plan("tess", config=sandbox_config, n=n, cadence="20s", dry_run=True)
    assert dry.dry_run and dry.total.new > 0
    assert not rc.load_config(sandbox_config).manifest_path.exists()  # a dry run writes nothing
    real = rc.plan("tess", config=sandbox_config, n=n, cadence="20s")
    assert real.total.new == dry.total.new
    paths = [r["rel_path"] for r in rc.report(sql="SELECT rel_path FROM files", config=sandbox_config)]
    assert paths and all(p.endswith("_fast-lc.fits") for p in paths)


@pytest.mark.parametrize("call, named", [
    (lambda: rc.plan("tess", cadance="20s"), "'cadence'"),
    (lambda: rc.plan("kepler", quarter=[4]), "'quarters'"),
    (lambda: rc.plan("all", cadence="20s"), "plan('all')"),
    (lambda: rc.sync(worker=2), "'workers'"),
    (lambda: rc.verify(deeep=True), "'deep'"),
    (lambda: rc.export("urls", fromat="aria2"), "'fmt'"),
])
def test_a_misspelt_keyword_is_a_type_error_naming_the_closest_one(call, named):
    with pytest.raises(TypeError, match=re.escape(named)):
        call()


def test_option_values_are_checked_as_the_cli_checks_them(sandbox_config):
    from ratdcs_catalog.errors import UsageError

    with pytest.raises(UsageError, match="--cadence: '20' is not one of 120s, 20s"):
        rc.plan("tess", config=sandbox_config, cadence="20", dry_run=True)
    with pytest.raises(UsageError, match="--quarter: 18 is outside the range 0-17"):
        rc.plan("kepler", config=sandbox_config, quarters=[18], dry_run=True)


def test_the_cli_offers_every_registry_source_with_its_options():
    runner = CliRunner()
    for spec in registry.SOURCES.values():
        help_text = runner.invoke(cli, ["plan", spec.name, "--help"]).output
        assert spec.title.split("(")[0].strip() in " ".join(help_text.split())
        assert all(option.flag in help_text for option in spec.options), spec.name
    assert "[kepler|k2|tess|ztf]" in runner.invoke(cli, ["sync", "--help"]).output


def test_every_kind_a_source_plans_is_registered_and_its_verifier_loads():
    for spec in registry.SOURCES.values():
        for product in spec.products:
            kind = registry.KINDS[product.kind]
            assert kind.verifier is None or callable(registry.load(kind.verifier))
    assert set(registry.PLAN_ALL) <= set(registry.SOURCES)


def test_the_schema_does_not_list_sources_and_the_manifest_refuses_unknown_ones(tmp_path):
    schema = (ROOT / "schema.sql").read_text()
    assert not re.search(r"CHECK \(source IN", schema)
    for name in registry.SOURCES:  # named in the schema's comments only where the registry says so
        assert f"'{name}'" not in re.sub(r"--.*", "", schema)
    with _new_manifest(tmp_path) as m:
        with pytest.raises(ValueError, match="no source 'nope' in the registry"):
            m.upsert_files([PlannedFile("nope", "1", "lc", "http://a.test/x", "x/y.fits")], None)


def _new_manifest(tmp_path):
    from ratdcs_catalog.manifest import open_manifest

    return open_manifest(tmp_path / "m.sqlite")
