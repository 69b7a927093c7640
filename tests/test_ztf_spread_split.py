"""Issue 18 item 3: a ZTF plan spreads its n images over the date range, so a split by night works."""

import json

from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.manifest import open_manifest


def run(config, *args):
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result


def nights_and_fields(config):
    from ratdcs_catalog.config import load_config

    with open_manifest(load_config(config).manifest_path, readonly=True) as m:
        names = [r[0].rsplit("/", 1)[-1] for r in m.query("SELECT rel_path FROM files WHERE source = 'ztf'")]
    return len(names), {n[4:12] for n in names}, {n.split("_")[2] for n in names}


def test_first_takes_two_nights_spread_takes_the_month_and_its_night_split_has_every_part(sandbox_config, tmp_path):
    january = ("plan", "ztf", "--start-date", "2024-01-01", "--end-date", "2024-01-31", "--n", "100")
    first_config = tmp_path / "first.yaml"
    first_config.write_text(sandbox_config.read_text().replace(str(tmp_path / "data"), str(tmp_path / "first")))
    run(first_config, *january, "--sample", "first")
    count, nights, _ = nights_and_fields(first_config)
    assert count == 100 and len(nights) <= 2  # the old behaviour: one field, two nights

    run(sandbox_config, *january)  # spread is the default
    count, nights, fields = nights_and_fields(sandbox_config)
    assert count == 100 and len(nights) > 2
    result = run(sandbox_config, "split", "--json")
    rows = {r["split"]: r for r in json.loads(result.stdout) if r["source"] == "ztf"}
    assert set(rows) == {"train", "val", "test"} and all(r["files"] > 0 for r in rows.values())
    assert "Warning" not in result.stderr
    run(sandbox_config, *january)  # deterministic: the same plan again adds no row
    assert nights_and_fields(sandbox_config) == (count, nights, fields)
