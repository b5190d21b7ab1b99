"""Each kind of change in one place: its label and section, its sentence and notes, its phrase
in a trial's headline, how much it matters and why, and how two of its changes join into one
net change. The digest, the headline, net changes, rules and materiality read a kind from
here; adding a kind is adding one row to `KINDS` (and its test).

Notes are what an event carries beside its values (the registry's why-stopped text, an
outcome moved between primary and secondary, a search match's phase and sponsor): fields of
the event's `extra`, put into its sentence here, so that a net change joining two events says
them as the single event did.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from monitor.records.events import (
    Category,
    ChangeEvent,
    Enrollment,
    SiteRef,
    as_date,
    as_enrollment,
    as_posted_results,
)
from monitor.records.materiality import (
    Materiality,
    Rater,
    Rating,
    rate_date,
    rate_enrollment,
    rate_other,
    rate_outcome,
    rate_overall_status,
)
from monitor.records.results import (
    summarise_documents,
    summarise_outcomes,
    summarise_results_posted,
    why_stopped_note,
)
from monitor.records.wording import (
    STATUSES,
    date_slip,
    dict_change,
    field_label,
    format_value,
    list_changes,
    readable_code,
    readable_status,
    text_change,
)


class Told(NamedTuple):
    """What a sentence reads of an event: its values, its site, its notes' fields."""

    field: str
    old: Any
    new: Any
    site: SiteRef | None = None
    extra: Mapping[str, Any] = {}


class Joining(Enum):
    """How a kind's changes over several versions become one net change."""

    STATES = "states"  # old and new are states of one thing: steps join end to end
    PRESENCE = "presence"  # a site's presence and status: added then recruiting is one
    EACH = "each"  # news each time (results posted, a search's match)


Sentence = Callable[[Told], str]
# A kind's phrases in a trial's headline, each with the events it tells (its materiality is
# theirs): "primary completion +183 days" for one event, "eligibility changed" for several.
Phrases = Callable[[list[ChangeEvent]], list[tuple[str, list[ChangeEvent]]]]


def _no_notes(told: Told) -> list[str]:
    return []


@dataclass(frozen=True)
class Kind:
    """One kind of change: everything the stages need to know of it."""

    label: str  # a reader's name for it (the history page's filter)
    section: str  # the digest section it is listed under
    sentence: Sentence  # its one-line summary, notes aside
    headline: Phrases  # its phrases in a trial's headline (our words and numbers only)
    rate: Rater = lambda field, old, new: Rating(Materiality.MEDIUM, "a change of substance")
    joining: Joining = Joining.STATES
    notes: Callable[[Told], list[str]] = _no_notes
    # how a digest's site table reads it (old, new -> "Not yet recruiting -> Recruiting");
    # None for kinds that are not about one site
    site_change: Callable[[Any, Any], str] | None = None
    of_search: bool = False  # it comes of a watched search, never of a watched trial
    # many sites changed the same way in one version, said once: what makes two of its
    # changes alike (None: this one is told on its own), and the sentence for many alike
    alike: Callable[[ChangeEvent], Hashable | None] | None = None
    many: Callable[[list[ChangeEvent]], str] | None = None

    def summarise(self, told: Told) -> str:
        """The sentence, with its notes in parentheses."""
        notes = self.notes(told)
        return self.sentence(told) + (f" ({'; '.join(notes)})" if notes else "")


def make_event(
    nct_id: str,
    category: Category,
    field_name: str,
    old: Any,
    new: Any,
    *,
    detected_at: Any,
    site: SiteRef | None = None,
    extra: dict[str, Any] | None = None,
) -> ChangeEvent:
    """An event with its summary from its kind; `extra` holds its notes' fields (JSON keys)."""
    summary = KINDS[category].summarise(Told(field_name, old, new, site, extra or {}))
    return ChangeEvent(
        nct_id, detected_at, category, field_name, old, new, summary, site, extra or {}
    )


def resummarised(event: ChangeEvent, **changes: Any) -> ChangeEvent:
    """`event` with other values (a net change), its summary said again with its notes."""
    category = changes.get("category", event.category)
    told = Told(
        changes.get("field", event.field),
        changes.get("old", event.old),
        changes.get("new", event.new),
        changes.get("site", event.site),
        event.extra,
    )
    summary = KINDS[category].summarise(told)
    return ChangeEvent(
        event.nct_id,
        event.detected_at,
        category,
        told.field,
        told.old,
        told.new,
        summary,
        told.site,
        event.extra,
        event.id,
        event.snapshot_id,
        event.delivered_at,
    )


def with_extra(event: ChangeEvent, **fields: Any) -> ChangeEvent:
    """The event with more fields for its notes, its summary said again with them."""
    return resummarised(dataclasses.replace(event, extra={**event.extra, **fields}))


def rate(
    category: Category,
    field: str,
    old: Any,
    new: Any,
    *,
    overrides: Mapping[str, Materiality] | None = None,
) -> Rating:
    """A change's materiality: the config's level for its kind, else its kind's rule."""
    chosen = (overrides or {}).get(str(category))
    default = KINDS[category].rate(field, old, new)
    if chosen is not None and chosen != default.level:
        return Rating(chosen, f"{str(category).replace('_', ' ')}, as configured")
    return default


def rating_of(event: ChangeEvent, overrides: Mapping[str, Materiality] | None) -> Rating:
    return rate(Category(event.category), event.field, event.old, event.new, overrides=overrides)


# --- sentences ------------------------------------------------------------------------------


def _overall_status(told: Told) -> str:
    return f"Overall status: {readable_status(told.old)} -> {readable_status(told.new)}"


def _why_stopped(told: Told) -> list[str]:
    note = why_stopped_note(told.new, told.extra.get("why_stopped"))
    return [note] if note else []


def _results_posted(told: Told) -> str:
    return summarise_results_posted(as_posted_results(told.new))


def _results_updated(told: Told) -> str:
    return str(told.new)  # the change in words, made where both modules were at hand (`diff`)


def _outcome(told: Told) -> str:
    return summarise_outcomes(told.field, told.old, told.new)


def _outcomes_moved(told: Told) -> list[str]:
    """Measures that moved between primary and secondary: "'X' now a secondary outcome"."""
    return [str(moved) for moved in told.extra.get("moved_outcomes") or []]


def _document(told: Told) -> str:
    return summarise_documents(told.old, told.new)


def _site_status(told: Told) -> str:
    return f"{_site_label(told.site)}: {readable_status(told.old)} -> {readable_status(told.new)}"


def _site_added(told: Told) -> str:
    status = f" ({readable_status(told.new)})" if told.new else ""
    return f"New site: {_site_label(told.site)}{status}"


def _site_removed(told: Told) -> str:
    status = f" (was {readable_status(told.old)})" if told.old else ""
    return f"Site removed: {_site_label(told.site)}{status}"


def _site_renamed(told: Told) -> str:
    site = told.site
    place = ", ".join(part for part in (site.city, site.country) if part) if site else ""
    return f"Site renamed: {told.old} -> {told.new}" + (f", {place}" if place else "")


def _enrollment(told: Told) -> str:
    old, new = as_enrollment(told.old), as_enrollment(told.new)
    if old and new and old["type"] == new["type"]:
        kind = f" ({new['type'].lower()})" if new["type"] else ""
        return f"Enrollment {old['count']} -> {new['count']}{kind}"
    if old and new and old["count"] == new["count"]:
        return f"Enrollment {new['count']}: {_lower(old['type'])} -> {_lower(new['type'])}"
    return f"Enrollment {_enrollment_text(old)} -> {_enrollment_text(new)}"


def _enrollment_text(enrollment: Enrollment | None) -> str:
    if not enrollment:
        return "(none)"
    return f"{enrollment['count']} ({_lower(enrollment['type'])})"


def _date(told: Told) -> str:
    label, old, new = field_label(told.field), as_date(told.old), as_date(told.new)
    if new is None:
        return f"{label} removed (was {old['date']})" if old else f"{label} removed"
    if old is None:
        return f"{label} set: {new['date']} ({_lower(new['type'])})"
    text = f"{label} {new['date']}"
    if old["date"] != new["date"]:
        slip = date_slip(old["date"], new["date"])
        text = f"{label} {old['date']} -> {new['date']}" + (f" ({slip})" if slip else "")
    if old["type"] != new["type"]:
        separator = "," if old["date"] != new["date"] else ":"
        text += f"{separator} {_lower(old['type'])} -> {_lower(new['type'])}"
    return text


def _eligibility(told: Told) -> str:
    label, old, new = field_label(told.field), told.old, told.new
    if told.field == "eligibility.criteria":
        old_lines, new_lines = (old or "").splitlines(), (new or "").splitlines()
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        removed = sum(i2 - i1 for tag, i1, i2, _, _ in matcher.get_opcodes() if tag != "equal")
        added = sum(j2 - j1 for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal")
        return f"{label} changed: {added} line{'s'[: added != 1]} added, {removed} removed"
    if isinstance(old, list) or isinstance(new, list):
        return f"{label}: {list_changes(old, new)}"
    return f"{label}: {text_change(old, new)}"


def _contact(told: Told) -> str:
    where = f"Contacts at {_site_label(told.site)}" if told.site else field_label(told.field)
    return f"{where}: {list_changes(told.old, told.new)}"


def _other(told: Told) -> str:
    label, old, new = field_label(told.field), told.old, told.new
    if told.site:
        label = f"{_site_label(told.site)}: {label.lower()}"
    if isinstance(old, list) or isinstance(new, list):
        return f"{label}: {list_changes(old, new)}"
    if isinstance(old, dict) or isinstance(new, dict):
        return f"{label}: {dict_change(old or {}, new or {})}"
    if isinstance(old, bool) or isinstance(new, bool):
        return f"{label}: {text_change(old, new)}"
    if old is None:
        return f"{label} set: {format_value(new)}"
    if new is None:
        return f"{label} removed (was {format_value(old)})"
    return f"{label}: {text_change(old, new)}"


def _search_entry(told: Told) -> str:
    """ "New in search q: [the nearest site:] title"; "Left search q: title"."""
    query = told.field.removeprefix("query:")
    if told.new is None:
        return f"Left search {query}: {told.old}"
    nearby = told.extra.get("nearby_site")
    where = f"{describe_nearby(nearby)}: " if isinstance(nearby, dict) else ""
    return f"New in search {query}: {where}{told.new}"


def _search_match(told: Told) -> list[str]:
    """What a reader of a new match wants first: its phases, sponsor and status."""
    trial = told.extra.get("trial") or {}
    phases = trial.get("phase")
    parts = (
        ", ".join(readable_code(code) for code in phases.split(", ")) if phases else None,
        trial.get("sponsor"),
        readable_status(trial["status"]) if trial.get("status") else None,
    )
    details = "; ".join(part for part in parts if part)
    return [details] if details else []


def describe_nearby(site: Mapping[str, Any]) -> str:
    """`Massachusetts General Hospital, Boston, 12 miles, Recruiting (and 2 more sites within
    25 miles)`: the site that brought a trial into a distance search."""
    one, many = ("mile", "miles") if site.get("unit") == "mi" else ("km", "km")
    away = round(site.get("distance") or 0)
    distance = f"under 1 {one}" if away < 1 else f"{away} {one if away == 1 else many}"
    status = readable_status(site["status"]) if site.get("status") else None
    text = ", ".join(
        str(part) for part in (site.get("facility"), site.get("city"), distance, status) if part
    )
    others = site.get("others_within")
    if others:
        sites = "site" if others == 1 else "sites"
        text += f" (and {others} more {sites} within {site.get('within', 0):g} {many})"
    return text


def _also_here(told: Told) -> list[str]:
    """The other watched trials at the site, so that a competitor's trial opening at yours
    is seen the morning it happens: "also here: NCT... Breakfree-1, Recruiting"."""
    others = told.extra.get("also_here") or []
    named = [
        " ".join(str(part) for part in (other.get("nct_id"), other.get("acronym")) if part)
        + (f", {readable_status(other['status'])}" if other.get("status") else "")
        for other in others
        if isinstance(other, dict)
    ]
    if len(named) > ALSO_HERE_NAMED:
        named[ALSO_HERE_NAMED:] = [f"{len(named) - ALSO_HERE_NAMED} more watched trials"]
    return [f"also here: {'; '.join(named)}"] if named else []


ALSO_HERE_NAMED = 3  # other trials named at a site; the rest counted


def _site_label(site: SiteRef | None) -> str:
    return site.label() if site else "(site)"


def _lower(text: str | None) -> str:
    return text.lower() if text else "(no type)"


# --- a site table's cells ------------------------------------------------------------------


def _status_change(old: Any, new: Any) -> str:
    return f"{readable_status(old)} -> {readable_status(new)}"


def _site_added_change(old: Any, new: Any) -> str:
    return f"New site: {readable_status(new)}" if new else "New site"


def _site_removed_change(old: Any, new: Any) -> str:
    return f"Removed (was {readable_status(old)})" if old else "Removed"


def _site_renamed_change(old: Any, new: Any) -> str:
    return f"Renamed from {old}"


# --- many sites changed the same way -----------------------------------------------------


def _statuses(values: Iterable[Any]) -> str:
    """ "177 Recruiting, 40 Not yet recruiting, 13 Completed", most first."""
    counted = Counter(readable_status(v) if v else "no status listed" for v in values)
    return ", ".join(f"{count} {status}" for status, count in counted.most_common())


def _many_statuses(events: list[ChangeEvent]) -> str:
    old = events[0].old
    if old is None:
        return f"{len(events)} sites now list a status: {_statuses(e.new for e in events)}"
    return f"{len(events)} sites {readable_status(old)} -> {_statuses(e.new for e in events)}"


def _many_added(events: list[ChangeEvent]) -> str:
    return f"{len(events)} new sites: {_statuses(e.new for e in events)}"


def _many_removed(events: list[ChangeEvent]) -> str:
    return f"{len(events)} sites removed (were {_statuses(e.old for e in events)})"


def _many_renamed(events: list[ChangeEvent]) -> str:
    return f"{len(events)} sites renamed"


def _many_contacts(events: list[ChangeEvent]) -> str:
    return f"Contacts at {len(events)} sites: {list_changes(events[0].old, events[0].new)}"


def _site_contacts_alike(event: ChangeEvent) -> Hashable | None:
    """Contacts changed the same way at a site ("added Principal Investigator"); the trial's
    central contacts are told on their own."""
    return list_changes(event.old, event.new) if event.site else None


# --- headline phrases ----------------------------------------------------------------------


def _named(phrase: str) -> Phrases:
    """The kind's name, once, whatever changed in it ("eligibility changed")."""
    return lambda events: [(phrase, events)] if events else []


def _sites(verb: str) -> Phrases:
    """ "3 changed status": `headline` joins the site kinds' phrases into one ("3 sites
    changed status, 1 added")."""
    return lambda events: [(f"{len(events)} {verb}", events)] if events else []


def _others(events: list[ChangeEvent]) -> list[tuple[str, list[ChangeEvent]]]:
    count = len(events)
    return [(f"{count} other change{'' if count == 1 else 's'}", events)] if count else []


def _each(phrase: Callable[[ChangeEvent], str | None]) -> Phrases:
    """A phrase for each event (none for an event `phrase` says nothing of)."""
    return lambda events: [(said, [e]) for e in events if (said := phrase(e)) is not None]


def _status_phrase(event: ChangeEvent) -> str:
    if all(status is None or status in STATUSES for status in (event.old, event.new)):
        return f"status {readable_status(event.old)} -> {readable_status(event.new)}"
    return "status changed"


def _search_phrase(verb: str) -> Callable[[ChangeEvent], str]:
    # the search's name is the user's own (letters, digits, . _ -)
    return lambda event: f"{verb} {event.field.removeprefix('query:')}"


def _enrollment_phrase(event: ChangeEvent) -> str:
    before, after = _count_of(as_enrollment(event.old)), _count_of(as_enrollment(event.new))
    return f"enrollment {before} -> {after}" if before and after else "enrollment changed"


def _date_phrase(event: ChangeEvent) -> str | None:
    old, new = as_date(event.old), as_date(event.new)
    if not (old and new and old["date"] != new["date"]):
        return None
    return f"{field_label(event.field).lower()} {date_slip(old['date'], new['date']) or 'changed'}"


def _count_of(enrollment: Enrollment | None) -> str | None:
    """The count as text; "(none)" when there is none; None when the registry's is no number."""
    if not enrollment or enrollment.get("count") is None:
        return "(none)"
    count = enrollment["count"]
    return str(count) if isinstance(count, int) and not isinstance(count, bool) else None


def _high(reason: str) -> Rater:
    return lambda field, old, new: Rating(Materiality.HIGH, reason)


def _low(reason: str) -> Rater:
    return lambda field, old, new: Rating(Materiality.LOW, reason)


# In order of importance: the digest's order.
KINDS: dict[Category, Kind] = {
    Category.OVERALL_STATUS: Kind(
        "Overall status",
        "Overall status",
        _overall_status,
        _each(_status_phrase),
        rate_overall_status,
        notes=_why_stopped,
    ),
    Category.RESULTS_POSTED: Kind(
        "Results posted",
        "Results",
        _results_posted,
        _named("results posted"),
        _high("results posted"),
        Joining.EACH,
    ),
    Category.NEW_TRIAL: Kind(
        "New in a search",
        "Searches",
        _search_entry,
        _each(_search_phrase("new in search")),
        joining=Joining.EACH,
        notes=_search_match,
        of_search=True,
    ),
    Category.LEFT_QUERY: Kind(
        "Left a search",
        "Searches",
        _search_entry,
        _each(_search_phrase("left search")),
        joining=Joining.EACH,
        of_search=True,
    ),
    Category.SITE_STATUS: Kind(
        "Site status",
        "Sites",
        _site_status,
        notes=_also_here,
        headline=_sites("changed status"),
        joining=Joining.PRESENCE,
        site_change=_status_change,
        alike=lambda event: str(event.old),
        many=_many_statuses,
    ),
    Category.SITE_ADDED: Kind(
        "Site added",
        "Sites",
        _site_added,
        notes=_also_here,
        headline=_sites("added"),
        joining=Joining.PRESENCE,
        site_change=_site_added_change,
        alike=lambda event: "added",
        many=_many_added,
    ),
    Category.SITE_REMOVED: Kind(
        "Site removed",
        "Sites",
        _site_removed,
        notes=_also_here,
        headline=_sites("removed"),
        joining=Joining.PRESENCE,
        site_change=_site_removed_change,
        alike=lambda event: "removed",
        many=_many_removed,
    ),
    Category.SITE_RENAMED: Kind(
        "Site renamed",
        "Sites",
        _site_renamed,
        notes=_also_here,
        headline=_sites("renamed"),
        site_change=_site_renamed_change,
        alike=lambda event: "renamed",
        many=_many_renamed,
    ),
    Category.ENROLLMENT: Kind(
        "Enrollment", "Enrollment", _enrollment, _each(_enrollment_phrase), rate_enrollment
    ),
    Category.DATE: Kind("Dates", "Dates", _date, _each(_date_phrase), rate_date),
    Category.OUTCOME: Kind(
        "Outcome measures",
        "Outcome measures",
        _outcome,
        _named("outcomes changed"),
        rate_outcome,
        notes=_outcomes_moved,
    ),
    Category.RESULTS_UPDATED: Kind(
        "Results updated",
        "Results",
        _results_updated,
        _named("results updated"),
        joining=Joining.EACH,
    ),
    Category.DOCUMENT: Kind("Documents", "Documents", _document, _named("documents changed")),
    Category.ELIGIBILITY: Kind(
        "Eligibility", "Eligibility", _eligibility, _named("eligibility changed")
    ),
    Category.CONTACT: Kind(
        "Contacts",
        "Contacts",
        _contact,
        _named("contacts changed"),
        _low("contacts"),
        alike=_site_contacts_alike,
        many=_many_contacts,
    ),
    Category.OTHER: Kind("Other", "Other changes", _other, _others, rate_other),
}
SITE_KINDS = tuple(category for category, kind in KINDS.items() if kind.site_change)
SEARCH_KINDS = tuple(category for category, kind in KINDS.items() if kind.of_search)
TRIAL_KINDS = tuple(category for category, kind in KINDS.items() if not kind.of_search)
