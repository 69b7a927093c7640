"""`ratdcs report --html PATH`: one self-contained page with every section, plots beside tables,
text from the manifest escaped, aggregates read in SQL. (In a real browser: test_report_html_browser.py.)"""

import base64
import re
import sys

import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="the HTML report needs matplotlib: pip install 'ratdcs[plots]'")

from ratdcs_catalog import report_html  # noqa: E402
from ratdcs_catalog.cli import cli  # noqa: E402
from ratdcs_catalog.manifest import open_manifest  # noqa: E402
from report_html_data import EVIL_ERROR, EVIL_NAME, build_report_manifest  # noqa: E402

TITLES = {"states": "Progress by source and state", "kinds": "Progress by product kind",
          "bytes": "Bytes planned and downloaded", "throughput": "Throughput over time",
          "failures": "Failures by kind", "sky": "Targets on the sky", "completeness": "Per-target completeness",
          "splits": "Train/val/test splits"}


@pytest.fixture
def manifest(tmp_path):
    return build_report_manifest(tmp_path / "manifest.sqlite")


def write(manifest, out, *args):
    return CliRunner().invoke(cli, ["--db", str(manifest), "report", "--html", str(out), *args])


def svgs(page: str) -> list[str]:
    return [base64.b64decode(b).decode("utf-8") for b in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]


def test_the_page_has_every_section_with_its_plot_and_tables(manifest, tmp_path):
    out = tmp_path / "out" / "report.html"
    result = write(manifest, out)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert result.output == f"Wrote the report (8 plots, {len(page.encode()) / 1e3:,.0f} KB) to {out}\n"
    sections = re.findall(r'<section id="(\w+)">\n<h2>([^<]+)</h2>', page)
    assert sections == list(TITLES.items())
    assert page.count('<img class="plot"') == 8 and len(svgs(page)) == 8
    for caption in ("(source_state_summary)", "(kind_progress)", "(source_progress)", "(recent_syncs)",
                    "(transfers)", "(failure_reasons)", "(incomplete_targets)", "(split_summary)"):
        assert caption in page
    assert all(svg.startswith("<svg ") and svg.rstrip().endswith("</svg>") for svg in svgs(page))


def test_the_totals_and_tables_say_what_the_manifest_holds(manifest, tmp_path):
    write(manifest, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    tiles = dict((label, value) for value, label in re.findall(r"<div><b>([^<]*)</b><span>([^<]*)</span></div>", page))
    assert tiles == {"files planned": "7", "done": "4 (57.1%)", "failed": "1", "still to fetch": "2",
                     "bytes planned": "6.00 MB", "bytes downloaded": "4.00 MB", "files of unknown size": "1"}
    # failed attempts by kind, from the transfer log: two http_503 (one gave up), one timeout retried
    assert ('<tr><td>http_503</td><td class="n">2</td><td class="n">1</td></tr>'
            '<tr><td>timeout</td><td class="n">1</td><td class="n">0</td></tr>') in page
    assert "3 targets with a position, one dot each" in page


def test_text_from_the_manifest_is_escaped(manifest, tmp_path):
    write(manifest, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<script" not in page and "<b>Service" not in page and '"two" <b>' not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page  # the TESS target's name
    assert "KIC &quot;two&quot; &lt;b&gt;" in page
    assert "503 &lt;b&gt;Service&lt;/b&gt; Unavailable after 3 retries" in page
    assert EVIL_NAME not in page and EVIL_ERROR not in page


def test_the_page_loads_nothing_from_outside(manifest, tmp_path):
    write(manifest, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert re.findall(r'\ssrc="([a-z]+):', page) == ["data"] * 8
    assert {h[:1] for h in re.findall(r'\shref="([^"]*)"', page)} == {"#"}
    assert not re.search(r"<(script|link|iframe|object|embed)\b|@import|url\(", page, re.I)
    for svg in svgs(page):  # inside the figures: only the SVG and XLink namespaces name a URL
        urls = set(re.findall(r"https?://[^\s\"'<>)]+", svg))
        assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
        assert not re.search(r'href="(?!#|data:)', svg)


def test_the_chart_reads_aggregate_in_sql(manifest):
    with open_manifest(manifest, readonly=True) as m:
        assert m.transfer_time_span() == ("2026-11-25T10:00:00.000000Z", "2026-11-25T10:01:59.000000Z", 7)
        assert [(b["moment"], b["bytes"], b["attempts"], b["failed_attempts"]) for b in m.transfers_by_moment(16)] == [
            ("2026-11-25T10:00", 3 * 1_000_000, 4, 1), ("2026-11-25T10:01", 1_000_000, 3, 2)]
        throughput = report_html.read_throughput(m)  # 120 s of log: 2 s buckets, from a whole minute
        assert (throughput["bucket_seconds"], throughput["time_start"] % 60) == (2, 0)
        assert [(b["bucket"], b["bytes"], b["attempts"]) for b in throughput["throughput"]] == [
            (0, 1_000_000, 1), (5, 1_000_000, 1), (10, 0, 1), (20, 1_000_000, 1), (30, 0, 1), (45, 1_000_000, 1),
            (59, 0, 1)]
        assert m.transfer_failures() == [{"error_kind": "http_503", "attempts": 2, "gave_up": 1},
                                         {"error_kind": "timeout", "attempts": 1, "gave_up": 0}]
        assert m.target_completeness(10) == [{"source": "kepler", "bucket": 5, "targets": 1},
                                             {"source": "kepler", "bucket": 10, "targets": 1},
                                             {"source": "tess", "bucket": 5, "targets": 1},
                                             {"source": "ztf", "bucket": 0, "targets": 1}]
        assert m.targets_with_position() == 3
        assert sorted(m.target_sky_bins(90.0)) == [(0, 0, 1), (3, 1, 2)]  # RA 10/Dec -60; RA 285-290/Dec 40-45


@pytest.mark.parametrize("span, bucket", [(1, 1), (119, 1), (120, 2), (600, 10), (3600, 60), (20 * 86400, 21600),
                                          (10 * 365 * 86400, 31 * 86400)])
def test_the_throughput_bucket_is_round_and_gives_at_most_120_bars(span, bucket):
    assert report_html.bucket_seconds(span) == bucket
    assert span // bucket + 1 <= 120  # bucket numbers 0 .. span // bucket


def test_a_large_sky_is_binned_not_drawn_point_by_point(manifest, tmp_path, monkeypatch):
    monkeypatch.setattr(report_html, "SKY_POINTS_MAX", 2)
    with open_manifest(manifest, readonly=True) as m:
        data = report_html.read_page_data(m)
    assert data["sky_points"] == [] and sum(n for _i, _j, n in data["sky_bins"]) == 3
    page = report_html.render_page(data, manifest_path=manifest)
    assert "3 targets with a position, counted per 2° cell" in page
    sky = svgs(page)[5]
    assert "<image" in sky  # the cells are one raster layer, whatever the number of targets


def test_an_empty_manifest_says_so_instead_of_plotting(tmp_path):
    path = tmp_path / "m.sqlite"
    open_manifest(path).close()
    result = write(path, tmp_path / "r.html")
    assert result.exit_code == 0 and "(0 plots," in result.output
    page = (tmp_path / "r.html").read_text()
    assert page.count("No files planned yet.") == 4
    assert "No transfer recorded yet: run `ratdcs sync`." in page
    assert "No target has a position (RA/Dec) in the manifest." in page


def test_without_matplotlib_the_error_names_the_extra(manifest, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = write(manifest, tmp_path / "r.html")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "Error: the HTML report draws its plots with matplotlib, which is not installed",
        "Hint: pip install 'ratdcs[plots]' (or pip install matplotlib)"]
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("args, message", [
    (["progress"], "Error: --html writes the whole report; the section 'progress' cannot go with it"),
    (["--sql", "SELECT 1"], "Error: --html writes the whole report; --sql cannot go with it"),
    (["--json"], "Error: --html and --json ask for two outputs: give one of them"),
])
def test_html_with_a_section_sql_or_format_is_a_usage_error(manifest, tmp_path, args, message):
    result = CliRunner().invoke(cli, ["--db", str(manifest), "report", *args, "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and result.output.splitlines()[0] == message
    assert not (tmp_path / "r.html").exists()


def test_an_unwritable_place_names_the_option(manifest):
    result = write(manifest, "/proc/ratdcs-report.html")
    assert result.exit_code == 2
    assert "Hint: choose a writable place with --html" in result.output


def test_the_python_api_writes_the_same_page(manifest, tmp_path):
    import ratdcs_catalog

    written = ratdcs_catalog.report(config=ratdcs_catalog.load_config(manifest=str(manifest)),
                                    html=tmp_path / "api.html")
    assert (written.path, written.figures) == (tmp_path / "api.html", 8)
    assert written.size_bytes == (tmp_path / "api.html").stat().st_size
