"""`ratdcs report failed` fits the terminal (issue 19): paths cut in the middle, messages at the end,
one line per file; `--wide` and `--json` give every column in full."""

import json

import pytest
from click.testing import CliRunner

from ratdcs_catalog.cli import cli
from ratdcs_catalog.cli.fit import cut_end, cut_middle, fit_rows
from ratdcs_catalog.manifest import open_manifest
from ratdcs_catalog.records import FileOutcome, PlannedFile

KEPLER = "kepler/kplr009368416-2009166043257_llc.fits"
TESS = "tess/fits/tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
FAILURES = [  # (source, target, rel_path, error kind, error)
    ("kepler", "9368416", KEPLER, "http_5xx",
     "HTTP 502 Bad Gateway from 127.0.0.1 (gave up after 4 attempts); row marked failed, the partial file kept "
     "in temp/ for `ratdcs sync --retry-failed`"),
    ("tess", "261136679", TESS, "size_mismatch",
     "size mismatch for tess2018206045859-s0001-0000000261136679-0120-s_lc.fits: archive says 2039040 bytes,\n"
     "got 1024; moved to quarantine/, row marked failed - run `ratdcs retry` then `ratdcs sync`"),
    ("tess", "261136679", "tess/short.fits", "http_404", "404 Not Found"),
]


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "m.sqlite"
    with open_manifest(path) as m:
        with m.transaction():
            m.upsert_targets([{"source": s, "target_id": t} for s, t, *_ in FAILURES], None)
            m.upsert_files([PlannedFile(s, t, "lc", f"http://127.0.0.1:9/Download/file?uri=mast:{rel}", rel,
                                        expected_size_bytes=10) for s, t, rel, *_ in FAILURES], None)
        claimed = m.claim_batch("t:1", 10, 60)
        m.record_outcomes("t:1", None, [FileOutcome(c.file_id, "failed", error_kind=kind, error=error)
                                        for c, (*_, kind, error) in zip(claimed, FAILURES)])
    return path


def failed(manifest, *args, columns=None):
    env = {"COLUMNS": str(columns)} if columns else {}
    return CliRunner().invoke(cli, ["--db", str(manifest), "report", "failed", *args], env=env)


def test_at_80_columns_every_line_fits_and_long_cells_end_in_an_ellipsis(manifest):
    result = failed(manifest, columns=80)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "file_id  source  last_error_kind  rel_path                last_error",
        "-------  ------  ---------------  ----------------------  ----------------------",
        "1        kepler  http_5xx         kepler/…43257_llc.fits  HTTP 502 Bad Gateway …",
        "2        tess    size_mismatch    tess/fi…0120-s_lc.fits  size mismatch for tes…",
        "3        tess    http_404         tess/short.fits         404 Not Found",
        "3 failed files; targets, attempts, URLs and full messages: --wide or --json"]


def test_at_100_columns_the_lines_use_the_room_and_stay_within_it(manifest):
    lines = failed(manifest, columns=100).output.splitlines()
    assert max(len(line) for line in lines) == 100
    assert lines[2] == ("1        kepler  http_5xx         kepler/kplr…09166043257_llc.fits  "
                        "HTTP 502 Bad Gateway from 127.0…")
    assert lines[4].endswith("tess/short.fits                   404 Not Found")  # short cells are never cut


def test_wide_and_json_give_the_full_text(manifest):
    wide = failed(manifest, "--wide", columns=80).output
    assert FAILURES[0][4] in wide and TESS in wide and "http://127.0.0.1:9/Download/file?uri=mast:" in wide
    assert wide.splitlines()[0].split() == ["file_id", "source", "target_id", "rel_path", "url", "attempts",
                                            "last_error_kind", "last_error", "quarantine_path"]
    rows = json.loads(failed(manifest, "--json", columns=80).output)
    assert [r["last_error"] for r in rows] == [f[4] for f in FAILURES]


def test_a_table_that_fits_is_not_cut(manifest):
    lines = failed(manifest, "--source", "tess", columns=400).output.splitlines()
    assert "…" not in "\n".join(lines)
    assert lines[2].endswith(f"{TESS}  {' '.join(FAILURES[1][4].split())}")  # one line per file, newline as space


@pytest.mark.parametrize("text, width, end, middle", [
    ("abcdefghij", 10, "abcdefghij", "abcdefghij"),
    ("abcdefghij", 7, "abcdef…", "ab…ghij"),
    ("kepler/kplr009368416_llc.fits", 16, "kepler/kplr0093…", "keple…6_llc.fits"),
])
def test_cuts_keep_the_width_and_the_informative_end(text, width, end, middle):
    assert (cut_end(text, width), cut_middle(text, width)) == (end, middle)
    assert len(cut_end(text, width)) == len(cut_middle(text, width)) == min(width, len(text))


def test_fit_rows_gives_the_narrow_cut_column_all_it_needs():
    rows = [{"id": 1, "path": "p" * 10, "error": "e" * 200}]
    (fitted,) = fit_rows(rows, ["id", "path", "error"], 40, {"path": "middle", "error": "end"})
    assert fitted == {"id": 1, "path": "p" * 10, "error": "e" * 23 + "…"}  # 2 + 2 + 10 + 2 + 24 = 40
