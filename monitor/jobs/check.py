"""One check of many trials: fetch (or read) each record, normalise it, diff it against the latest
snapshot and store snapshot and events together. A failing trial is recorded and skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import (
    BadInput,
    PartialRecord,
    RegistryError,
    StoreError,
    StudyNotFound,
    TrialwatchError,
    UnreadableRecord,
)
from monitor.jobs.meeting import where_trials_meet
from monitor.records.diff import diff_records
from monitor.records.events import ChangeEvent
from monitor.records.normalise import Record, content_hash, normalise_study
from monitor.records.shared_sites import site_places
from monitor.registry.client import RegistryClient
from monitor.registry.raw import (
    data_version,
    last_update_posted,
    loads_registry_json,
    missing_modules,
    protocol_modules,
    study_nct_id,
    study_titles,
)
from monitor.registry_dates import first_day
from monitor.store import FetchedVersion, Store
from monitor.times import Clock, midnight

logger = logging.getLogger(__name__)
MAX_FILE_BYTES = 128 * 1024 * 1024  # an API answer of 1,000 whole records is under 100 MB


@dataclass(frozen=True)
class CheckError:
    """What failed in a check: a trial (its NCT id), or a watched search (`query:NAME`), and
    the error, with its type."""

    item: str  # a trial's NCT id, or `query:NAME` for a watched search
    failure: TrialwatchError

    @property
    def error(self) -> str:
        return str(self.failure)

    @property
    def loud(self) -> bool:
        """What the registry says (a trial withdrawn from view) is told once while it lasts; a
        record we could not read or compare is ours to fix, told every run until recorded."""
        return isinstance(self.failure, UnreadableRecord)

    @property
    def gone(self) -> bool:
        """The registry has no such study now (withdrawn from public view, say)."""
        return isinstance(self.failure, StudyNotFound)


@dataclass
class CheckOutcome:
    """What a check did: the spec's `check --json` object."""

    checked: int = 0  # confirmed this run: downloaded, or unchanged by date or /version
    fetched: int = 0  # records downloaded (for import: read from files) and recorded
    events: list[ChangeEvent] = field(default_factory=list)
    errors: list[CheckError] = field(default_factory=list)
    moved: dict[str, str] = field(default_factory=dict)  # merged trials: {old id: current id}

    def to_json(self) -> dict[str, Any]:
        """The spec's object; `moved` only when the registry merged a watched trial."""
        moved = [{"nct_id": old, "now": current} for old, current in self.moved.items()]
        return {
            "checked": self.checked,
            "fetched": self.fetched,
            "changes": [event.to_json() for event in self.events],
            "errors": [{"nct_id": e.item, "error": e.error} for e in self.errors],
            **({"moved": moved} if moved else {}),
        }


@dataclass(frozen=True)
class Baseline:
    """What a trial's next version is compared with: its latest snapshot's id, protocol
    modules (a version lacking one is partial) and normalised record."""

    snapshot_id: int
    modules: frozenset[str]
    record: Record


class Baselines:
    """The baselines a check compares with, read and normalised ahead for trials known to
    have moved, one at a time while the registry's politeness makes the check wait (between
    pages of its updated studies, before a download) rather than after the download, while
    the user waits. At most `keep` (a download's worth) are held."""

    def __init__(self, store: Store, *, keep: int = 0) -> None:
        self.store = store
        self.keep = keep
        self._ready: dict[str, Baseline | None] = {}
        self._wanted: dict[str, None] = {}  # in order, not read yet

    def want(self, nct_ids: Iterable[str]) -> None:
        self._wanted.update(
            dict.fromkeys(nct_id for nct_id in nct_ids if nct_id not in self._ready)
        )

    def expect(self, nct_ids: list[str]) -> None:
        """The next download's trials: theirs are wanted first, the others let go."""
        wanted = set(nct_ids)
        self._ready = {key: value for key, value in self._ready.items() if key in wanted}
        self._wanted = {}
        self.want(nct_ids)

    def read_one(self) -> bool:
        """Read the next wanted baseline while there is room; False when there is no more."""
        if not self._wanted or len(self._ready) >= self.keep:
            return False
        nct_id = next(iter(self._wanted))
        del self._wanted[nct_id]
        try:
            self._ready[nct_id] = self._read(nct_id)
        except StoreError:
            raise
        except Exception:  # an odd old record fails again, and is told, when compared
            self._ready[nct_id] = None
        return True

    def latest(self, nct_id: str, snapshot_id: int) -> Baseline | None:
        """The baseline of snapshot `snapshot_id` (the trial's latest), read ahead or now."""
        ready = self._ready.pop(nct_id, None)
        if ready is not None and ready.snapshot_id == snapshot_id:
            return ready
        return self._read(nct_id)

    def _read(self, nct_id: str) -> Baseline | None:
        snapshot = self.store.snapshots.latest(nct_id)
        if snapshot is None:
            return None
        return Baseline(snapshot.id, protocol_modules(snapshot.raw), normalise_study(snapshot.raw))


def store_study(
    store: Store,
    study: dict[str, Any],
    *,
    fetched_at: dt.datetime,
    source: str,
    baselines: Baselines | None = None,
) -> list[ChangeEvent]:
    """Store one fetched study and return its change events (none for a baseline or no change)."""
    record = normalise_study(study)
    title, acronym = study_titles(study)
    version = FetchedVersion(
        record["nct_id"],
        study,
        content_hash(record),
        fetched_at,
        source,
        title,
        acronym,
        last_update_posted(study),
    )
    with store.transaction():  # the version compared with is the one the new one follows
        latest = store.snapshots.latest_hash(version.nct_id)
        if latest and version.fetched_at < latest.fetched_at:
            # a clock set back: recorded at its time, the new version would sort before the one
            # it follows, which would stay the latest and be compared with again and again
            version = dataclasses.replace(version, fetched_at=latest.fetched_at)
        events: list[ChangeEvent] = []
        changed = latest is None or latest.content_hash != version.content_hash
        # where the trial's sites are: made again only when they may have moved (or were
        # never recorded, by a database older than them), not for every unchanged fetch
        known = not changed and store.sites.known(version.nct_id)
        places = {} if known else site_places(record["sites"])
        if latest and changed:  # a change needs the record
            previous = (baselines or Baselines(store)).latest(version.nct_id, latest.id)
            if previous is not None:
                refuse_partial(previous.modules, study)
                events = diff_records(previous.record, record, detected_at=version.fetched_at)
                events = where_trials_meet(store, version.nct_id, events, places)
        store.snapshots.save_check(version, latest=latest, events=events)
        if not known:
            store.sites.replace(version.nct_id, places.values())
    logger.info("%s: %d change(s)", version.nct_id, len(events))
    return events


def refuse_partial(had: frozenset[str], study: dict[str, Any]) -> None:
    missing = missing_modules(had, study)
    if missing:
        raise PartialRecord(
            f"partial record: it lacks {', '.join(missing)}, which the last snapshot had "
            "(a search or fields= answer?); not compared, nothing recorded"
        )


def check_trials(
    store: Store,
    nct_ids: list[str],
    *,
    client: RegistryClient,
    clock: Clock,
    batch_size: int,
    on_progress: Callable[[int], None] = lambda done: None,
    should_stop: Callable[[], bool] = lambda: False,
    baselines: Baselines | None = None,
) -> CheckOutcome:
    """Fetch `nct_ids` from the registry in batches and record each; errors never stop the rest.

    `should_stop` is asked between batches: everything recorded so far is committed, the rest
    is simply left for the next check. `baselines`: given when the trials are known to have
    moved (so most changed): theirs are read while waiting for the registry.
    """
    outcome = CheckOutcome()
    baselines = baselines or Baselines(store)  # none kept: each is read when compared
    with contextlib.ExitStack() as answer:  # one transaction (one sync) per request's answer
        writing = False
        for batch in client.fetch_studies(
            nct_ids, batch_size=batch_size, before_asking=baselines.expect
        ):
            fetched_at = clock()
            errors = {nct_id: CheckError(nct_id, error) for nct_id, error in batch.errors.items()}
            if not writing:
                answer.enter_context(store.transaction())
                writing = True
            for old_id, current_id in batch.moved.items():
                store.move_trial(old_id, current_id)
                outcome.moved[old_id] = current_id
                logger.info("%s is now %s: its watch and history moved", old_id, current_id)
            for nct_id, study in batch.studies.items():
                failure = _record_into(
                    outcome, store, study, fetched_at=fetched_at, source="api", baselines=baselines
                )
                if failure:
                    errors[nct_id] = failure
            for error in errors.values():
                _record_error(outcome, store, error, now=fetched_at)
            if batch.complete:
                answer.close()  # committed
                writing = False
            on_progress(len(batch.studies) + len(batch.errors))
            if should_stop():
                logger.info("stopping early: the remaining trials wait for the next check")
                break
    return outcome


@dataclass(frozen=True)
class DatedStudy:
    """A study read from a file, dated as of when the registry published it."""

    source: str
    study: dict[str, Any]
    as_of: dt.datetime

    @property
    def order(self) -> tuple[dt.datetime, str]:
        return (self.as_of, data_version(self.study))


def date_studies(
    studies: Iterable[tuple[str, dict[str, Any]]], *, as_of: dt.date | None, now: dt.datetime
) -> list[DatedStudy]:
    """Studies dated by `as_of`, else by their own last-update post date (an archive of old
    captures is history, not today's news), else `now`; oldest first, whatever the order of
    the files. No date is after `now`: a record posted after today is dated now (a later
    check would sort before it and be compared with it again and again), and an `as_of`
    after today is bad input."""
    if as_of is not None and as_of > now.date():
        raise BadInput(f"--as-of {as_of} is after today ({now.date()})")
    dated = []
    for source, study in studies:
        posted = last_update_posted(study)
        day = as_of or (first_day(posted) if posted else None)
        dated.append(DatedStudy(source, study, min(midnight(day), now) if day else now))
    return sorted(dated, key=lambda one: one.order)


def refuse_unfit_imports(store: Store, studies: list[DatedStudy]) -> None:
    """Bad input, before anything is stored: a partial record, or one older than what is
    already recorded for its trial (it would be diffed backwards)."""
    previous: dict[str, DatedStudy] = {}
    for one in studies:
        nct_id = study_nct_id(one.study)
        if nct_id not in previous:
            latest = store.snapshots.latest(nct_id)
            if latest is not None:
                previous[nct_id] = DatedStudy("", latest.raw, latest.fetched_at)
        if nct_id in previous:
            before = previous[nct_id]
            if one.order < before.order:
                raise BadInput(
                    f"{one.source}: {nct_id} as of {one.as_of.date()} is older than its latest "
                    f"snapshot ({before.as_of.date()}); import older versions first"
                )
            try:
                refuse_partial(protocol_modules(before.study), one.study)
            except PartialRecord as exc:
                raise BadInput(f"{one.source}: {nct_id}: {exc}") from exc
        previous[nct_id] = one


def import_studies(store: Store, studies: Iterable[DatedStudy]) -> CheckOutcome:
    """Record studies read from files, in the given order, each as of its date."""
    outcome = CheckOutcome()
    for one in studies:
        failure = _record_into(outcome, store, one.study, fetched_at=one.as_of, source=one.source)
        if failure:
            _record_error(outcome, store, failure, now=one.as_of)
    return outcome


def _record_into(
    outcome: CheckOutcome,
    store: Store,
    study: dict[str, Any],
    *,
    fetched_at: dt.datetime,
    source: str,
    baselines: Baselines | None = None,
) -> CheckError | None:
    """Record one study into `outcome`; what went wrong if this record cannot be handled.

    The registry's JSON is untrusted: a record of a shape we do not expect (a list where an
    object belongs) fails alone, and the other trials are still recorded and alerted on.
    """
    try:
        outcome.events += store_study(
            store, study, fetched_at=fetched_at, source=source, baselines=baselines
        )
    except StoreError:
        raise  # the database itself failed: every later trial would fail the same way
    except PartialRecord as exc:
        return CheckError(study_nct_id(study), exc)
    except Exception as exc:
        logger.info("%s: could not be recorded", study_nct_id(study), exc_info=True)
        unreadable = UnreadableRecord(f"unexpected record shape ({type(exc).__name__}: {exc})")
        unreadable.__cause__ = exc
        return CheckError(study_nct_id(study), unreadable)
    outcome.checked += 1
    outcome.fetched += 1
    return None


def _record_error(
    outcome: CheckOutcome, store: Store, error: CheckError, *, now: dt.datetime
) -> None:
    store.watches.check_failed(error.item, error.error, now=now)
    outcome.errors.append(error)
    logger.info("%s: %s", error.item, error.error)


def read_study_files(paths: Iterable[Path]) -> list[tuple[str, dict[str, Any]]]:
    """(source, study) for every study in the files: one study, or an API list answer.

    Every file is read and checked before anything is stored, so bad input changes nothing.
    """
    studies = []
    for path in paths:
        try:
            with open(path, "rb") as file:
                text = file.read(MAX_FILE_BYTES + 1)
            if len(text) > MAX_FILE_BYTES:
                raise BadInput(f"{path} is larger than {MAX_FILE_BYTES >> 20} MB: not a record")
            content = loads_registry_json(text)
        except OSError as exc:
            raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from exc
        except ValueError as exc:  # UnicodeDecodeError included
            raise BadInput(f"{path} is not JSON: {exc}") from exc
        if isinstance(content, list):
            raise BadInput(
                f"{path} is a JSON list: expected one study object, or an API list answer "
                '({"studies": [...]}); wrap the list as {"studies": [...]}'
            )
        found = content.get("studies") if isinstance(content, dict) else None
        for study in found if isinstance(found, list) else [content]:
            try:
                study_nct_id(study)
            except RegistryError as exc:
                raise BadInput(f"{path} is not API v2 study JSON: {exc}") from exc
            studies.append((f"file:{path.name}", study))
    return studies
