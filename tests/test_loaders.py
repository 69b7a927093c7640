"""Issue 18: from the manifest to a training set, on the demo's manifest after `ratdcs split`.

The loaders (files, iter_files, lightcurves, export_index) and the commands on them (`ratdcs ls`,
`ratdcs export index`) list the done files with absolute paths, splits and labels.
"""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import ratdcs_catalog as rc
from ratdcs_catalog.cli import cli
from ratdcs_catalog.errors import UsageError


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`ratdcs demo --scale 0.05` then `ratdcs split`: the demo's config path and its manifest."""
    root = tmp_path_factory.mktemp("loaders") / "demo"
    result = CliRunner().invoke(cli, ["-q", "demo", "--dir", str(root), "--scale", "0.05"])
    assert result.exit_code == 0, result.output
    config = root / "demo-config.yaml"
    result = CliRunner().invoke(cli, ["--config", str(config), "split"])
    assert result.exit_code == 0, result.output
    return config, root / "data" / "manifest.sqlite"


def done_paths(manifest: Path, split: str, source: str | None = None) -> list[str]:
    """The done files of a split, by SQL, as absolute paths in file_id order."""
    sql = ("SELECT f.rel_path FROM files f JOIN targets t USING (source, target_id)"
           " WHERE f.state = 'done' AND COALESCE(f.split, t.split) = ?" + (" AND f.source = ?" if source else "") + " ORDER BY f.file_id")
    rows = sqlite3.connect(manifest).execute(sql, (split, source) if source else (split,)).fetchall()
    return [str(manifest.parent / r[0]) for r in rows]


def test_files_is_a_table_of_the_train_splits_done_files_with_absolute_paths_that_exist(demo):
    config, manifest = demo
    table = rc.files(config=config, split="train")
    expected = done_paths(manifest, "train")
    assert len(expected) > 30 and list(table["path"]) == expected
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in table["path"])
    assert set(table["split"]) == {"train"}
    kepler = table[table["source"] == "kepler"][0]
    assert kepler["label"] == "CONFIRMED" and kepler["quarter"] >= 0 and kepler["period_days"] > 0
    tess = table[table["source"] == "tess"][0]
    assert tess["label"] in ("CP", "KP", "PC") and tess["sector"] > 0 and tess["period_days"] > 0
    assert tess["verify_level"] == "fits_checksum" and len(tess["sha256"]) == 64
    assert Path(tess["path"]).stat().st_size == tess["size_bytes"]
    frame = table.to_pandas()
    stars = frame[frame["source"] != "ztf"]  # a ZTF field has no stellar parameters: masked -> NaN
    assert len(frame) == len(table) and stars["teff_k"].notna().all() and frame["teff_k"].isna().sum() == (frame["source"] == "ztf").sum() > 0


def test_filters_take_a_value_or_a_list_and_refuse_unknown_values(demo):
    config, manifest = demo
    assert [r.path for r in rc.iter_files(config=config, split="test", source="tess")] == \
        done_paths(manifest, "test", "tess")
    both = rc.files(config=config, split=["val", "test"], kind=["lc"])
    assert set(both["split"]) == {"val", "test"} and set(both["product_kind"]) == {"lc"}
    with pytest.raises(UsageError, match="unknown split 'trian'") as raised:
        rc.files(config=config, split="trian")
    assert raised.value.hint == "choose from train, val, test"
    with pytest.raises(UsageError, match="unknown kind 'lc_lng'"):
        rc.files(config=config, kind="lc_lng")


def test_a_misspelt_keyword_is_a_type_error_naming_the_right_one(demo):
    with pytest.raises(TypeError, match="did you mean 'split'"):
        rc.files(config=demo[0], spilt="train")


def test_iter_files_streams_records(demo):
    records = rc.iter_files(config=demo[0], split="train")
    first = next(records)
    assert first.path.endswith(first.rel_path) and first.as_dict()["split"] == "train"
    assert 1 + sum(1 for _ in records) == len(done_paths(demo[1], "train"))


def test_lightcurves_of_the_train_split_carry_label_and_target_and_follow_the_preprocessing_keys(demo):
    config, manifest = demo
    table = rc.files(config=config, split="train", kind=["lc_long", "lc"])
    curves = rc.lightcurves(config=config, split="train")
    every = rc.files(config=config, split="train")
    assert len(curves) == len(table) == len(every) - sum(every["source"] == "ztf")  # ztf images are no curves
    assert [(lc.meta["LABEL"], lc.meta["TARGET_ID"], lc.meta["PATH"]) for lc in curves] == \
        [(r["label"], r["target_id"], r["path"]) for r in table]
    flux = np.asarray(curves[0].flux.value, dtype=float)
    assert float(np.median(flux)) == pytest.approx(1.0)  # normalize_flux: true
    assert not np.isnan(flux).any()                      # remove_nans: true
    raw = rc.lightcurves(config=config, split="train", kind="lc", normalize=False, remove_nans=False, sigma_clip=0)
    import lightkurve as lk
    assert np.array_equal(np.asarray(raw[0].flux.value, dtype=float),
                          np.asarray(lk.read(raw[0].meta["PATH"]).flux.value, dtype=float), equal_nan=True)
    with pytest.raises(UsageError, match="'ztf_sciimg' is not a light-curve kind"):
        rc.lightcurves(config=config, kind="ztf_sciimg")
    with pytest.raises(UsageError, match="'lc' is not a target-pixel kind"):
        rc.target_pixel_files(config=config, kind="lc")


def test_without_lightkurve_the_error_says_what_to_install(demo, monkeypatch):
    monkeypatch.setitem(sys.modules, "lightkurve", None)  # import lightkurve -> ImportError
    with pytest.raises(UsageError) as raised:
        rc.lightcurves(config=demo[0], split="train")
    assert raised.value.hint == "pip install 'ratdcs[lightkurve]'"


def test_export_index_parquet_reads_back_with_the_same_rows(demo, tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (in the test extra)")
    pandas = pytest.importorskip("pandas", reason="reading the index back needs pandas")
    config, manifest = demo
    out = tmp_path / "train.parquet"
    result = CliRunner().invoke(cli, ["--config", str(config), "export", "index", "--format", "parquet",
                                      "--split", "train", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pandas.read_parquet(out)
    expected = rc.files(config=config, split="train").to_pandas()
    assert result.output == f"Wrote {len(expected)} rows to {out}\n"
    assert list(frame["path"]) == done_paths(manifest, "train") and list(frame.columns) == list(expected.columns)
    assert list(frame["label"].fillna("")) == list(expected["label"].fillna(""))  # ZTF fields have no label
    assert np.allclose(frame["period_days"], expected["period_days"], equal_nan=True)
    assert [p.name for p in tmp_path.iterdir()] == ["train.parquet"]  # no temporary file left


def test_export_index_csv_has_the_records_of_ls_csv(demo, tmp_path):
    config = str(demo[0])
    out = tmp_path / "val.csv"
    result = CliRunner().invoke(cli, ["--config", config, "export", "index", "--split", "val", "--out", str(out)])
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(cli, ["--config", config, "ls", "--split", "val", "--csv"])
    assert out.read_text() == listed.output and out.read_text().startswith("path,source,target_id,")


def test_ls_prints_existing_absolute_paths_for_xargs(demo):
    config, manifest = demo
    result = CliRunner().invoke(cli, ["--config", str(config), "ls", "--split", "test", "--source", "tess"])
    assert result.exit_code == 0, result.output
    paths = result.output.splitlines()
    assert paths == done_paths(manifest, "test", "tess") and paths
    listing = subprocess.run(["ls", "-l", *paths], capture_output=True, text=True, check=True)
    assert len(listing.stdout.splitlines()) == len(paths)


def test_ls_json_and_an_unknown_kind(demo):
    config = str(demo[0])
    result = CliRunner().invoke(cli, ["--config", config, "ls", "--source", "kepler", "--json"])
    records = json.loads(result.output)
    assert {r["source"] for r in records} == {"kepler"} and all(r["label"] == "CONFIRMED" for r in records)
    result = CliRunner().invoke(cli, ["--config", config, "ls", "--kind", "lc_lng"])
    assert result.exit_code == 2 and "Error: unknown kind 'lc_lng'" in result.output


def test_target_pixel_files_and_cutouts_load_tagged_with_their_target(sandbox, sandbox_config):
    for args in (["plan", "tess", "--n", "2", "--products", "tpf,cutout", "--cutout-size", "5"], ["sync"], ["split"]):
        result = CliRunner().invoke(cli, ["--config", str(sandbox_config), *args])
        assert result.exit_code == 0, result.output
    table = rc.files(config=sandbox_config, kind=["tpf", "cutout"])
    assert set(table["product_kind"]) == {"tpf", "cutout"}
    tpfs = rc.target_pixel_files(config=sandbox_config)
    assert [(t.meta["TARGET_ID"], t.meta["PRODUCT_KIND"], t.meta["LABEL"]) for t in tpfs] == \
        [(r["target_id"], r["product_kind"], r["label"]) for r in table]
    assert all(t.flux.ndim == 3 for t in tpfs)
