"""Where watched trials meet, told as a trial is checked: a site event at a place that also
hosts another watched trial names it (`records.shared_sites` says which places are one)."""

from __future__ import annotations

import dataclasses

from monitor.records.categories import CATEGORIES, with_extra
from monitor.records.events import Category, ChangeEvent
from monitor.records.sentences import ALSO_HERE_NAMED
from monitor.records.shared_sites import SitePlace
from monitor.store import Store


def where_trials_meet(
    store: Store, nct_id: str, events: list[ChangeEvent], places: dict[str, SitePlace]
) -> list[ChangeEvent]:
    """Site events at a place that also hosts another watched trial say so (`also_here`)."""
    at = {
        event.site_key: places[event.site_key]
        for event in events
        if event.site_key in places and CATEGORIES[Category(event.category)].site_change
    }
    identities = {place.identity for place in at.values()}
    others = store.sites.others_at(identities, nct_id, named=ALSO_HERE_NAMED)
    told = []
    for event in events:
        place = at.get(event.site_key)
        there = others.get(place.identity) if place else None
        if there:
            named = [dataclasses.asdict(other) for other in there.named]
            more = {"also_here_more": there.count - len(named)} if there.count > len(named) else {}
            event = with_extra(event, also_here=named, **more)
        told.append(event)
    return told
