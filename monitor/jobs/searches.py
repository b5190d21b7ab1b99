"""Watched searches: a stored registry search whose matches are followed on every check;
trials entering it are `new_trial` events and trials leaving it `left_query` events.

A search's cost follows what changed: on a daily check a search asks only for its matches
updated since its last check, and learns which matches left it from the registry's list of
updated studies (shared with the trials' check), whenever that takes fewer requests than
listing every match (a search of one or two pages is simply listed). A trial that leaves
a search without an update of its own is caught on the full pass (`full_check_days`), when
every match is listed again, as on a search's first check.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from monitor.errors import MalformedResponse, RegistryError
from monitor.jobs.check import CheckError
from monitor.records.categories import make_event
from monitor.records.events import Category, ChangeEvent, search_field
from monitor.records.places import km
from monitor.registry.client import PAGE_SIZE, RegistryClient
from monitor.registry.matches import Match, MatchSite, search_match
from monitor.registry.searches import Near, Search
from monitor.registry.updates import Bound, UpdatedSince, listing_bound, since_date
from monitor.store import Store

logger = logging.getLogger(__name__)

OPEN_SITE = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION")


@dataclass(frozen=True)
class NearbySite:
    """The site that brought a trial into a distance search: the nearest open one (else the
    nearest), and how many others are within the radius."""

    site: MatchSite
    distance: float
    near: Near
    others: int

    def to_json(self) -> dict[str, Any]:
        return {
            "facility": self.site["facility"],
            "city": self.site["city"],
            "state": self.site["state"],
            "country": self.site["country"],
            "status": self.site["status"],
            "distance": round(self.distance, 1),
            "unit": self.near.unit,
            "others_within": self.others,
            "within": self.near.distance,
        }


def nearby_site(near: Near, sites: tuple[MatchSite, ...]) -> NearbySite | None:
    """The site a patient near `near` would go to: open sites first, nearest first."""
    within = []
    for site in sites:
        if site["point"] is not None:
            distance = near.away(km((near.lat, near.lon), site["point"]))
            if distance <= near.distance * 1.001:  # the registry's rounding aside
                within.append((site["status"] not in OPEN_SITE, distance, site))
    if not within:
        return None
    _, distance, site = min(within, key=lambda found: found[:2])
    return NearbySite(site, distance, near, len(within) - 1)


def stored_searches(store: Store, *, unsettled_only: bool = False) -> list[Search]:
    """The searches to run; `unsettled_only`: those never checked or whose last check failed."""
    return [
        Search.from_json(row.name, row.params, follow=row.follow)
        for row in store.searches.rows()
        if not unsettled_only or row.last_checked_at is None or row.last_error
    ]


def fetch_matches(
    client: RegistryClient, search: Search, *, updated_since: str | None = None
) -> list[Match]:
    """Every trial the search matches (updated since a date, if given), on every page."""
    params = {
        **search.params(updated_since=updated_since),
        "fields": search.fields(),
        "pageSize": PAGE_SIZE,
        "countTotal": "true",  # how many pages it takes: more is a malformed answer
    }
    try:
        return [_match(study) for study in client.list_studies(params)]
    except RegistryError as exc:
        if exc.status == 400:  # the registry could not read the search, not an id
            raise RegistryError(
                "the registry refused the search expression (HTTP 400): check its terms",
                status=400,
            ) from exc
        raise


def _match(study: dict[str, Any]) -> Match:
    try:
        return search_match(study)
    except RegistryError as exc:
        raise MalformedResponse(f"{exc} in a search answer") from exc


@dataclass(frozen=True)
class SearchAnswer:
    """What one check learned of a search: every match now (id -> title), those that
    entered it, and those that left it (id -> title)."""

    matches: dict[str, str]
    entered: list[Match]
    left: dict[str, str]


def ask_search(
    client: RegistryClient,
    search: Search,
    before: dict[str, str],
    *,
    since: Bound | None,
    updates: UpdatedSince,
) -> SearchAnswer:
    """The search's matches: only those updated `since` a date when that costs fewer
    requests than listing every match (the list of updated studies tells which of the old
    matches were updated and are no longer in it); otherwise every match."""
    pages = -(-len(before) // PAGE_SIZE)
    updated = None if since is None else updates.since(since, cheaper_than=pages - 1)
    if updated is None or since is None:
        listed = {match.nct_id: match for match in fetch_matches(client, search)}
        left = {nct_id: title for nct_id, title in before.items() if nct_id not in listed}
    else:
        listed = {
            m.nct_id: m for m in fetch_matches(client, search, updated_since=since_date(since))
        }
        left = {
            nct_id: title
            for nct_id, title in before.items()
            if nct_id in updated and nct_id not in listed
        }
    matches = {nct_id: title for nct_id, title in before.items() if nct_id not in left}
    matches |= {nct_id: match.title for nct_id, match in listed.items()}
    entered = [match for nct_id, match in sorted(listed.items()) if nct_id not in before]
    return SearchAnswer(matches, entered, left)


def search_events(
    search: Search, answer: SearchAnswer, *, detected_at: dt.datetime
) -> list[ChangeEvent]:
    """Events for trials that entered (`new_trial`) or left (`left_query`) the search; a
    trial entering a distance search says which of its sites is near."""
    field = search_field(search.name)
    events = []
    for match in answer.entered:
        trial = {
            "title": match.title,
            "phase": match.phase,
            "sponsor": match.sponsor,
            "status": match.status,
        }
        nearby = nearby_site(search.near, match.sites) if search.near else None
        events.append(
            make_event(
                match.nct_id,
                Category.NEW_TRIAL,
                field,
                None,
                match.title,
                detected_at=detected_at,
                extra={"query": search.name, "trial": trial}
                | ({"nearby_site": nearby.to_json()} if nearby else {}),
            )
        )
    for nct_id, title in sorted(answer.left.items()):
        events.append(
            make_event(
                nct_id,
                Category.LEFT_QUERY,
                field,
                title,
                None,
                detected_at=detected_at,
                extra={"query": search.name},
            )
        )
    return events


def check_searches(
    store: Store,
    client: RegistryClient,
    searches: list[Search],
    *,
    now: dt.datetime,
    full: bool,
    updates: UpdatedSince,
) -> tuple[list[ChangeEvent], list[CheckError]]:
    """Run each search; its first check is a baseline, and on a full pass (`full`) every
    match is listed. A failing search never stops the rest."""
    events: list[ChangeEvent] = []
    errors: list[CheckError] = []
    last_checked = {row.name: row.last_checked_at for row in store.searches.rows()}
    for search in searches:
        checked = last_checked.get(search.name)
        since = None
        if not full and checked is not None:
            since = listing_bound(store.runs.watermark_before(checked), checked)
        before = store.searches.matches(search.name)
        try:
            answer = ask_search(client, search, before, since=since, updates=updates)
        except RegistryError as exc:
            store.searches.save_error(search.name, str(exc))
            errors.append(CheckError(search_field(search.name), exc))
            continue
        found = [] if checked is None else search_events(search, answer, detected_at=now)
        followed = [e.nct_id for e in found if e.category == Category.NEW_TRIAL and search.follow]
        saved = store.searches.save_check(
            search.name, answer.matches, found, follow=followed, now=now, asked=search.to_json()
        )
        if not saved:
            logger.info("search %s changed during the check: the next check is its", search.name)
            continue
        events += found
    return events, errors
