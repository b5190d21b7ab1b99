"""The report's portfolio pages: the index (one sortable, filterable row per watched trial,
and the watched searches' new and leaving matches) and "this week" (every change across the
portfolio, newest first, grouped by trial).

A trial's row is built once, when its page is written, and kept in the report folder's state
(`IndexRow.to_json`), so a report on a day when few trials changed reads only those trials.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.records.categories import CATEGORIES, rating_of
from monitor.records.events import Category, ChangeEvent
from monitor.records.materiality import LEVEL_ORDER, Materiality, days_between
from monitor.records.wording import readable_status, status_css
from monitor.reports.briefing import briefing
from monitor.reports.history import TrialHistory
from monitor.reports.net_changes import net_changes
from monitor.reports.render import STUDY_URL
from monitor.reports.templating import template
from monitor.store import SharedPlace, Trial
from monitor.store.searches import StoredSearch

RECENT_DAYS = 30  # the longest window the index counts changes in
WEEK_DAYS = 7


@dataclass(frozen=True, slots=True)
class IndexRow:
    """What the index shows of one trial, as of its last written page."""

    nct_id: str
    title: str | None
    acronym: str | None
    overall_status: str | None
    sites_recruiting: int
    sites_total: int
    countries: tuple[str, ...]
    last_change: dt.date | None  # the detection day of its latest event
    last_summary: str | None
    recent: tuple[tuple[dt.date, str], ...]  # (day, category) of the last RECENT_DAYS' events
    # of the last RECENT_DAYS' events, the latest of each materiality: (day, rank, summary),
    # rank 2 high, 1 medium, 0 low (`materiality.LEVEL_ORDER`)
    notable: tuple[tuple[dt.date, int, str], ...]
    primary_completion: str | None
    slip_days: int | None  # primary completion's move since the first snapshot
    results_posted: bool
    stamp: tuple[int, int]  # its latest event and snapshot ids: what the page was built from

    def most_material(self, today: dt.date) -> tuple[dt.date, int, str] | None:
        """Its most material change of the last RECENT_DAYS to `today` (the latest of those
        as material), or None."""
        since = today - dt.timedelta(days=RECENT_DAYS - 1)
        recent = [found for found in self.notable if found[0] >= since]
        return max(recent, key=lambda found: (found[1], found[0])) if recent else None

    def changes(self, today: dt.date, days: int) -> Counter[str]:
        """Its changes in the `days` up to `today`, by category."""
        since = today - dt.timedelta(days=days - 1)
        return Counter(category for day, category in self.recent if day >= since)

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "acronym": self.acronym,
            "overall_status": self.overall_status,
            "sites_recruiting": self.sites_recruiting,
            "sites_total": self.sites_total,
            "countries": list(self.countries),
            "last_change": self.last_change and self.last_change.isoformat(),
            "last_summary": self.last_summary,
            "recent": [[day.isoformat(), category] for day, category in self.recent],
            "notable": [[day.isoformat(), rank, text] for day, rank, text in self.notable],
            "primary_completion": self.primary_completion,
            "slip_days": self.slip_days,
            "results_posted": self.results_posted,
            "stamp": list(self.stamp),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexRow:
        return cls(
            **data
            | {
                "countries": tuple(data["countries"]),
                "last_change": data["last_change"] and dt.date.fromisoformat(data["last_change"]),
                "recent": tuple(
                    (dt.date.fromisoformat(day), category) for day, category in data["recent"]
                ),
                "notable": tuple(
                    (dt.date.fromisoformat(day), rank, text) for day, rank, text in data["notable"]
                ),
                "stamp": (data["stamp"][0], data["stamp"][1]),
            }
        )


def index_row(
    history: TrialHistory,
    *,
    stamp: tuple[int, int],
    today: dt.date,
    materiality: Mapping[str, Materiality] | None = None,
) -> IndexRow:
    """A trial's index row from its history (its latest snapshot and its events);
    `materiality`: the config's levels."""
    first, last = history.snapshots[0], history.snapshots[-1]
    listed = [site for site in history.sites if site.statuses[-1] is not None]
    since = today - dt.timedelta(days=RECENT_DAYS - 1)
    latest = history.events[-1] if history.events else None
    notable: dict[int, tuple[dt.date, int, str]] = {}
    for event in history.events:
        if event.detected_at.date() >= since:
            rank = LEVEL_ORDER[rating_of(event, materiality).level]
            notable[rank] = (event.detected_at.date(), rank, event.summary)
    return IndexRow(
        nct_id=history.nct_id,
        title=history.title,
        acronym=history.acronym,
        overall_status=last.overall_status,
        sites_recruiting=sum(site.statuses[-1] == "RECRUITING" for site in listed),
        sites_total=len(listed),
        countries=tuple(sorted({site.country for site in listed})),
        last_change=latest.detected_at.date() if latest else None,
        last_summary=latest.summary if latest else None,
        recent=tuple(
            (event.detected_at.date(), event.category)
            for event in history.events
            if event.detected_at.date() >= since
        ),
        notable=tuple(notable[rank] for rank in sorted(notable)),
        primary_completion=last.primary_completion,
        slip_days=days_between(
            {"date": first.primary_completion}, {"date": last.primary_completion}
        ),
        results_posted=last.results_posted
        or any(event.category == Category.RESULTS_POSTED for event in history.events),
        stamp=stamp,
    )


@dataclass(frozen=True, slots=True)
class ShownRow:
    """An index row as the page shows it: its trial's label and today's counts."""

    row: IndexRow
    label: str | None
    week: Counter[str]
    month: Counter[str]
    top: tuple[dt.date, int, str] | None  # its most material change of the last 30 days

    @property
    def search_text(self) -> str:
        """What typing in the filter box matches: ids, names, status, countries, categories (by
        their words and their documented names, `site_added`)."""
        row = self.row
        words = [
            row.nct_id,
            self.label,
            row.acronym,
            row.title,
            readable_status(row.overall_status),
            *row.countries,
            *(CATEGORIES[Category(category)].label for category in self.month),
            *self.month,
            "results posted" if row.results_posted else None,
            "needs attention" if self.needs_attention else None,
        ]
        return " ".join(word for word in words if word).lower()

    @property
    def needs_attention(self) -> bool:
        """A high change in the last 30 days."""
        return self.top is not None and self.top[1] == LEVEL_ORDER[Materiality.HIGH]

    def cells(self) -> list[Any]:
        """The row as the page's script draws it (see `COLUMNS` in index.html)."""
        row, top = self.row, self.top
        return [
            row.nct_id,
            row.acronym or "",
            row.title or "",
            self.label or "",
            readable_status(row.overall_status),
            row.sites_recruiting,
            row.sites_total,
            row.last_change.isoformat() if row.last_change else "",
            row.last_summary or "",
            sum(self.week.values()),
            _categories(self.week),
            sum(self.month.values()),
            _categories(self.month),
            row.primary_completion or "",
            row.slip_days,
            row.results_posted,
            self.search_text,
            status_css(row.overall_status),
            top[1] if top else -1,
            top[0].isoformat() if top else "",
            top[2] if top else "",
            LEVEL_WORDS[top[1]] if top else "",
            self.needs_attention,
        ]


LEVEL_WORDS = {rank: str(level) for level, rank in LEVEL_ORDER.items()}


def _categories(counts: Counter[str]) -> str:
    """`Site status: 2, Dates: 1`."""
    return ", ".join(
        f"{CATEGORIES[Category(category)].label}: {n}" for category, n in counts.most_common()
    )


def render_index(
    rows: list[IndexRow],
    trials: dict[str, Trial],
    searches: list[tuple[StoredSearch, list[ChangeEvent]]],
    *,
    generated_at: dt.datetime,
) -> str:
    """The portfolio's dashboard: a row per trial, then the watched searches."""
    today = generated_at.date()
    shown = [
        ShownRow(
            row,
            trials[row.nct_id].label if row.nct_id in trials else None,
            row.changes(today, WEEK_DAYS),
            row.changes(today, RECENT_DAYS),
            row.most_material(today),
        )
        for row in sorted(rows, key=lambda row: row.nct_id)
    ]
    # what matters most first: the most material recent change, the latest of those first
    shown.sort(
        key=lambda row: (row.top[1], row.top[0]) if row.top else (-1, dt.date.min), reverse=True
    )
    cells = [row.cells() for row in shown]
    return template("index.html").render(
        rows=cells,
        attention=sum(row.needs_attention for row in shown),
        searches=searches,
        pages={row.nct_id for row in rows},
        generated_at=generated_at,
        readable=readable_status,
        study_url=STUDY_URL,
    )


def render_week(
    events: list[ChangeEvent],
    pages: set[str],
    trials: dict[str, Trial],
    *,
    generated_at: dt.datetime,
) -> str:
    """Every change of the last week across the portfolio, newest first, grouped by trial
    (the trial whose latest change is newest first); `pages`: the trials with a page."""
    by_trial: dict[str, list[ChangeEvent]] = {}
    newest_first = sorted(events, key=lambda event: (event.detected_at, event.stored_id))[::-1]
    for event in newest_first:
        by_trial.setdefault(event.nct_id, []).append(event)
    names = {nct_id: trial.label or trial.acronym or "" for nct_id, trial in trials.items()}
    week = {nct_id: net_changes(found[::-1]) for nct_id, found in by_trial.items()}
    return template("week.html").render(
        briefing=briefing(week, names),
        groups=list(by_trial.items()),
        pages=pages,
        trials=trials,
        generated_at=generated_at,
        study_url=STUDY_URL,
        count=len(events),
    )


def render_sites(places: list[SharedPlace], pages: set[str], *, generated_at: dt.datetime) -> str:
    """Where watched trials meet: every place hosting two or more of them, each trial's
    status there; filtered by typing (a country), sorted by a click."""
    return template("sites.html").render(
        places=places,
        pages=pages,
        generated_at=generated_at,
        readable=readable_status,
        css=status_css,
    )
