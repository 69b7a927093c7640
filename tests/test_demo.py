"""`ratdcs demo`: the whole tool end to end against an in-process sandbox."""

import json
import sqlite3

from click.testing import CliRunner

from ratdcs_catalog.cli import cli


def test_demo_plans_syncs_and_reports(tmp_path):
    result = CliRunner().invoke(cli, ["-q", "demo", "--dir", str(tmp_path / "demo"), "--scale", "0.05"])
    assert result.exit_code == 0, result.output
    manifest = tmp_path / "demo" / "data" / "manifest.sqlite"
    conn = sqlite3.connect(manifest)
    by_source = dict(conn.execute("SELECT source, COUNT(*) FROM files WHERE state = 'done' GROUP BY source"))
    assert set(by_source) == {"kepler", "tess", "ztf"} and by_source["ztf"] == 5
    assert sum(by_source.values()) >= 36 and conn.execute("SELECT COUNT(*) FROM files WHERE state <> 'done'"
                                                          ).fetchone()[0] == 0
    for (rel_path, size) in conn.execute("SELECT rel_path, observed_size_bytes FROM files"):
        assert (tmp_path / "demo" / "data" / rel_path).stat().st_size == size
    assert f"Manifest:      {manifest}" in result.output
    assert "Downloaded" in result.output and "Try:" in result.output
    assert (tmp_path / "demo" / "demo-config.yaml").read_text().count("http://127.0.0.1:") == 7  # mast, mast_download, tesscut, exoplanet_tap, irsa_ibe,
    # mast_path_lookup, cloud_mirror
    suggested = f"  ratdcs --config {tmp_path / 'demo' / 'demo-config.yaml'} report"
    assert suggested in result.output.splitlines()
    report = CliRunner().invoke(cli, suggested.split()[1:] + ["stats", "--json"])  # what the user would run
    assert report.exit_code == 0, report.output
    stats = {r["statistic"]: r["value"] for r in json.loads(report.output)}
    assert stats["total files"] == sum(by_source.values())
    from ratdcs_catalog.demo import QUERIES_TO_TRY
    for query in QUERIES_TO_TRY:  # the queries the demo suggests all answer on its manifest
        assert conn.execute(query).fetchall(), query
