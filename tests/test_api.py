"""The Python API: what a notebook can do with `import ratdcs_catalog` (plan, sync, report, verify,
retry, reset, split, export)."""

import importlib
import inspect
import json
import subprocess
import sys
import types

import pytest
from click.testing import CliRunner

import ratdcs_catalog as rc
from ratdcs_catalog.cli import cli
from ratdcs_catalog.errors import UsageError
from ratdcs_catalog.sandbox.faults import Fault

from build_manifest import flip_byte  # noqa: E402
from child_python import last_line_printed  # noqa: E402


def test_all_is_sorted_and_every_function_has_a_docstring_with_an_example():
    assert rc.__all__ == sorted(rc.__all__)
    assert {"export", "load_config", "open_manifest", "plan", "report", "reset", "retry", "split", "sync",
            "verify"} <= set(rc.__all__)
    for name in rc.__all__:
        obj = getattr(rc, name)
        if callable(obj):
            assert isinstance(obj, types.FunctionType), name
            assert "Example::" in inspect.getdoc(obj), f"{name} has no example"


def test_import_is_cheap():
    code = ("import sys, ratdcs_catalog\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'astropy', 'astroquery', 'numpy', 'requests', "
            "'click', 'yaml'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_functions_stay_functions_after_their_namesake_modules_are_imported():
    for name in ("plan", "report", "sync", "verify"):
        module = importlib.import_module(f"ratdcs_catalog.{name}")
        assert isinstance(module, types.ModuleType)
        assert isinstance(getattr(rc, name), types.FunctionType), name
    from ratdcs_catalog.report import run_readonly_sql  # submodule imports still work

    assert callable(run_readonly_sql)


def test_report_sql_refuses_writes_from_python(tmp_path):
    path = tmp_path / "m.sqlite"
    from ratdcs_catalog.manifest import open_manifest as create_manifest

    create_manifest(path).close()
    config = rc.load_config(None, manifest=str(path), data_dir=str(tmp_path))
    assert rc.report(sql="SELECT COUNT(*) AS n FROM files", config=config) == [{"n": 0}]
    with pytest.raises(UsageError, match="report --sql is read-only: DELETE from files refused"):
        rc.report(sql="DELETE FROM files", config=config)


@pytest.fixture
def notebook(sandbox, sandbox_config):
    """A sandbox-backed dataset made the notebook way: 2 Kepler + 2 TESS hosts, one file always 502."""
    config = rc.load_config(sandbox_config)
    rc.plan("kepler", config=config, n=2)
    rc.plan("tess", config=config, n=2)
    with rc.open_manifest(config=config) as m:
        broken = m.query("SELECT rel_path FROM files WHERE source = 'kepler' ORDER BY file_id LIMIT 1")[0][0]
    sandbox.add_fault(Fault("502", pattern=broken.rsplit("/", 1)[1]))
    summary = rc.sync(config=config, workers=2, progress=False)
    sandbox.clear_faults()
    return config, summary, broken


def test_plan_sync_report_verify_from_python(notebook):
    config, summary, broken = notebook
    assert summary.files_failed == 1 and summary.files_done == summary.selected_files - 1
    progress = {r["source"]: r for r in rc.report("progress", config=config)}
    assert progress["total"]["files_done"] == summary.files_done
    assert progress["kepler"]["files_failed"] == 1 and progress["tess"]["files_remaining"] == 0
    (failed,) = rc.report("failed", config=config)
    assert failed["rel_path"] == broken and "502" in failed["last_error"]
    everything = rc.report(config=config)
    assert list(everything) == ["progress", "kinds", "states", "failures", "incomplete", "syncs", "stats", "splits"]
    verified = rc.verify(config=config, deep=True)
    assert (verified.intact, verified.checked) == (True, summary.files_done)


def test_deep_verify_finds_damage_after_sync_and_the_next_sync_repairs_it(notebook):
    config, summary, _ = notebook
    with rc.open_manifest(config=config) as m:
        done = [r[0] for r in m.query("SELECT rel_path FROM files WHERE state = 'done' ORDER BY file_id LIMIT 2")]
    flip_byte(config.data_dir / done[0])
    (config.data_dir / done[1]).unlink()
    found = rc.verify(config=config, deep=True)
    assert found.counts() == {"missing_on_disk": 1, "sha256_changed_on_disk": 1} and found.requeued == 2
    assert not found.intact
    repaired = rc.sync(config=config, workers=2, progress=False)
    assert repaired.files_done == 2
    again = rc.verify(config=config, deep=True)
    assert again.intact and again.checked == summary.files_done


def test_tess_metadata_matches_the_seed_schema_for_every_tess_target_with_files(notebook):
    config, _, _ = notebook
    result = CliRunner().invoke(cli, ["--config", str(config.config_path), "export", "tess-metadata"])
    assert result.exit_code == 0, result.output
    with rc.open_manifest(config=config) as m:
        targets = {r[0] for r in m.query(
            "SELECT DISTINCT target_id FROM files WHERE source = 'tess' AND state = 'done'")}
        params = {r["target_id"]: r for r in m.query("SELECT * FROM targets WHERE source = 'tess'")}
    assert targets
    for tid in targets:
        doc = json.loads((config.data_dir / "tess" / "metadata" / f"TIC{tid}_metadata.json").read_text())
        assert set(doc) == {"tic_id", "ra", "dec", "toi", "disposition", "tois", "orbital_periods_days", "sectors",
                            "stellar_parameters", "observations", "download_timestamp", "products"}
        assert doc["tic_id"] == int(tid) and isinstance(doc["download_timestamp"], str)
        # Everything matches the manifest: position, disposition, the TOI rows and the files' sectors.
        toi_rows = json.loads(params[tid]["catalog_row_json"])["toi"]
        assert (doc["ra"], doc["dec"]) == (params[tid]["ra_deg"], params[tid]["dec_deg"]) and doc["ra"] is not None
        assert doc["disposition"] == params[tid]["disposition"] is not None
        assert doc["toi"] == [float(r["toi"]) for r in toi_rows] and doc["toi"]
        assert doc["orbital_periods_days"] == [float(r["pl_orbper"]) for r in toi_rows if r.get("pl_orbper")]
        with rc.open_manifest(config=config) as m:
            sectors = sorted(r[0] for r in m.query("SELECT DISTINCT sector FROM files WHERE source = 'tess' AND "
                                                   "state = 'done' AND target_id = ? AND sector IS NOT NULL", [tid]))
        assert doc["sectors"] == sectors and sectors
        assert doc["orbital_periods_days"] and all(o["size_bytes"] for o in doc["observations"])
        assert doc["stellar_parameters"] == {
            "teff": params[tid]["teff_k"], "logg": params[tid]["logg_cgs"], "radius": params[tid]["radius_rsun"],
            "mass": params[tid]["mass_msun"], "tmag": params[tid]["magnitude"], "distance": params[tid]["distance_pc"]}
        assert doc["observations"] and all((config.data_dir / o["path"]).is_file() for o in doc["observations"])
    stats = {r["statistic"]: r["value"] for r in rc.report("stats", config=config)}
    assert stats["tess metadata JSON files"] == len(targets)


def test_retry_split_export_and_reset_from_python(notebook, sandbox):
    config, summary, broken = notebook
    assert rc.retry(config=config, reason="http_404") == 0  # its reason is a 502
    assert rc.retry(config=config, reason="http_5*") == 1
    repaired = rc.sync(config=config, workers=2, progress=False)
    assert repaired.files_done == 1

    split = rc.split(config=config, ratios=[0.5, 0.5, 0.0], seed=3)
    assert sum(split.targets.values()) == 4 and split.ratios == (0.5, 0.5, 0.0)
    with pytest.raises(UsageError, match="split ratios must sum to 1"):
        rc.split(config=config, ratios=[0.5, 0.2, 0.1])

    table = rc.export("files", fmt="json", states=["done"], config=config)
    rows = json.loads(table)
    assert len(rows) == summary.selected_files and {r["split"] for r in rows} <= {"train", "val"}
    assert rc.export("urls", config=config) == rc.export("urls", fmt="aria2", config=config)
    out = config.data_dir.parent / "all.aria2"
    assert rc.export("urls", out, states=["all"], config=config) == summary.selected_files
    assert out.read_text().count("  checksum=sha-256=") == summary.selected_files
    written = rc.export("tess-metadata", config=config)
    assert written and all(p.parent == config.data_dir / "tess" / "metadata" for p in written)
    with pytest.raises(UsageError, match="export: unknown kind 'fits'"):
        rc.export("fits", config=config)

    with pytest.raises(UsageError, match="reset needs a choice of rows"):
        rc.reset(config=config)
    assert rc.reset(sources=["tess"], config=config) > 0
    assert {r["state"] for r in rc.report(sql="SELECT state FROM files WHERE source = 'tess'", config=config)} == \
        {"pending"}


def test_a_misspelt_keyword_names_the_right_one(tmp_path):
    with pytest.raises(TypeError, match=r"^sync\(\) got an unexpected keyword argument 'worker'; did you mean "
                                        r"'workers'\?$"):
        rc.sync(config=str(tmp_path / "none.yaml"), worker=8)


def test_an_unknown_source_is_a_usage_error_not_an_empty_selection(tmp_path):
    with pytest.raises(UsageError, match="nope"):
        rc.sync(manifest_path=tmp_path / "m.sqlite", sources=["nope"])


def test_a_sync_imports_the_registry_only_when_a_file_is_checked():
    """Before the first request a sync needs no registry: its import (8 ms) waited for its first verification."""
    code = ("import sys\nimport ratdcs_catalog as rc\n"
            "try:\n    rc.sync(manifest_path='/nonexistent/dir/m.sqlite', workers=2)\nexcept Exception:\n    pass\n"
            "print('ratdcs_catalog.registry' in sys.modules)\n")
    assert last_line_printed(code) == "False"
