"""A hostile or broken registry (issue 22): an answer that trickles in, pages that point to
themselves, an id claimed by another record; none may hang a run or move a watch."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PATIENCE, Spawn, Trialwatch, study_with_id
from tests.registry_server import RegistryServer
from tests.test_cli_schedule import LineReader

A, B, C = "NCT00000001", "NCT00000002", "NCT00000003"
FAST_GIVE_UP = {"TRIALWATCH_TIMEOUT": "1", "TRIALWATCH_MAX_ATTEMPTS": "1"}


def test_a_trickling_answer_ends_at_the_request_deadline(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    registry.fail(trickle=0.05)  # a byte every 50 ms: each resets a read timeout
    started = time.monotonic()
    result = trialwatch("check", "--json", env=FAST_GIVE_UP)
    took = time.monotonic() - started
    assert result.code == 1
    [error] = result.json()["errors"]
    assert error["nct_id"] == A and "timed out" in error["error"]
    # the deadline is 4 x the 1 s timeout; the answer would take 50 minutes: a bound with a
    # margin for a loaded machine still tells the two apart
    assert took < 60
    # the run lock went with it: the next run checks instead of saying "skipped"
    assert trialwatch("check", "--json").json()["checked"] == 1


def test_sigterm_stops_the_daemon_within_seconds_during_a_trickling_answer(
    trialwatch: Trialwatch, spawn_trialwatch: Spawn, registry: RegistryServer
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    registry.fail(trickle=0.05)
    before = len(registry.requests)  # watch add asked about the trial already
    daemon = spawn_trialwatch("schedule", "--every", "3600", env={"TRIALWATCH_TIMEOUT": "600"})
    output = LineReader(daemon.stderr)
    deadline = time.monotonic() + PATIENCE
    while not any("filter.ids" in r.params for r in registry.requests[before:]):
        assert time.monotonic() < deadline, "the daemon never asked for the trial"
        time.sleep(0.05)
    time.sleep(0.5)  # well into the trickle
    daemon.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    assert daemon.wait(PATIENCE) == 0
    assert time.monotonic() - stopped < 20, output.seen  # not the 80 minutes of the answer
    # the lock is free: another run starts at once
    assert trialwatch("check", "--json").json()["checked"] == 1


def test_a_page_token_seen_before_is_a_malformed_answer(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(*(study_with_id(f"NCT{n:08d}") for n in range(1, 6)))
    trialwatch("watch", "add", *(f"NCT{n:08d}" for n in range(1, 6)))
    trialwatch("check")
    registry.max_page_size = 2
    registry.repeat_page_token = True
    before = len(registry.requests)
    result = trialwatch("check", "--force", "--json")
    # the looping list is malformed: the trials are then asked for one by one
    assert result.code == 0 and result.json()["checked"] == 5
    assert len(registry.requests) - before < 30  # 5,000 in 18 s before


def test_endless_empty_pages_are_a_malformed_answer_not_a_hang(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    """Each page empty, each pointing to a page never seen: before, a run went on for good
    (14,995 requests in 90 s), holding the lock. A page of no studies pointing on is
    malformed: the search fails, the trials are asked one by one, and the run ends."""
    registry.put(*(study_with_id(f"NCT{n:08d}") for n in range(1, 4)))
    trialwatch("watch", "add", *(f"NCT{n:08d}" for n in range(1, 4)))
    trialwatch("watch", "query", "lupus", "--term", "lupus")
    trialwatch("check")
    registry.endless_empty_pages = True
    before = len(registry.requests)
    result = trialwatch("check", "--force", "--json")
    assert result.code == 1 and result.json()["checked"] == 3
    [error] = result.json()["errors"]
    assert error["nct_id"] == "query:lupus" and "malformed answer" in error["error"]
    assert len(registry.requests) - before < 30


@pytest.mark.parametrize("asked", ["by id", "search"])
def test_pages_pointing_on_past_the_studies_they_hold_are_malformed(
    trialwatch: Trialwatch, registry: RegistryServer, asked: str
) -> None:
    """Each page one study, each pointing to a page never seen: a list asked by id ends once
    its ids are served, a search once its `totalCount` is (a page more for studies added
    meanwhile), instead of going on for 1,000 pages at the registry's pace."""
    registry.put(*(study_with_id(f"NCT{n:08d}") for n in range(1, 4)))
    trialwatch("watch", "add", *(f"NCT{n:08d}" for n in range(1, 4)))
    if asked == "search":
        trialwatch("watch", "query", "lupus", "--term", "lupus")
    trialwatch("check")
    registry.endless_pages = True
    before = len(registry.requests)
    result = trialwatch("check", "--force", "--json")
    assert result.code == (1 if asked == "search" else 0)
    assert result.json()["checked"] == 3
    if asked == "search":
        [error] = result.json()["errors"]
        assert error["nct_id"] == "query:lupus" and "more pages than" in error["error"]
    assert len(registry.requests) - before < 30


def test_a_record_listing_a_watched_id_as_merged_does_not_take_it_over(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    claimant = study_with_id(B)
    claimant["protocolSection"]["identificationModule"]["nctIdAliases"] = [A]
    registry.put(study_with_id(A), claimant)
    trialwatch("watch", "add", A, "--label", "mine")
    result = trialwatch("check", "--json")
    assert result.code == 0 and "moved" not in result.json()
    listed = trialwatch("watch", "list", "--json").json()
    assert [watch["nct_id"] for watch in listed] == [A]


def test_a_merge_the_registry_answers_for_the_old_id_still_moves_the_watch(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id(A), study_with_id(C))
    trialwatch("watch", "add", A)
    trialwatch("check")
    registry.merge(A, C)
    result = trialwatch("check", "--json")
    assert result.json()["moved"] == [{"nct_id": A, "now": C}]


def test_an_id_in_a_search_answer_must_be_an_nct_id_before_it_is_followed(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    """A search answer's nctId would become a watch, a mail subject and a chat title."""
    registry.put(study_with_id(A))
    trialwatch("watch", "query", "lupus", "--condition", "CAR", "--follow")
    assert trialwatch("check").code == 0
    hostile = study_with_id(B)
    hostile["protocolSection"]["identificationModule"]["nctId"] = (
        "NCT99999999 URGENT <!channel> @everyone [log in](https://evil.example/login)"
    )
    registry.put_raw(B, json.dumps(hostile))
    result = trialwatch("check", "--json")
    assert result.code == 1 and "malformed study record" in result.stderr
    assert trialwatch("watch", "list", "--json").json() == []  # nothing followed
    assert trialwatch("changes", "--json").json() == []
    assert trialwatch("digest").code == 0 and not list((home / "outbox").glob("*.eml"))


def test_the_registry_is_reached_through_the_proxy_the_environment_names(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    """What the 403 message advises (HTTPS_PROXY) works: the look-alike, asked with an absolute
    URL as a proxy is, answers for a registry host that does not resolve."""
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    env = {"TRIALWATCH_API_URL": "http://registry.invalid", "HTTP_PROXY": registry.url}
    result = trialwatch("check", "--json", env=env)
    assert result.code == 0, result.stderr
    assert result.json()["checked"] == 1
    direct = trialwatch("check", "--json", env={**env, "NO_PROXY": "registry.invalid"})
    assert direct.code == 1 and "registry.invalid" in direct.stderr


def cut_emoji(nct_id: str) -> dict[str, Any]:
    """A record with half an emoji ("\\ud83d", as JSON spells it) in a title, a facility name
    and a key: a lone surrogate, which no UTF-8 file, database or mail can hold."""
    study = study_with_id(nct_id)
    study["protocolSection"]["identificationModule"]["briefTitle"] = "Cut \ud83d emoji"
    study["protocolSection"]["contactsLocationsModule"]["locations"][0]["facility"] = (
        "Clinic \ud83d"
    )
    study["protocolSection"]["conditionsModule"]["keywords"] = {"\udc4d key": "value \ud83d"}
    return study


def test_a_lone_surrogate_is_dropped_and_the_trial_checked(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    assert trialwatch("check").code == 0
    registry.put(cut_emoji(A))
    result = trialwatch("check", "--json")
    assert result.code == 0, result.stderr
    summaries = [change["summary"] for change in result.json()["changes"]]
    assert any(summary.endswith('-> "Cut emoji"') for summary in summaries)
    assert any("-> Clinic," in summary for summary in summaries)
    assert trialwatch("check", "--json").json()["changes"] == []  # recorded once


def test_a_file_with_a_lone_surrogate_is_imported(trialwatch: Trialwatch, tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(cut_emoji(A)))  # ASCII: the surrogate as its escape
    assert trialwatch("import", str(path)).code == 0
    history = trialwatch("history", A, "--json")
    assert history.code == 0 and history.json()["title"] == "Cut emoji"
