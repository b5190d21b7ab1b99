"""The `schedule` daemon's clock: APScheduler calls one job on a crontab or an interval, one run at
a time, until SIGTERM or SIGINT, then lets the run in progress stop at a safe point.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import signal
import threading
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.errors import BadInput

logger = logging.getLogger(__name__)

DEFAULT_CRON = "0 7 * * *"
# cron numbers weekdays from Sunday (0 and 7); APScheduler from Monday: use names instead.
CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
NUMERIC_WEEKDAYS = re.compile(r"^(\*|\d+(?:-\d+)?)(?:/(\d+))?$")
MISFIRE_GRACE_SECONDS = 3600
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def cron_trigger(expression: str, *, timezone: dt.tzinfo) -> CronTrigger:
    """A five-field crontab line (minute hour day month weekday) with cron's weekday numbers."""
    fields = expression.split()
    if len(fields) != 5:
        raise BadInput(f"not a five-field cron expression: {expression!r}")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=cron_weekdays(weekday),
            timezone=timezone,
        )
    except ValueError as exc:
        raise BadInput(f"bad cron expression {expression!r}: {exc}") from exc


def cron_weekdays(field: str) -> str:
    """`1-5` -> `mon,tue,wed,thu,fri`; `0`, `7` -> `sun`; names pass through unchanged."""
    if field == "*":
        return field
    days: list[str] = []
    for part in field.split(","):
        numeric = NUMERIC_WEEKDAYS.match(part)
        if not numeric:
            days.append(part)
            continue
        span, step = numeric.group(1), int(numeric.group(2) or 1)
        first, _, last = ("0-6" if span == "*" else span).partition("-")
        numbers = range(int(first), int(last or first) + 1, step)
        if any(number > 7 for number in numbers) or step == 0:
            raise BadInput(f"bad cron weekday {part!r}: weekdays are 0-7")
        days += [CRON_WEEKDAYS[number] for number in numbers]
    return ",".join(dict.fromkeys(days))


def interval_trigger(seconds: int, *, timezone: dt.tzinfo) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, timezone=timezone)


def run_forever(
    job: Callable[[threading.Event], None],
    trigger: BaseTrigger,
    *,
    timezone: dt.tzinfo,
    run_now: bool,
    on_started: Callable[[dt.datetime | None], None] = lambda next_run: None,
) -> int:
    """Call `job(stop)` on `trigger` until SIGTERM/SIGINT; returns the signal number.

    Signals are blocked in every thread and taken with `sigwait` in this one: stopping
    APScheduler from inside a signal handler can deadlock. `stop` is set first, so a run in
    progress stops at its next safe point, and shutdown waits for it.
    """
    stop = threading.Event()
    scheduler = BackgroundScheduler(timezone=timezone)
    extra: dict[str, Any] = {"next_run_time": dt.datetime.now(timezone)} if run_now else {}
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        job_handle = scheduler.add_job(
            job,
            trigger,
            args=[stop],
            id="run",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
            **extra,
        )
        scheduler.start()
        on_started(job_handle.next_run_time)
        received = signal.sigwait(STOP_SIGNALS)
        logger.info("received %s: finishing", signal.Signals(received).name)
        stop.set()
        scheduler.shutdown(wait=True)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return received
