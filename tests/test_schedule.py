"""Crontab translation and timezones for the `schedule` daemon."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.errors import BadInput
from monitor.jobs.schedule import cron_trigger, cron_weekdays
from monitor.setting_values import parse_timezone

PARIS = parse_timezone("Europe/Paris")


@pytest.mark.parametrize(
    "field,expected",
    [
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("*/2", "sun,tue,thu,sat"),
        ("5-7", "fri,sat,sun"),
        ("mon-fri", "mon-fri"),
        ("*", "*"),
    ],
)
def test_cron_weekday_numbers_count_from_sunday(field: str, expected: str) -> None:
    assert cron_weekdays(field) == expected


def fire_times(expression: str, start: dt.datetime, count: int) -> list[dt.datetime]:
    trigger = cron_trigger(expression, timezone=PARIS)
    times, previous, now = [], None, start
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, now)
        times.append(previous)
        now = previous + dt.timedelta(seconds=1)
    return times


def test_weekday_schedule_runs_monday_to_friday_only() -> None:
    friday_noon = dt.datetime(2026, 11, 27, 12, 0, tzinfo=PARIS)
    days = [t.strftime("%a %H:%M") for t in fire_times("30 6 * * 1-5", friday_noon, 3)]
    assert days == ["Mon 06:30", "Tue 06:30", "Wed 06:30"]


def test_daily_run_keeps_wall_clock_time_across_daylight_saving() -> None:
    before_switch = dt.datetime(2026, 3, 27, 12, 0, tzinfo=PARIS)  # clocks go forward on the 29th
    times = fire_times("0 7 * * *", before_switch, 3)
    assert [t.strftime("%d %H:%M %z") for t in times] == [
        "28 07:00 +0100",
        "29 07:00 +0200",
        "30 07:00 +0200",
    ]


def test_a_run_in_the_skipped_spring_hour_happens_an_hour_later() -> None:
    times = fire_times("30 2 * * *", dt.datetime(2026, 3, 28, 12, 0, tzinfo=PARIS), 2)
    assert [t.astimezone(dt.UTC).strftime("%d %H:%M") for t in times] == ["29 01:30", "30 00:30"]
    assert times[0].astimezone(dt.UTC).astimezone(PARIS).strftime("%H:%M %z") == "03:30 +0200"


def test_a_run_in_the_repeated_autumn_hour_fires_in_both() -> None:
    times = fire_times("30 2 * * *", dt.datetime(2026, 10, 24, 12, 0, tzinfo=PARIS), 2)
    assert [t.astimezone(dt.UTC).strftime("%d %H:%M") for t in times] == ["25 00:30", "25 01:30"]


@pytest.mark.parametrize("expression", ["* * *", "61 * * * *", "0 7 * * 8", "0 25 * * *"])
def test_bad_cron_expressions_are_bad_input(expression: str) -> None:
    with pytest.raises(BadInput):
        cron_trigger(expression, timezone=PARIS)


def test_unknown_timezone_is_bad_input() -> None:
    with pytest.raises(BadInput, match="unknown timezone: 'Mars/Olympus'"):
        parse_timezone("Mars/Olympus")
