"""When a destination hears: daily (the default, every run) or weekly on a chosen weekday, then
once, with the week's net changes. A weekly destination's changes simply stay owed to it until its
day; a daily destination beside it is never held back; a day missed (no run that day, or its
digest refused) is made up by the next run, once."""

from __future__ import annotations

import datetime as dt

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_cadence(text: str) -> str:
    """ "daily", "weekly" (on Mondays) or "weekly:friday"; ValueError for anything else."""
    every, _, day = text.strip().lower().partition(":")
    if every == "daily" and not day:
        return "daily"
    if every == "weekly" and (not day or day in WEEKDAYS):
        return f"weekly:{day or 'monday'}"
    raise ValueError(f"cadence {text!r}: expected daily, weekly or weekly:<weekday>")


def latest_day(cadence: str, *, zone: dt.tzinfo, now: dt.datetime) -> dt.datetime | None:
    """When a weekly destination's latest day (at or before `now`, in `zone`) began; None
    for a daily one, which hears every run."""
    if cadence == "daily":
        return None
    local = now.astimezone(zone)
    back = (local.weekday() - WEEKDAYS.index(cadence.partition(":")[2])) % 7
    day = local.date() - dt.timedelta(days=back)
    return dt.datetime.combine(day, dt.time(), zone)


def is_due(
    day: dt.datetime | None,
    *,
    now: dt.datetime,
    heard_since_day: bool,
    refused_since_day: bool,
    oldest_owed: dt.datetime,
) -> bool:
    """Whether a destination whose latest day began at `day` hears now: every run if daily;
    if weekly, once on its day, or on the first run after a day it did not hear on although
    it was owed something then (no run that day, or its digest refused)."""
    if day is None:
        return True
    if heard_since_day:
        return False
    on_its_day = now.astimezone(day.tzinfo).date() == day.date()
    return on_its_day or oldest_owed < day or refused_since_day
