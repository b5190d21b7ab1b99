"""Watched searches: a stored registry query whose matches are listed on every check; trials
entering it are `new_trial` events and trials leaving it `left_query` events.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from monitor.errors import BadInput, MalformedResponse, RegistryError
from monitor.jobs.check import TrialError
from monitor.records.events import Category, ChangeEvent, make_event
from monitor.records.wording import readable_code, readable_status
from monitor.registry.client import RegistryClient
from monitor.registry.record import search_match_fields
from monitor.store import Store

SEARCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Only what a match needs: the list of a big search stays small.
MATCH_FIELDS = "NCTId|BriefTitle|Acronym|OverallStatus|Phase|LeadSponsorName"
PAGE_SIZE = 1000


@dataclass(frozen=True)
class Search:
    name: str
    term: str | None = None
    condition: str | None = None
    intervention: str | None = None
    statuses: tuple[str, ...] = ()
    follow: bool = False

    def params(self) -> dict[str, str]:
        """The registry's query parameters for this search."""
        params = {
            "query.term": self.term,
            "query.cond": self.condition,
            "query.intr": self.intervention,
            "filter.overallStatus": ",".join(self.statuses) or None,
        }
        return {key: value for key, value in params.items() if value}

    def to_json(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "condition": self.condition,
            "intervention": self.intervention,
            "statuses": list(self.statuses),
        }


@dataclass(frozen=True)
class Match:
    nct_id: str
    title: str
    phase: str | None
    sponsor: str | None
    status: str | None


def make_search(name: str, **query: Any) -> Search:
    """Validate a search from the command line: a plain name and at least one criterion."""
    if not SEARCH_NAME.fullmatch(name):
        raise BadInput(f"bad search name {name!r}: use letters, digits, '.', '_' or '-'")
    search = Search(name, **query)
    if not search.params():
        raise BadInput("a search needs --term, --condition, --intervention or --status")
    return search


def stored_searches(store: Store, *, unsettled_only: bool = False) -> list[Search]:
    """The searches to run; `unsettled_only`: those never checked or whose last check failed."""
    return [
        Search(
            row.name,
            row.params["term"],
            row.params["condition"],
            row.params["intervention"],
            tuple(row.params["statuses"]),
            row.follow,
        )
        for row in store.search_rows()
        if not unsettled_only or row.last_checked_at is None or row.last_error
    ]


def fetch_matches(client: RegistryClient, search: Search) -> list[Match]:
    """Every trial the search matches, on every page."""
    params = {**search.params(), "fields": MATCH_FIELDS, "pageSize": PAGE_SIZE}
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
        return Match(**search_match_fields(study))
    except RegistryError as exc:
        raise MalformedResponse(f"{exc} in a search answer") from exc


def _phases(codes: str | None) -> str | None:
    """`PHASE1, PHASE2` -> `Phase 1, Phase 2`."""
    return ", ".join(readable_code(code) for code in codes.split(", ")) if codes else None


def diff_matches(
    search: Search, before: dict[str, str], matches: list[Match], *, detected_at: str
) -> list[ChangeEvent]:
    """Events for trials that entered (`new_trial`) or left (`left_query`) the search."""
    field = f"query:{search.name}"
    now = {match.nct_id: match for match in matches}
    events = []
    for match in sorted(now.values(), key=lambda match: match.nct_id):
        if match.nct_id in before:
            continue
        trial = {
            "title": match.title,
            "phase": match.phase,
            "sponsor": match.sponsor,
            "status": match.status,
        }
        event = make_event(
            match.nct_id,
            Category.NEW_TRIAL,
            field,
            None,
            match.title,
            detected_at=detected_at,
            extra={"query": search.name, "trial": trial},
        )
        details = "; ".join(
            part
            for part in (_phases(match.phase), match.sponsor, readable_status(match.status))
            if part
        )
        events.append(dataclasses.replace(event, summary=f"{event.summary} ({details})"))
    for nct_id in sorted(set(before) - set(now)):
        events.append(
            make_event(
                nct_id,
                Category.LEFT_QUERY,
                field,
                before[nct_id],
                None,
                detected_at=detected_at,
                extra={"query": search.name},
            )
        )
    return events


def check_searches(
    store: Store, client: RegistryClient, searches: list[Search], *, now: str
) -> tuple[list[ChangeEvent], list[TrialError]]:
    """Run each search; its first check is a baseline. A failing search never stops the rest."""
    events: list[ChangeEvent] = []
    errors: list[TrialError] = []
    for search in searches:
        try:
            matches = fetch_matches(client, search)
        except RegistryError as exc:
            store.save_search_error(search.name, str(exc))
            errors.append(TrialError(f"query:{search.name}", str(exc)))
            continue
        before = store.search_matches(search.name)
        found = (
            []
            if store.is_first_search_check(search.name)
            else diff_matches(search, before, matches, detected_at=now)
        )
        followed = [e.nct_id for e in found if e.category == Category.NEW_TRIAL and search.follow]
        store.save_search_check(
            search.name, {m.nct_id: m.title for m in matches}, found, follow=followed, now=now
        )
        events += found
    return events, errors
