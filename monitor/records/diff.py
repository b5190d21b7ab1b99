"""Two normalised records -> the list of `ChangeEvent`s between them. deepdiff finds what moved;
the routing table below says which category and field each moved path belongs to.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from monitor.records.categories import make_event, with_extra
from monitor.records.countries import same_country
from monitor.records.events import Category, ChangeEvent, SiteRef
from monitor.records.folding import same_name, same_place_name
from monitor.records.normalise import Record
from monitor.records.pairing import reconcile_site_keys
from monitor.records.places import same_zip
from monitor.records.results import (
    OUTCOME_TYPES,
    changed_results_modules,
    outcome_measures,
    results_posted,
    summarise_results_module,
    why_stopped_note,
)
from monitor.records.sites import CLUE_FIELDS, Site, name_and_place

# Top-level keys of a normalised record -> (category, field); a None field is the dotted path.
RECORD_FIELDS: dict[str, tuple[Category, str | None]] = {
    "overall_status": (Category.OVERALL_STATUS, "overall_status"),
    "enrollment": (Category.ENROLLMENT, "enrollment"),
    "start_date": (Category.DATE, "start_date"),
    "primary_completion_date": (Category.DATE, "primary_completion_date"),
    "completion_date": (Category.DATE, "completion_date"),
    "contacts": (Category.CONTACT, "contacts"),
    "officials": (Category.CONTACT, "contacts.officials"),
    "eligibility": (Category.ELIGIBILITY, None),
    "protocol": (Category.OTHER, None),
    "documents": (Category.DOCUMENT, "documents"),
}
SITE_FIELD_CATEGORIES: dict[str, Category] = {
    "status": Category.SITE_STATUS,
    "facility": Category.SITE_RENAMED,
    "contacts": Category.CONTACT,
}
CATEGORY_ORDER = {category: rank for rank, category in enumerate(Category)}
FIELD_ORDER = {name: rank for rank, (_, name) in enumerate(RECORD_FIELDS.values()) if name}


def diff_records(old: Record | None, new: Record, *, detected_at: dt.datetime) -> list[ChangeEvent]:
    """Every meaningful change from `old` to `new`, most important first; none for a baseline."""
    if old is None or old == new:
        return []
    nct_id = new["nct_id"]
    events = [
        make_event(nct_id, category, field_name, old_value, new_value, detected_at=detected_at)
        for category, field_name, old_value, new_value in _record_changes(old, new)
    ]
    events = _outcomes_told_apart(_why_stopped_told_with_the_status(events, new))
    events += _results_events(old, new, nct_id=nct_id, detected_at=detected_at)
    events += diff_sites(old["sites"], new["sites"], nct_id=nct_id, detected_at=detected_at)
    return sorted(events, key=event_order)


def _results_events(
    old: Record, new: Record, *, nct_id: str, detected_at: dt.datetime
) -> list[ChangeEvent]:
    """Results newly posted: one event with what a reader wants to know of them. Results
    updated: one event per results module, saying what changed in it."""
    had, has = old.get("results") or {}, new.get("results") or {}
    if has and not had:
        first_posted = (new.get("results_dates") or {}).get("resultsFirstPostDateStruct") or {}
        posted = results_posted(has, nct_id=nct_id, first_posted=first_posted.get("date"))
        return [
            make_event(
                nct_id,
                Category.RESULTS_POSTED,
                "resultsSection",
                None,
                posted,
                detected_at=detected_at,
            )
        ]
    return [
        make_event(
            nct_id,
            Category.RESULTS_UPDATED,
            f"resultsSection.{module}",
            None,
            summarise_results_module(module, had.get(module), has.get(module)),
            detected_at=detected_at,
        )
        for module in changed_results_modules(had, has)
    ]


def _why_stopped_told_with_the_status(events: list[ChangeEvent], new: Record) -> list[ChangeEvent]:
    """A trial that became Terminated, Suspended or Withdrawn says why in the same sentence
    (the registry's why-stopped text, a note of the status's event), not in a line of its
    own."""
    why = ((new.get("protocol") or {}).get("statusModule") or {}).get("whyStopped")
    told = [
        with_extra(event, why_stopped=why)
        if event.category == Category.OVERALL_STATUS and why_stopped_note(event.new, why)
        else event
        for event in events
    ]
    if any("why_stopped" in event.extra for event in told):
        told = [event for event in told if event.field != "statusModule.whyStopped"]
    return told


def _outcomes_told_apart(events: list[ChangeEvent]) -> list[ChangeEvent]:
    """Outcome measures are a category of their own, primary and secondary told apart; one
    that moved between them says so ("now a secondary outcome", a note of the event)."""
    outcomes = {event.field: event for event in events if event.field in OUTCOME_TYPES}
    told = []
    for event in events:
        if event.field not in OUTCOME_TYPES:
            told.append(event)
            continue
        moved = [
            f"'{measure}' now a {OUTCOME_TYPES[other.field]} outcome"
            for other in outcomes.values()
            if other.field != event.field
            for measure in sorted(
                (outcome_measures(event.old) - outcome_measures(event.new))
                & (outcome_measures(other.new) - outcome_measures(other.old))
            )
        ]
        extra = {"moved_outcomes": moved} if moved else {}
        told.append(
            make_event(
                event.nct_id,
                Category.OUTCOME,
                event.field,
                event.old,
                event.new,
                detected_at=event.detected_at,
                extra=extra,
            )
        )
    return told


def event_order(event: ChangeEvent) -> tuple[int, int, str, str]:
    """Importance (the category table's order), then field, then site: stable across runs."""
    site = event.site.label() if event.site else ""
    rank = FIELD_ORDER.get(event.field, len(FIELD_ORDER))
    return (CATEGORY_ORDER[event.category], rank, event.field, site)


def _record_changes(old: Record, new: Record) -> Iterable[tuple[Category, str, Any, Any]]:
    """(category, field, old, new) for each changed field outside the site list."""
    fields: dict[tuple[str | int, ...], None] = {}
    for changed in _changed_paths(
        {key: old.get(key) for key in RECORD_FIELDS}, {key: new.get(key) for key in RECORD_FIELDS}
    ):
        fields[_field_path(changed)] = None
    for path in _each_field_of_new_or_gone_modules(fields, old, new):
        category, field_name = RECORD_FIELDS[str(path[0])]
        if field_name is None:
            field_name = _dotted(path)
        yield category, field_name, _value_at(old, path), _value_at(new, path)


def _each_field_of_new_or_gone_modules(
    paths: Iterable[tuple[str | int, ...]], old: Record, new: Record
) -> Iterable[tuple[str | int, ...]]:
    """A module that appeared or went ("referencesModule") is told field by field, as it would
    be had it been there before: "References: added ...", not "References module changed"."""
    for path in paths:
        before, after = _value_at(old, path), _value_at(new, path)
        module = after if before is None else before if after is None else None
        if len(path) == 2 and path[0] in ("protocol", "results") and isinstance(module, dict):
            yield from ((*path, key) for key in module)
        else:
            yield path


def _field_path(path: list[str | int]) -> tuple[str | int, ...]:
    """The part of a changed path that names one field: lists are whole values, never indexes."""
    head = path[0]
    if RECORD_FIELDS[str(head)][1] is not None:
        return (head,)
    if head == "eligibility":
        return tuple(path[:2])
    cut = next((i for i, part in enumerate(path) if isinstance(part, int)), len(path))
    return tuple(path[:cut])


def _dotted(path: tuple[str | int, ...]) -> str:
    """("protocol", "descriptionModule", "briefSummary") -> "descriptionModule.briefSummary"."""
    head, *rest = path
    prefix = {"protocol": [], "results": ["resultsSection"], "eligibility": ["eligibility"]}
    return ".".join([*prefix[str(head)], *map(str, rest)]) or str(head)


def _changed_paths(old: Any, new: Any, depth: int = 2) -> Iterable[list[str | int]]:
    """Paths deepdiff reports as changed. Equal parts are skipped by a cheap `==` first, down
    to `depth` levels of dicts, so a changed record costs what its changed sections cost."""
    if isinstance(old, dict) and isinstance(new, dict) and depth > 0:
        for key in dict.fromkeys([*old, *new]):
            if key in old and key in new and old[key] == new[key]:
                continue
            if key in old and key in new:
                for path in _changed_paths(old[key], new[key], depth - 1):
                    yield [key, *path]
            else:
                yield [key]
        return
    from deepdiff import DeepDiff  # here, not at the top: most checks find nothing changed

    tree = DeepDiff(old, new, view="tree", threshold_to_diff_deeper=0)
    for changes in tree.values():
        for level in changes:
            yield level.path(output_format="list")


def _value_at(record: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if not isinstance(record, dict) or part not in record:
            return None
        record = record[part]
    return record


def diff_sites(
    old_sites: dict[str, Site],
    new_sites: dict[str, Site],
    *,
    nct_id: str,
    detected_at: dt.datetime,
) -> list[ChangeEvent]:
    """Site events, sites matched by identity (see `reconcile_site_keys`), never by position."""
    new_sites = reconcile_site_keys(old_sites, new_sites)
    ambiguous = _ambiguous_names(old_sites) | _ambiguous_names(new_sites)
    changes: dict[str, dict[str, None]] = defaultdict(dict)
    for path in _changed_paths(old_sites, new_sites):
        key = str(path[0])
        changes[key][str(path[1]) if len(path) > 1 else ""] = None  # "": added or removed
    events = []
    for key, fields in sorted(changes.items()):
        old_site, new_site = old_sites.get(key), new_sites.get(key)
        site = _site_ref(key, old_site, new_site, ambiguous)
        for category, field_name, old_value, new_value in _site_changes(fields, old_site, new_site):
            events.append(
                make_event(
                    nct_id,
                    category,
                    field_name,
                    old_value,
                    new_value,
                    detected_at=detected_at,
                    site=site,
                )
            )
    return events


def _site_changes(
    fields: dict[str, None], old_site: Site | None, new_site: Site | None
) -> Iterable[tuple[Category, str, Any, Any]]:
    if old_site is None or new_site is None:
        yield from _site_presence(old_site, new_site)
        return
    order = list(SITE_FIELD_CATEGORIES)
    for name in sorted(fields, key=lambda name: (order.index(name) if name in order else 99, name)):
        if name in CLUE_FIELDS or _same_spelling(name, old_site.get(name), new_site.get(name)):
            continue
        category = SITE_FIELD_CATEGORIES.get(name, Category.OTHER)
        field_name = "contacts" if name == "contacts" else f"locations.{name}"
        yield category, field_name, old_site.get(name), new_site.get(name)


def _site_presence(
    old_site: Site | None, new_site: Site | None
) -> Iterable[tuple[Category, str, Any, Any]]:
    if new_site is not None:
        yield Category.SITE_ADDED, "locations", None, new_site["status"]
    elif old_site is not None:
        yield Category.SITE_REMOVED, "locations", old_site["status"], None


def _same_spelling(name: str, old: Any, new: Any) -> bool:
    """A facility re-cased, a city re-accented, a country renamed by the registry ("Czech
    Republic" -> "Czechia") or a zip re-written ("8035" -> "08035") is the same value to a
    reader."""
    same = {
        "facility": same_name,
        "city": same_place_name,
        "country": same_country,
        "zip": same_zip,
    }.get(name)
    return same is not None and same(old, new)


def _site_ref(
    key: str,
    old_site: Site | None,
    new_site: Site | None,
    ambiguous: set[tuple[str | None, ...]],
) -> SiteRef:
    site = new_site or old_site
    assert site is not None
    renamed = (
        old_site is not None
        and new_site is not None
        and not same_name(old_site["facility"], new_site["facility"])
    )
    return SiteRef(
        facility=site["facility"],
        city=site["city"],
        state=site["state"],
        country=site["country"],
        zip=site["zip"],
        key=key,
        site_number=site["site_number"],
        previous_facility=old_site["facility"] if renamed and old_site else None,
        show_number=name_and_place(site) in ambiguous,
    )


def _ambiguous_names(sites: dict[str, Site]) -> set[tuple[str | None, ...]]:
    """Facility+city+country labels shared by two or more sites (they need their site number)."""
    counts = Counter(name_and_place(site) for site in sites.values())
    return {name for name, count in counts.items() if count > 1}
