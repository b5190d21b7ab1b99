"""Materiality (issue 24, point 2): each default rule, its reason, the config's override, and
digests that lead with the high changes through the real SMTP server and webhook receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.records.categories import rate
from monitor.records.events import Category
from monitor.records.materiality import Materiality
from tests.conftest import SEED_FILES, Trialwatch, find_site, study_with_id
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer
from tests.webhook_server import WebhookServer

A = "NCT00000001"
HIGH, MEDIUM, LOW = Materiality.HIGH, Materiality.MEDIUM, Materiality.LOW


def day(date: str) -> dict[str, str]:
    return {"date": date, "type": "ESTIMATED"}


@pytest.mark.parametrize(
    ("category", "field", "old", "new", "level", "reason"),
    [
        (Category.OVERALL_STATUS, "overall_status", "RECRUITING", "TERMINATED", HIGH,
         "the trial is terminated"),
        (Category.OVERALL_STATUS, "overall_status", "NOT_YET_RECRUITING", "RECRUITING", MEDIUM,
         "overall status changed"),
        (Category.RESULTS_POSTED, "resultsSection", None, {}, HIGH, "results posted"),
        (Category.DATE, "primary_completion_date", day("2028-08-29"), day("2029-02-28"), HIGH,
         "primary completion slipped 183 days"),
        (Category.DATE, "primary_completion_date", day("2028-08-29"), day("2028-10-01"), MEDIUM,
         "a date moved"),
        (Category.DATE, "completion_date", day("2028-08-29"), day("2030-02-28"), MEDIUM,
         "a date moved"),
        (Category.ENROLLMENT, "enrollment", {"count": 300}, {"count": 240}, HIGH,
         "enrollment cut 20%"),
        (Category.ENROLLMENT, "enrollment", {"count": 300}, {"count": 270}, MEDIUM,
         "enrollment changed"),
        (Category.OUTCOME, "outcomesModule.primaryOutcomes", [{"measure": "OS"}],
         [{"measure": "PFS"}], HIGH, "a primary outcome replaced or dropped"),
        (Category.OUTCOME, "outcomesModule.secondaryOutcomes", [{"measure": "OS"}], [], MEDIUM,
         "outcome measures changed"),
        (Category.CONTACT, "contacts", [], [{"name": "X"}], LOW, "contacts"),
        (Category.OTHER, "descriptionModule.briefSummary", "a", "b", LOW,
         "wording, references or links"),
        (Category.OTHER, "conditionsModule.conditions", ["a"], ["b"], MEDIUM,
         "a change of substance"),
        (Category.SITE_STATUS, "locations.status", "RECRUITING", "COMPLETED", MEDIUM,
         "a change of substance"),
    ],
)  # fmt: skip
def test_each_default_rule_rates_and_explains(
    category: Category, field: str, old: Any, new: Any, level: Materiality, reason: str
) -> None:
    rating = rate(category, field, old, new)
    assert (rating.level, rating.reason) == (level, reason)


def test_a_configured_level_wins_and_says_so() -> None:
    rating = rate(
        Category.SITE_STATUS, "locations.status", "A", "B", overrides={"site_status": HIGH}
    )
    assert str(rating) == "high: site status, as configured"
    quiet = rate(Category.DATE, "primary_completion_date", day("2028-01-01"), day("2029-01-01"),
                 overrides={"date": LOW})  # fmt: skip
    assert quiet.level == LOW


def test_an_unknown_category_or_level_is_bad_input_before_anything_runs(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    for value in ("site=high", "site_status=urgent"):
        result = trialwatch("run", env={"TRIALWATCH_MATERIALITY": value})
        assert result.code == 2 and "TRIALWATCH_MATERIALITY" in result.stderr
    assert registry.requests == []


def test_a_mailed_digest_leads_with_the_most_material_change_and_why(
    trialwatch: Trialwatch, smtp: SmtpServer, home: Path
) -> None:
    assert trialwatch("import", *map(str, SEED_FILES)).code == 0
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    assert trialwatch("digest", env=env).code == 0
    text = smtp.received[0].part("plain")
    most = text.index("Most material")
    assert most < text.index("  Sites")
    assert (
        "Primary completion 2028-08-29 -> 2029-02-28 (+183 days) (high: primary completion "
        "slipped 183 days)"
    ) in text[most : text.index("  Sites")]


def test_the_config_makes_site_status_high_for_a_chat_channel_first(
    trialwatch: Trialwatch, registry: RegistryServer, webhook: WebhookServer, home: Path
) -> None:
    (home).mkdir(parents=True, exist_ok=True)
    (home / "trialwatch.toml").write_text('materiality = { site_status = "high" }\n')
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    env = {"TRIALWATCH_NOTIFY": webhook.url()}
    assert trialwatch("run", env=env).code == 0  # the baseline
    suspended = study_with_id(A)
    find_site(suspended, "Cleveland Clinic")["status"] = "SUSPENDED"
    suspended["protocolSection"]["conditionsModule"]["conditions"].append("Lupus nephritis")
    registry.put(suspended)
    assert trialwatch("run", env=env).code == 0
    [post] = webhook.bodies()
    lines = post["message"].splitlines()
    assert lines[1] == (
        "- Cleveland Clinic, Cleveland, United States: Recruiting -> Suspended (high: site "
        "status, as configured)"
    )


def test_the_feed_leads_with_what_the_config_calls_high(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    import feedparser

    assert trialwatch("import", *map(str, SEED_FILES)).code == 0
    out = tmp_path / "report"
    env = {"TRIALWATCH_MATERIALITY": "site_added=high"}
    assert trialwatch("report", "--out", str(out), env=env).code == 0
    entries = feedparser.parse((out / "index.atom").read_bytes()).entries
    [entry] = [e for e in entries if "New site" in e.content[0].value]
    first_item = entry.content[0].value.split("<li>")[1]
    assert first_item.startswith("New site: Hospital Universitario 12 de Octubre")
    assert "(high: site added, as configured)" in first_item
