"""Many sites of a trial changed the same way (230 sites listing a status at once, 218 sites
given a principal investigator): said in one line with counts, the full list one click (HTML)
or one command away. What makes two changes alike, and the line for many, is each category's
(`categories.CategoryRow.alike`, `.many`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from dataclasses import dataclass

from monitor.records.categories import CATEGORIES
from monitor.records.events import Category, ChangeEvent

MANY = 10  # more sites than this changed one way are told in one line
SHOWN = 10  # of them, the plain-text digest still lists this many


@dataclass(frozen=True)
class MassChange:
    """Many alike changes of one trial, said once."""

    nct_id: str
    category: Category
    sentence: str  # "230 sites now list a status: 177 Recruiting, 40 Not yet recruiting, ..."
    events: tuple[ChangeEvent, ...]

    @property
    def section(self) -> str:
        return CATEGORIES[self.category].section

    @property
    def command(self) -> str:
        """The command that lists them all."""
        since = min(event.detected_at for event in self.events).astimezone(dt.UTC).date()
        return f"trialwatch changes {self.nct_id} --category {self.category} --since {since}"


def fold_mass_changes(events: list[ChangeEvent]) -> tuple[list[MassChange], list[ChangeEvent]]:
    """(the mass changes among one trial's `events`, the events left to tell one by one)."""
    alike: dict[tuple[Category, Hashable], list[ChangeEvent]] = {}
    for event in events:
        row = CATEGORIES[Category(event.category)]
        key = row.alike(event) if row.alike and row.many else None
        if key is not None:
            alike.setdefault((Category(event.category), key), []).append(event)
    masses = []
    folded: set[int] = set()
    for (category, _), found in alike.items():
        many = CATEGORIES[category].many
        if len(found) > MANY and many is not None:
            masses.append(MassChange(found[0].nct_id, category, many(found), tuple(found)))
            folded |= {id(event) for event in found}
    return masses, [event for event in events if id(event) not in folded]
