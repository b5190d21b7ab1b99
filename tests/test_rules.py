"""Alert rules (issue 24, point 1): on a watch, a recipient and a channel; each audience gets
exactly the changes its rules let through, once, through the real SMTP server and webhook
receiver; a change no rule lets through is never owed; a crash between audiences loses and
doubles nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.records.events import Category, SiteRef
from monitor.records.rules import Change, parse_rule
from tests.conftest import Spawn, Trialwatch, find_site, kill_once_handed_over, study_with_id
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer
from tests.test_cli_digest import pending
from tests.webhook_server import WebhookServer

A = "NCT00000001"
OPS, CI = "ops@example.org", "ci@example.org"


def changed_everywhere() -> dict[str, Any]:
    """A site in the United States suspended, a site in Spain recruiting, the primary
    completion slipped 300 days, a condition added."""
    study = study_with_id(A)
    find_site(study, "Cleveland Clinic")["status"] = "SUSPENDED"
    spanish = next(
        site
        for site in study["protocolSection"]["contactsLocationsModule"]["locations"]
        if site["country"] == "Spain"
    )
    spanish["status"] = "COMPLETED"
    status = study["protocolSection"]["statusModule"]
    status["primaryCompletionDateStruct"]["date"] = "2029-06-25"
    study["protocolSection"]["conditionsModule"]["conditions"].append("Lupus nephritis")
    study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 200  # from 270
    return study


@pytest.fixture
def watched(trialwatch: Trialwatch, registry: RegistryServer, home: Path) -> Trialwatch:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    assert trialwatch("check").code == 0
    registry.put(changed_everywhere())
    assert trialwatch("check").code == 0
    return trialwatch


def rules_env(smtp: SmtpServer, rules: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {
        **smtp.env(),
        "TRIALWATCH_MAIL_TO": f"{OPS},{CI}",
        "TRIALWATCH_RULES": json.dumps(rules),
    }


def body_of(smtp: SmtpServer, address: str) -> str:
    [message] = [m for m in smtp.received if m.recipients == [address]]
    return message.part("plain")


def test_each_recipient_gets_exactly_what_its_rule_lets_through(
    watched: Trialwatch, smtp: SmtpServer, home: Path
) -> None:
    env = rules_env(smtp, {OPS: {"only": "site_status", "country": "US"}, CI: {"level": "high"}})
    assert watched("digest", env=env).code == 0
    ops, ci = body_of(smtp, OPS), body_of(smtp, CI)
    assert "Cleveland Clinic, Cleveland, United States: Recruiting -> Suspended" in ops
    assert "Spain" not in ops and "Primary completion" not in ops and "Conditions" not in ops
    assert "Primary completion" in ci and "high: primary completion slipped" in ci
    assert "Cleveland Clinic" not in ci and "Conditions" not in ci
    # the condition no rule lets through is owed to no one: nothing stays pending
    assert pending(home) == 0
    assert watched("digest", env=env).stdout == "No undelivered changes.\n"
    assert len(smtp.received) == 2
    doctor = watched("doctor", env=env).stdout.splitlines()
    assert f"ok       hears     {OPS}: site_status; in US, daily" in doctor
    assert f"ok       hears     {CI}: high only, daily" in doctor


SUSPENDED = "Cleveland Clinic, Cleveland, United States: Recruiting -> Suspended"
SPAIN = "Spain: Recruiting -> Completed"
SLIP = "Primary completion 2028-08-29 -> 2029-06-25"
CONDITION = "Conditions: added Lupus nephritis"
ENROLLMENT = "Enrollment 270 -> 200"


@pytest.mark.parametrize(
    ("rule", "told"),
    [
        ({"only": "site_status"}, {SUSPENDED, SPAIN}),
        ({"country": "ES"}, {SPAIN, SLIP, CONDITION, ENROLLMENT}),
        ({"state": "Ohio"}, {SUSPENDED, SLIP, CONDITION, ENROLLMENT}),
        ({"level": "high"}, {SLIP, ENROLLMENT}),
        ({"min_slip": 400}, {SUSPENDED, SPAIN, CONDITION, ENROLLMENT}),
        ({"min_enrollment_change": 30}, {SUSPENDED, SPAIN, SLIP, CONDITION}),
    ],
    ids=["only", "country", "state", "level", "min_slip", "min_enrollment_change"],
)
def test_each_rule_condition_through_the_mail_server(
    watched: Trialwatch, smtp: SmtpServer, home: Path, rule: dict[str, Any], told: set[str]
) -> None:
    everything = {SUSPENDED, SPAIN, SLIP, CONDITION, ENROLLMENT}
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": OPS, "TRIALWATCH_RULES": json.dumps({OPS: rule})}
    assert watched("digest", env=env).code == 0
    body = body_of(smtp, OPS)
    assert {line for line in everything if line in body} == told
    assert pending(home) == 0


def test_a_watch_rule_applies_to_everyone_and_a_channel_rule_to_its_channel(
    trialwatch: Trialwatch,
    registry: RegistryServer,
    smtp: SmtpServer,
    webhook: WebhookServer,
    home: Path,
) -> None:
    registry.put(study_with_id(A))
    added = trialwatch("watch", "add", A, "--only", "site_status,date", "--min-slip", "200")
    assert added.stdout.startswith(f"Watching {A} (told: date, site_status; slips of 200+ days)")
    trialwatch("check")
    registry.put(changed_everywhere())
    trialwatch("check")
    env = {
        **smtp.env(),
        "TRIALWATCH_MAIL_TO": OPS,
        "TRIALWATCH_CHANNELS": f"team={webhook.url()}",
        "TRIALWATCH_NOTIFY": "team",
        "TRIALWATCH_RULES": json.dumps({"team": {"only": "date"}}),
    }
    assert trialwatch("digest", env=env).code == 0
    mail = body_of(smtp, OPS)
    assert "Suspended" in mail and "Primary completion" in mail and "Conditions" not in mail
    [post] = webhook.bodies()
    assert "Primary completion" in post["message"] and "Suspended" not in post["message"]
    assert pending(home) == 0


def test_a_crash_between_two_audiences_loses_and_doubles_nothing(
    watched: Trialwatch, smtp: SmtpServer, home: Path, spawn_trialwatch: Spawn
) -> None:
    env = rules_env(smtp, {OPS: {"only": "site_status"}, CI: {"only": "date"}})
    kill_once_handed_over(
        spawn_trialwatch, home / "trialwatch.db", smtp, "on_data", "digest", env=env
    )
    assert len(smtp.received) == 1  # the first audience's mail, then kill -9
    assert watched("digest", env=env).code == 0
    assert sorted(m.recipients[0] for m in smtp.received) == sorted([OPS, CI])
    assert watched("digest", env=env).stdout == "No undelivered changes.\n"


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"only": "site"}, "no category of change is called 'site'"),
        ({"country": "Atlantis"}, "no country is called 'Atlantis'"),
        ({"level": "urgent"}, "level 'urgent' is not high, medium or low"),
        ({"region": "EU"}, "unknown rule key 'region'"),
    ],
)
def test_a_rule_that_can_never_match_is_refused_before_anything_runs(
    trialwatch: Trialwatch, registry: RegistryServer, spec: dict[str, Any], error: str
) -> None:
    result = trialwatch("run", env={"TRIALWATCH_RULES": json.dumps({OPS: spec})})
    assert result.code == 2 and error in result.stderr
    assert registry.requests == []


@pytest.mark.parametrize("command", ["run", "check", "digest"])
def test_a_rule_or_cadence_for_nobody_is_refused_with_the_nearest_name(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer, command: str
) -> None:
    """A typo in `[rules."de@exmaple.org"]`: before, `run` went on (exit 0) and de@ heard
    everything."""
    env = {
        **smtp.env(),
        "TRIALWATCH_MAIL_TO": "de@example.org",
        "TRIALWATCH_RULES": json.dumps({"de@exmaple.org": {"country": "DE"}}),
    }
    trialwatch("watch", "add", "--no-verify", A)
    result = trialwatch(command, env=env)
    assert result.code == 2 and "'de@exmaple.org', which is no mail address" in result.stderr
    assert "did you mean 'de@example.org'?" in result.stderr
    assert registry.requests == [] and smtp.received == []
    cadence = {**env, "TRIALWATCH_RULES": "{}", "TRIALWATCH_CADENCE": "board@x.org=weekly"}
    assert trialwatch(command, env=cadence).code == 2


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["watch", "add", A, "--only", "new_trial"], "new_trial never comes of it"),
        (["watch", "query", "q", "--term", "x", "--only", "site_status"], "site_status never"),
        (["watch", "add", A, "--state", "Massachusets"], "did you mean Massachusetts?"),
        (["watch", "add", A, "--state", "XQ"], "no state or province is called 'XQ'"),
    ],
)
def test_a_watch_rule_that_can_never_match_is_refused(
    trialwatch: Trialwatch, args: list[str], error: str
) -> None:
    result = trialwatch(*args)
    assert result.code == 2 and error in result.stderr
    assert A not in trialwatch("watch", "list").stdout  # nothing was added


def test_a_state_is_compared_by_identity_as_countries_are() -> None:
    """`--state MA` is Massachusetts, as the registry names a US site's state."""
    for state in ("MA", "massachusetts", "US-MA"):
        rule = parse_rule({"state": state}, where="t")
        site = SiteRef.from_json({"country": "United States", "state": "Massachusetts"})
        ohio = SiteRef.from_json({"country": "United States", "state": "Ohio"})
        change = Change(Category.SITE_STATUS, "locations.status", "RECRUITING", "COMPLETED", site)
        assert rule.allows(change) and rule.describe() == "in US-MA"
        assert not rule.allows(Change(Category.SITE_STATUS, "locations.status", 1, 2, ohio))
    bavaria = SiteRef.from_json({"country": "Germany", "state": "Bavaria"})
    change = Change(Category.SITE_STATUS, "locations.status", "RECRUITING", "COMPLETED", bavaria)
    assert parse_rule({"state": "Bavaria"}, where="t").allows(change)  # the registry's own name


def test_rule_conditions_on_their_own() -> None:
    site = SiteRef.from_json({"country": "Czech Republic", "state": "Praha"})
    change = Change(Category.SITE_STATUS, "locations.status", "RECRUITING", "COMPLETED", site)
    assert parse_rule({"country": "Czechia"}, where="t").allows(change)  # one country
    assert not parse_rule({"country": "DE"}, where="t").allows(change)
    assert parse_rule({"state": "praha"}, where="t").allows(change)
    date = Change(Category.DATE, "completion_date", {"date": "2028-01-01"}, {"date": "2028-01-20"})
    assert not parse_rule({"min_slip": 30}, where="t").allows(date)
    assert parse_rule({"min_slip": 30, "country": "DE"}, where="t").allows(
        Change(Category.DATE, "completion_date", {"date": "2028-01-01"}, {"date": "2028-03-01"})
    )  # a trial-wide change has no country: the country condition lets it pass
    enrollment = Change(Category.ENROLLMENT, "enrollment", {"count": 100}, {"count": 90})
    assert not parse_rule({"min_enrollment_change": 20}, where="t").allows(enrollment)
    assert parse_rule({"min_enrollment_change": 10}, where="t").allows(enrollment)


def test_a_search_rule_tells_only_the_matches_it_asks_for(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    from tests.test_cli_searches import lupus_trial

    B, C = "NCT00000002", "NCT00000003"
    registry.put(lupus_trial(B))
    added = trialwatch(
        "watch", "query", "lupus", "--condition", "lupus", "--status", "recruiting",
        "--only", "new_trial",
    )  # fmt: skip
    assert added.stdout == (
        "Watching search lupus: condition=lupus, status=RECRUITING; told: new_trial\n"
    )
    trialwatch("check")  # the search's baseline
    registry.put(lupus_trial(C, "A new lupus trial"))
    gone = lupus_trial(B)
    gone["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    registry.put(gone)
    events = trialwatch("check", "--json").json()["changes"]
    assert sorted(e["category"] for e in events) == ["left_query", "new_trial"]
    preview = trialwatch("digest", "--stdout").stdout
    assert trialwatch("digest").code == 0
    [eml] = (home / "outbox").glob("*.eml")
    told = eml.read_text()
    assert "new in search lupus" in told and "left search lupus" not in told
    assert pending(home) == 0  # the leaving match is owed to nobody
    assert "left search" in preview  # a preview shows everything undelivered
    bad = trialwatch("watch", "query", "x", "--term", "y", "--only", "new_site")
    assert bad.code == 2 and "no category of change is called 'new_site'" in bad.stderr
