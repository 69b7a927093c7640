"""`ratdcs split`: train/val/test per target from data_pipeline.validation, deterministic, stored."""

import json

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.dataset import choose_splits, split_targets
from ratdcs_catalog.errors import UsageError
from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.records import PlannedFile

from build_manifest import build_dataset


def run(path, *args, env=None):
    return CliRunner().invoke(cli, ["--db", str(path), *args], env=env or {})


def many_targets(path, n=100, files_per_target=3):
    with open_manifest(path) as m, m.transaction():
        plan_id = m.begin_plan("kepler", {})
        m.upsert_targets([{"source": "kepler", "target_id": str(t)} for t in range(n)], plan_id)
        m.upsert_files([PlannedFile("kepler", str(t), "lc_long", f"http://a.test/{t}-{q}.fits", f"kepler/{t}-{q}.fits",
                                    expected_size_bytes=100) for t in range(n) for q in range(files_per_target)],
                       plan_id)
    return path


def splits(path):
    with open_manifest(path, readonly=True) as m:
        return {r["target_id"]: r["split"] for r in m.query("SELECT target_id, split FROM targets")}


def test_split_follows_the_configured_ratios_per_target(tmp_path):
    path = many_targets(tmp_path / "m.sqlite")
    result = run(path, "split")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == ("Split 100 targets (seed 42, ratios 0.8/0.1/0.1): train 80, val 10, "
                                             "test 10; 100 changed split.")
    assert sorted(splits(path).values()).count("train") == 80
    with open_manifest(path, readonly=True) as m:  # every file of a target shares its split
        assert m.query("SELECT COUNT(*) FROM split_summary WHERE split = 'unassigned'")[0][0] == 0
        rows = {r["split"]: (r["targets"], r["files"]) for r in m.query("SELECT * FROM split_summary")}
    assert rows == {"train": (80, 240), "val": (10, 30), "test": (10, 30)}


def test_split_is_deterministic_and_depends_on_the_seed(tmp_path):
    a, b = many_targets(tmp_path / "a.sqlite"), many_targets(tmp_path / "b.sqlite")
    run(a, "split")
    run(b, "split")
    assert splits(a) == splits(b)
    again = run(a, "split")
    assert "0 changed split" in again.output.splitlines()[0]
    other = run(a, "split", "--seed", "7")
    assert other.exit_code == 0 and "(seed 7," in other.output and splits(a) != splits(b)


def test_split_reads_config_from_the_environment_and_flags(tmp_path):
    path = many_targets(tmp_path / "m.sqlite")
    env = {"RATDCS_DATA_PIPELINE__VALIDATION__SPLIT_RATIO": "0.5,0.25,0.25"}
    assert "train 50, val 25, test 25" in run(path, "split", env=env).output
    assert "train 70, val 20, test 10" in run(path, "split", "--ratio", "0.7,0.2,0.1", env=env).output


def test_growing_the_manifest_moves_few_targets(tmp_path):
    keys = [("kepler", str(t)) for t in range(200)]
    before = choose_splits(keys, (0.8, 0.1, 0.1), 42)
    after = choose_splits(keys + [("kepler", str(t)) for t in range(200, 220)], (0.8, 0.1, 0.1), 42)
    moved = sum(before[k] != after[k] for k in keys)
    assert moved <= 6  # boundary targets only, not a reshuffle


def test_splits_are_per_source_and_shown_by_report(tmp_path):
    ds = build_dataset(tmp_path)
    env = {"RATDCS_DATA_DIR": str(ds.data_dir)}
    result = run(ds.manifest_path, "split", "--json", env=env)
    rows = json.loads(result.stdout)  # warnings go to stderr
    assert {r["source"] for r in rows} == {"kepler", "tess", "ztf"}
    assert sum(r["targets"] for r in rows) == 5
    report = json.loads(run(ds.manifest_path, "report", "splits", "--json", env=env).stdout)
    assert report == rows


@pytest.mark.parametrize("ratio, message", [
    ("0.8,0.1,0.2", "split ratios must sum to 1, found 0.8 + 0.1 + 0.2 = 1.1"),
    ("0.5,0.3", "split ratio needs three numbers (train, val, test), found 2: [0.5, 0.3]"),
    ("1.2,-0.1,-0.1", "split ratio for val must be 0 or more, found -0.1"),
])
def test_bad_ratios_are_refused(tmp_path, ratio, message):
    path = many_targets(tmp_path / "m.sqlite")
    result = run(path, "split", "--ratio", ratio)
    assert result.exit_code == 2
    assert f"Error: {message}\n" in result.output
    assert "Hint: set data_pipeline.validation.split_ratio in config.yaml, or pass --ratio 0.8,0.1,0.1" in result.output
    assert set(splits(path).values()) == {None}


def test_bad_ratio_from_the_configuration_file(tmp_path):
    path = many_targets(tmp_path / "m.sqlite")
    config = tmp_path / "c.yaml"
    config.write_text("data_pipeline:\n  validation:\n    split_ratio: [0.6, 0.6, -0.2]\n")
    result = run(path, "--config", str(config), "split")
    assert result.exit_code == 2 and "Error: split ratio for test must be 0 or more, found -0.2" in result.output


def test_split_library_call_and_zero_ratio(tmp_path):
    path = many_targets(tmp_path / "m.sqlite", n=10)
    with open_manifest(path) as m:
        summary = split_targets(m, ratios=[0.7, 0.3, 0.0], seed=1)
        assert summary.targets == {"train": 7, "val": 3, "test": 0} and summary.changed == 10
        with pytest.raises(UsageError):
            split_targets(m, ratios=[1, 1, -1], seed=1)


def test_five_targets_warn_that_the_test_part_is_empty(tmp_path):
    path = many_targets(tmp_path / "m.sqlite", n=5)
    result = run(path, "split")
    assert result.exit_code == 0, result.output
    warning = ("Warning: kepler: 5 targets cannot give 0.8/0.1/0.1 with a test part: test is empty "
               "(plan more, or split by a smaller unit)")
    assert result.output.splitlines()[0].startswith("Split 5 targets") and warning in result.output.splitlines()
    assert warning in run(path, "report", "splits").output.splitlines()
    assert "Warning" not in run(many_targets(tmp_path / "big.sqlite"), "report", "splits").output


def ztf_nights(path, nights=10, images_per_night=4):
    """One field, many nights: a split by field cannot work, by night it can."""
    with open_manifest(path) as m, m.transaction():
        plan_id = m.begin_plan("ztf", {})
        m.upsert_targets([{"source": "ztf", "target_id": "600"}], plan_id)
        m.upsert_files([PlannedFile("ztf", "600", "ztf_sciimg", f"http://a.test/{d}/{i}",
                                    f"ztf/images/ztf_202401{d:02d}{150000 + i:06d}_000600_zg_c01_o_q1_sciimg.fits")
                        for d in range(1, nights + 1) for i in range(images_per_night)], plan_id)
    return path


def test_ztf_splits_by_night_per_file_and_by_field_per_target(tmp_path):
    path = ztf_nights(tmp_path / "m.sqlite")
    result = run(path, "split", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["split"]: (r["targets"], r["files"]) for r in json.loads(result.stdout)}
    assert rows == {"train": (1, 32), "val": (1, 4), "test": (1, 4)}  # 8/1/1 nights of 4 images
    with open_manifest(path, readonly=True) as m:
        by_night = m.query("SELECT substr(rel_path, 16, 8) AS night, COUNT(DISTINCT split) AS n FROM files "
                           "GROUP BY night")
        assert {r["n"] for r in by_night} == {1} and len(by_night) == 10  # a night never straddles splits
        assert m.query("SELECT split FROM targets")[0][0] is None
    field = run(path, "split", "--ztf-unit", "field")
    assert "Split 1 units (targets; ztf by field)" in field.output and "0 changed split" not in field.output
    assert ("Warning: ztf: 1 field cannot give 0.8/0.1/0.1 with a val and test part: val and test are empty "
            "(plan more, or split by a smaller unit)") in field.output
    with open_manifest(path, readonly=True) as m:
        assert m.query("SELECT COUNT(*) FROM files WHERE split IS NOT NULL")[0][0] == 0
    image = run(path, "split", "--ztf-unit", "image", "--json")
    assert [r["files"] for r in json.loads(image.stdout)] == [32, 4, 4]
