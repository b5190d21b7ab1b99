"""Alert rules: what a watch, a recipient or a channel wants to hear. A rule is a few
conditions, all of which a change must meet: its category, the country or state of its site, its
materiality, how far a date slipped, how much enrollment moved. Each condition is one small
function in one table. A rule that could never match (an unknown category or country) is refused
when it is written, not discovered when nothing arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.errors import BadInput
from monitor.records.categories import rate
from monitor.records.countries import (
    country_identity,
    rule_state,
    state_identity,
    us_state_like,
)
from monitor.records.events import Category, SiteRef
from monitor.records.folding import fold_name
from monitor.records.materiality import (
    LEVEL_ORDER,
    Materiality,
    days_between,
    enrollment_count,
)


@dataclass(frozen=True)
class Change:
    """What a rule looks at in a change event."""

    category: Category
    field: str
    old: Any
    new: Any
    site: SiteRef | None = None


@dataclass(frozen=True)
class Rule:
    only: frozenset[str] = frozenset()  # categories of change (categories)
    countries: frozenset[str] = frozenset()  # ISO 3166 codes: a site's change must be there
    states: frozenset[str] = frozenset()  # ISO 3166-2 codes (`countries.state_identity`)
    level: Materiality | None = None  # at least this material
    min_slip_days: int | None = None  # a date change must move the date this far
    min_enrollment_change: int | None = None  # percent an enrollment must move
    levels: Mapping[str, Materiality] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_empty(self) -> bool:
        return self == Rule()

    def allows(self, change: Change) -> bool:
        return all(condition(self, change) for condition in CONDITIONS)

    def describe(self) -> str:
        """ "site_status, date; in DE; high and above; slips of 30+ days", or "everything"."""
        parts = [", ".join(sorted(self.only))] if self.only else []
        parts += [f"in {', '.join(sorted(self.countries))}"] if self.countries else []
        parts += [f"in {', '.join(sorted(self.states))}"] if self.states else []
        parts += [f"{self.level} and above" if self.level != "high" else "high only"] * bool(
            self.level
        )
        parts += [f"slips of {self.min_slip_days}+ days"] * bool(self.min_slip_days)
        if self.min_enrollment_change:
            parts.append(f"enrollment moves of {self.min_enrollment_change}%+")
        return "; ".join(parts) or "everything"

    def to_json(self) -> dict[str, Any]:
        found = {
            "only": sorted(self.only),
            "country": sorted(self.countries),
            "state": sorted(self.states),
            "level": str(self.level) if self.level else None,
            "min_slip": self.min_slip_days,
            "min_enrollment_change": self.min_enrollment_change,
        }
        return {key: value for key, value in found.items() if value}


NO_RULE = Rule()  # every change is told


def parse_rule(
    spec: Mapping[str, Any],
    *,
    where: str,
    categories: Iterable[Category] = tuple(Category),
    stored: bool = False,
) -> Rule:
    """A rule from its written form (the CLI's options, a TOML table, stored JSON): `only`,
    `country`, `state` (lists, or comma-separated text), `level`, `min_slip`,
    `min_enrollment_change`. Anything unknown, or that could never match (a category outside
    `categories`, those its owner can produce), is bad input; a `stored` rule's state that names no
    subdivision (written by a release that took any text) is kept as its own identity."""
    if not spec:
        return NO_RULE  # most watches: one shared value, not one per watch
    unknown = set(spec) - set(RULE_KEYS)
    if unknown:
        raise BadInput(
            f"{where}: unknown rule key {sorted(unknown)[0]!r} (one of {', '.join(RULE_KEYS)})"
        )
    only = frozenset(_listed(spec.get("only")))
    named = {str(category) for category in Category}
    if only - named:
        raise BadInput(
            f"{where}: no category of change is called {sorted(only - named)[0]!r} "
            f"(one of {', '.join(sorted(named))})"
        )
    produced = {str(category) for category in categories}
    if only - produced:
        raise BadInput(
            f"{where}: {sorted(only - produced)[0]} never comes of it, so the rule could never "
            f"match (it tells {', '.join(sorted(produced))})"
        )
    countries = frozenset(_country_code(name, where=where) for name in _listed(spec.get("country")))
    states = frozenset(
        _state_code(name, countries, where=where, stored=stored)
        for name in _listed(spec.get("state"))
    )
    level = spec.get("level")
    if level is not None and level not in {str(m) for m in Materiality}:
        raise BadInput(f"{where}: level {level!r} is not high, medium or low")
    return Rule(
        only=only,
        countries=countries,
        states=states,
        level=Materiality(level) if level else None,
        min_slip_days=_whole(spec.get("min_slip"), where=f"{where}: min_slip"),
        min_enrollment_change=_whole(
            spec.get("min_enrollment_change"), where=f"{where}: min_enrollment_change"
        ),
    )


RULE_KEYS = ("only", "country", "state", "level", "min_slip", "min_enrollment_change")


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple | frozenset | set):
        raise BadInput(f"expected a list or comma-separated text, not {value!r}")
    return [str(item).strip() for item in items if str(item).strip()]


def _country_code(name: str, *, where: str) -> str:
    code = country_identity(name)
    if code.startswith("name:"):
        raise BadInput(f"{where}: no country is called {name!r} (an ISO code like DE, or a name)")
    return code


def _state_code(name: str, countries: frozenset[str], *, where: str, stored: bool) -> str:
    """A state's ISO 3166-2 code where it names one subdivision ("MA", "Massachusetts" ->
    "US-MA"); else the name itself, folded, as the registry's own names for states outside
    the United States ("Bavaria") are matched. A short code that names none, or a misspelt US
    state, could never match: bad input."""
    code = rule_state(name, countries)
    if code is not None or stored:
        return code or (name if name.startswith("name:") else f"name:{fold_name(name)}")
    meant = us_state_like(name) if not countries or countries == {"US"} else None
    if len(name) <= 3 or "-" in name.strip("-")[:3] or meant:
        hint = f"did you mean {meant}?" if meant else "a name, or an ISO 3166-2 code like US-MA"
        raise BadInput(f"{where}: no state or province is called {name!r} ({hint})")
    return f"name:{fold_name(name)}"


def _whole(value: Any, *, where: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{where}: expected a whole number, not {value!r}") from exc
    if number < 0:
        raise BadInput(f"{where}: expected a whole number of 0 or more")
    return number


# --- conditions: each says whether one part of a rule lets a change through ---------------


def _category(rule: Rule, change: Change) -> bool:
    return not rule.only or str(change.category) in rule.only


def _country(rule: Rule, change: Change) -> bool:
    """Only a site's change has a country; trial-wide changes (dates, status) pass."""
    if not rule.countries or not change.site:
        return True
    return country_identity(change.site.country) in rule.countries


def _state(rule: Rule, change: Change) -> bool:
    if not rule.states or not change.site:
        return True
    return state_identity(change.site.state, change.site.country) in rule.states


def _level(rule: Rule, change: Change) -> bool:
    if rule.level is None:
        return True
    rating = rate(change.category, change.field, change.old, change.new, overrides=rule.levels)
    return LEVEL_ORDER[rating.level] >= LEVEL_ORDER[rule.level]


def _slip(rule: Rule, change: Change) -> bool:
    if not rule.min_slip_days or change.category != Category.DATE:
        return True
    days = days_between(change.old, change.new)
    return days is None or abs(days) >= rule.min_slip_days


def _enrollment(rule: Rule, change: Change) -> bool:
    if not rule.min_enrollment_change or change.category != Category.ENROLLMENT:
        return True
    before, after = (enrollment_count(value) for value in (change.old, change.new))
    if before is None or after is None or before == 0:
        return True
    return abs(after - before) * 100 >= rule.min_enrollment_change * before


CONDITIONS: list[Callable[[Rule, Change], bool]] = [
    _category,
    _country,
    _state,
    _level,
    _slip,
    _enrollment,
]
