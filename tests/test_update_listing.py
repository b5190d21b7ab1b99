"""How far back the daily check lists the registry's updates (issue 26, point 4): from what
the last complete listing saw (its watermark), newest first, stopping once what is left is
that day's studies it already knew; reading on whenever the registry's count says that day
gained a study since."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.registry.client import RegistryClient
from monitor.registry.updates import UpdatedSince
from monitor.registry.watermark import Watermark
from monitor.store import Store
from monitor.times import moment_of
from tests.clock import days_ago, today
from tests.conftest import PATIENCE, Spawn, Trialwatch
from tests.registry_server import RegistryServer
from tests.test_cli_schedule import minimal_study
from tests.test_search_areas import small_trial

DAY, NEXT_DAY = days_ago(1), days_ago(0)  # the last two days the registry refreshed
LONG_AGO = days_ago(330)  # before anything here was watched
WATCHED = [f"NCT0100{n:04d}" for n in range(700)]  # 3 requests by id: the listing is cheaper


def publish(registry: RegistryServer, ids: list[str], day: str, status: str = "RECRUITING") -> None:
    for nct_id in ids:
        registry.put_raw(nct_id, minimal_study(nct_id, status, day))


def others(start: int, count: int) -> list[str]:
    """Trials nobody here watches."""
    return [f"NCT0200{n:04d}" for n in range(start, start + count)]


def listing_requests(registry: RegistryServer, before: int) -> list[str]:
    return [
        request.params["filter.advanced"][0]
        for request in registry.study_requests()[before:]
        if "filter.advanced" in request.params
    ]


@pytest.fixture
def client(registry: RegistryServer) -> Iterator[RegistryClient]:
    with RegistryClient(registry.url, request_interval=0, backoff_base=0) as client:
        yield client


def test_a_listing_from_a_watermark_stops_where_the_known_day_begins(
    registry: RegistryServer, client: RegistryClient
) -> None:
    publish(registry, others(0, 1500), DAY)
    publish(registry, others(1500, 1200), NEXT_DAY)
    known = Watermark(DAY, frozenset(others(0, 1500)))
    updates = UpdatedSince(client, today=today())
    dates = updates.since(known, cheaper_than=10)
    assert dates is not None and set(dates) == set(others(1500, 1200)) | {others(0, 1)[0]}
    assert len(registry.study_requests()) == 2  # 1,200 newer and the first of the known day
    assert updates.watermark == Watermark(NEXT_DAY, frozenset(others(1500, 1200)))


def test_a_study_published_late_on_the_known_day_is_read_all_the_same(
    registry: RegistryServer, client: RegistryClient
) -> None:
    """A second refresh the same day: the day now holds one study more than the watermark
    knew, sorted after every known one. The count tells, and the listing reads on to it."""
    publish(registry, others(0, 1500), DAY)
    known = Watermark(DAY, frozenset(others(0, 1500)))
    publish(registry, ["NCT09999999"], DAY)  # after the listing that made the watermark
    updates = UpdatedSince(client, today=today())
    dates = updates.since(known, cheaper_than=10)
    assert dates is not None and dates["NCT09999999"] == DAY
    assert len(registry.study_requests()) == 2  # every page of the day
    assert updates.watermark == Watermark(DAY, frozenset([*others(0, 1500), "NCT09999999"]))


def test_a_known_study_updated_again_is_read_with_its_new_date(
    registry: RegistryServer, client: RegistryClient
) -> None:
    publish(registry, others(0, 1500), DAY)
    known = Watermark(DAY, frozenset(others(0, 1500)))
    publish(registry, others(700, 1), NEXT_DAY)
    dates = UpdatedSince(client, today=today()).since(known, cheaper_than=10)
    assert dates is not None and dates[others(700, 1)[0]] == NEXT_DAY
    assert len(registry.study_requests()) == 1


def test_a_run_vouches_for_its_first_listing_not_a_later_one(
    registry: RegistryServer, client: RegistryClient
) -> None:
    """A search checked after the first listing but before a later one (a search with an
    older bound) knows the registry as of the first: only that one may be the run's."""
    publish(registry, others(0, 10), DAY)
    updates = UpdatedSince(client, today=today())
    updates.since(days_ago(2), cheaper_than=10)
    first = updates.watermark
    publish(registry, others(10, 5), NEXT_DAY)  # a refresh, then a search asks from further back
    assert updates.since(days_ago(31), cheaper_than=10) is not None
    assert first == Watermark(DAY, frozenset(others(0, 10))) and updates.watermark == first


def test_day_after_day_the_check_lists_from_where_the_last_listing_ended(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    """The second daily check has no watermark yet and lists from two days before its last
    check; the third starts at the newest day the second saw, and reads no further into it
    than the studies it has not seen."""
    publish(registry, WATCHED, LONG_AGO)
    trialwatch("watch", "add", "--no-verify", *WATCHED)
    assert trialwatch("check").code == 0  # the first check is a full pass
    publish(registry, WATCHED[:2], DAY, status="COMPLETED")
    publish(registry, others(0, 1500), DAY)
    before = len(registry.study_requests())
    assert trialwatch("check", "--json").json()["fetched"] == 2
    assert listing_requests(registry, before)[0].startswith("AREA[LastUpdatePostDate]RANGE[")
    publish(registry, [WATCHED[1], WATCHED[2]], NEXT_DAY, status="TERMINATED")
    publish(registry, others(1500, 1200), NEXT_DAY)
    before = len(registry.study_requests())
    result = trialwatch("check", "--json").json()
    asked = listing_requests(registry, before)
    assert asked == [f"AREA[LastUpdatePostDate]RANGE[{DAY},MAX]"] * 2  # 1,202 newer, then DAY
    assert (result["checked"], result["fetched"]) == (700, 2)
    assert {change["nct_id"] for change in result["changes"]} == {WATCHED[1], WATCHED[2]}


def test_a_watched_trial_published_late_on_the_listed_day_is_told(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    publish(registry, WATCHED, LONG_AGO)
    trialwatch("watch", "add", "--no-verify", *WATCHED)
    trialwatch("check")
    publish(registry, others(0, 1500), DAY)
    trialwatch("check")  # lists DAY: the watermark
    publish(registry, WATCHED[-1:], DAY, status="COMPLETED")  # the same day, a later refresh
    result = trialwatch("check", "--json").json()
    assert [change["nct_id"] for change in result["changes"]] == [WATCHED[-1]]


def test_a_trial_confirmed_at_a_time_is_listed_from_the_watermark_of_the_run_before(
    tmp_path: Path,
) -> None:
    """Only a finished run that started at or before the confirmation vouches for it; the
    ids of all but the last few watermarks are let go (their day is then read whole)."""
    store = Store.open(tmp_path / "runs.db")
    marks = [
        Watermark(f"2026-11-{day:02d}", frozenset({f"NCT0000{day:04d}"})) for day in range(1, 10)
    ]
    for day, mark in enumerate(marks, start=1):
        run = store.runs.start("check", now=moment_of(f"2026-11-{day:02d}T10:00:00Z"))
        store.runs.finish(
            run,
            now=moment_of(f"2026-11-{day:02d}T10:01:00Z"),
            checked=1,
            changes=0,
            errors=[],
            watermark=mark,
        )
    store.runs.start(
        "check", now=moment_of("2026-11-10T10:00:00Z")
    )  # killed: it vouches for nothing
    assert store.runs.watermark_before(moment_of("2026-11-01T09:59:59Z")) is None
    assert store.runs.watermark_before(moment_of("2026-11-09T10:00:00Z")) == marks[8]
    assert store.runs.watermark_before(moment_of("2026-11-30T00:00:00Z")) == marks[8]
    assert store.runs.watermark_before(moment_of("2026-11-05T12:00:00Z")) == marks[4]
    assert store.runs.watermark_before(moment_of("2026-11-02T12:00:00Z")) == Watermark(
        "2026-11-02", frozenset()
    )
    store.close()


def test_a_search_listing_after_the_trials_were_dated_by_id_vouches_for_nothing(
    trialwatch: Trialwatch, spawn_trialwatch: Spawn, registry: RegistryServer
) -> None:
    """The trials are dated by id (cheaper that day); then a big search lists the day's
    updates, and a refresh in between posted a watched trial on that day. That listing saw
    the trial, the trials' dates did not: the next check must not take the day as known."""
    matches = [f"NCT0300{n:04d}" for n in range(4500)]  # 5 pages: the list of updates is cheaper
    registry.put(*(small_trial(nct_id, f"Lupus study {n}") for n, nct_id in enumerate(matches)))
    registry.update_dates |= dict.fromkeys(matches, days_ago(333))
    publish(registry, WATCHED, LONG_AGO)
    trialwatch("watch", "add", "--no-verify", *WATCHED)
    trialwatch("watch", "query", "lupus", "--term", "lupus")
    assert trialwatch("check").code == 0  # a full pass, and the search's baseline
    today = days_ago(0)
    # 3 pages: dating 700 trials by id is as cheap; ids before the watched ones, so that a
    # listing stopping at the first study of the day it knows would not reach the trial
    publish(registry, [f"NCT0050{n:04d}" for n in range(2500)], today)
    # /version, the list's first page (too long for the trials), their dates by id (3), then
    # the search's list of updates: held while the refresh posts a watched trial
    registry.hold(len(registry.requests) + 6)
    check = spawn_trialwatch("check")
    assert registry.request_held.wait(PATIENCE)
    assert "query.term" not in registry.requests[-1].params
    assert registry.requests[-1].params["filter.advanced"][0].startswith("AREA[LastUpdate")
    publish(registry, WATCHED[:1], today, status="COMPLETED")
    registry.release.set()
    assert check.wait(PATIENCE) == 0
    result = trialwatch("check", "--json").json()
    assert [change["nct_id"] for change in result["changes"]] == [WATCHED[0]]


def test_a_post_date_after_today_moves_no_watermark(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    """An unwatched record the registry dates a year ahead (a registry error): were it the
    watermark, every later listing would start there and miss each day's real updates."""
    publish(registry, WATCHED, LONG_AGO)
    trialwatch("watch", "add", "--no-verify", *WATCHED)
    assert trialwatch("check").code == 0  # the first check is a full pass
    publish(registry, others(0, 1500), DAY)
    publish(registry, others(1500, 1), days_ago(-365))
    assert trialwatch("check").code == 0  # lists DAY and the year ahead
    publish(registry, WATCHED[:1], NEXT_DAY, status="COMPLETED")
    result = trialwatch("check", "--json").json()
    assert [change["nct_id"] for change in result["changes"]] == [WATCHED[0]]
