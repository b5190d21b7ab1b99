"""A trial's history page: one self-contained HTML page (summary, charts, the site-status
matrix, a filterable timeline) from its `TrialHistory`."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from monitor.records.categories import CATEGORIES
from monitor.records.events import Category
from monitor.records.wording import date_slip, readable_status, status_css
from monitor.reports.charts import Series, count_value, date_value, format_day, line_charts
from monitor.reports.history import SiteHistory, TrialHistory
from monitor.reports.render import STUDY_URL
from monitor.reports.templating import template


def render_history_page(
    history: TrialHistory,
    *,
    generated_at: dt.datetime,
    feed: str | None = None,
    index: str | None = None,
) -> str:
    """One self-contained HTML page: summary, charts, site-status matrix, filterable timeline.
    `feed`: the address of the trial's Atom feed, announced to browsers and feed readers;
    `index`: the report's index page, linked back to."""
    first, last = history.snapshots[0], history.snapshots[-1]
    now_counts, first_counts = history.status_counts(-1), history.status_counts(0)
    by_country: dict[str, list[SiteHistory]] = defaultdict(list)
    for site in history.sites:
        by_country[site.country].append(site)
    return template("history.html").render(
        history=history,
        url=STUDY_URL.format(nct_id=history.nct_id),
        generated_at=generated_at,
        feed=feed,
        index=index,
        first=first,
        last=last,
        slips=completion_slips(history),
        status_counts=[
            (status, now_counts.get(status, 0), first_counts.get(status, 0))
            for status in sorted(set(now_counts) | set(first_counts))
        ],
        enrollment_chart=line_charts(
            [Series("enrollment", _points(history, "enrollment", count_value), "enrollment")],
            label="Enrollment over time",
        ),
        completion_chart=line_charts(
            [
                Series(
                    "primary completion",
                    _points(history, "primary_completion", date_value),
                    "primary",
                ),
                Series("completion", _points(history, "completion", date_value), "completion"),
            ],
            label="Completion dates over time",
            format_value=format_day,
        ),
        countries=sorted(by_country.items()),
        version_days=history.days(),
        days=history.events_by_day(),
        categories=[c for c in Category if any(e.category == c for e in history.events)],
        category_counts=Counter(event.category for event in history.events),
        category_label=lambda category: CATEGORIES[Category(category)].label,
        readable=readable_status,
        css=lambda status: status_css(status, missing="absent"),
        recruiting_since=lambda site: recruiting_since(history, site),
    )


def completion_slips(history: TrialHistory) -> list[str]:
    """ "Primary completion 2028-08-29 -> 2029-02-28 (+183 days) since 2026-01-13" per date."""
    first, last = history.snapshots[0], history.snapshots[-1]
    lines = []
    for label, before, after in (
        ("Primary completion", first.primary_completion, last.primary_completion),
        ("Completion", first.completion, last.completion),
    ):
        if before and after and before != after:
            slip = date_slip(before, after)
            since = f"{slip} since {first.date}" if slip else f"since {first.date}"
            lines.append(f"{label} {before} -> {after} ({since})")
        elif after:
            lines.append(f"{label} {after} (unchanged since {first.date})")
    return lines


def recruiting_since(history: TrialHistory, site: SiteHistory) -> str:
    """The first snapshot date showing the site recruiting ("before <date>" if it already was);
    "not yet" for a site still to open, "never" for one that closed without recruiting."""
    for index, status in enumerate(site.statuses):
        if status == "RECRUITING":
            date = history.snapshots[index].date
            return f"before {date}" if index == 0 else date
    listed = [status for status in site.statuses if status]
    return "not yet" if not listed or listed[-1] == "NOT_YET_RECRUITING" else "never"


def _points(
    history: TrialHistory, name: str, value: Callable[[Any], float | None]
) -> list[tuple[dt.date, float]]:
    """The snapshots' values of `name` that can be plotted (missing or malformed ones are
    not), one a day: of versions sharing a day, the last (a step, not a vertical line)."""
    values = {point.date: value(getattr(point, name)) for point in history.snapshots}
    return [(dt.date.fromisoformat(day), y) for day, y in values.items() if y is not None]
