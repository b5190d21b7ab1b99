"""A few lines over a whole span of changes across trials, before the trials themselves: what
an analyst asks first ("what happened across my trials, and which of it needs me?"). Each
line names the trials it counts, so that it points to their part below. Built from each
trial's net changes; a line with nothing to count is left out.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from monitor.records.events import Category, ChangeEvent, as_enrollment
from monitor.records.materiality import STOPPED, days_between
from monitor.records.wording import readable_status
from monitor.text import counted

RECRUITING = "RECRUITING"


@dataclass(frozen=True)
class BriefingLine:
    """One figure over the span, and the trials it counts (in the order they are told)."""

    text: str
    trials: tuple[str, ...]


def briefing(
    by_trial: Mapping[str, list[ChangeEvent]], names: Mapping[str, str] | None = None
) -> list[BriefingLine]:
    """The briefing over `by_trial` (each trial's net changes, in the digest's order);
    `names`: how a stopped trial is named beside its id (its acronym or label)."""
    lines = [line(by_trial) for line in LINES]
    stopped = _stopped(by_trial, names or {})
    return [found for found in [stopped, *lines] if found is not None]


def _stopped(
    by_trial: Mapping[str, list[ChangeEvent]], names: Mapping[str, str]
) -> BriefingLine | None:
    stopped = {
        nct_id: event.new
        for nct_id, events in by_trial.items()
        for event in events
        if event.category == Category.OVERALL_STATUS and event.new in STOPPED
    }
    if not stopped:
        return None
    named = ", ".join(
        " ".join(part for part in (nct_id, names.get(nct_id)) if part)
        + f" ({readable_status(status)})"
        for nct_id, status in stopped.items()
    )
    return BriefingLine(f"Stopped: {named}", tuple(stopped))


def _slips(by_trial: Mapping[str, list[ChangeEvent]]) -> BriefingLine | None:
    slips = {
        nct_id: days
        for nct_id, events in by_trial.items()
        for event in events
        if event.field == "primary_completion_date"
        and (days := days_between(event.old, event.new)) is not None
        and days > 0
    }
    if not slips:
        return None
    if len(slips) == 1:
        [(nct_id, days)] = slips.items()
        return BriefingLine(f"Primary completion slipped: {nct_id} +{days} days", (nct_id,))
    largest = max(slips, key=lambda nct_id: slips[nct_id])
    return BriefingLine(
        f"Primary completion slipped in {len(slips)} trials ({', '.join(slips)}): median "
        f"+{round(statistics.median(slips.values()))} days, largest +{slips[largest]} days "
        f"({largest})",
        tuple(slips),
    )


def _sites(by_trial: Mapping[str, list[ChangeEvent]]) -> BriefingLine | None:
    opened: Counter[str] = Counter()
    stopped: Counter[str] = Counter()
    trials: dict[str, None] = {}
    for nct_id, events in by_trial.items():
        for event in events:
            country = (event.site.country if event.site else None) or "no country"
            if _opened(event):
                opened[country] += 1
            elif _stopped_recruiting(event):
                stopped[country] += 1
            else:
                continue
            trials[nct_id] = None
    if not trials:
        return None
    parts = [
        f"{counted(sum(counts.values()), 'site')} {verb} ({_by_country(counts)})"
        for counts, verb in ((opened, "opened"), (stopped, "closed or stopped recruiting"))
        if counts
    ]
    return BriefingLine(f"Sites: {'; '.join(parts)}, in {', '.join(trials)}", tuple(trials))


def _opened(event: ChangeEvent) -> bool:
    """A site now recruiting that was not: added so, or its status moved to it."""
    return event.category in (Category.SITE_ADDED, Category.SITE_STATUS) and (
        event.new == RECRUITING and event.old != RECRUITING
    )


def _stopped_recruiting(event: ChangeEvent) -> bool:
    """A site that was recruiting and is not any more: its status moved on, or it was removed."""
    return event.category in (Category.SITE_STATUS, Category.SITE_REMOVED) and (
        event.old == RECRUITING and event.new != RECRUITING
    )


def _by_country(counts: Counter[str]) -> str:
    return ", ".join(f"{country} {count}" for country, count in counts.most_common())


def _enrollment(by_trial: Mapping[str, list[ChangeEvent]]) -> BriefingLine | None:
    moved = {
        nct_id: (as_enrollment(event.old), as_enrollment(event.new))
        for nct_id, events in by_trial.items()
        for event in events
        if event.category == Category.ENROLLMENT
    }
    if not moved:
        return None
    told = ", ".join(
        f"{nct_id} {old['count'] if old else '(none)'} -> {new['count'] if new else '(none)'}"
        for nct_id, (old, new) in moved.items()
    )
    return BriefingLine(f"Enrollment changed: {told}", tuple(moved))


def _category_in(category: Category, text: str) -> Callable[..., BriefingLine | None]:
    """The trials with a change of `category`, named."""

    def line(by_trial: Mapping[str, list[ChangeEvent]]) -> BriefingLine | None:
        found = tuple(
            nct_id
            for nct_id, events in by_trial.items()
            if any(event.category == category for event in events)
        )
        return BriefingLine(f"{text}: {', '.join(found)}", found) if found else None

    return line


def _searches(by_trial: Mapping[str, list[ChangeEvent]]) -> BriefingLine | None:
    counts: Counter[Category] = Counter()
    trials: dict[str, None] = {}
    for nct_id, events in by_trial.items():
        for event in events:
            if event.category in (Category.NEW_TRIAL, Category.LEFT_QUERY):
                counts[Category(event.category)] += 1
                trials[nct_id] = None
    if not trials:
        return None
    parts = [
        counted(counts[Category.NEW_TRIAL], "new match", "new matches"),
        f"{counts[Category.LEFT_QUERY]} left",
    ]
    return BriefingLine(f"Searches: {', '.join(parts)}: {', '.join(trials)}", tuple(trials))


# In the order a reader asks (after the trials stopped, which `briefing` names).
LINES: list[Callable[[Mapping[str, list[ChangeEvent]]], BriefingLine | None]] = [
    _slips,
    _category_in(Category.RESULTS_POSTED, "Results posted"),
    _sites,
    _enrollment,
    _searches,
]
