"""Watched searches against the loopback registry: baseline, new and leaving matches, follow."""

from __future__ import annotations

import copy
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import feedparser
import pytest

from tests.conftest import PATIENCE, SEED_FILES, Spawn, Trialwatch, load_seed, study_with_id
from tests.registry_server import RegistryServer
from tests.webhook_server import WebhookServer

A, B, C = "NCT00000001", "NCT00000002", "NCT00000003"
UTC_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def lupus_trial(nct_id: str, title: str = "CAR T cells for lupus") -> dict[str, Any]:
    study = study_with_id(nct_id)
    study["protocolSection"]["identificationModule"]["briefTitle"] = title
    return study


def other_trial(nct_id: str) -> dict[str, Any]:
    study = study_with_id(nct_id)
    study["protocolSection"]["conditionsModule"]["conditions"] = ["Asthma"]
    study["protocolSection"]["identificationModule"]["briefTitle"] = "Inhalers"
    study["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] = "Adults"
    return study


def test_first_check_is_a_baseline_then_entries_and_exits_are_events(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(lupus_trial(A), other_trial(B))
    assert (
        trialwatch(
            "watch", "query", "cart-lupus", "--condition", "lupus", "--status", "recruiting"
        ).stdout
        == "Watching search cart-lupus: condition=lupus, status=RECRUITING\n"
    )
    baseline = trialwatch("check", "--json").json()
    assert baseline["changes"] == []
    search = [r for r in registry.study_requests() if "filter.ids" not in r.params][0]
    assert search.params["query.cond"] == ["lupus"]
    assert search.params["filter.overallStatus"] == ["RECRUITING"]
    assert search.params["fields"] == [
        "NCTId|BriefTitle|Acronym|OverallStatus|Phase|LeadSponsorName"
    ]
    registry.put(lupus_trial(C, "A new lupus trial"))
    gone = copy.deepcopy(lupus_trial(A))
    gone["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    registry.put(gone)
    events = trialwatch("check", "--json").json()["changes"]
    assert [(e["category"], e["nct_id"], e["field"]) for e in events] == [
        ("new_trial", C, "query:cart-lupus"),
        ("left_query", A, "query:cart-lupus"),
    ]
    new = events[0]
    assert (new["old"], new["new"], new["site"]) == (None, "A new lupus trial", None)
    assert new["trial"] == {
        "title": "A new lupus trial",
        "phase": "PHASE1",
        "sponsor": "Juno Therapeutics, Inc., a Bristol-Myers Squibb Company",
        "status": "RECRUITING",
    }
    assert new["summary"] == (
        "New in search cart-lupus: A new lupus trial (Phase 1; Juno Therapeutics, Inc., a "
        "Bristol-Myers Squibb Company; Recruiting)"
    )
    assert events[1]["summary"] == "Left search cart-lupus: CAR T cells for lupus"


def test_matches_are_listed_across_pages(trialwatch: Trialwatch, registry: RegistryServer) -> None:
    registry.max_page_size = 2
    registry.put(*(lupus_trial(f"NCT0000001{n}") for n in range(5)))
    trialwatch("watch", "query", "all-lupus", "--term", "lupus")
    trialwatch("check")
    [row] = trialwatch("watch", "list", "--json", "--searches").json()
    assert (row["name"], row["matches"], row["last_error"]) == ("all-lupus", 5, None)
    assert "all-lupus" in trialwatch("watch", "list").stdout


def test_follow_starts_watching_new_matches_in_the_same_run(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(lupus_trial(A))
    trialwatch("watch", "query", "cart", "--term", "lupus", "--follow")
    trialwatch("check")
    assert trialwatch("watch", "list", "--json").json() == []  # the baseline follows no one
    registry.put(lupus_trial(B, "Second lupus trial"))
    result = trialwatch("check", "--json").json()
    assert [e["category"] for e in result["changes"]] == ["new_trial"]
    assert result["checked"] == 1  # B's own baseline, in the same run
    assert [w["nct_id"] for w in trialwatch("watch", "list", "--json").json()] == [B]


def test_new_trials_appear_in_the_digest_with_title_and_link(new_match: Trialwatch) -> None:
    text = new_match("digest", "--stdout").stdout
    assert f"{C}\nA new lupus trial\nhttps://clinicaltrials.gov/study/{C}\n" in text
    assert "New in search cart-lupus: A new lupus trial (Phase 1;" in text


def test_a_failing_search_is_reported_and_gets_its_baseline_later(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(lupus_trial(A))
    trialwatch("watch", "query", "cart", "--term", "lupus")
    registry.fail(status=500, times=3)
    failed = trialwatch("check", "--json")
    assert failed.code == 1
    assert failed.json()["errors"] == [
        {"nct_id": "query:cart", "error": "server error (HTTP 500) after 3 attempts"}
    ]
    assert trialwatch("check", "--json").json()["changes"] == []  # a baseline, not "new"


def test_bad_searches_are_bad_input(trialwatch: Trialwatch) -> None:
    assert trialwatch("watch", "query", "x").code == 2
    bad_name = trialwatch("watch", "query", "bad name!", "--term", "x")
    assert bad_name.code == 2 and "bad search name 'bad name!'" in bad_name.stderr
    bad_status = trialwatch("watch", "query", "ok", "--status", "sleeping")
    assert bad_status.code == 2 and "sleeping" in bad_status.stderr
    # named like a trial, a search would shadow it: `watch remove NCT…` would remove the search
    like_a_trial = trialwatch("watch", "query", "nct05869955", "--term", "lupus")
    assert like_a_trial.code == 2 and "it is a trial's id" in like_a_trial.stderr
    assert trialwatch("watch", "list", "--searches", "--json").json() == []


def test_a_search_the_registry_cannot_read_says_so_not_invalid_id(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(lupus_trial(A))
    trialwatch("watch", "query", "dates", "--term", "AREA[LastUpdatePostDate RANGE[2026-11-20,MAX]")
    result = trialwatch("check", "--json")
    assert result.code == 1
    assert result.json()["errors"] == [
        {
            "nct_id": "query:dates",
            "error": "the registry refused the search expression (HTTP 400): check its terms",
        }
    ]


@pytest.fixture
def new_match(trialwatch: Trialwatch, registry: RegistryServer) -> Trialwatch:
    """A watched search's baseline, then a check that finds one new match (C), undelivered."""
    registry.put(lupus_trial(A))
    trialwatch("watch", "query", "cart-lupus", "--condition", "lupus")
    trialwatch("check")
    registry.put(lupus_trial(C, "A new lupus trial"))
    trialwatch("check")
    return trialwatch


def test_the_feed_of_every_change_carries_a_searchs_new_matches(
    new_match: Trialwatch, home: Path
) -> None:
    assert new_match("report").code == 0
    [entry] = feedparser.parse((home / "report" / "index.atom").read_bytes()).entries
    assert entry.title == f"{C}: new in search cart-lupus"
    assert "<li>New in search cart-lupus: A new lupus trial" in entry.content[0].value


def test_a_chat_digest_of_a_searchs_new_match_reads_whole(
    new_match: Trialwatch, webhook: WebhookServer
) -> None:
    assert new_match("digest", env={"TRIALWATCH_NOTIFY": webhook.url()}).code == 0
    [post] = webhook.bodies()
    first, match, link = post["message"].splitlines()
    assert first == f"**{C}**: new in search cart-lupus"
    assert match.startswith("- New in search cart-lupus: A new lupus trial (Phase 1;")
    assert link == f"https://clinicaltrials.gov/study/{C}"


def test_a_digest_of_a_searchs_new_match_has_a_subject_that_says_so(new_match: Trialwatch) -> None:
    result = new_match("digest")
    assert result.stdout.startswith(f"Wrote {C}: new in search cart-lupus to ")


def test_a_search_is_removed_by_its_name_and_its_history_stays(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(lupus_trial(A))
    trialwatch("watch", "query", "cart-lupus", "--condition", "lupus")
    trialwatch("check")
    registry.put(lupus_trial(B, "Another lupus trial"))
    assert len(trialwatch("check", "--json").json()["changes"]) == 1
    removed = trialwatch("watch", "remove", "cart-lupus")
    assert removed.code == 0 and removed.stdout == "Stopped watching search cart-lupus\n"
    assert trialwatch("watch", "list", "--json", "--searches").json() == []
    assert [e["field"] for e in trialwatch("changes", "--json").json()] == ["query:cart-lupus"]
    registry.put(lupus_trial(C, "A third lupus trial"))
    assert trialwatch("check", "--json").json()["changes"] == []  # no longer searched
    unknown = trialwatch("watch", "remove", "no-such-search")
    assert unknown.code == 2 and "not an NCT id: 'no-such-search'" in unknown.stderr


def test_every_time_the_database_keeps_is_the_specs_utc_text(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    """Times are datetimes inside the program; whatever path wrote one (a watch, a search, a
    check, an import, a delivery, a run), the database holds `YYYY-MM-DDTHH:MM:SSZ`."""
    registry.put(lupus_trial(A), other_trial(B))
    trialwatch("watch", "add", B)
    trialwatch("watch", "query", "cart", "--term", "lupus", "--follow")
    trialwatch("check")
    registry.put(lupus_trial(C, "A new lupus trial"))
    trialwatch("import", str(SEED_FILES[0]))  # dated by its own post date
    registry.put(load_seed())
    assert trialwatch("run").code == 0  # checks, follows C, and writes the digest to the outbox
    with sqlite3.connect(home / "trialwatch.db") as conn:
        tables = [
            row[0] for row in conn.execute("select name from sqlite_master where type='table'")
        ]
        seen: Counter[str] = Counter()
        for table in tables:
            for column in [row[1] for row in conn.execute(f"pragma table_info({table})")]:
                if column.endswith("_at") or column == "first_seen":
                    for (value,) in conn.execute(f"select {column} from {table}"):
                        if value is not None:
                            assert UTC_TEXT.fullmatch(value), (table, column, value)
                            seen[f"{table}.{column}"] += 1
    assert set(seen) == {
        "watches.added_at",
        "watches.last_checked_at",
        "snapshots.fetched_at",
        "snapshots.last_seen_at",
        "events.detected_at",
        "events.delivered_at",
        "runs.started_at",
        "runs.finished_at",
        "deliveries.created_at",
        "deliveries.finished_at",
        "queries.created_at",
        "queries.last_checked_at",
        "query_matches.first_seen",
    }


@pytest.mark.parametrize("edit", [("edit", "lupus", "--term", "asthma"), ("remove", "lupus")])
def test_a_search_edited_or_removed_during_a_run_lands_whole(
    trialwatch: Trialwatch, spawn_trialwatch: Spawn, registry: RegistryServer, edit: tuple[str, ...]
) -> None:
    """The run asked the old criteria: its answer is not saved over the edit (which made the
    next check a baseline, and then told every match of the new criteria as new), nor for a
    search no longer there (a foreign-key error aborted the run)."""
    registry.put(lupus_trial(A), other_trial(B))
    trialwatch("watch", "add", A)
    trialwatch("watch", "query", "lupus", "--term", "lupus")
    assert trialwatch("check").code == 0  # the search's baseline
    registry.hold_when = lambda request: request.params.get("query.term") == ["lupus"]
    run = spawn_trialwatch("check", "--full")
    assert registry.request_held.wait(PATIENCE)
    assert trialwatch("watch", *edit).code == 0
    registry.release.set()
    assert run.wait(PATIENCE) == 0, run.communicate()[1]
    final = trialwatch("check", "--full", "--json").json()  # every match listed
    assert final["changes"] == []  # the edited search's baseline: B is not "new"
