"""The history model, page and report on the seed story: sites followed across renames."""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from monitor.jobs.check import store_study
from monitor.jobs.report import load_history, write_report
from monitor.reports.history import SiteHistory, TrialHistory, build_history
from monitor.reports.history_page import completion_slips, recruiting_since, render_history_page
from monitor.store import Store
from monitor.times import moment_of
from tests.conftest import ANY_TIME, SEED_FILES, Trialwatch
from tests.corpora import needs_tigit, tigit_records
from tests.test_portfolio import index_rows

NCT = "NCT05869955"


def site(history: TrialHistory, facility: str, number: str | None = None) -> SiteHistory:
    return next(
        s for s in history.sites if s.facility == facility and (number is None or number in s.key)
    )


def test_a_renamed_placeholder_is_one_row_with_its_former_name(story_store: Store) -> None:
    history = load_history(story_store, NCT)
    strasbourg = site(history, "Hopitaux Universitaires de Strasbourg")
    assert strasbourg.former_names == ("Local Institution - 0043",)
    assert strasbourg.statuses == ("NOT_YET_RECRUITING",) + ("RECRUITING",) * 4
    assert recruiting_since(history, strasbourg) == "2026-02-10"
    assert not any(s.facility == "Local Institution - 0043" for s in history.sites)


def test_twin_sites_stay_two_rows_and_sites_come_and_go(story_store: Store) -> None:
    history = load_history(story_store, NCT)
    assert len(history.sites) == 55  # 54 at first, Madrid added
    umass = "University of Massachusetts Chan Medical School"
    assert site(history, umass, "0032").statuses[-1] == "RECRUITING"
    assert site(history, umass, "0033").statuses[-1] == "ACTIVE_NOT_RECRUITING"
    madrid = site(history, "Hospital Universitario 12 de Octubre")
    assert madrid.statuses == (None, None, "NOT_YET_RECRUITING", "RECRUITING", "RECRUITING")
    assert site(history, "Local Institution - 0054").statuses[2:] == ("WITHDRAWN", None, None)


def test_site_counts_and_completion_slips(story_store: Store) -> None:
    history = load_history(story_store, NCT)
    assert history.status_counts(0)["RECRUITING"] == 41
    assert history.status_counts(-1)["RECRUITING"] == 44
    assert completion_slips(history) == [
        "Primary completion 2028-08-29 -> 2029-02-28 (+183 days since 2026-01-13)",
        "Completion 2028-08-29 -> 2029-08-31 (+367 days since 2026-01-13)",
    ]


class PageText(HTMLParser):
    """Text of a page by element id, plus every URL it refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def test_the_page_answers_when_french_sites_opened_and_how_far_completion_slipped(
    story_store: Store,
) -> None:
    page = PageText()
    page.feed(
        render_history_page(load_history(story_store, NCT), generated_at=moment_of("2026-06-02"))
    )
    text = " ".join("".join(page.text).split())
    assert "Primary completion 2028-08-29 -> 2029-02-28 (+183 days since 2026-01-13)" in text
    french = {
        row[0]: row[2]
        for row in page.rows
        if len(row) > 3
        and row[1] in ("Strasbourg", "Pessac", "Montpellier", "Lille", "Nice", "Paris", "Rennes")
    }
    assert (
        french["Hopitaux Universitaires de Strasbourg was Local Institution - 0043"] == "2026-02-10"
    )
    assert french["CHU Bordeaux Haut-Leveque"] == "before 2026-01-13"
    assert french["Local Institution - 0052"] == "never"  # withdrawn without recruiting
    assert len(french) == 8
    assert page.urls == ["https://clinicaltrials.gov/study/NCT05869955"]  # nothing remote


def test_charts_are_inline_svg_with_every_snapshot(story_store: Store) -> None:
    html = render_history_page(load_history(story_store, NCT), generated_at=ANY_TIME)
    # two charts, each drawn for a wide page and for a phone
    assert (
        html.count('<svg class="chart wide"') == 2 and html.count('<svg class="chart narrow"') == 2
    )
    assert "<script" not in html
    assert "enrollment on 2026-03-17: 300" in html
    assert "primary completion on 2026-06-02: 2029-02-28" in html


def test_report_index_links_every_trial_page(story_store: Store, tmp_path: Path) -> None:
    write_report(story_store, tmp_path / "report", now=moment_of("2026-06-02T07:00:00Z"))
    index = (tmp_path / "report" / "index.html").read_text()
    assert [row[0] for row in index_rows(index)] == [NCT]  # drawn as links (test_portfolio)
    week = (tmp_path / "report" / "week.html").read_text()
    assert f'<a href="{NCT}.html">{NCT}</a>' in week
    assert "Conditions: added ANCA-Associated Vasculitis" in week
    assert (tmp_path / "report" / f"{NCT}.html").read_text().startswith("<!DOCTYPE html>")


def test_datasette_can_query_the_views(story_store: Store) -> None:
    from datasette.app import Datasette  # a second of imports: only for the worker that runs it

    async def query() -> Any:
        datasette = Datasette([str(story_store.path)], immutables=[])
        database = datasette.get_database(story_store.path.stem)
        rows = await database.execute(
            "select fetched_at, status from site_status_over_time where city = 'Strasbourg'"
        )
        latest = await datasette.client.get(
            f"/{story_store.path.stem}/latest_site_status.json?_shape=array&country=France"
        )
        return [tuple(row) for row in rows], latest.json()

    strasbourg, latest = asyncio.run(query())
    assert strasbourg[:2] == [
        ("2026-01-13T07:00:00Z", "NOT_YET_RECRUITING"),
        ("2026-02-10T07:00:00Z", "RECRUITING"),
    ]
    assert len(latest) == 8 and {row["snapshot_id"] for row in latest} == {5}


def test_history_of_an_unknown_trial_is_bad_input(trialwatch: Trialwatch) -> None:
    result = trialwatch("history", "NCT00000009")
    assert result.code == 2
    assert re.match(r"trialwatch: no history for NCT00000009", result.stderr)


@needs_tigit
def test_real_renames_back_and_forth_keep_one_row_without_the_current_name_as_former() -> None:
    """NCT06203210 (real records): the registry repaired nine mis-encoded site names, then
    broke them again. Each stays one row, and its former name is the other spelling."""
    versions = sorted((tigit_records() / "NCT06203210").glob("*.json"))
    snapshots = [(n, moment_of(p.stem), json.loads(p.read_text())) for n, p in enumerate(versions)]
    history = build_history("NCT06203210", snapshots, [])
    assert len(history.sites) == 230
    foch = next(s for s in history.sites if s.city == "Suresnes")
    assert (foch.facility, foch.former_names) == ('Hă"Pital Foch', ("Hăpital Foch",))
    assert foch.statuses == ("", "NOT_YET_RECRUITING", "NOT_YET_RECRUITING")  # listed, no status
    page = render_history_page(history, generated_at=ANY_TIME)
    assert page.count(">no status listed</td>") == 230 and ">not listed</td>" not in page


def test_latest_site_status_is_the_newest_version_even_when_an_older_one_came_later(
    tmp_path: Path,
) -> None:
    """Backfill stores older registry versions after the checked one (higher ids): the view
    must still show the newest version's sites."""
    from monitor.store import BackfilledVersion, Store

    store = Store.open(tmp_path / "t.db")
    newest, oldest = (json.loads(path.read_text()) for path in (SEED_FILES[-1], SEED_FILES[0]))
    store_study(store, newest, fetched_at=moment_of("2026-06-02T07:00:00Z"), source="api")
    version = BackfilledVersion(1, moment_of("2026-01-13T07:00:00Z"), oldest, "h", [])
    store.snapshots.save_backfill(
        NCT, [version], horizon_events=[], horizon_id=None, delivered_at=None, now=ANY_TIME
    )
    rows = store.db.execute(
        "select fetched_at, status from latest_site_status where city = 'Strasbourg'"
    ).fetchall()
    store.close()
    assert rows == [("2026-06-02T07:00:00Z", "RECRUITING")]
