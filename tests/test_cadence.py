"""Cadence (issue 24, point 3): a weekly recipient or channel hears once, on its weekday, the
week's net changes; a daily one beside it is never held back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.delivery.cadence import WEEKDAYS, parse_cadence
from tests.clock import today
from tests.conftest import Trialwatch, find_site, study_with_id
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer
from tests.test_cli_digest import pending

A = "NCT00000001"
DAILY, WEEKLY = "ops@example.org", "board@example.org"
TODAY = WEEKDAYS[today().weekday()]
TOMORROW = WEEKDAYS[(today().weekday() + 1) % 7]


def status(value: str) -> dict[str, Any]:
    study = study_with_id(A)
    find_site(study, "Cleveland Clinic")["status"] = value
    return study


def env(smtp: SmtpServer, weekday: str) -> dict[str, str]:
    return {
        **smtp.env(),
        "TRIALWATCH_MAIL_TO": f"{DAILY},{WEEKLY}",
        "TRIALWATCH_CADENCE": f"{WEEKLY}=weekly:{weekday}",
        "TRIALWATCH_TIMEZONE": "UTC",
    }


def mails_to(smtp: SmtpServer, address: str) -> list[str]:
    return [m.part("plain") for m in smtp.received if address in m.recipients]


def test_a_weekly_recipient_hears_once_on_its_day_the_net_change_and_daily_is_not_held_back(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer, home: Path
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    trialwatch("check")
    for value in ("SUSPENDED", "ACTIVE_NOT_RECRUITING"):  # two days' changes, not its day
        registry.put(status(value))
        assert trialwatch("run", env=env(smtp, TOMORROW)).code == 0
    assert len(mails_to(smtp, DAILY)) == 2 and mails_to(smtp, WEEKLY) == []
    assert pending(home) == 2  # still owed to the weekly recipient
    assert trialwatch("run", env=env(smtp, TODAY)).code == 0  # its day
    [weekly] = mails_to(smtp, WEEKLY)
    assert (
        "Cleveland Clinic, Cleveland, United States: Recruiting -> Active, not recruiting" in weekly
    )
    assert "Suspended" not in weekly  # the week's net change, one sentence
    assert len(mails_to(smtp, DAILY)) == 2 and pending(home) == 0
    registry.put(status("COMPLETED"))  # later the same day: daily hears, weekly waits a week
    assert trialwatch("run", env=env(smtp, TODAY)).code == 0
    assert len(mails_to(smtp, DAILY)) == 3 and len(mails_to(smtp, WEEKLY)) == 1
    assert pending(home) == 1
    doctor = trialwatch("doctor", env=env(smtp, TODAY)).stdout
    assert f"hears     {WEEKLY}: everything, weekly on {TODAY}" in doctor
    assert f"hears     {DAILY}: everything, daily" in doctor


@pytest.mark.parametrize("text", ["fortnightly", "weekly:funday", "daily:monday"])
def test_a_cadence_that_is_not_one_is_refused(
    trialwatch: Trialwatch, registry: RegistryServer, text: str
) -> None:
    result = trialwatch("run", env={"TRIALWATCH_CADENCE": f"{WEEKLY}={text}"})
    assert result.code == 2 and "TRIALWATCH_CADENCE" in result.stderr
    assert registry.requests == []


def test_cadences_read_as_written() -> None:
    assert parse_cadence("weekly") == "weekly:monday"
    assert parse_cadence("Weekly:Friday") == "weekly:friday"
    assert parse_cadence("daily") == "daily"
