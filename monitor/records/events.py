"""The `ChangeEvent` type, the categories of change in order of importance, and the site an
event is about. What each category means to a reader (its sentence, headline, materiality,
net change) is its row in `categories`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

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


class RegistryDate(TypedDict):
    """A date as the registry gives it (a day, a month, or text that is no date) and whether
    it is ESTIMATED or ACTUAL: the payload of a `date` change."""

    date: str
    type: str | None


class Enrollment(TypedDict):
    """How many take part (a whole number, or what the registry wrote instead) and whether
    that is ESTIMATED or ACTUAL: the payload of an `enrollment` change."""

    count: Any
    type: str | None


class PostedResults(TypedDict):
    """What a reader wants to know of newly posted results: the payload of
    `results_posted`."""

    first_posted: str | None
    primary_outcome: str | None
    participants: int | None
    url: str


def as_date(value: Any) -> RegistryDate | None:
    """An event's old or new value as a date payload (read back from JSON), if it is one."""
    if isinstance(value, dict) and isinstance(value.get("date"), str):
        registry_type = value.get("type")
        return RegistryDate(
            date=value["date"], type=registry_type if isinstance(registry_type, str) else None
        )
    return None


def as_enrollment(value: Any) -> Enrollment | None:
    """An event's old or new value as an enrollment payload, if it is one."""
    if isinstance(value, dict) and "count" in value:
        registry_type = value.get("type")
        return Enrollment(
            count=value["count"], type=registry_type if isinstance(registry_type, str) else None
        )
    return None


def as_posted_results(value: Any) -> PostedResults:
    """A `results_posted` event's new value (what an older release stored may lack keys)."""
    found = value if isinstance(value, dict) else {}
    text = {key: found.get(key) for key in ("first_posted", "primary_outcome", "url")}
    participants = found.get("participants")
    return PostedResults(
        first_posted=text["first_posted"] if isinstance(text["first_posted"], str) else None,
        primary_outcome=text["primary_outcome"]
        if isinstance(text["primary_outcome"], str)
        else None,
        participants=participants if isinstance(participants, int) else None,
        url=text["url"] if isinstance(text["url"], str) else "",
    )


SEARCH_PREFIX = "query:"  # the spec's: a search's events and failures name it `query:NAME`


def search_field(name: str) -> str:
    """What names the watched search `name` in its events and failures."""
    return f"{SEARCH_PREFIX}{name}"


def search_named(field: str) -> str | None:
    """The watched search a `query:NAME` field names; None for a field about a trial."""
    return field.removeprefix(SEARCH_PREFIX) if field.startswith(SEARCH_PREFIX) else None


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
