"""What a digest says: the net change of each thing over the events it spans. A site added and
then recruiting is "New site: Recruiting", a date moved twice is one slip, a field changed
and changed back is no news (the history keeps every step)."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import Any

from monitor.records.events import KINDS, Category, ChangeEvent, SiteRef

# Kinds whose old and new are states of one thing, so that steps can be joined end to end;
# the others (a search's matches, results posted or updated) are news each time.
STATES = frozenset(
    {
        Category.OVERALL_STATUS,
        Category.ENROLLMENT,
        Category.DATE,
        Category.OUTCOME,
        Category.DOCUMENT,
        Category.ELIGIBILITY,
        Category.CONTACT,
        Category.OTHER,
        Category.SITE_RENAMED,
    }
)
PRESENCE = (Category.SITE_ADDED, Category.SITE_STATUS, Category.SITE_REMOVED)


def net_changes(events: list[ChangeEvent]) -> list[ChangeEvent]:
    """One event per thing that changed, from its first old value to its last new one, in
    the order of each thing's first change; none where it ended as it began. `events` are one
    trial's, oldest first."""
    steps: dict[Hashable, list[ChangeEvent]] = {}
    for event in events:
        steps.setdefault(_thing(event), []).append(event)
    joined = (_joined(found) for found in steps.values())
    return [event for event in joined if event is not None]


def _thing(event: ChangeEvent) -> Hashable:
    site = event.site.key if event.site else None
    if event.category in PRESENCE:
        return ("site", site)
    if event.category in STATES:
        return (event.category, event.field, site)
    return ("each", event.stored_id)


def _joined(steps: list[ChangeEvent]) -> ChangeEvent | None:
    first, last = steps[0], steps[-1]
    if len(steps) == 1:
        return first
    if first.category in PRESENCE:
        return _site_presence(first, last)
    if first.old == last.new:
        return None  # changed and changed back
    return _resummarised(last, old=first.old, new=last.new, category=last.category)


def _site_presence(first: ChangeEvent, last: ChangeEvent) -> ChangeEvent | None:
    """A site's statuses and presence, first to last: added then recruiting is one new site;
    added then removed, or a status back where it was, is nothing."""
    was_there = first.category != Category.SITE_ADDED
    is_there = last.category != Category.SITE_REMOVED
    before, after = first.old, last.new
    if not was_there and not is_there:
        return None
    if not was_there:
        return _resummarised(last, old=None, new=after, category=Category.SITE_ADDED)
    if not is_there:
        return _resummarised(last, old=before, new=None, category=Category.SITE_REMOVED)
    if before == after:
        return None
    return _resummarised(last, old=before, new=after, category=Category.SITE_STATUS)


def _resummarised(event: ChangeEvent, *, old: Any, new: Any, category: Category) -> ChangeEvent:
    field_name = "locations.status" if category == Category.SITE_STATUS else event.field
    if category in (Category.SITE_ADDED, Category.SITE_REMOVED):
        field_name = "locations"
    summary = KINDS[category].summarise(field_name, old, new, _site_ref(event))
    return dataclasses.replace(
        event, category=category, field=field_name, old=old, new=new, summary=summary
    )


def _site_ref(event: ChangeEvent) -> SiteRef | None:
    """The event's site as its summary named it (with its site number where names repeat)."""
    site = event.site
    if site is None:
        return None
    number = site.site_number
    return dataclasses.replace(
        site, show_number=bool(number) and f"(site {number})" in event.summary
    )
