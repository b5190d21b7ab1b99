"""Talk to the ClinicalTrials.gov API v2: batched fetches by id, paging, retries with backoff
(honouring Retry-After), a politeness interval between requests, and a precise error per trial.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import tenacity

from monitor import __version__
from monitor.errors import MalformedResponse, RegistryError, StudyNotFound
from monitor.registry.answers import (
    connection_failure,
    parse_json,
    parse_retry_after,
    read_capped,
)
from monitor.registry.deadline import RequestDeadline, deadline_transport
from monitor.registry.record import (
    last_update_posted,
    study_ids,
    study_nct_id,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = f"trialwatch/{__version__} (+https://github.com/trialwatch/trialwatch)"
RETRYABLE_STATUSES = frozenset({403, 429, 500, 502, 503, 504})
# Waits the registry's own signals call for: 429 means a per-minute window; 403 is its
# firewall, which some networks meet in bursts. Neither passes in 1-2-4 seconds.
THROTTLING_STATUSES = frozenset({403, 429})
PAGE_SIZE = 1000  # the registry's largest page
UPDATE_DATES_BATCH = 300  # ids per request when asking only for last-update dates
MAX_URL_LENGTH = 8000  # real clients keep request URLs under ~8 KB; servers refuse longer (414)
URL_BYTES_PER_ID = len("NCT00000000%2C")
SPLITTABLE_STATUSES = frozenset({414, 500, 502, 503, 504})
# A request's whole answer must arrive within this many `timeout`s, however it trickles in.
DEADLINE_TIMEOUTS = 4
REFUSAL_ATTEMPTS = 2  # a 403 is tried again once: a lasting refusal will not lift by waiting
REFUSED = (
    "refused by the registry (HTTP 403): its firewall turns away some networks, cloud hosts in "
    "particular; try from another network or through an HTTP proxy (HTTPS_PROXY), and see "
    "`trialwatch doctor`"
)


class RetryableResponse(Exception):
    """A 429 or 5xx answer worth another try; carries the server's Retry-After, if any."""

    def __init__(self, status: int, retry_after: float | None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


@dataclass
class FetchBatch:
    """What one batch of ids came back as: each id is either in `studies` or in `errors`."""

    studies: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, RegistryError] = field(default_factory=dict)
    # Ids the registry answered under another, current id (a merged trial): {asked: current}.
    moved: dict[str, str] = field(default_factory=dict)


class RegistryClient:
    """One shared httpx client with timeouts, retries and a minimum interval between requests."""

    def __init__(
        self,
        base_url: str,
        *,
        request_interval: float = 1.0,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        throttle_wait: float = 30.0,
        max_retry_after: float = 300.0,
        should_stop: Callable[[], bool] = lambda: False,
    ):
        self._deadline = RequestDeadline(should_stop=should_stop)
        self.http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=deadline_transport(self._deadline, base_url=base_url),
            follow_redirects=True,  # a merged trial's old id answers 301 to the current one
        )
        self.request_deadline = DEADLINE_TIMEOUTS * timeout
        self.should_stop = should_stop
        self.request_interval = request_interval
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.throttle_wait = throttle_wait
        self.max_retry_after = max_retry_after
        self.refused = False  # once refused (403) for good, later 403s are not retried
        # Once the registry cannot be connected to at all, the rest of the run is told at once
        # instead of trying (and waiting) for every request again.
        self.unreachable: RegistryError | None = None
        self.requests_sent = 0
        self._next_request_at = 0.0
        self._turn = threading.Lock()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    def fetch_studies(
        self, nct_ids: Iterable[str], *, batch_size: int = 100
    ) -> Iterator[FetchBatch]:
        """Fetch studies `batch_size` ids per request, yielding each batch as it arrives.

        A batch whose answer is malformed or rejected is retried one id at a time, so one bad
        record never takes the others down with it.
        """
        for chunk in self._chunks(list(dict.fromkeys(nct_ids)), batch_size):
            for part, answer in self._isolating(chunk, self._fetch_batch):
                if isinstance(answer, FetchBatch):
                    yield answer
                elif isinstance(answer, MalformedResponse) or answer.status == 400:
                    logger.info("batch of %d failed (%s); fetching one by one", len(part), answer)
                    yield self._fetch_one_by_one(part)
                else:
                    yield FetchBatch(errors={nct_id: answer for nct_id in part})

    def data_timestamp(self) -> str | None:
        """When the registry's data was last refreshed (`/version`); None when unavailable."""
        try:
            answer = self.get_json("/version")
        except RegistryError as exc:
            logger.info("registry /version unavailable (%s): checking anyway", exc)
            return None
        timestamp = answer.get("dataTimestamp") if isinstance(answer, dict) else None
        return timestamp if isinstance(timestamp, str) else None

    def fetch_update_dates(
        self, nct_ids: list[str], *, batch_size: int = UPDATE_DATES_BATCH
    ) -> dict[str, str | None]:
        """Each trial's last update post date, asking for nothing else (the cheap first phase).

        Trials absent from the answer are absent from the result.
        """
        dates: dict[str, str | None] = {}
        failure: RegistryError | None = None
        for chunk in self._chunks(nct_ids, batch_size):
            for _, answer in self._isolating(chunk, self._update_dates_of):
                if isinstance(answer, RegistryError):
                    failure = answer  # those trials count as moved: phase two fetches them
                    continue
                for study in answer:
                    try:
                        dates[study_nct_id(study)] = last_update_posted(study)
                    except RegistryError:
                        continue  # absent, so fetched: the trial's own fetch says what is wrong
        if failure is not None and not dates:
            raise failure
        return dates

    def known_ids(self, nct_ids: list[str]) -> set[str]:
        """Which of `nct_ids` the registry has a record for (its own, or merged into another),
        asking for ids and aliases only, as many per request as the URL allows."""
        known: set[str] = set()
        for chunk in self._chunks(nct_ids, UPDATE_DATES_BATCH):
            params = {"filter.ids": ",".join(chunk), "fields": "NCTId|NCTIdAlias"}
            for study in self.list_studies({**params, "pageSize": PAGE_SIZE}):
                known.update(study_ids(study))
        return known

    def updated_since(self, since: str, *, cheaper_than: int) -> dict[str, str | None] | None:
        """The last update post date of every study the registry updated since `since`
        (`AREA[LastUpdatePostDate]RANGE[since,MAX]`, 1,000 a page): what it costs depends on how
        busy the registry was, not on how many trials are watched. The first page's
        `totalCount` tells how many pages that takes; when asking by id would take no more
        than `cheaper_than` requests, None (one request spent learning it)."""
        params = {
            "filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{since},MAX]",
            # with the old ids merged into each study: a watched alias is not "unchanged"
            "fields": "NCTId|NCTIdAlias|LastUpdatePostDate",
            "pageSize": PAGE_SIZE,
            "countTotal": "true",
        }
        first = self.get_json("/studies", params=params)
        total = first.get("totalCount") if isinstance(first, dict) else None
        if not isinstance(total, int) or -(-total // PAGE_SIZE) >= cheaper_than:
            return None
        return {
            nct_id: last_update_posted(study)
            for study in self.list_studies(params, first_page=first)
            for nct_id in study_ids(study)
        }

    def requests_by_id(self, count: int, *, batch_size: int = UPDATE_DATES_BATCH) -> int:
        """How many requests asking for `count` trials' update dates by id takes."""
        return -(-count // self._ids_per_request(batch_size))

    def _update_dates_of(self, nct_ids: list[str], *, attempts: int | None = None) -> list[Any]:
        params = {
            "filter.ids": ",".join(nct_ids),
            "fields": "NCTId|LastUpdatePostDate",
            "pageSize": PAGE_SIZE,
        }
        return list(self.list_studies(params, attempts=attempts))

    def _ids_per_request(self, size: int) -> int:
        """`size`, or fewer if needed to keep the request URL under 8 KB."""
        room = MAX_URL_LENGTH - len(str(self.http.base_url)) - 200  # path and other parameters
        return max(1, min(size, room // URL_BYTES_PER_ID))

    def _chunks(self, ids: list[str], size: int) -> Iterator[list[str]]:
        """`size` ids at a time, fewer if needed to keep the request URL under 8 KB."""
        size = self._ids_per_request(size)
        for start in range(0, len(ids), size):
            yield ids[start : start + size]

    def _isolating(
        self, nct_ids: list[str], ask: Callable[..., T]
    ) -> Iterator[tuple[list[str], T | RegistryError]]:
        """(ids, answer or error) for `ask(nct_ids)`, splitting a request that keeps failing.

        A record the registry cannot serialise fails every request that includes it (5xx), and
        an over-long URL fails with 414: the request is halved, and failing halves halved again,
        so the trials that are fine are answered and only the bad ones carry the error. A half
        is asked once (its parent already used every retry). When both halves fail and
        `/version` fails too, the registry is down for everyone: splitting stops. At most
        4 x log2(n) extra requests are spent finding the bad ones.
        """
        try:
            yield nct_ids, ask(nct_ids)
        except RegistryError as failure:
            budget = [4 * max(1, (len(nct_ids) - 1).bit_length())]
            yield from self._split_on_failure(nct_ids, ask, failure, budget)

    def _split_on_failure(
        self, nct_ids: list[str], ask: Callable[..., T], failure: RegistryError, budget: list[int]
    ) -> Iterator[tuple[list[str], T | RegistryError]]:
        """The halves of a request that failed with `failure`, each asked once; a part that
        fails again carries `failure` (which says how many attempts the request had)."""
        if len(nct_ids) == 1 or failure.status not in SPLITTABLE_STATUSES or budget[0] < 2:
            yield nct_ids, failure
            return
        budget[0] -= 2
        middle = len(nct_ids) // 2
        first, second = (self._ask_once(half, ask) for half in (nct_ids[:middle], nct_ids[middle:]))
        if all(isinstance(half, RegistryError) for half in (first, second)):
            if failure.status != 414 and not self._answers_version():
                yield nct_ids, failure  # down for everyone, not one bad record
                return
        for half, answer in ((nct_ids[:middle], first), (nct_ids[middle:], second)):
            if isinstance(answer, RegistryError):
                yield from self._split_on_failure(half, ask, failure, budget)
            else:
                yield half, answer

    @staticmethod
    def _ask_once(nct_ids: list[str], ask: Callable[..., T]) -> T | RegistryError:
        try:
            return ask(nct_ids, attempts=1)
        except RegistryError as exc:
            return exc

    def _answers_version(self) -> bool:
        try:
            self.get_json("/version", attempts=1)
        except RegistryError:
            return False
        return True

    def list_studies(
        self, params: dict[str, Any], *, attempts: int | None = None, first_page: Any = None
    ) -> Iterator[Any]:
        """Every study of a `/studies` list answer, page after page (`nextPageToken`);
        `first_page` when it was already asked for."""
        page, seen_tokens = first_page, set()
        while True:
            if page is None:
                page = self.get_json("/studies", params=params, attempts=attempts)
            studies = page.get("studies") if isinstance(page, dict) else None
            if not isinstance(studies, list):
                raise MalformedResponse("malformed JSON: no 'studies' list")
            yield from studies
            token = page.get("nextPageToken")
            if not token:
                return
            if not isinstance(token, str) or token in seen_tokens:
                raise MalformedResponse(f"malformed answer: page token {token!r} seen before")
            seen_tokens.add(token)
            params, page = {**params, "pageToken": token}, None

    def fetch_study(self, nct_id: str) -> dict[str, Any]:
        """One study by id: `GET /studies/{id}`."""
        try:
            study = self.get_json(f"/studies/{nct_id}")
        except RegistryError as exc:
            exc.nct_id = nct_id
            raise
        if not isinstance(study, dict) or nct_id not in study_ids(study):
            raise MalformedResponse(
                f"registry answered with {study_nct_id(study)} instead", nct_id=nct_id
            )
        return study

    def _fetch_batch(self, nct_ids: list[str], *, attempts: int | None = None) -> FetchBatch:
        wanted = set(nct_ids)
        batch = FetchBatch()
        params = {"filter.ids": ",".join(nct_ids), "pageSize": len(nct_ids)}
        merged_into: set[str] = set()  # asked ids another record lists as merged into it
        for study in self.list_studies(params, attempts=attempts):
            try:
                nct_id, *aliases = study_ids(study)
            except RegistryError as exc:
                raise MalformedResponse(f"{exc} in a batch answer") from exc
            if nct_id in wanted:
                batch.studies[nct_id] = study
            merged_into.update(alias for alias in aliases if alias in wanted)
        # filter.ids matches aliases too. A record claiming an id is no proof that the id moved
        # (it may still be served as itself): the registry's answer to that id decides.
        claimed = [nct_id for nct_id in nct_ids if nct_id in merged_into - set(batch.studies)]
        proven = self._fetch_one_by_one(claimed)
        batch.studies.update(proven.studies)
        batch.moved.update(proven.moved)
        for nct_id in nct_ids:
            if nct_id not in batch.studies:
                batch.errors[nct_id] = proven.errors.get(nct_id) or StudyNotFound(
                    "not found in the registry", nct_id=nct_id
                )
        return batch

    def _fetch_one_by_one(self, nct_ids: list[str]) -> FetchBatch:
        batch = FetchBatch()
        for nct_id in nct_ids:
            try:
                batch.studies[nct_id] = study = self.fetch_study(nct_id)
            except RegistryError as exc:
                exc.nct_id = nct_id
                batch.errors[nct_id] = exc
                continue
            if study_nct_id(study) != nct_id:
                batch.moved[nct_id] = study_nct_id(study)
        return batch

    def get_json(
        self, path: str, *, params: dict[str, Any] | None = None, attempts: int | None = None
    ) -> Any:
        """GET with retries (`attempts`, default `max_attempts`): parsed JSON, or a
        `RegistryError` that says what went wrong."""
        if self.unreachable is not None:  # this run already knows: no network, no registry
            raise RegistryError(str(self.unreachable))
        attempts = attempts or self.max_attempts
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((RetryableResponse, httpx.TransportError)),
            stop=lambda state: self._stop_retrying(state, attempts),
            wait=self._retry_wait,
            sleep=self._sleep_unless_stopped,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            answer = retrying(self._get_once, path, params)
        except RetryableResponse as exc:
            if exc.status == 403:
                self.refused = True
                raise RegistryError(REFUSED, status=403) from exc
            what = "rate limited" if exc.status == 429 else "server error"
            raise RegistryError(
                f"{what} (HTTP {exc.status}) after {attempts} attempts", status=exc.status
            ) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self.unreachable = RegistryError(
                f"could not reach the registry at {self.http.base_url.host}: "
                f"{connection_failure(exc)} ({attempts} attempts)"
            )
            raise self.unreachable from exc
        except httpx.TimeoutException as exc:
            if self.should_stop():
                raise RegistryError("not answered: the run was asked to stop") from exc
            raise RegistryError(f"timed out after {attempts} attempts") from exc
        except httpx.TransportError as exc:
            raise RegistryError(
                f"connection failed after {attempts} attempts ({connection_failure(exc)})"
            ) from exc
        status, content = answer
        if status == 404:
            raise StudyNotFound("not found (HTTP 404)", status=404)
        if status == 400:
            raise RegistryError("invalid id (HTTP 400)", status=400)
        if status == 414:
            raise RegistryError("request URL too long (HTTP 414)", status=414)
        if status != 200:
            raise RegistryError(f"unexpected HTTP {status}", status=status)
        return parse_json(content)

    def _get_once(self, path: str, params: dict[str, Any] | None) -> tuple[int, bytes]:
        """(status, body) of one GET, which must be over within the request's deadline."""
        self._wait_for_turn()
        self.requests_sent += 1
        self._deadline.start(self.request_deadline)
        with self.http.stream("GET", path, params=params) as response:
            if response.status_code in RETRYABLE_STATUSES:
                raise RetryableResponse(response.status_code, parse_retry_after(response))
            return response.status_code, read_capped(response)

    def _sleep_unless_stopped(self, seconds: float) -> None:
        """A wait before retrying (up to minutes, for Retry-After) that a stop cuts short."""
        until = time.monotonic() + seconds
        while not self.should_stop() and time.monotonic() < until:
            time.sleep(min(0.2, max(0.0, until - time.monotonic())))

    def _wait_for_turn(self) -> None:
        """Politeness: at most one request per `request_interval` seconds, across threads."""
        with self._turn:
            delay = self._next_request_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next_request_at = time.monotonic() + self.request_interval

    def _stop_retrying(self, state: tenacity.RetryCallState, attempts: int) -> bool:
        if self.should_stop():
            return True
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableResponse) and exc.status == 403:
            return self.refused or state.attempt_number >= min(REFUSAL_ATTEMPTS, attempts)
        return state.attempt_number >= attempts

    def _retry_wait(self, state: tenacity.RetryCallState) -> float:
        """Retry-After when the registry sends one; for throttling without it, long enough for
        a per-minute window to pass (`throttle_wait`, doubling); else a short backoff."""
        exc = state.outcome.exception() if state.outcome else None
        doubling = 2 ** (state.attempt_number - 1)
        if isinstance(exc, RetryableResponse) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        if isinstance(exc, RetryableResponse) and exc.status in THROTTLING_STATUSES:
            return float(min(self.throttle_wait * doubling, self.max_retry_after))
        return float(self.backoff_base * doubling)

    @staticmethod
    def _log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.info("retrying after %s (attempt %d)", exc, state.attempt_number)
