"""The report in a real browser: headless Chromium opens it from file://, its script runs without
errors, clicking a header sorts the variant table, and the variant table fits a 1280 px window.
Chromium clicks the header itself when the address ends in #autosort=COLUMN; --dump-dom then shows
the table as the script left it. A measurement needs a script: the test adds one to a copy of the page.

WB_SAVE_SCREENSHOT=1 also saves the page of the demo run (the memory stage on kb76, recorded on the
H200) at 1280 px wide to docs/report.png, which the README shows.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import RUN_SOURCES, Page, save_run, synthetic_record

from workbench import record
from workbench.present import report
from workbench.cli import DEMO_RUN

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "report.png"

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium "
                                 "(apt-get install -y chromium; .ci/run installs it)")]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # the page's console reaches stderr as CONSOLE(...) lines; an uncaught error reads "Uncaught ..."
    assert "Uncaught" not in done.stderr, done.stderr[-2000:]
    return done


@pytest.fixture(params=RUN_SOURCES, ids=lambda p: "synthetic" if p == "synthetic" else Path(p).parent.name)
def report_file(request, tmp_path) -> tuple:
    source = save_run(synthetic_record(), tmp_path / "profiles") if request.param == "synthetic" else request.param
    return record.load(source), report.write_report(source, tmp_path / "reports")


def sorted_by(tmp_path: Path, path: Path, column: str) -> list:
    """The column's sort keys, in row order, after Chromium clicked its header (COLUMN:desc: twice)."""
    page = Page(chromium(tmp_path, "--dump-dom", f"{path.as_uri()}#autosort={column}").stdout)
    assert page.body.get("data-errors") == "", page.body.get("data-errors")
    return page.sort_keys(column.split(":")[0])


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_clicking_the_time_header_sorts_numerically_untimed_last(report_file, tmp_path, descending):
    run, path = report_file
    keys = sorted_by(tmp_path, path, "time:desc" if descending else "time")
    ok = run.ok_variants()
    timed = [float(k) for k in keys[:len(ok)]]
    assert timed == sorted((e.median_ms for e in ok.values()), reverse=descending)
    assert keys[len(timed):] == [""] * (len(run.variants) - len(timed))


def test_clicking_a_text_header_sorts_alphabetically(report_file, tmp_path):
    run, path = report_file
    assert sorted_by(tmp_path, path, "status") == sorted(e.status for e in run.variants.values())


MEASURE = """<script>
window.addEventListener("load", function () {
  var table = document.getElementById("variant-table"), box = table.parentElement;
  document.body.setAttribute("data-fit", [table.scrollWidth, table.clientWidth, box.scrollWidth, box.clientWidth,
                                          document.documentElement.scrollWidth, window.innerWidth].join(" "));
});
</script>
"""


def test_the_variant_table_fits_a_1280_px_window(report_file, tmp_path):
    """No sideways scrolling: every column, the last stall metric included, is on the page."""
    _, path = report_file
    measured = tmp_path / "measured.html"
    measured.write_text(path.read_text().replace("</body>", MEASURE + "</body>"))
    page = Page(chromium(tmp_path, "--window-size=1280,2000", "--dump-dom", measured.as_uri()).stdout)
    assert page.body.get("data-errors") == "", page.body.get("data-errors")
    table_scroll, table_client, box_scroll, box_client, page_scroll, window = map(int, page.body["data-fit"].split())
    assert window == 1280
    assert table_scroll <= table_client and box_scroll <= box_client and page_scroll <= window


def test_page_renders_and_screenshots(report_file, tmp_path):
    run, path = report_file
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1280,1800", f"--screenshot={shot}", path.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000   # not a blank page
    if os.environ.get("WB_SAVE_SCREENSHOT") == "1" and run.run_id == DEMO_RUN:
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
