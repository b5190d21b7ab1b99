"""The history page in a real headless browser (Debian's chromium), on a phone and on a desktop:
nothing prints over anything else, the page itself never scrolls sideways (wide tables and
charts scroll inside their section), and the page answers what a reader asks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from monitor.jobs.check import store_study
from monitor.jobs.report import load_history
from monitor.reports.history_page import render_history_page
from monitor.store import Store
from monitor.times import moment_of
from tests.browser import DESKTOP, PHONE, chromium, probe
from tests.conftest import ANY_TIME, SEED_FILES

ARTIFACTS = Path(__file__).parent / "artifacts"
PROBE = """
<script>
window.addEventListener("load", () => {
  const spilled = [...document.querySelectorAll("th, td")]
    .filter((cell) => cell.scrollWidth > cell.clientWidth + 1)
    .map((cell) => cell.textContent.trim().slice(0, 40));
  const crossed = [];
  for (const svg of document.querySelectorAll("svg.chart")) {
    const labels = [...svg.querySelectorAll("text")]
      .map((t) => [t.textContent, t.getBoundingClientRect()]);
    labels.forEach(([text, a], i) => labels.slice(i + 1).forEach(([other, b]) => {
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) {
        crossed.push(text + " / " + other);
      }
    }));
  }
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    text: document.body.innerText,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    spilled: spilled,
    crossed: crossed,
    dateTicks: [...document.querySelectorAll("svg.chart text.tick")]
      .filter((t) => /^\\d{4}-\\d\\d-\\d\\d$/.test(t.textContent)).length,
    values: [...document.querySelectorAll("svg.chart text.value")].map((t) => t.textContent),
    charts: [...document.querySelectorAll("svg.chart")].filter((svg) => svg.getClientRects().length)
      .map((svg) => ({
        right: svg.getBoundingClientRect().right,
        card: svg.closest("section").getBoundingClientRect().right,
        font: svg.querySelector("text.tick").getBoundingClientRect().height,
      })),
    completion: (() => {
      const svg = [...document.querySelectorAll("svg.chart")]
        .filter((one) => one.getClientRects().length).pop();
      const line = svg.querySelector("polyline.completion");
      return {
        dashed: getComputedStyle(line).strokeDasharray !== "none",
        drawn: line.getBoundingClientRect().width > 0,
        radii: [...new Set([...svg.querySelectorAll("circle")].map((c) => c.getAttribute("r")))],
      };
    })(),
  });
  document.body.appendChild(probe);
});
</script>
"""


@pytest.fixture
def history_page(story_store: Store, tmp_path: Path) -> Path:
    page = tmp_path / "history.html"
    html = render_history_page(load_history(story_store, "NCT05869955"), generated_at=ANY_TIME)
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    return page


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_nothing_prints_over_anything_and_the_page_never_scrolls_sideways(
    history_page: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    seen = probe(history_page, profile=tmp_path / "profile", size=size)
    assert seen["spilled"] == [], "text runs out of its cell (over its neighbour)"
    assert seen["crossed"] == [], "chart labels print over each other"
    assert seen["overflow"] <= 0, f"the page is {seen['overflow']}px wider than the window"


def test_the_page_answers_a_readers_questions(history_page: Path, tmp_path: Path) -> None:
    seen = probe(history_page, profile=tmp_path / "profile", size=DESKTOP)
    text = seen["text"]
    # the twin UMass rows are told apart, as in the digest
    assert "University of Massachusetts Chan Medical School (site 0032)" in text
    assert "University of Massachusetts Chan Medical School (site 0033)" in text
    # a site withdrawn from the start never recruited; it is not "not yet" recruiting
    assert "Local Institution - 0052\tParis\tnever" in text
    assert "not yet" not in text.split("Site status over time")[1].split("Timeline")[0]
    # readers' words in the timeline filter, not category codes
    assert "Site status (6)" in text and "site_status" not in text
    # the charts: every snapshot date that fits on the axis, and each value where it changed
    assert seen["dateTicks"] >= 2 * 4
    assert {"270", "300", "2028-08-29", "2029-02-28", "2029-08-31"} <= set(seen["values"])


def test_screenshots_at_both_widths_are_kept(history_page: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        shot = ARTIFACTS / f"history-{name}.png"
        shot.unlink(missing_ok=True)
        chromium(f"--screenshot={shot}", history_page.as_uri(), profile=tmp_path / name, size=size)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def versions_read_on_one_day(tmp_path: Path, *, same_posting: bool = False) -> Path:
    """The seed story's five versions all read on 2026-12-02 (an import or backfill does
    that); with `same_posting`, the last two posted by the registry on the same day, and the
    study completion moved onto the primary completion date."""
    store = Store.open(tmp_path / "one-day.db")
    for minute, path in enumerate(SEED_FILES):
        study = json.loads(path.read_text())
        status = study["protocolSection"]["statusModule"]
        if same_posting and minute == len(SEED_FILES) - 1:
            status["lastUpdatePostDateStruct"]["date"] = "2026-04-21"
        if same_posting:
            status["completionDateStruct"] = dict(status["primaryCompletionDateStruct"])
        store_study(store, study, fetched_at=moment_of(f"2026-12-02T07:0{minute}:00Z"), source="t")
    page = tmp_path / "one-day.html"
    html = render_history_page(load_history(store, "NCT05869955"), generated_at=ANY_TIME)
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    store.close()
    return page


def test_versions_read_on_one_day_are_columns_of_their_registry_dates(tmp_path: Path) -> None:
    page = versions_read_on_one_day(tmp_path)
    html = page.read_text()
    header = html.split("<th>Recruiting since</th>")[1].split("</tr>")[0]
    assert re.findall(r"<th>([\d-]+)</th>", header) == [p.stem for p in SEED_FILES]
    seen = probe(page, profile=tmp_path / "profile", size=DESKTOP)
    assert seen["dateTicks"] >= 2 * 4  # the charts spread over the registry's dates


def test_two_versions_of_one_day_say_so_once_and_coinciding_dates_both_show(tmp_path: Path) -> None:
    page = versions_read_on_one_day(tmp_path, same_posting=True)
    html = page.read_text()
    assert html.count('colspan="2">2026-04-21 (2 versions)</th>') == html.count("<h3>")
    assert "<th>#1</th><th>#2</th>" in html
    seen = probe(page, profile=tmp_path / "profile", size=PHONE)
    assert seen["completion"]["dashed"] and seen["completion"]["drawn"]
    assert seen["completion"]["radii"] == ["5.5", "3.5"]  # the primary's points under


def test_a_phones_chart_fits_its_card_and_reads(history_page: Path, tmp_path: Path) -> None:
    seen = probe(history_page, profile=tmp_path / "profile", size=PHONE)
    assert seen["charts"], "no chart is shown on a phone"
    for chart in seen["charts"]:
        assert chart["right"] <= chart["card"] + 0.5, "the chart is cut off at the card's edge"
        assert chart["font"] >= 10, f"its labels are {chart['font']:.1f}px high"
