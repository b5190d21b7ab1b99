"""The briefing (issue 37, point 1): a weekly digest, a digest of several trials, its chat
post and the week page open with a few lines over the whole span, each naming the trials it
counts so that it points to their part below."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import find_site, locations, study_with_id
from tests.test_one_digest import a_monday, at

TRIALS = [f"NCT0000000{n}" for n in range(1, 6)]
WEEKLY = "board@example.org"


def version(nct_id: str, day: int) -> dict[str, Any]:
    """A trial's record on day `day` of the week: one change a day, each to another trial
    (Monday: the first is terminated; Tuesday and Wednesday: two primary completions slip;
    Thursday: the fourth's sites in the United States that were not yet recruiting open;
    Friday: the fifth's enrollment is cut)."""
    study = study_with_id(nct_id)
    status = study["protocolSection"]["statusModule"]
    index = TRIALS.index(nct_id)
    if index == 0 and day >= 0:
        status["overallStatus"] = "TERMINATED"
        status["whyStopped"] = "Sponsor decision"
    if index in (1, 2) and day >= index:
        status["primaryCompletionDateStruct"]["date"] = ["2029-02-28", "2030-01-01"][index - 1]
    if index == 3 and day >= 3:
        for site in locations(study):
            if site.get("status") == "NOT_YET_RECRUITING" and site["country"] == "United States":
                site["status"] = "RECRUITING"
        find_site(study, "Cleveland Clinic")["status"] = "COMPLETED"
    if index == 4 and day >= 4:
        study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 200
    return study


def test_a_weekly_digest_over_five_trials_opens_with_the_weeks_briefing(
    trialwatch: Callable[..., Any], registry: Any, smtp: Any
) -> None:
    monday = a_monday()
    registry.put(*(version(nct_id, -1) for nct_id in TRIALS))
    assert trialwatch("watch", "add", *TRIALS, clock=at(monday - dt.timedelta(days=1))).code == 0
    assert trialwatch("check", clock=at(monday - dt.timedelta(days=1))).code == 0
    env = {
        **smtp.env(),
        "TRIALWATCH_MAIL_TO": WEEKLY,
        "TRIALWATCH_CADENCE": f"{WEEKLY}=weekly:friday",
        "TRIALWATCH_TIMEZONE": "UTC",
    }
    for day in range(5):
        registry.put(*(version(nct_id, day) for nct_id in TRIALS))
        result = trialwatch("run", env=env, clock=at(monday + dt.timedelta(days=day)))
        assert result.code == 0, result.stderr
    [mail] = smtp.received  # Friday's
    text = mail.part("plain").replace("\r\n", "\n")
    brief = text.split("In brief\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert brief == [
        "  - Stopped: NCT00000001 Breakfree-1 (Terminated)",
        "  - Primary completion slipped in 2 trials (NCT00000002, NCT00000003): median +336 "
        "days, largest +490 days (NCT00000003)",
        "  - Sites: 3 sites opened (United States 3); 1 site closed or stopped recruiting "
        "(United States 1), in NCT00000004",
        "  - Enrollment changed: NCT00000005 270 -> 200",
    ]
    assert text.index("In brief") < text.index("NCT00000001  Breakfree-1")  # on top
    html = mail.part("html")
    assert '<a href="#NCT00000003"' in html and 'id="NCT00000003"' in html  # points below
    assert mail.message["Subject"].startswith("trialwatch: NCT00000001 status Recruiting -> ")


def test_a_digest_of_one_trial_has_no_briefing_and_the_week_page_has_one(tmp_path: Path) -> None:
    from monitor.jobs.check import store_study
    from monitor.jobs.report import write_report
    from monitor.reports.render import render_digest
    from monitor.store import Store
    from monitor.times import moment_of

    store = Store.open(tmp_path / "t.db")
    try:
        for day, when in ((-1, "2026-06-01"), (4, "2026-06-05")):
            for nct_id in TRIALS[:2]:
                fetched = moment_of(f"{when}T07:00:00Z")
                store_study(store, version(nct_id, day), fetched_at=fetched, source="t")
        store.watches.add(
            TRIALS[:2], label=None, recipients=[], now=moment_of("2026-06-01T07:00:00Z")
        )
        one = [e for e in store.events.pending() if e.nct_id == TRIALS[0]]
        assert "In brief" not in render_digest(one, store.watches.trials()).text
        write_report(store, tmp_path / "report", now=moment_of("2026-06-05T08:00:00Z"))
    finally:
        store.close()
    week = (tmp_path / "report" / "week.html").read_text()
    assert "In brief" in week and '<a href="#NCT00000001">NCT00000001</a>' in week
    assert 'id="NCT00000002"' in week
