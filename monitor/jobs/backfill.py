"""Backfill: a trial's past versions from the registry's record history, diffed in order with the
same engine, so a newly watched trial has its whole change history at once.

The history endpoints are internal to the registry: every version a trial needs is fetched
before anything is stored, so when they fail nothing changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from monitor.errors import MalformedResponse, RegistryError
from monitor.jobs.check import CheckError
from monitor.records.diff import diff_records
from monitor.records.events import ChangeEvent
from monitor.records.normalise import Record, content_hash, normalise_study
from monitor.registry.client import RegistryClient
from monitor.registry.raw import last_update_submitted, study_nct_id
from monitor.registry_dates import iso_date
from monitor.store import BackfilledVersion, Store
from monitor.times import Clock, midnight


@dataclass(frozen=True)
class RegistryVersion:
    number: int
    date: str


@dataclass(frozen=True)
class BackfillOutcome:
    nct_id: str
    stored: int
    skipped: int
    events: list[ChangeEvent]
    first_date: str | None
    last_date: str | None


def fetch_version_list(client: RegistryClient, nct_id: str) -> list[RegistryVersion]:
    """The record's versions, oldest first (`/studies/{id}?history=true`)."""
    answer = client.get_json(f"/studies/{nct_id}", params={"history": "true"})
    try:
        changes = answer["history"]["changes"]
        versions = [RegistryVersion(int(item["version"]), _version_date(item)) for item in changes]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse("record history has no version list", nct_id=nct_id) from exc
    return sorted(versions, key=lambda version: version.number)


def _version_date(item: dict[str, Any]) -> str:
    """A version's date; anything but a real date (it becomes a file name) is malformed."""
    date = iso_date(str(item["date"])[:10])
    if date is None or len(date) != 10:
        raise ValueError(f"version date {item['date']!r}")
    return date


def fetch_version(client: RegistryClient, nct_id: str, number: int) -> dict[str, Any]:
    """One past version of the record (`/studies/{id}/history/{n}`)."""
    answer = client.get_json(f"/studies/{nct_id}/history/{number}")
    study = answer.get("study") if isinstance(answer, dict) else None
    if not isinstance(study, dict) or study_nct_id(study) != nct_id:
        raise MalformedResponse(f"version {number} is not a study record of {nct_id}")
    return study


def backfill_trial(
    store: Store, client: RegistryClient, nct_id: str, *, as_news: bool, clock: Clock
) -> BackfillOutcome:
    """Store every version up to the one the trial's first checked snapshot holds (by its
    submission date, see `horizon_version_date`), and not stored yet.

    Versions are diffed in order; the last one is then diffed against the first checked
    snapshot (until now a baseline), so the history runs on without a gap. Backfilled events
    are marked delivered unless `as_news`: they are history, not news.
    """
    try:
        versions = fetch_version_list(client, nct_id)
        done = store.snapshots.backfilled_numbers(nct_id)
        horizon = store.snapshots.first_checked(nct_id)
        last = horizon_version_date(horizon.raw, horizon.fetched_at) if horizon else None
        wanted = [
            version
            for version in versions
            if version.number not in done and (last is None or version.date <= last)
        ]
        studies = [(version, fetch_version(client, nct_id, version.number)) for version in wanted]
    except RegistryError as exc:
        raise RegistryError(f"record history unavailable: {exc}", nct_id=nct_id) from exc
    latest = store.snapshots.latest_backfilled_record(nct_id)
    backfilled, previous = diff_in_order(normalise_study(latest) if latest else None, studies)
    events = [event for version in backfilled for event in version.events]
    link: list[ChangeEvent] = []
    if horizon is not None and previous is not None and store.snapshots.is_baseline(horizon.id):
        link = diff_records(previous, normalise_study(horizon.raw), detected_at=horizon.fetched_at)
    now = clock()
    store.snapshots.save_backfill(
        nct_id,
        backfilled,
        horizon_events=link,
        horizon_id=horizon.id if horizon else None,
        delivered_at=None if as_news else now,
        now=now,
    )
    dates = [version.date for version in wanted]
    return BackfillOutcome(
        nct_id,
        len(wanted),
        len(versions) - len(wanted),
        events + link,
        dates[0] if dates else None,
        dates[-1] if dates else None,
    )


def diff_in_order(
    previous: Record | None, studies: list[tuple[RegistryVersion, dict[str, Any]]]
) -> tuple[list[BackfilledVersion], Record | None]:
    """Each version diffed against the one before (`previous`: the last stored), its events
    dated by its version date; and the last version's record, for what follows it. Each
    version is normalised once, the record carried to the next."""
    backfilled = []
    for version, study in studies:
        record = normalise_study(study)
        detected_at = midnight(dt.date.fromisoformat(version.date))
        found = [
            _mark(event, version.number)
            for event in diff_records(previous, record, detected_at=detected_at)
        ]
        backfilled.append(
            BackfilledVersion(version.number, detected_at, study, content_hash(record), found)
        )
        previous = record
    return backfilled, previous


def horizon_version_date(raw: dict[str, Any], fetched_at: dt.datetime) -> str:
    """The submission date of the version the first check saw: the version list dates each
    version by its submission, and a version submitted before that check may have been posted
    only after it. Later versions are the check's business, not history: backfilling them would
    tell the story backwards. Without the record's submit date, the day before the check."""
    submitted = last_update_submitted(raw)
    if submitted:
        return submitted
    day_before = fetched_at.date() - dt.timedelta(days=1)
    return day_before.isoformat()


def _mark(event: ChangeEvent, number: int) -> ChangeEvent:
    return dataclasses.replace(event, extra={"backfilled_version": number})


def backfill_trials(
    store: Store,
    client: RegistryClient,
    nct_ids: list[str],
    *,
    as_news: bool,
    clock: Clock,
) -> tuple[list[BackfillOutcome], list[CheckError]]:
    """Backfill each trial; one trial's failure is reported and never stops the others."""
    outcomes, errors = [], []
    for nct_id in nct_ids:
        try:
            outcomes.append(backfill_trial(store, client, nct_id, as_news=as_news, clock=clock))
        except RegistryError as exc:
            errors.append(CheckError(nct_id, exc))
    return outcomes, errors
