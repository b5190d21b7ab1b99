"""The tests' clock: the code under test runs on it (`monitor.cli.run(..., clock=now)`), and
every "today" or "recently" a test needs is worked out from it, never written as a date.

It reads the day named by `TESTS_TODAY` (YYYY-MM-DD; the real day when unset) at the real time
of day, and ticks with the real clock: `TESTS_TODAY=2031-06-18 pytest` runs the whole suite on
that day. A CLI started as its own process gets the same offset through `TESTS_CLOCK_OFFSET`
(seconds), so that it and the test agree on the day even across a midnight.
"""

from __future__ import annotations

import datetime as dt
import os

from monitor.times import utc_now

TODAY_VARIABLE = "TESTS_TODAY"
OFFSET_VARIABLE = "TESTS_CLOCK_OFFSET"


def _offset() -> dt.timedelta:
    if OFFSET_VARIABLE in os.environ:
        return dt.timedelta(seconds=int(os.environ[OFFSET_VARIABLE]))
    named = os.environ.get(TODAY_VARIABLE)
    return dt.date.fromisoformat(named) - utc_now().date() if named else dt.timedelta(0)


OFFSET = _offset()


def now() -> dt.datetime:
    """The tests' now (a `monitor.times.Clock`)."""
    return utc_now() + OFFSET


def today() -> dt.date:
    return now().date()


def days_ago(days: int) -> str:
    """The day `days` before the tests' today, as the registry writes a date (negative: after)."""
    return (today() - dt.timedelta(days=days)).isoformat()


def offset_environment() -> dict[str, str]:
    """What a CLI started as its own process needs to run on this clock."""
    return {OFFSET_VARIABLE: str(int(OFFSET.total_seconds()))}
