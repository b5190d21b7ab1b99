"""Each category of change in one place: its label and section, its sentence and notes, its phrase
in a trial's headline, how much it matters and why, and how two of its changes join into one
net change. The digest, the headline, net changes, rules and materiality read a category from
here; adding a category is adding one row to `CATEGORIES` (and its test).

Notes are what an event carries beside its values (the registry's why-stopped text, an
outcome moved between primary and secondary, a search match's phase and sponsor): fields of
the event's `extra`, put into its sentence here, so that a net change joining two events says
them as the single event did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from monitor.records.events import (
    Category,
    ChangeEvent,
    Enrollment,
    SiteRef,
    as_date,
    as_enrollment,
    search_named,
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
from monitor.records.sentences import (
    Told,
    also_here,
    contact,
    date,
    document,
    eligibility,
    enrollment,
    many_added,
    many_contacts,
    many_removed,
    many_renamed,
    many_statuses,
    other,
    outcome,
    outcomes_moved,
    overall_status,
    results_posted,
    results_updated,
    search_entry,
    search_match,
    site_added,
    site_added_change,
    site_contacts_alike,
    site_removed,
    site_removed_change,
    site_renamed,
    site_renamed_change,
    site_status,
    status_change,
    why_stopped,
)
from monitor.records.wording import (
    STATUSES,
    date_slip,
    field_label,
    readable_status,
)
from monitor.text import counted


class Joining(Enum):
    """How a category's changes over several versions become one net change."""

    STATES = "states"  # old and new are states of one thing: steps join end to end
    PRESENCE = "presence"  # a site's presence and status: added then recruiting is one
    EACH = "each"  # news each time (results posted, a search's match)


Sentence = Callable[[Told], str]
# A category's phrases in a trial's headline, each with the events it tells (its materiality is
# theirs): "primary completion +183 days" for one event, "eligibility changed" for several.
Phrases = Callable[[list[ChangeEvent]], list[tuple[str, list[ChangeEvent]]]]


def _no_notes(told: Told) -> list[str]:
    return []


@dataclass(frozen=True)
class CategoryRow:
    """One category of change: everything the stages need to know of it."""

    label: str  # a reader's name for it (the history page's filter)
    section: str  # the digest section it is listed under
    sentence: Sentence  # its one-line summary, notes aside
    headline: Phrases  # its phrases in a trial's headline (our words and numbers only)
    rate: Rater = lambda field, old, new: Rating(Materiality.MEDIUM, "a change of substance")
    joining: Joining = Joining.STATES
    notes: Callable[[Told], list[str]] = _no_notes
    # how a digest's site table reads it (old, new -> "Not yet recruiting -> Recruiting");
    # None for categories that are not about one site
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
    """An event with its summary from its category; `extra` holds its notes' fields (JSON keys)."""
    summary = CATEGORIES[category].summarise(Told(field_name, old, new, site, extra or {}))
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
    summary = CATEGORIES[category].summarise(told)
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
    """A change's materiality: the config's level for its category, else its category's rule."""
    chosen = (overrides or {}).get(str(category))
    default = CATEGORIES[category].rate(field, old, new)
    if chosen is not None and chosen != default.level:
        return Rating(chosen, f"{str(category).replace('_', ' ')}, as configured")
    return default


def rating_of(event: ChangeEvent, overrides: Mapping[str, Materiality] | None) -> Rating:
    return rate(Category(event.category), event.field, event.old, event.new, overrides=overrides)


# --- headline phrases ----------------------------------------------------------------------


def _named(phrase: str) -> Phrases:
    """The category's name, once, whatever changed in it ("eligibility changed")."""
    return lambda events: [(phrase, events)] if events else []


def _sites(verb: str) -> Phrases:
    """ "3 changed status": `headline` joins the site categories' phrases into one ("3 sites
    changed status, 1 added")."""
    return lambda events: [(f"{len(events)} {verb}", events)] if events else []


def _others(events: list[ChangeEvent]) -> list[tuple[str, list[ChangeEvent]]]:
    count = len(events)
    return [(counted(count, "other change"), events)] if count else []


def _each(phrase: Callable[[ChangeEvent], str | None]) -> Phrases:
    """A phrase for each event (none for an event `phrase` says nothing of)."""
    return lambda events: [(said, [e]) for e in events if (said := phrase(e)) is not None]


def _status_phrase(event: ChangeEvent) -> str:
    if all(status is None or status in STATUSES for status in (event.old, event.new)):
        return f"status {readable_status(event.old)} -> {readable_status(event.new)}"
    return "status changed"


def _search_phrase(verb: str) -> Callable[[ChangeEvent], str]:
    # the search's name is the user's own (letters, digits, . _ -)
    return lambda event: f"{verb} {search_named(event.field)}"


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


def _site_category(
    label: str,
    sentence: Sentence,
    verb: str,
    change: Callable[[Any, Any], str],
    *,
    alike: Callable[[ChangeEvent], Hashable | None],
    many: Callable[[list[ChangeEvent]], str],
    joining: Joining = Joining.PRESENCE,
) -> CategoryRow:
    """A category of change at one site: listed under Sites (a row of its table), counted in the
    headline with the other site categories ("3 sites changed status, 1 added"), and told with the
    other watched trials at that site."""
    return CategoryRow(
        label,
        "Sites",
        sentence,
        _sites(verb),
        notes=also_here,
        joining=joining,
        site_change=change,
        alike=alike,
        many=many,
    )


# In order of importance: the digest's order.
CATEGORIES: dict[Category, CategoryRow] = {
    Category.OVERALL_STATUS: CategoryRow(
        "Overall status",
        "Overall status",
        overall_status,
        _each(_status_phrase),
        rate_overall_status,
        notes=why_stopped,
    ),
    Category.RESULTS_POSTED: CategoryRow(
        "Results posted",
        "Results",
        results_posted,
        _named("results posted"),
        _high("results posted"),
        Joining.EACH,
    ),
    Category.NEW_TRIAL: CategoryRow(
        "New in a search",
        "Searches",
        search_entry,
        _each(_search_phrase("new in search")),
        joining=Joining.EACH,
        notes=search_match,
        of_search=True,
    ),
    Category.LEFT_QUERY: CategoryRow(
        "Left a search",
        "Searches",
        search_entry,
        _each(_search_phrase("left search")),
        joining=Joining.EACH,
        of_search=True,
    ),
    Category.SITE_STATUS: _site_category(
        "Site status",
        site_status,
        "changed status",
        status_change,
        alike=lambda event: str(event.old),
        many=many_statuses,
    ),
    Category.SITE_ADDED: _site_category(
        "Site added",
        site_added,
        "added",
        site_added_change,
        alike=lambda event: "added",
        many=many_added,
    ),
    Category.SITE_REMOVED: _site_category(
        "Site removed",
        site_removed,
        "removed",
        site_removed_change,
        alike=lambda event: "removed",
        many=many_removed,
    ),
    Category.SITE_RENAMED: _site_category(
        "Site renamed",
        site_renamed,
        "renamed",
        site_renamed_change,
        alike=lambda event: "renamed",
        many=many_renamed,
        joining=Joining.STATES,  # a name, not a presence: renamed twice is one rename
    ),
    Category.ENROLLMENT: CategoryRow(
        "Enrollment", "Enrollment", enrollment, _each(_enrollment_phrase), rate_enrollment
    ),
    Category.DATE: CategoryRow("Dates", "Dates", date, _each(_date_phrase), rate_date),
    Category.OUTCOME: CategoryRow(
        "Outcome measures",
        "Outcome measures",
        outcome,
        _named("outcomes changed"),
        rate_outcome,
        notes=outcomes_moved,
    ),
    Category.RESULTS_UPDATED: CategoryRow(
        "Results updated",
        "Results",
        results_updated,
        _named("results updated"),
        joining=Joining.EACH,
    ),
    Category.DOCUMENT: CategoryRow("Documents", "Documents", document, _named("documents changed")),
    Category.ELIGIBILITY: CategoryRow(
        "Eligibility", "Eligibility", eligibility, _named("eligibility changed")
    ),
    Category.CONTACT: CategoryRow(
        "Contacts",
        "Contacts",
        contact,
        _named("contacts changed"),
        _low("contacts"),
        alike=site_contacts_alike,
        many=many_contacts,
    ),
    Category.OTHER: CategoryRow("Other", "Other changes", other, _others, rate_other),
}
SITE_CATEGORIES = tuple(category for category, row in CATEGORIES.items() if row.site_change)
SEARCH_CATEGORIES = tuple(category for category, row in CATEGORIES.items() if row.of_search)
TRIAL_CATEGORIES = tuple(category for category, row in CATEGORIES.items() if not row.of_search)
