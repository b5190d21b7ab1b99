"""The `ChangeEvent` type and the table of categories: each category's name, importance and the
one-line summary a reader sees ("Primary completion 2028-08-29 -> 2029-02-28 (+183 days)").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from monitor.records.results import (
    summarise_documents,
    summarise_outcomes,
    summarise_results_posted,
)
from monitor.records.wording import (
    date_slip,
    dict_change,
    field_label,
    format_value,
    list_changes,
    readable_status,
    text_change,
)
from monitor.times import optional_utc_text, utc_text


class Category(StrEnum):
    """Event categories in order of importance (the digest's order)."""

    OVERALL_STATUS = "overall_status"
    RESULTS_POSTED = "results_posted"
    NEW_TRIAL = "new_trial"
    LEFT_QUERY = "left_query"
    SITE_STATUS = "site_status"
    SITE_ADDED = "site_added"
    SITE_REMOVED = "site_removed"
    SITE_RENAMED = "site_renamed"
    ENROLLMENT = "enrollment"
    DATE = "date"
    OUTCOME = "outcome"
    RESULTS_UPDATED = "results_updated"
    DOCUMENT = "document"
    ELIGIBILITY = "eligibility"
    CONTACT = "contact"
    OTHER = "other"


def tell_apart(site_number: str | None, zip_code: str | None) -> str | None:
    """What tells two sites of one name in one city apart, in words: the sponsor's site
    number, else the zip ("site 0032", "zip 53705"). Digests, history pages and event
    summaries say it alike."""
    if site_number:
        return f"site {site_number}"
    return f"zip {zip_code}" if zip_code else None


@dataclass(frozen=True)
class SiteRef:
    """Which site an event is about, as the spec's `site` object (plus the site's identity key)."""

    facility: str | None
    city: str | None
    state: str | None
    country: str | None
    key: str
    zip: str | None = None
    site_number: str | None = None
    previous_facility: str | None = None
    show_number: bool = False

    def label(self) -> str:
        """ "Facility (was Old name), City, Country"; the site number (else the zip) only where
        names repeat in a city."""
        name = self.facility or "(unnamed site)"
        distinction = tell_apart(self.site_number, self.zip) if self.show_number else None
        if distinction:
            name += f" ({distinction})"
        if self.previous_facility:
            name += f" (was {self.previous_facility})"
        return ", ".join(part for part in (name, self.city, self.country) if part)

    @classmethod
    def from_json(cls, site: dict[str, Any]) -> SiteRef:
        """A site as stored with its event (`to_json`); keys an older version did not write
        are None."""
        return cls(
            facility=site.get("facility"),
            city=site.get("city"),
            state=site.get("state"),
            country=site.get("country"),
            zip=site.get("zip"),
            key=str(site.get("key") or ""),
            site_number=site.get("site_number"),
            previous_facility=site.get("previous_facility"),
        )

    def to_json(self) -> dict[str, Any]:
        site = {
            name: getattr(self, name) for name in ("facility", "city", "state", "zip", "country")
        }
        site["key"] = self.key
        site["site_number"] = self.site_number
        if self.previous_facility:
            site["previous_facility"] = self.previous_facility
        return site


@dataclass(frozen=True)
class ChangeEvent:
    """One meaningful difference between two snapshots of a trial. An event read back from
    the store also has its `id`, the snapshot it came with, and when it was delivered."""

    nct_id: str
    detected_at: dt.datetime
    category: Category
    field: str
    old: Any
    new: Any
    summary: str
    site: SiteRef | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: int | None = None
    snapshot_id: int | None = None
    delivered_at: dt.datetime | None = None

    @property
    def site_key(self) -> str:
        return self.site.key if self.site else ""

    @property
    def stored_id(self) -> int:
        """The id of an event read from the store (one just found has none yet)."""
        assert self.id is not None, "an event not yet stored has no id"
        return self.id

    def to_json(self) -> dict[str, Any]:
        """The spec's JSON shape (`site` null when the event is not about one site); a
        stored event's adds `id`, `snapshot_id` and `delivered_at`."""
        site = self.site.to_json() if self.site else None
        if self.id is None:
            return self.extra | {
                "nct_id": self.nct_id,
                "detected_at": utc_text(self.detected_at),
                "category": str(self.category),
                "field": self.field,
                "old": self.old,
                "new": self.new,
                "summary": self.summary,
                "site": site,
            }
        return self.extra | {
            "id": self.id,
            "nct_id": self.nct_id,
            "detected_at": utc_text(self.detected_at),
            "category": str(self.category),
            "field": self.field,
            "site": site,
            "old": self.old,
            "new": self.new,
            "summary": self.summary,
            "snapshot_id": self.snapshot_id,
            "delivered_at": optional_utc_text(self.delivered_at),
        }


def make_event(
    nct_id: str,
    category: Category,
    field_name: str,
    old: Any,
    new: Any,
    *,
    detected_at: dt.datetime,
    site: SiteRef | None = None,
    extra: dict[str, Any] | None = None,
) -> ChangeEvent:
    """Build an event with its summary from the category table; `extra` adds JSON keys."""
    summary = KINDS[category].summarise(field_name, old, new, site)
    return ChangeEvent(
        nct_id, detected_at, category, field_name, old, new, summary, site, extra or {}
    )


# --- summaries ----------------------------------------------------------------------------


def _summarise_overall_status(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    return f"Overall status: {readable_status(old)} -> {readable_status(new)}"


def _summarise_results_posted(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    return summarise_results_posted(new if isinstance(new, dict) else {})


def _summarise_results_update(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    return str(new)  # the change in words, made where both modules were at hand (`diff`)


def _summarise_outcome(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    return summarise_outcomes(field_name, old, new)


def _summarise_document(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    return summarise_documents(old, new)


def _summarise_site_status(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    return f"{_site_label(site)}: {readable_status(old)} -> {readable_status(new)}"


def _summarise_site_added(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    status = f" ({readable_status(new)})" if new else ""
    return f"New site: {_site_label(site)}{status}"


def _summarise_site_removed(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    status = f" (was {readable_status(old)})" if old else ""
    return f"Site removed: {_site_label(site)}{status}"


def _summarise_site_renamed(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    place = ", ".join(part for part in (site.city, site.country) if part) if site else ""
    return f"Site renamed: {old} -> {new}" + (f", {place}" if place else "")


def _summarise_enrollment(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    if old and new and old["type"] == new["type"]:
        kind = f" ({new['type'].lower()})" if new["type"] else ""
        return f"Enrollment {old['count']} -> {new['count']}{kind}"
    if old and new and old["count"] == new["count"]:
        return f"Enrollment {new['count']}: {_lower(old['type'])} -> {_lower(new['type'])}"
    return f"Enrollment {_enrollment_text(old)} -> {_enrollment_text(new)}"


def _enrollment_text(enrollment: dict[str, Any] | None) -> str:
    if not enrollment:
        return "(none)"
    return f"{enrollment['count']} ({_lower(enrollment['type'])})"


def _summarise_date(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    label = field_label(field_name)
    if old is None:
        return f"{label} set: {new['date']} ({_lower(new['type'])})"
    if new is None:
        return f"{label} removed (was {old['date']})"
    text = f"{label} {new['date']}"
    if old["date"] != new["date"]:
        slip = date_slip(old["date"], new["date"])
        text = f"{label} {old['date']} -> {new['date']}" + (f" ({slip})" if slip else "")
    if old["type"] != new["type"]:
        separator = "," if old["date"] != new["date"] else ":"
        text += f"{separator} {_lower(old['type'])} -> {_lower(new['type'])}"
    return text


def _summarise_eligibility(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    label = field_label(field_name)
    if field_name == "eligibility.criteria":
        old_lines, new_lines = (old or "").splitlines(), (new or "").splitlines()
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        removed = sum(i2 - i1 for tag, i1, i2, _, _ in matcher.get_opcodes() if tag != "equal")
        added = sum(j2 - j1 for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal")
        return f"{label} changed: {added} line{'s'[: added != 1]} added, {removed} removed"
    if isinstance(old, list) or isinstance(new, list):
        return f"{label}: {list_changes(old, new)}"
    return f"{label}: {text_change(old, new)}"


def _summarise_contact(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    where = f"Contacts at {_site_label(site)}" if site else field_label(field_name)
    return f"{where}: {list_changes(old, new)}"


def _summarise_other(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    label = field_label(field_name)
    if site:
        label = f"{_site_label(site)}: {label.lower()}"
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


def _summarise_query(field_name: str, old: Any, new: Any, site: SiteRef | None) -> str:
    query = field_name.removeprefix("query:")
    title = new if new is not None else old
    return f"{'Left' if new is None else 'New in'} search {query}: {title}"


def _site_label(site: SiteRef | None) -> str:
    return site.label() if site else "(site)"


def _lower(text: str | None) -> str:
    return text.lower() if text else "(no type)"


Summariser = Callable[[str, Any, Any, SiteRef | None], str]


@dataclass(frozen=True)
class Kind:
    """Everything the stages need to know about one category of change, in one place: adding
    a category is adding one `Kind` (and its summary function)."""

    label: str  # a reader's name for it (the history page's filter)
    section: str  # the digest section it is listed under
    summarise: Summariser  # its one-line summary
    # its phrase in a trial's headline (for a site kind, the verb: "3 sites added")
    headline: str | None = None
    # how a digest's site table reads it (old, new -> "Not yet recruiting -> Recruiting");
    # None for kinds that are not about one site
    site_change: Callable[[Any, Any], str] | None = None
    of_search: bool = False  # it comes of a watched search, never of a watched trial


def _status_change(old: Any, new: Any) -> str:
    return f"{readable_status(old)} -> {readable_status(new)}"


def _site_added_change(old: Any, new: Any) -> str:
    return f"New site: {readable_status(new)}" if new else "New site"


def _site_removed_change(old: Any, new: Any) -> str:
    return f"Removed (was {readable_status(old)})" if old else "Removed"


def _site_renamed_change(old: Any, new: Any) -> str:
    return f"Renamed from {old}"


# In order of importance: the digest's order.
KINDS: dict[Category, Kind] = {
    Category.OVERALL_STATUS: Kind("Overall status", "Overall status", _summarise_overall_status),
    Category.RESULTS_POSTED: Kind(
        "Results posted", "Results", _summarise_results_posted, "results posted"
    ),
    Category.NEW_TRIAL: Kind("New in a search", "Searches", _summarise_query, of_search=True),
    Category.LEFT_QUERY: Kind("Left a search", "Searches", _summarise_query, of_search=True),
    Category.SITE_STATUS: Kind(
        "Site status", "Sites", _summarise_site_status, "changed status", _status_change
    ),
    Category.SITE_ADDED: Kind(
        "Site added", "Sites", _summarise_site_added, "added", _site_added_change
    ),
    Category.SITE_REMOVED: Kind(
        "Site removed", "Sites", _summarise_site_removed, "removed", _site_removed_change
    ),
    Category.SITE_RENAMED: Kind(
        "Site renamed", "Sites", _summarise_site_renamed, "renamed", _site_renamed_change
    ),
    Category.ENROLLMENT: Kind("Enrollment", "Enrollment", _summarise_enrollment),
    Category.DATE: Kind("Dates", "Dates", _summarise_date),
    Category.OUTCOME: Kind(
        "Outcome measures", "Outcome measures", _summarise_outcome, "outcomes changed"
    ),
    Category.RESULTS_UPDATED: Kind(
        "Results updated", "Results", _summarise_results_update, "results updated"
    ),
    Category.DOCUMENT: Kind("Documents", "Documents", _summarise_document, "documents changed"),
    Category.ELIGIBILITY: Kind(
        "Eligibility", "Eligibility", _summarise_eligibility, "eligibility changed"
    ),
    Category.CONTACT: Kind("Contacts", "Contacts", _summarise_contact, "contacts changed"),
    Category.OTHER: Kind("Other", "Other changes", _summarise_other),
}
SITE_KINDS = tuple(category for category, kind in KINDS.items() if kind.site_change)
SEARCH_KINDS = tuple(category for category, kind in KINDS.items() if kind.of_search)
TRIAL_KINDS = tuple(category for category, kind in KINDS.items() if not kind.of_search)
