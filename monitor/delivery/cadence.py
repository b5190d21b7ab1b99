"""When a destination hears: daily (the default, every run) or weekly on a chosen weekday, then
once, with the week's net changes. A weekly audience's changes simply stay owed to it until its
day; a daily audience beside it is never held back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_cadence(text: str) -> str:
    """ "daily", "weekly" (on Mondays) or "weekly:friday"; ValueError for anything else."""
    kind, _, day = text.strip().lower().partition(":")
    if kind == "daily" and not day:
        return "daily"
    if kind == "weekly" and (not day or day in WEEKDAYS):
        return f"weekly:{day or 'monday'}"
    raise ValueError(f"cadence {text!r}: expected daily, weekly or weekly:<weekday>")


def due_destinations(
    destinations: Iterable[str],
    *,
    cadences: Mapping[str, str],
    zone: dt.tzinfo,
    now: dt.datetime,
    heard_today: set[str],
) -> set[str]:
    """Which of `destinations` may get a digest now: the daily ones, and the weekly ones on
    their weekday (in `zone`, the config's timezone) that have not had it today already."""
    today = WEEKDAYS[now.astimezone(zone).weekday()]
    due = set()
    for destination in destinations:
        cadence = cadences.get(destination, "daily")
        if cadence == "daily" or (cadence == f"weekly:{today}" and destination not in heard_today):
            due.add(destination)
    return due
