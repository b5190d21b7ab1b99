"""The report over a portfolio: pages written again only when their trial's history changed,
the index as the portfolio's dashboard (checked in chromium: sorting, filtering by typing,
10,000 rows, nothing spilling at 390 px), and the week's changes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any, cast

import pytest

from monitor.jobs.check import store_study
from monitor.jobs.report import STATE, write_report
from monitor.records.rules import Rule
from monitor.reports.portfolio import IndexRow, render_index
from monitor.store import Store, Trial
from monitor.times import moment_of
from tests.browser import DESKTOP, PHONE, chromium, probe
from tests.conftest import ANY_TIME, locations, stored_record

NCT = "NCT05869955"
ARTIFACTS = Path(__file__).parent / "artifacts"


def test_a_report_writes_again_only_the_trials_whose_history_changed(
    story_store: Store, tmp_path: Path
) -> None:
    story_store.watches.add([NCT], label="CAR-T", recipients=[], now=ANY_TIME)
    folder = tmp_path / "report"
    assert write_report(story_store, folder, now=moment_of("2026-06-02T08:00:00Z")).written == 1
    page = folder / f"{NCT}.html"
    written_at = page.stat().st_mtime_ns
    again = write_report(story_store, folder, now=moment_of("2026-06-03T08:00:00Z"))
    assert (again.nct_ids, again.written) == ((NCT,), 0)
    assert page.stat().st_mtime_ns == written_at
    # a new snapshot with a change: that trial's page and feed again
    latest = stored_record(story_store, NCT)
    locations(latest)[0]["status"] = "COMPLETED"
    store_study(story_store, latest, fetched_at=moment_of("2026-06-09T07:00:00Z"), source="t")
    assert write_report(story_store, folder, now=moment_of("2026-06-09T08:00:00Z")).written == 1
    header, row = map(json.loads, (folder / STATE).read_text().splitlines())
    assert row["nct_id"] == NCT and row["recent"][-1] == ["2026-06-09", "site_status"]
    # a page removed, or a state from another page format: written again
    page.unlink()
    assert write_report(story_store, folder, now=moment_of("2026-06-09T09:00:00Z")).written == 1
    header, row = (folder / STATE).read_text().splitlines()
    (folder / STATE).write_text(json.dumps({"format": 1}) + "\n" + row + "\n")
    assert write_report(story_store, folder, now=moment_of("2026-06-09T10:00:00Z")).written == 1
    (folder / STATE).write_text("{not json")
    assert write_report(story_store, folder, now=moment_of("2026-06-09T11:00:00Z")).written == 1


def index_rows(index: str) -> list[list[Any]]:
    """The rows the index page's script draws, from the JSON it carries."""
    return cast(
        list[list[Any]],
        json.loads(
            index.split('<script type="application/json" id="rows">')[1].split("</script>")[0]
        ),
    )


def test_the_index_row_and_the_week_say_what_a_reviewer_asks(
    story_store: Store, tmp_path: Path
) -> None:
    story_store.watches.add([NCT], label="CAR-T lupus", recipients=[], now=ANY_TIME)
    folder = tmp_path / "report"
    write_report(story_store, folder, now=moment_of("2026-06-03T08:00:00Z"))
    index = (folder / "index.html").read_text()
    [row] = index_rows(index)
    assert row[0] == NCT and row[3] == "CAR-T lupus" and row[4] == "Recruiting"
    assert row[7] == "2026-06-02" and row[8]  # the last change, with its summary
    assert (row[13], row[14]) == ("2029-02-28", 183)  # primary completion and its slip
    assert "france" in row[16] and "recruiting" in row[16]  # what the filter matches
    assert 'href="week.html"' in index and 'href="index.atom"' in index
    week = (folder / "week.html").read_text()
    assert f'<a href="{NCT}.html">{NCT}</a>' in week and "(CAR-T lupus)" in week
    assert "Conditions: added ANCA-Associated Vasculitis" in week
    assert 'href="index.html"' in (folder / f"{NCT}.html").read_text()


def test_registry_text_in_the_index_cannot_end_its_script(
    story_store: Store, tmp_path: Path
) -> None:
    story_store.watches.add([NCT], label=None, recipients=[], now=ANY_TIME)
    hostile = stored_record(story_store, NCT)
    hostile["protocolSection"]["identificationModule"]["briefTitle"] = "</script><b>x"
    store_study(story_store, hostile, fetched_at=moment_of("2026-06-09T07:00:00Z"), source="t")
    write_report(story_store, tmp_path / "report", now=moment_of("2026-06-09T08:00:00Z"))
    index = (tmp_path / "report" / "index.html").read_text()
    assert "</script><b>" not in index
    assert index_rows(index)[0][2] == "</script><b>x"  # shown as text by the script


def synthetic_rows(count: int) -> list[IndexRow]:
    """`count` rows as a big portfolio shows them: statuses, countries and categories vary."""
    statuses = ("RECRUITING", "SUSPENDED", "COMPLETED", "ACTIVE_NOT_RECRUITING")
    countries = ("France", "Germany", "United States", "Japan", "Brazil")
    categories = ("site_status", "date", "enrollment", "overall_status")
    rows = []
    for number in range(count):
        recent = tuple(
            (dt.date(2026, 12, 2) - dt.timedelta(days=day), categories[day % 4])
            for day in range(number % 5)
        )
        rows.append(
            IndexRow(
                nct_id=f"NCT{10_000_000 + number:08d}",
                title=f"A study of drug {number} in lupus",
                acronym=f"LUP{number}" if number % 3 else None,
                overall_status=statuses[number % 4],
                sites_recruiting=number % 40,
                sites_total=40,
                countries=(countries[number % 5], countries[(number + 1) % 5]),
                last_change=recent[0][0] if recent else None,
                last_summary="Site status: a site changed" if recent else None,
                recent=recent,
                notable=((recent[0][0], number % 3, f"a change rated {number % 3}"),)
                if recent
                else (),
                primary_completion="2029-02-28",
                slip_days=number % 200 - 50,
                results_posted=number % 7 == 0,
                stamp=(number, number),
            )
        )
    return rows


PROBE = """
<script>
window.addEventListener("load", () => {
  const openMs = performance.now();
  const filter = document.getElementById("filter");
  const count = () => Number(document.getElementById("shown").textContent.split(" ")[0]);
  const drawn = () => document.querySelectorAll("#trials tbody tr").length;
  const typed = (text) => {
    const start = performance.now();
    filter.value = text;
    filter.dispatchEvent(new Event("input"));
    document.body.offsetHeight;  // the layout the reader waits for
    return [count(), performance.now() - start];
  };
  const [suspended, filterMs] = typed("suspended");
  const [suspendedInJapan] = typed("suspended japan");
  const [byCategory] = typed("enrollment");
  const [none] = typed("no such thing");
  typed("");
  const header = [...document.querySelectorAll("#trials th")]
    .find((th) => th.textContent === "30 days");
  const start = performance.now();
  header.querySelector("button").click();
  document.body.offsetHeight;
  const sortMs = performance.now() - start;
  const first = () => [...document.querySelectorAll("#trials tbody tr")]
    .slice(0, 3).map((r) => r.cells[6].textContent);
  const ascending = first();
  header.querySelector("button").click();
  const descending = first();
  const before = drawn();
  document.getElementById("more").click();
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    rows: count(), drawn: before, more: drawn(), suspended, suspendedInJapan, byCategory, none,
    ascending, descending, sort: header.getAttribute("aria-sort"),
    link: document.querySelector("#trials tbody a").getAttribute("href"),
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    openMs, filterMs, sortMs,
  });
  document.body.appendChild(probe);
});
</script>
"""


@pytest.fixture
def big_index(tmp_path: Path) -> Path:
    rows = synthetic_rows(10_000)
    trials = {
        row.nct_id: Trial(
            row.nct_id, f"team {int(row.nct_id[3:]) % 3}", [], [], row.title, None, Rule()
        )
        for row in rows
    }
    html = render_index(rows, trials, [], generated_at=moment_of("2026-12-02T08:00:00Z"))
    page = tmp_path / "index.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    return page


def test_ten_thousand_rows_sort_and_filter_by_typing_on_a_phone(
    big_index: Path, tmp_path: Path
) -> None:
    seen = probe(big_index, profile=tmp_path / "profile", size=PHONE)
    assert seen["rows"] == 10_000
    assert (seen["drawn"], seen["more"]) == (500, 1_000)  # drawn 500 at a time
    assert seen["link"].endswith(".html")
    assert seen["suspended"] == 2_500  # every fourth trial
    assert seen["suspendedInJapan"] == 1_000  # ... of which those with a site in Japan
    # a category of change in the last 30 days: rows 2, 3 and 4 of every 5 changed enrollment
    assert seen["byCategory"] == 4_000
    assert seen["none"] == 0
    assert seen["sort"] == "descending"
    assert seen["ascending"] == ["0", "0", "0"] and seen["descending"] == ["4", "4", "4"]
    assert seen["overflow"] <= 0, f"the page is {seen['overflow']}px wider than the phone"
    ARTIFACTS.mkdir(exist_ok=True)
    measured = {key: round(seen[key]) for key in ("openMs", "filterMs", "sortMs")}
    (ARTIFACTS / "index-10000-timings.json").write_text(json.dumps(measured) + "\n")


DASHBOARD_PROBE = """
<script>
window.addEventListener("load", () => {
  const rows = () => [...document.querySelectorAll("#trials tbody tr")];
  const firstIds = () => rows().slice(0, 3).map((r) => r.querySelector("a").textContent);
  const levels = () => rows().map((r) => (r.querySelector(".level") || {}).textContent || "");
  const byMateriality = levels();
  const suspended = document.querySelector("#trials .status-suspended");
  const stoppedColour = getComputedStyle(suspended).backgroundColor;
  const attention = document.getElementById("attention");
  attention.click();
  const needing = rows().length;
  const needingLevels = levels();
  attention.click();
  const filter = document.getElementById("filter");
  filter.value = "site_status";
  filter.dispatchEvent(new Event("input"));
  const byCode = rows().length;
  filter.value = "";
  filter.dispatchEvent(new Event("input"));
  const card = rows()[0];
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    byMateriality, first: firstIds(), needing, needingLevels, byCode,
    stoppedColour,
    rowDisplay: getComputedStyle(card).display,
    headerShown: getComputedStyle(document.querySelector("#trials thead")).display !== "none",
    cardWidth: card.getBoundingClientRect().width, innerWidth: window.innerWidth,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    latest: (card.querySelector(".latest") || {}).textContent || "",
  });
  document.body.appendChild(probe);
});
</script>
"""


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_dashboard_leads_with_what_matters(tmp_path: Path, size: tuple[int, int]) -> None:
    """Rows by their most material change of the last 30 days (then the latest), a level
    badge, stopped trials in red, a needs-attention view, categories found by their codes; at 390 px
    each trial a card and nothing wider than the phone."""
    rows = synthetic_rows(12)
    trials = {row.nct_id: Trial(row.nct_id, None, [], [], row.title, None, Rule()) for row in rows}
    html = render_index(rows, trials, [], generated_at=moment_of("2026-12-02T08:00:00Z"))
    page = tmp_path / "index.html"
    page.write_text(html.replace("</body>", DASHBOARD_PROBE + "</body>"))
    seen = probe(page, profile=tmp_path / "profile", size=size)
    ranked = [level for level in seen["byMateriality"] if level]
    order = {"high": 2, "medium": 1, "low": 0}
    assert ranked == sorted(ranked, key=lambda level: order[level], reverse=True)
    assert ranked[0] == "high"
    highs = ranked.count("high")
    assert seen["needing"] == highs and set(seen["needingLevels"]) == {"high"}
    assert seen["byCode"] == sum(1 for row in rows if "site_status" in dict(row.recent).values())
    assert seen["stoppedColour"] == "rgb(207, 34, 46)"
    assert seen["overflow"] <= 0
    if size == PHONE:
        assert seen["rowDisplay"] == "block" and not seen["headerShown"]
        assert seen["cardWidth"] <= seen["innerWidth"], seen["innerWidth"]
        screenshot(page, tmp_path, size, "dashboard-390.png")
    else:
        assert seen["rowDisplay"] == "table-row" and seen["headerShown"]
        screenshot(page, tmp_path, size, "dashboard-1280.png")


def screenshot(page: Path, tmp_path: Path, size: tuple[int, int], name: str) -> None:
    """A picture of the page for people to look at (tests/artifacts, not kept in git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    chromium(
        f"--screenshot={ARTIFACTS / name}", page.as_uri(), profile=tmp_path / "shot", size=size
    )


def test_the_week_names_a_trial_without_an_acronym_by_its_title() -> None:
    from monitor.records.categories import make_event
    from monitor.records.events import Category
    from monitor.reports.portfolio import render_week

    event = make_event(
        "NCT00000001",
        Category.OVERALL_STATUS,
        "overall_status",
        "RECRUITING",
        "COMPLETED",
        detected_at=moment_of("2026-12-01T07:00:00Z"),
    )
    trials = {"NCT00000001": Trial("NCT00000001", None, [], [], "Drug X in lupus", None, Rule())}
    week = render_week(
        [dataclasses.replace(event, id=1)],
        set(),
        trials,
        generated_at=moment_of("2026-12-02T08:00:00Z"),
    )
    assert '<span class="title">Drug X in lupus</span>' in week
