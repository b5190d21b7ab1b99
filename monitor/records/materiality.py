"""How much a change matters, and why, in words a reader can check: high (a trial stopped,
results posted, a primary outcome replaced, primary completion slipping 90 days or more,
enrollment cut by a fifth or more), low (contacts, wording, references and links), medium
(the rest). Each category is rated by one small function, named by its row in
`categories.CATEGORIES`; a config can set any category to a level of its own. Services that
sell such a ranking keep it opaque; this one explains itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from monitor.records.events import RegistryDate, as_date, as_enrollment
from monitor.records.wording import readable_status
from monitor.registry_dates import parse_registry_date

SLIP_DAYS = 90  # a primary completion slip this long or longer is high
ENROLLMENT_CUT = 0.2  # an enrollment cut by this share or more is high
STOPPED = frozenset({"TERMINATED", "SUSPENDED", "WITHDRAWN"})
# Protocol fields whose changes are wording or links, not substance: low
WORDING_FIELDS = ("descriptionModule.", "referencesModule.", "identificationModule.")


class Materiality(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


LEVEL_ORDER = {Materiality.LOW: 0, Materiality.MEDIUM: 1, Materiality.HIGH: 2}


@dataclass(frozen=True)
class Rating:
    level: Materiality
    reason: str  # "primary completion slipped 183 days"

    def __str__(self) -> str:
        return f"{self.level}: {self.reason}"


Rater = Callable[[str, Any, Any], Rating]


def levels_by_category(pairs: Iterable[tuple[str, str]]) -> dict[str, Materiality]:
    """The config's (category, level) pairs as the `overrides` `rate` takes."""
    return {category: Materiality(level) for category, level in pairs}


def rate_overall_status(field: str, old: Any, new: Any) -> Rating:
    if new in STOPPED:
        return Rating(Materiality.HIGH, f"the trial is {readable_status(new).lower()}")
    return Rating(Materiality.MEDIUM, "overall status changed")


def rate_date(field: str, old: Any, new: Any) -> Rating:
    days = days_between(old, new)
    if field == "primary_completion_date" and days is not None and days >= SLIP_DAYS:
        return Rating(Materiality.HIGH, f"primary completion slipped {days} days")
    return Rating(Materiality.MEDIUM, "a date moved")


def rate_enrollment(field: str, old: Any, new: Any) -> Rating:
    before, after = (enrollment_count(value) for value in (old, new))
    if before and after is not None and after <= before * (1 - ENROLLMENT_CUT):
        return Rating(Materiality.HIGH, f"enrollment cut {round(100 * (1 - after / before))}%")
    return Rating(Materiality.MEDIUM, "enrollment changed")


def rate_outcome(field: str, old: Any, new: Any) -> Rating:
    if field.endswith("primaryOutcomes"):
        before, after = (_measures(value) for value in (old, new))
        if before - after:
            return Rating(Materiality.HIGH, "a primary outcome replaced or dropped")
    return Rating(Materiality.MEDIUM, "outcome measures changed")


def rate_other(field: str, old: Any, new: Any) -> Rating:
    if field.startswith(WORDING_FIELDS):
        return Rating(Materiality.LOW, "wording, references or links")
    return Rating(Materiality.MEDIUM, "a change of substance")


def days_between(old: Any, new: Any) -> int | None:
    """Days from the old date to the new (date payloads), where both are whole dates."""
    days = [_day(as_date(value)) for value in (old, new)]
    return (days[1] - days[0]).days if days[0] and days[1] else None


def _day(date: RegistryDate | None) -> dt.date | None:
    parsed = parse_registry_date(date["date"] if date else None)
    if parsed is None or parsed[2] is None:
        return None
    return dt.date(parsed[0], parsed[1], parsed[2])


def enrollment_count(value: Any) -> int | None:
    """An enrollment payload's count, where the registry's is a whole number."""
    enrollment = as_enrollment(value)
    count = enrollment["count"] if enrollment else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _measures(outcomes: Any) -> set[str]:
    items = outcomes if isinstance(outcomes, list) else []
    return {str(item.get("measure")) for item in items if isinstance(item, dict)}
