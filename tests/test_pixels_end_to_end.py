"""The seed's whole data on the sandbox: light curves, target pixel files, DV time series and FFI
cutouts planned, synced, verified at their kind's highest level, each kind in its own folder, and
every file read back by lightkurve as a light curve or a target pixel file."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.sandbox import Fault


def run(config, *args, code=0):
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == code, result.output
    return result


def rows(config):
    conn = sqlite3.connect(config.parent / "data" / "manifest.sqlite")
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute("SELECT * FROM files ORDER BY file_id")]


FOLDERS = {"lc": "tess/fits", "tpf": "tess/tpf", "dvt": "tess/dv", "cutout": "tess/cutouts"}


def test_tess_lc_tpf_dv_and_cutouts_sync_verified_each_in_its_folder(sandbox, sandbox_config):
    lk = pytest.importorskip("lightkurve")
    run(sandbox_config, "plan", "tess", "--n", "5", "--products", "lc,tpf,dv,cutout", "--cutout-size", "5")
    run(sandbox_config, "sync", "--workers", "4")
    planned = rows(sandbox_config)
    assert {r["product_kind"] for r in planned} == set(FOLDERS)
    for r in planned:
        assert r["state"] == "done", (r["rel_path"], r["last_error"])
        assert r["verify_level"] == "fits_checksum", r["rel_path"]
        assert r["rel_path"].rsplit("/", 1)[0] == FOLDERS[r["product_kind"]]
        assert r["sector"] is not None
    data = sandbox_config.parent / "data"
    assert not list((data / "tess" / "cutouts").glob("*.zip")) and not list(data.rglob("*.part"))
    for r in planned:
        if r["product_kind"] == "dvt":
            continue  # a DV time series is neither a light curve nor a pixel file to lightkurve
        opened = lk.read(str(data / r["rel_path"]))
        wanted = lk.LightCurve if r["product_kind"] == "lc" else lk.targetpixelfile.TargetPixelFile
        assert isinstance(opened, wanted), (r["rel_path"], type(opened))
    kinds = json.loads(run(sandbox_config, "report", "kinds", "--json").output)
    assert {k["product_kind"]: k["files_done"] for k in kinds} == \
        {kind: sum(r["product_kind"] == kind for r in planned) for kind in FOLDERS}
    by_sql = json.loads(run(sandbox_config, "report", "--sql",
                            "SELECT product_kind, count(*) AS n FROM files GROUP BY product_kind", "--json").output)
    assert {k["product_kind"]: k["n"] for k in by_sql} == {k["product_kind"]: k["files_planned"] for k in kinds}


def test_kepler_pixel_files_are_verified_through_gzip_and_a_damaged_one_is_quarantined(sandbox, sandbox_config):
    run(sandbox_config, "plan", "kepler", "--n", "3", "--products", "tpf", "--quarter", "3", "--quarter", "5")
    planned = rows(sandbox_config)
    assert planned and all(r["rel_path"].endswith("_lpd-targ.fits.gz") for r in planned)
    damaged = planned[0]["rel_path"].rsplit("/", 1)[1]
    sandbox.add_fault(Fault("flip_bytes", pattern=damaged.replace(".", r"\.")))
    # MAST's own route, which gives no checksum: the gzip stream is what catches the damage (on the
    # cloud copy the ETag's MD5 catches it first: tests/test_cloud.py).
    run(sandbox_config, "sync", "--workers", "2", "--no-cloud", code=1)
    synced = {r["rel_path"]: r for r in rows(sandbox_config)}
    data = sandbox_config.parent / "data"
    for rel, r in synced.items():
        if rel.endswith(damaged):
            assert (r["state"], r["last_error_kind"]) == ("failed", "gzip_corrupt")
            assert "the gzip stream is damaged" in r["last_error"]
            assert (data / "quarantine" / rel).exists() and not (data / rel).exists()
        else:
            assert (r["state"], r["verify_level"]) == ("done", "fits_checksum")
            assert (data / rel).read_bytes()[:2] == b"\x1f\x8b"  # kept as the archive stores it


@pytest.mark.parametrize("kind, error_kind", [("zip_slip", "zip_unsafe"), ("zip_many", "zip_members")])
def test_a_cutout_zip_that_escapes_or_holds_several_members_is_refused(sandbox, sandbox_config, kind, error_kind):
    run(sandbox_config, "plan", "tess", "--n", "1", "--products", "cutout", "--cutout-size", "5")
    sandbox.add_fault(Fault(kind, pattern="astrocut"))
    run(sandbox_config, "sync", code=1)
    data = sandbox_config.parent / "data"
    for r in rows(sandbox_config):
        assert (r["state"], r["last_error_kind"]) == ("failed", error_kind)
    assert not list(data.parent.rglob("evil.fits"))  # nothing written outside, nor anywhere
    assert not list((data / "tess" / "cutouts").glob("*")) if (data / "tess" / "cutouts").exists() else True
