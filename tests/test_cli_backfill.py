"""`trialwatch backfill` against the loopback record-history endpoints."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SEED_FILES, Trialwatch, load_seed
from tests.registry_server import RegistryServer

NCT = "NCT05869955"
STORY = [(path.stem, json.loads(path.read_text())) for path in SEED_FILES]


def rows(home: Path, sql: str) -> list[Any]:
    with sqlite3.connect(home / "trialwatch.db") as conn:
        return conn.execute(sql).fetchall()


def test_backfill_stores_every_version_in_order_with_its_date(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    registry.put_versions(NCT, STORY)
    result = trialwatch("backfill", NCT.lower())
    assert (result.code, result.stdout) == (
        0,
        f"{NCT}: 5 version(s) stored (2026-01-13 to 2026-06-02), 0 already covered, 17 change(s)\n",
    )
    history = trialwatch("history", NCT, "--json").json()
    assert [s["fetched_at"] for s in history["snapshots"]] == [
        f"{date}T00:00:00Z" for date, _ in STORY
    ]
    assert history["events"][0]["detected_at"] == "2026-02-10T00:00:00Z"
    assert history["events"][0]["backfilled_version"] == 1
    assert trialwatch("digest", "--stdout").stdout == "No changes.\n"  # history, not news


def test_rerunning_backfill_adds_nothing(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    registry.put_versions(NCT, STORY)
    trialwatch("backfill", NCT)
    before = rows(home, "select count(*) from snapshots"), rows(home, "select count(*) from events")
    requests = len(registry.requests)
    again = trialwatch("backfill", NCT)
    assert again.stdout == f"{NCT}: 0 version(s) stored, 5 already covered, 0 change(s)\n"
    assert (
        rows(home, "select count(*) from snapshots"),
        rows(home, "select count(*) from events"),
    ) == before
    assert len(registry.requests) == requests + 1  # just the version list


@pytest.mark.parametrize("option", ["--as-news", "--notify"])  # --notify: the old spelling
def test_as_news_puts_backfilled_changes_in_the_next_digest(
    trialwatch: Trialwatch, registry: RegistryServer, option: str
) -> None:
    registry.put_versions(NCT, STORY)
    trialwatch("backfill", NCT, option)
    assert trialwatch("digest", "--stdout").stdout.startswith("trialwatch: 15 changes in 1 trial")


def test_backfill_joins_onto_the_first_checked_snapshot(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    current = load_seed(4)
    current["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 320
    registry.put(current)
    trialwatch("watch", "add", NCT)
    trialwatch("check")  # the baseline, dated today
    registry.put_versions(NCT, STORY)
    assert trialwatch("backfill", NCT).code == 0
    history = trialwatch("history", NCT, "--json").json()
    assert len(history["snapshots"]) == 6
    last = history["events"][-1]
    assert (last["category"], last["old"]["count"], last["new"]["count"]) == (
        "enrollment",
        300,
        320,
    )
    assert last["detected_at"] == history["snapshots"][-1]["fetched_at"]


def test_unknown_trial_is_reported_and_changes_nothing(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    registry.put_versions(NCT, STORY)
    result = trialwatch("backfill", "NCT00000009", NCT)
    assert result.code == 1
    assert result.stderr == (
        "trialwatch: NCT00000009: record history unavailable: not found (HTTP 404)\n"
    )
    assert rows(home, "select distinct nct_id from snapshots") == [(NCT,)]


def test_history_endpoint_failing_midway_stores_nothing_for_that_trial(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    registry.put_versions(NCT, STORY)
    registry.fail(status=503, times=3, path_prefix=f"/api/int/studies/{NCT}/history/3")
    result = trialwatch("backfill", NCT)
    assert result.code == 1
    assert "record history unavailable: server error (HTTP 503) after 3 attempts" in result.stderr
    assert rows(home, "select count(*) from snapshots") == [(0,)]
    assert trialwatch("backfill", NCT).code == 0  # and works once the endpoint is back
    assert rows(home, "select count(*) from snapshots") == [(5,)]


def test_backfill_stays_under_the_rate_limit(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put_versions(NCT, STORY)
    registry.min_interval = 0.15
    result = trialwatch("backfill", NCT, env={"TRIALWATCH_REQUEST_INTERVAL": "0.2"})
    assert result.code == 0 and registry.rate_limited == 0


def test_a_version_submitted_before_the_first_check_but_posted_after_is_not_history(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    """The version list dates versions by submission. The first check saw version 1 (submitted
    2026-02-10); versions 2-4 were submitted before that check's day but not yet posted: they
    are the future of the checked snapshot, not its past, and the story is not told backwards."""
    submitted = [
        (study["protocolSection"]["statusModule"]["lastUpdateSubmitDate"], study)
        for _, study in STORY
    ]
    registry.put(STORY[1][1])
    trialwatch("watch", "add", NCT)
    trialwatch("check")  # the baseline, dated today: it holds version 1
    registry.put_versions(NCT, submitted)
    result = trialwatch("backfill", NCT)
    assert result.stdout == (
        f"{NCT}: 2 version(s) stored (2026-01-12 to 2026-02-10), 3 already covered, 4 change(s)\n"
    )
    history = trialwatch("history", NCT, "--json").json()
    assert len(history["snapshots"]) == 3  # versions 0 and 1, then the checked snapshot
    assert {e["category"] for e in history["events"]} >= {"site_status", "site_renamed"}
    assert not any(e["category"] == "enrollment" for e in history["events"])  # 300 -> 270
