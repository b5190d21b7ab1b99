"""What a digest says: the net change of each thing over the events it spans. A site added and
then recruiting is "New site: Recruiting", a date moved twice is one slip, a field changed
and changed back is no news (the history keeps every step); a site renamed and changed is one
line ("Cleveland Clinic Foundation (was Cleveland Clinic), ...: Recruiting -> Completed"). How
a category's steps join is its row in `categories`; each net change keeps its notes."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable

from monitor.records.categories import CATEGORIES, Joining, resummarised
from monitor.records.events import Category, ChangeEvent, SiteRef


def net_changes(events: list[ChangeEvent]) -> list[ChangeEvent]:
    """One event per thing that changed, from its first old value to its last new one, in
    the order of each thing's first change; none where it ended as it began. `events` are one
    trial's, oldest first."""
    steps: dict[Hashable, list[ChangeEvent]] = {}
    for event in events:
        steps.setdefault(_thing(event), []).append(event)
    joined = [event for event in map(_joined, steps.values()) if event is not None]
    return _renames_told_with_their_site(joined)


def _thing(event: ChangeEvent) -> Hashable:
    site = event.site.key if event.site else None
    joining = CATEGORIES[Category(event.category)].joining
    if joining == Joining.PRESENCE:
        return ("site", site)
    if joining == Joining.STATES:
        return (event.category, event.field, site)
    return ("each", event.stored_id)


def _joined(steps: list[ChangeEvent]) -> ChangeEvent | None:
    first, last = steps[0], steps[-1]
    if len(steps) == 1:
        return first
    if CATEGORIES[Category(first.category)].joining == Joining.PRESENCE:
        return _site_presence(first, last)
    if first.old == last.new:
        return None  # changed and changed back
    return resummarised(last, old=first.old, site=_site_ref(last))


def _site_presence(first: ChangeEvent, last: ChangeEvent) -> ChangeEvent | None:
    """A site's statuses and presence, first to last: added then recruiting is one new site;
    added then removed, or a status back where it was, is nothing."""
    was_there = first.category != Category.SITE_ADDED
    is_there = last.category != Category.SITE_REMOVED
    before, after = first.old, last.new
    if not was_there and not is_there:
        return None
    if not was_there:
        category, before = Category.SITE_ADDED, None
    elif not is_there:
        category, after = Category.SITE_REMOVED, None
    elif before == after:
        return None
    else:
        category = Category.SITE_STATUS
    field = "locations.status" if category == Category.SITE_STATUS else "locations"
    return resummarised(
        last, category=category, field=field, old=before, new=after, site=_site_ref(last)
    )


def _renames_told_with_their_site(events: list[ChangeEvent]) -> list[ChangeEvent]:
    """A site renamed and also added, removed or changed in status is one line: the other
    change, naming the site by its new name with its old one beside it."""
    renamed = {
        event.site.key: event
        for event in events
        if event.category == Category.SITE_RENAMED and event.site
    }
    changed = {
        event.site.key
        for event in events
        if event.site and CATEGORIES[Category(event.category)].joining == Joining.PRESENCE
    }
    told = []
    for event in events:
        key = event.site.key if event.site else None
        if event.category == Category.SITE_RENAMED and key in changed:
            continue
        rename = renamed.get(key) if key in changed else None
        if rename is not None and event.site is not None:
            site = dataclasses.replace(
                _site_ref(event) or event.site, facility=rename.new, previous_facility=rename.old
            )
            event = resummarised(event, site=site)
        told.append(event)
    return told


def _site_ref(event: ChangeEvent) -> SiteRef | None:
    """The event's site as its summary named it (with its site number where names repeat)."""
    site = event.site
    if site is None:
        return None
    number = site.site_number
    return dataclasses.replace(
        site, show_number=bool(number) and f"(site {number})" in event.summary
    )
