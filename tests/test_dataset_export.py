"""`ratdcs export`: TESS metadata JSON in the seed's schema, the files table, URL lists for other tools."""

import csv
import os
import stat
import io
import json

from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.exports import EXPORT_COLUMNS
from ratdcs_catalog.manifest import open_manifest

from build_manifest import FILES, LC_SIZE, TESS_A, TESS_B, sha256


def run(ds, *args):
    return CliRunner().invoke(cli, ["--db", str(ds.manifest_path), *args], env={"RATDCS_DATA_DIR": str(ds.data_dir)})


# The seed project's per-star file: these keys, these types.
SEED_SCHEMA = {"tic_id": int, "stellar_parameters": dict, "observations": list, "download_timestamp": str,
               "products": dict,  # products: the kinds downloaded per star (lc, tpf, dvt, cutout), counted
               # issue 18 item 4: position, TOIs with their periods, disposition, sectors
               "ra": (float, type(None)), "dec": (float, type(None)), "toi": list, "disposition": (str, type(None)),
               "tois": list, "orbital_periods_days": list, "sectors": list}
STELLAR_KEYS = {"teff", "logg", "radius", "mass", "tmag", "distance"}


def check_seed_schema(document: dict) -> None:
    assert set(document) == set(SEED_SCHEMA)
    for key, kind in SEED_SCHEMA.items():
        assert isinstance(document[key], kind), key
    assert set(document["stellar_parameters"]) == STELLAR_KEYS
    assert all(v is None or isinstance(v, float) for v in document["stellar_parameters"].values())
    for observation in document["observations"]:
        assert observation["filename"].endswith("_lc.fits") and isinstance(observation["sector"], int)


def test_tess_metadata_for_every_tess_target_with_downloaded_files(ds):
    result = run(ds, "export", "tess-metadata")
    out_dir = ds.data_dir / "tess" / "metadata"
    assert (result.exit_code, result.output) == (0, f"Wrote 2 TESS metadata files to {out_dir}\n")
    assert sorted(p.name for p in out_dir.iterdir()) == [f"TIC{TESS_B}_metadata.json", f"TIC{TESS_A}_metadata.json"]
    with open_manifest(ds.manifest_path, readonly=True) as m:
        done_targets = {r[0] for r in m.query("SELECT DISTINCT target_id FROM files WHERE source = 'tess' "
                                              "AND state = 'done'")}
    for target_id in done_targets:
        check_seed_schema(json.loads((out_dir / f"TIC{target_id}_metadata.json").read_text()))


def test_tess_metadata_content(ds):
    run(ds, "export", "tess-metadata")
    doc = json.loads((ds.data_dir / "tess" / "metadata" / f"TIC{TESS_A}_metadata.json").read_text())
    assert doc["tic_id"] == int(TESS_A)
    assert doc["stellar_parameters"] == {"teff": 5618.0, "logg": 4.4, "radius": 1.1, "mass": 0.98, "tmag": 9.4,
                                         "distance": 87.2}
    assert [(o["sector"], o["filename"]) for o in doc["observations"]] == [
        (1, f"tess2018206045859-s0001-0000000{TESS_A}-0120-s_lc.fits"),
        (2, f"tess2018234235059-s0002-0000000{TESS_A}-0121-s_lc.fits")]
    first = doc["observations"][0]
    assert first["sha256"] == sha256(ds.data_dir / first["path"]) and first["size_bytes"] == LC_SIZE
    assert doc["download_timestamp"] == max(o["downloaded_at"] for o in doc["observations"])
    assert doc["products"] == {"lc": 2}
    # Only downloaded files are observations: TESS_B has 1 done of 3 planned.
    doc_b = json.loads((ds.data_dir / "tess" / "metadata" / f"TIC{TESS_B}_metadata.json").read_text())
    assert [o["sector"] for o in doc_b["observations"]] == [1]


def test_tess_metadata_to_an_unwritable_path(ds):
    result = run(ds, "export", "tess-metadata", "--output", "/proc/self/ratdcs-metadata")
    assert result.exit_code == 2
    assert "Error: cannot write /proc/self/ratdcs-metadata/TIC" in result.output
    assert "Hint: choose a writable place with --output" in result.output


def test_files_csv_and_json(ds):
    rows = list(csv.DictReader(io.StringIO(run(ds, "export", "files").output)))
    assert len(rows) == len(FILES) and tuple(rows[0]) == EXPORT_COLUMNS
    assert {r["rel_path"]: r["state"] for r in rows} == {k: v[3] for k, v in FILES.items()}
    done = json.loads(run(ds, "export", "files", "--format", "json", "--state", "done", "--source", "tess").output)
    assert len(done) == 3 and {d["state"] for d in done} == {"done"} and done[0]["observed_sha256"]
    assert json.loads(run(ds, "export", "files", "--format", "json", "--source", "k2").output) == []


def test_files_to_a_file_and_to_an_unwritable_path(ds, tmp_path):
    target = tmp_path / "out" / "files.csv"
    result = run(ds, "export", "files", "-o", str(target))
    assert result.exit_code == 0 and f"Wrote {len(FILES)} rows to {target}" in result.output
    assert len(target.read_text().splitlines()) == len(FILES) + 1
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp file left
    bad = run(ds, "export", "files", "-o", "/proc/self/nope/files.csv")
    assert bad.exit_code == 2 and "Error: cannot write /proc/self/nope/files.csv" in bad.output


def test_urls_for_aria2_carry_dir_out_and_checksum(ds):
    text = run(ds, "export", "urls", "--format", "aria2", "--state", "done", "--source", "kepler").output
    lines = text.splitlines()
    assert lines[0].startswith("# ratdcs export urls --format aria2; run: aria2c -i THIS_FILE")
    rel = "kepler/kplr005110407-2009350155506_llc.fits"
    i = lines.index(f"http://archive.test/{rel}")
    assert lines[i + 1:i + 4] == [f"  dir={ds.data_dir}", f"  out={rel}",
                                  f"  checksum=sha-256={sha256(ds.data_dir / rel)}"]


def test_urls_default_to_files_not_done(ds):
    urls = run(ds, "export", "urls", "--format", "list").output.splitlines()
    assert sorted(urls) == sorted(f"http://archive.test/{k}" for k, v in FILES.items() if v[3] != "done")
    everything = run(ds, "export", "urls", "--format", "list", "--state", "all").output.splitlines()
    assert len(everything) == len(FILES)


def test_urls_for_curl(ds):
    text = run(ds, "export", "urls", "--format", "curl", "--source", "ztf").output.splitlines()
    rel = "ztf/images/ztf_20240101123456_000600_zg_c01_o_q1_sciimg.fits"
    assert text[1:] == [f'url = "http://archive.test/{rel}"', f'output = "{ds.data_dir / rel}"']


def test_export_onto_a_directory_is_refused_and_leaves_no_temp_file(ds, tmp_path):
    target = tmp_path / "a-directory"
    target.mkdir()
    result = run(ds, "export", "files", "-o", str(target))
    assert result.exit_code == 2 and f"Error: cannot write {target}: Is a directory" in result.output
    assert list(tmp_path.glob(".a-directory.*")) == []


def test_export_files_are_made_as_the_umask_says(ds, tmp_path):
    old = os.umask(0o022)
    try:
        assert run(ds, "export", "files", "-o", str(tmp_path / "files.csv")).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "files.csv").stat().st_mode) == 0o644  # not mkstemp's 0600


def test_urls_refuse_a_row_whose_name_would_add_lines_to_the_tool_input(ds, tmp_path):
    # A manifest written before names with control characters were refused at planning, or edited by hand.
    with open_manifest(ds.manifest_path) as m:
        m.conn.execute("UPDATE files SET rel_path = 'kepler/x_llc.fits' || char(10) || '  dir=..' "
                       "WHERE rel_path = 'kepler/kplr005110407-2009350155506_llc.fits'")
    target = tmp_path / "out" / "todo.aria2"
    result = run(ds, "export", "urls", "--format", "aria2", "--state", "all", "-o", str(target))
    assert result.exit_code == 1
    assert "Error: refused destination 'kepler/x_llc.fits\\n  dir=..': it holds a control character" in result.output
    assert list(target.parent.iterdir()) == []  # neither the file nor its temporary file
