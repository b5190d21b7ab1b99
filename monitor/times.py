"""Moments: aware UTC datetimes inside the program, the spec's text `YYYY-MM-DDTHH:MM:SSZ`
only where they leave it (the database, JSON, file names, pages). This is the one place
that writes or reads that text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]  # what a job asks for the time (tests pass their own)

TEXT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> dt.datetime:
    """Now, to the second (the precision the stored text keeps)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def utc_text(moment: dt.datetime) -> str:
    """A moment as stored and shown: `2026-06-02T07:00:00Z`."""
    assert moment.tzinfo is not None, "a naive time would be taken as local time"
    return moment.astimezone(dt.UTC).strftime(TEXT_FORMAT)


def optional_utc_text(moment: dt.datetime | None) -> str | None:
    return utc_text(moment) if moment is not None else None


def moment_of(text: str) -> dt.datetime:
    """A stored time read back (a date alone is its midnight, a time without zone UTC)."""
    moment = dt.datetime.fromisoformat(text)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def optional_moment(text: str | None) -> dt.datetime | None:
    return moment_of(text) if text else None


def midnight(day: dt.date) -> dt.datetime:
    """The start of a (UTC) day: when a dated registry version counts as seen."""
    return dt.datetime.combine(day, dt.time(), dt.UTC)
