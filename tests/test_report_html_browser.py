"""The HTML report in a real browser: headless Chromium opens the page offline, and a check added to
a copy of the page (the report itself has no script) finds every plot decoded and drawn, no
resource failing to load and no error on the console.

Chromium comes from the distribution's packages (Debian: `apt-get install chromium`, Ubuntu:
`chromium-browser`); where none is on PATH the test is skipped and says which package to install.
"""

import json
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="the HTML report needs matplotlib: pip install 'ratdcs[plots]'")

from ratdcs_catalog.cli import cli  # noqa: E402
from report_html_data import build_report_manifest  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Run once the page has loaded: decode each image, draw it on a canvas and count the pixels that are
# not blank; gather load errors (capture phase: an <img> error does not bubble) and script errors.
CHECK = """<script>
const problems = [];
window.addEventListener("error", e => problems.push(e.message || ("failed to load " + (e.target.src || e.target.href
  || e.target.tagName))), true);
window.addEventListener("load", async () => {
  const images = [];
  for (const img of document.images) {
    const seen = {alt: img.alt, width: img.naturalWidth, height: img.naturalHeight, decoded: true, ink: 0};
    try { await img.decode(); } catch (e) { seen.decoded = false; }
    try {
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      const context = canvas.getContext("2d");
      context.drawImage(img, 0, 0);
      const px = context.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < px.length; i += 4)
        if (px[i + 3] > 0 && (px[i] < 240 || px[i + 1] < 240 || px[i + 2] < 240)) seen.ink++;
    } catch (e) { seen.error = String(e); }
    images.push(seen);
  }
  const out = document.createElement("pre");
  out.id = "ratdcs-check";
  out.textContent = JSON.stringify({images, problems});
  document.body.appendChild(out);
});
</script>"""


def find_browser() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    pytest.skip("Chromium not found on PATH (looked for " + ", ".join(BROWSERS) + "): "
                "apt-get install chromium (Debian) or chromium-browser (Ubuntu) to run the browser test")


def open_in_browser(browser: str, page, profile) -> tuple[dict, str]:
    """(what the check found, the browser's console log) for ``page`` opened offline."""
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="ratdcs-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"the check did not run (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&")), proc.stderr


def test_every_plot_is_drawn_and_nothing_fails_in_a_real_browser(tmp_path):
    browser = find_browser()
    manifest = build_report_manifest(tmp_path / "manifest.sqlite")
    report = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["--db", str(manifest), "report", "--html", str(report)])
    assert result.exit_code == 0, result.output
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("</body>", CHECK + "\n</body>"))

    found, console = open_in_browser(browser, checked, tmp_path / "profile")

    assert found["problems"] == []
    assert [i["alt"] for i in found["images"]] == [
        "Progress by source and state", "Progress by product kind", "Bytes planned and downloaded",
        "Throughput over time", "Failures by kind", "Targets on the sky", "Per-target completeness",
        "Train/val/test splits"]
    for image in found["images"]:
        assert image["decoded"] and "error" not in image, image
        assert image["width"] > 300 and image["height"] > 100, image
        assert image["ink"] > 2000, image  # bars, axes and labels, not a blank box
    console_lines = [line for line in console.splitlines() if ":CONSOLE" in line or "net::ERR" in line]
    assert console_lines == []
