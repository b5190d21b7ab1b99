"""One recorded check of the watched trials and searches: which trials moved since their last
fetch (the registry's list of updates, or their dates by id), the `/version` shortcut, the
periodic full pass, and the run's bookkeeping (its watermark among it). `check`, `run` and the
`schedule` daemon all go through `recorded_check`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from monitor.config import Settings
from monitor.errors import RegistryError
from monitor.jobs.check import (
    Baselines,
    CheckOutcome,
    DatedStudy,
    check_trials,
    import_studies,
)
from monitor.jobs.searches import check_searches, stored_searches
from monitor.registry.client import RegistryClient
from monitor.registry.updates import UpdatedSince, listing_bound
from monitor.registry.watermark import Watermark
from monitor.store import LastFetch, Store
from monitor.times import Clock

logger = logging.getLogger(__name__)


def registry_client(
    settings: Settings,
    *,
    base_url: str | None = None,
    attempts: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> RegistryClient:
    """A client for the API v2 (or, with `base_url`, the record-history endpoints); `attempts`
    for a one-off question such as `doctor`'s; `should_stop` ends a request under way."""
    return RegistryClient(
        base_url or settings.api_url,
        request_interval=settings.request_interval,
        timeout=settings.timeout,
        max_attempts=attempts or settings.max_attempts,
        backoff_base=settings.backoff_base,
        throttle_wait=settings.throttle_wait,
        should_stop=should_stop,
    )


def recorded_check(
    store: Store,
    settings: Settings,
    *,
    command: str,
    nct_ids: list[str] | None,
    clock: Clock,
    force: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int], None] = lambda done: None,
) -> CheckOutcome:
    """Check `nct_ids` (None: every watched trial) and record the run.

    Watched searches run after learning which trials moved (they share the registry's list of
    updated studies); a match they start following is checked in the same run.
    """
    run_id = store.runs.start(command, now=clock())
    with (
        registry_client(settings, should_stop=should_stop) as client,
        cycle_collector_paused(),
        contextlib.ExitStack() as reading_ahead,
    ):
        updates = UpdatedSince(client, today=clock().date())  # learnt once, for both
        plan = plan_trials(
            store,
            settings,
            client,
            reading_ahead,
            nct_ids,
            force=force,
            clock=clock,
            updates=updates,
        )
        # What this run vouches for: the listing the trials' dates came from, if they were
        # dated. A search's own listing later in the run came after those dates were read (a
        # refresh in between would go unseen); it stands only when no trial was dated.
        trials_listed_through = updates.watermark
        searches = (
            [] if nct_ids is not None else stored_searches(store, unsettled_only=plan.unchanged)
        )
        search_events, search_errors = check_searches(
            store, client, searches, now=clock(), full=plan.full, updates=updates
        )
        if searches:  # a followed match is checked in the same run
            plan.follow(sorted(set(store.watches.ids()) - set(plan.ids)))
        confirmed = plan.confirmed
        store.watches.confirm_unchanged(confirmed, now=clock())
        outcome = check_trials(
            store,
            plan.to_fetch,
            client=client,
            clock=clock,
            batch_size=settings.batch_size,
            on_progress=on_progress,
            should_stop=should_stop,
            baselines=plan.baselines,
        )
    outcome.checked += len(confirmed)
    outcome.events[:0] = search_events
    outcome.errors += search_errors
    _finish_run(
        store,
        run_id,
        outcome,
        now=clock(),
        data_timestamp=plan.timestamp,
        full=plan.full,
        watermark=trials_listed_through if plan.dated else updates.watermark,
    )
    return outcome


@dataclass
class TrialPlan:
    """Which trials a run covers (`ids`) and which of them it fetches (`to_fetch`; the others
    are confirmed unchanged), with what was learnt to decide it."""

    ids: list[str]
    to_fetch: list[str]
    timestamp: str | None = None  # the registry's data timestamp, when it was asked
    unchanged: bool = False  # that timestamp is the last complete run's
    full: bool = False  # the periodic pass that fetches everything
    dated: bool = False  # the trials' update dates were read (their listing's watermark)
    baselines: Baselines | None = None  # read ahead for the trials seen moving

    @property
    def confirmed(self) -> list[str]:
        return sorted(set(self.ids) - set(self.to_fetch))

    def follow(self, nct_ids: list[str]) -> None:
        """Add trials started in this run (a search's new matches): fetched, all of them."""
        self.ids, self.to_fetch = [*self.ids, *nct_ids], [*self.to_fetch, *nct_ids]


def plan_trials(
    store: Store,
    settings: Settings,
    client: RegistryClient,
    reading_ahead: contextlib.ExitStack,
    nct_ids: list[str] | None,
    *,
    force: bool,
    clock: Clock,
    updates: UpdatedSince,
) -> TrialPlan:
    """Which trials to fetch. A check soon after the last complete one first asks the
    registry's data timestamp (`is_probe_worth_it`): when it has not moved, only trials never
    checked or whose last check failed are fetched (unless `force`). Otherwise a daily check
    fetches only the trials that moved (`moved_ids`), reading their baselines ahead inside
    `reading_ahead`; a full pass or a check of named trials fetches them all."""
    every_watch = nct_ids is None
    ids = store.watches.ids() if nct_ids is None else nct_ids
    probe = every_watch and not force and is_probe_worth_it(store, now=clock())
    timestamp = client.data_timestamp() if probe else None
    unchanged = timestamp is not None and timestamp == store.runs.last_complete_data_timestamp()
    full = every_watch and (force or is_full_pass_due(store, settings, now=clock()))
    plan = TrialPlan(ids, ids, timestamp=timestamp, unchanged=unchanged, full=full)
    if unchanged and not full:
        plan.to_fetch = store.watches.unsettled(ids)
        logger.info(
            "registry data unchanged since %s: fetching only %d new or failed trial(s)",
            timestamp,
            len(plan.to_fetch),
        )
    elif every_watch and not full:
        baselines = Baselines(store, keep=client.ids_per_request(settings.batch_size))
        reading_ahead.enter_context(client.waiting_on(baselines.read_one))
        moved = moved_ids(store, client, ids, updates=updates, baselines=baselines)
        plan.dated = bool(ids)
        if moved is None:  # every trial is fetched, most unchanged: nothing to read ahead
            reading_ahead.close()
        else:
            plan.to_fetch, plan.baselines = moved, baselines
    return plan


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """A check holds many small records (baselines, a download of 500 studies) that contain
    no reference cycles: Python's cycle collector scans them again and again and frees
    nothing, a third of the time spent per changed trial at 50,000 watched (measured).
    Reference counting frees them as before; the collector runs again after the check."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


PROBE_WITHIN = dt.timedelta(hours=20)


def is_probe_worth_it(store: Store, *, now: dt.datetime) -> bool:
    """Whether to ask `/version` first. The registry publishes once a day: a check within
    `PROBE_WITHIN` of the last complete one may find its data unchanged, and then the probe
    saves the day's listing; a check a day or more later would pay a request to learn that
    it has moved, which the listing tells anyway. Asked too when no timestamp is known yet,
    so that checks soon after this one have one to compare with."""
    last = store.runs.last_complete_check_at()
    if last is None or store.runs.last_complete_data_timestamp() is None:
        return True
    return now - last < PROBE_WITHIN


def is_full_pass_due(store: Store, settings: Settings, *, now: dt.datetime) -> bool:
    """The safety net: fetch everything when the last full pass is `full_check_days` old."""
    last = store.runs.last_full_check_at()
    if last is None:
        return True
    return now - last >= dt.timedelta(days=settings.full_check_days)


def moved_ids(
    store: Store,
    client: RegistryClient,
    nct_ids: list[str],
    *,
    updates: UpdatedSince,
    baselines: Baselines,
) -> list[str] | None:
    """Phase one of a daily check: the trials whose last-update date moved since their last
    fetch (or that were never fetched, or failed last time). Whichever takes fewer requests:
    the registry's list of everything updated since the earliest of these trials' last checks
    (absent: unchanged), or their update dates asked by id (absent: moved). On failure, None:
    which moved is not known, every trial is fetched. The baselines of trials seen moving in
    the registry's list are read while its next page is awaited."""

    @functools.cache
    def known() -> dict[str, LastFetch]:
        """Read once, after the first request went out: in the wait for the next one."""
        fetches = store.watches.last_fetches()
        return {nct_id: fetches[nct_id] for nct_id in nct_ids if nct_id in fetches}

    def has_moved(nct_id: str, posted: str | None) -> bool:
        return posted is None or posted != known()[nct_id].update_posted

    def read_ahead_if_moved(nct_id: str, posted: str | None) -> None:
        if nct_id in known() and has_moved(nct_id, posted):
            baselines.want([nct_id])

    earliest = store.watches.earliest_check()
    try:
        everything = None
        by_id = client.requests_by_id(len(nct_ids))
        if earliest is not None and by_id > 1:  # one request by id: nothing can beat it
            bound = listing_bound(store.runs.watermark_before(earliest), earliest)
            everything = updates.since(bound, cheaper_than=by_id, each=read_ahead_if_moved)
        dates = everything if everything is not None else client.fetch_update_dates(nct_ids)
    except RegistryError as exc:
        logger.info("update dates unavailable (%s): fetching every trial", exc)
        return None

    def is_due(nct_id: str) -> bool:
        if nct_id not in known() or known()[nct_id].failed:
            return True
        if nct_id in dates:
            return has_moved(nct_id, dates[nct_id])
        return everything is None  # by id, absent is odd (fetch it); registry-wide, unchanged

    moved = [nct_id for nct_id in nct_ids if is_due(nct_id)]
    logger.info("%d of %d trial(s) updated since their last fetch", len(moved), len(nct_ids))
    return moved


def recorded_import(store: Store, studies: list[DatedStudy], *, clock: Clock) -> CheckOutcome:
    """Record studies read from files as one `import` run."""
    run_id = store.runs.start("import", now=clock())
    outcome = import_studies(store, studies)
    _finish_run(store, run_id, outcome, now=clock(), data_timestamp=None)
    return outcome


def _finish_run(
    store: Store,
    run_id: int,
    outcome: CheckOutcome,
    *,
    now: dt.datetime,
    data_timestamp: str | None,
    full: bool = False,
    watermark: Watermark | None = None,
) -> None:
    store.runs.finish(
        run_id,
        now=now,
        checked=outcome.checked,
        changes=len(outcome.events),
        errors=outcome.to_json()["errors"],
        data_timestamp=data_timestamp,
        full=full,
        watermark=watermark,
    )
