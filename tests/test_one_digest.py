"""One digest per recipient per run (issue 36): alert rules, cadence, refusals and the outbox's
catch-up together, through the real SMTP server, with the clock moved day by day. Each address
gets at most one mail a run holding exactly the changes its rules let through, sees no address
whose digest differs, and a weekly one its whole week's net change on its day (or, its day
missed, on the next run)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from monitor.times import Clock, utc_now
from tests.clock import today
from tests.conftest import find_site, study_with_id
from tests.test_cli_digest import pending

A = "NCT00000001"
OPS, DE, EXEC, WEEKLY = (f"{who}@example.org" for who in ("ops", "de", "exec", "weekly"))
FRIDAY = 4
GERMAN_SITE = "Universitaetsklinikum Koeln"


def a_monday() -> dt.date:
    """The first Monday after the tests' today: the two weeks below start there."""
    return today() + dt.timedelta(days=7 - today().weekday())


def at(day: dt.date) -> Clock:
    """A clock that reads 07:00 UTC on `day` and ticks."""
    started, start = utc_now(), dt.datetime.combine(day, dt.time(7), dt.UTC)
    return lambda: start + (utc_now() - started)


def env(smtp: Any, mail_to: str = f"{OPS},{DE},{EXEC},{WEEKLY}") -> dict[str, str]:
    sites_in_germany = {
        "only": ["site_status", "site_added", "site_removed", "site_renamed"],
        "country": "DE",
    }
    return {
        **smtp.env(),
        "TRIALWATCH_MAIL_TO": mail_to,
        "TRIALWATCH_RULES": json.dumps({DE: sites_in_germany, EXEC: {"level": "high"}}),
        "TRIALWATCH_CADENCE": f"{WEEKLY}=weekly:friday",
        "TRIALWATCH_TIMEZONE": "UTC",
    }


def version(day: int) -> dict[str, Any]:
    """Day `day`'s record: enrollment grows every day (for everyone but de and exec), the
    Cologne site changes status on days 1, 4 and 8 (de), primary completion slips half a year
    on days 2 and 9 (high: exec)."""
    study = study_with_id(A)
    protocol = study["protocolSection"]
    protocol["designModule"]["enrollmentInfo"]["count"] = 270 + day + 1
    statuses = ["RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED", "TERMINATED"]
    find_site(study, GERMAN_SITE)["status"] = statuses[sum(day >= d for d in (1, 4, 8))]
    slipped = ["2028-08-29", "2029-02-28", "2029-08-31"][sum(day >= d for d in (2, 9))]
    protocol["statusModule"]["primaryCompletionDateStruct"]["date"] = slipped
    return study


def mails_of_the_run(
    smtp: Any, since: int, *, refused: frozenset[str] = frozenset()
) -> dict[str, str]:
    """{address: plain text} of the mails a run sent, each address once; every mail's To:
    holds exactly the addresses it was sent to (and those the server refused it for)."""
    mails: dict[str, str] = {}
    for mail in smtp.received[since:]:
        to = {address.strip() for address in mail.message["To"].split(",")}
        assert to - refused == set(mail.recipients), "To: names one whose digest differs"
        for address in mail.recipients:
            assert address not in mails, f"{address} got two mails in one run"
            mails[address] = mail.part("plain")
    return mails


def test_two_weeks_of_daily_runs_give_each_recipient_one_mail_a_run_with_exactly_its_changes(
    trialwatch: Callable[..., Any], registry: Any, smtp: Any, home: Any
) -> None:
    monday = a_monday()
    registry.put(version(-1))
    assert trialwatch("watch", "add", A, clock=at(monday - dt.timedelta(days=1))).code == 0
    assert trialwatch("check", clock=at(monday - dt.timedelta(days=1))).code == 0
    heard: dict[str, list[int]] = {OPS: [], DE: [], EXEC: [], WEEKLY: []}
    for day in range(14):
        registry.put(version(day))
        if day == 7 + FRIDAY:
            continue  # no run on the second Friday: the laptop was closed
        since = len(smtp.received)
        result = trialwatch("run", env=env(smtp), clock=at(monday + dt.timedelta(days=day)))
        assert result.code == 0, result.stderr
        mails = mails_of_the_run(smtp, since)
        for address in mails:
            heard[address].append(day)
        last_run = heard[OPS][-2] if day else -1
        assert f"Enrollment {270 + last_run + 1} -> {270 + day + 1}" in mails[OPS]
        if DE in mails:
            assert "Koeln" in mails[DE] and "Enrollment" not in mails[DE]
            assert "Primary completion" not in mails[DE]
        if EXEC in mails:
            assert "Primary completion" in mails[EXEC] and "Enrollment" not in mails[EXEC]
            assert "Koeln" not in mails[EXEC]
        if day == FRIDAY:  # the week's net change, in one sentence each
            assert "Enrollment 270 -> 275" in mails[WEEKLY]
            assert "Recruiting -> Completed" in mails[WEEKLY]
            assert "Primary completion 2028-08-29 -> 2029-02-28 (+183 days)" in mails[WEEKLY]
        if day == 7 + FRIDAY + 1:  # its Friday missed: the Saturday run makes it up, once
            assert "Enrollment 275 -> 283" in mails[WEEKLY]
            assert "Completed -> Terminated" in mails[WEEKLY]
    assert heard[OPS] == [day for day in range(14) if day != 11]
    assert heard[DE] == [1, 4, 8]
    assert heard[EXEC] == [2, 9]
    assert heard[WEEKLY] == [FRIDAY, 12]
    assert pending(home) > 0  # day 13's change is owed to the weekly address until Friday


def test_a_refused_recipient_gets_one_mail_the_next_day_with_both_days_changes(
    trialwatch: Callable[..., Any], registry: Any, smtp: Any, home: Any
) -> None:
    monday = a_monday()
    registry.put(version(-1))
    trialwatch("watch", "add", A, clock=at(monday))
    trialwatch("check", clock=at(monday))
    everyone = {**smtp.env(), "TRIALWATCH_MAIL_TO": f"{OPS},{DE}"}
    smtp.refused_recipients = {DE}
    registry.put(version(0))
    refused = trialwatch("run", env=everyone, clock=at(monday + dt.timedelta(days=1)))
    assert refused.code == 1 and f"digest for {DE} not delivered" in refused.stderr
    assert list(mails_of_the_run(smtp, 0, refused=frozenset({DE}))) == [OPS]
    smtp.refused_recipients = set()
    registry.put(version(1))
    since = len(smtp.received)
    assert trialwatch("run", env=everyone, clock=at(monday + dt.timedelta(days=2))).code == 0
    mails = mails_of_the_run(smtp, since)
    assert "Enrollment 271 -> 272" in mails[OPS] and "Koeln" in mails[OPS]
    assert "Enrollment 270 -> 272" in mails[DE]  # both days, one mail, their net change
    assert pending(home) == 0


def test_the_outbox_catch_up_goes_to_the_addresses_the_config_names_when_it_is_sent(
    trialwatch: Callable[..., Any], registry: Any, smtp: Any, home: Any
) -> None:
    """Digests written to the outbox while SMTP was not set up are mailed once it is, to the
    addresses configured then, through their rules, in their one digest of the run."""
    monday = a_monday()
    registry.put(version(-1))
    trialwatch("watch", "add", A, clock=at(monday))
    trialwatch("check", clock=at(monday))
    registry.put(version(2))  # enrollment, Cologne, primary completion
    offline = {"TRIALWATCH_MAIL_TO": f"{OPS},{DE}"}
    assert trialwatch("run", env=offline, clock=at(monday)).code == 0
    assert len(list((home / "outbox").glob("*.eml"))) == 1 and smtp.received == []
    registry.put(version(3))
    sites_only = {"only": ["site_status"]}
    later = {
        **smtp.env(),
        "TRIALWATCH_MAIL_TO": OPS,
        "TRIALWATCH_RULES": json.dumps({OPS: sites_only}),
    }
    assert trialwatch("run", env=later, clock=at(monday + dt.timedelta(days=1))).code == 0
    mails = mails_of_the_run(smtp, 0)
    assert list(mails) == [OPS]  # de@, no longer configured, gets nothing
    assert "Koeln" in mails[OPS] and "Enrollment" not in mails[OPS]  # through today's rule
    assert trialwatch("run", env=later, clock=at(monday + dt.timedelta(days=1))).code == 0
    assert len(smtp.received) == 1  # mailed once
    with sqlite3.connect(home / "trialwatch.db") as db:
        states = [state for (state,) in db.execute("select state from deliveries order by id")]
    assert states == ["mailed", "sent"]
