"""Ask the ClinicalTrials.gov API v2 what trialwatch needs: batched fetches by id (a record
the registry cannot serve isolated), paging, update dates, merged ids, and a precise error per
trial. Every request goes through `http.PoliteHttp` (politeness, retries, deadlines)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from monitor.errors import BrokenOff, MalformedResponse, RegistryError, StudyNotFound
from monitor.registry.http import PoliteHttp
from monitor.registry.paging import Paging, counted
from monitor.registry.raw import last_update_posted, study_ids, study_nct_id

logger = logging.getLogger(__name__)
T = TypeVar("T")

PAGE_SIZE = 1000  # the registry's largest page
UPDATE_DATES_BATCH = 300  # ids per request when asking only for last-update dates
MAX_URL_LENGTH = 8000  # real clients keep request URLs under ~8 KB; servers refuse longer (414)
URL_BYTES_PER_ID = len("NCT00000000%2C")
SPLITTABLE_STATUSES = frozenset({414, 500, 502, 503, 504})


@dataclass
class FetchBatch:
    """What one batch of ids came back as: each id is either in `studies` or in `errors`."""

    studies: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, RegistryError] = field(default_factory=dict)
    # Ids the registry answered under another, current id (a merged trial): {asked: current}.
    moved: dict[str, str] = field(default_factory=dict)
    complete: bool = True  # False: more of the same request's answer follows


@dataclass(frozen=True)
class UpdateListing:
    """The registry's list of studies updated since a date, newest first: how many it holds
    (`total`), and each study's ids (its own first, then the old ids merged into it) with its
    last update post date, read page by page as the reader goes on."""

    total: int
    studies: Iterator[tuple[list[str], str | None]]


class RegistryClient(PoliteHttp):
    """The registry's questions trialwatch asks: records by id in batches (a bad record
    isolated), last-update dates, what was updated since a date, paging, merged ids."""

    def fetch_studies(
        self,
        nct_ids: Iterable[str],
        *,
        batch_size: int = 100,
        before_asking: Callable[[list[str]], None] = lambda chunk: None,
    ) -> Iterator[FetchBatch]:
        """Fetch studies `batch_size` ids per request. Each study is handed on as soon as the
        answer has it (a `FetchBatch` of one, not `complete`), so the caller's work on it
        overlaps the transfer of the rest; the request's last batch carries what the whole
        answer tells (ids it lacks, merged ids).

        A batch whose answer is malformed or rejected is retried one id at a time, so one bad
        record never takes the others down with it; an answer that breaks off halfway is asked
        again for the ids it did not reach. `before_asking` gets each request's ids before it
        is sent (a check puts their baselines first in what it reads while waiting).
        """
        for chunk in self._chunks(list(dict.fromkeys(nct_ids)), batch_size):
            before_asking(chunk)
            yield from self._fetch_chunk(chunk)

    def _fetch_chunk(self, nct_ids: list[str]) -> Iterator[FetchBatch]:
        """One request's worth, asked again for the rest while its answer breaks off."""
        failure: RegistryError | None = None
        for attempt in range(1, self.max_attempts + 1):
            answered: set[str] = set()
            try:
                for batch in self._fetch_streamed(nct_ids):
                    answered.update(batch.studies)
                    yield batch
                return
            except BrokenOff as broken:
                nct_ids = [nct_id for nct_id in nct_ids if nct_id not in answered]
                if not nct_ids:  # it broke off after the last record: nothing is missing
                    return
                failure = broken.after(attempt)
                logger.info("answer broke off (%s): asking again for %d", broken, len(nct_ids))
            except RegistryError as refused:  # refused (after its retries), or malformed
                nct_ids = [nct_id for nct_id in nct_ids if nct_id not in answered]
                budget = _budget(nct_ids)
                for part, answer in self._split_on_failure(
                    nct_ids, self._fetch_batch, refused, budget
                ):
                    yield self._settled(part, answer)
                return
        yield FetchBatch(errors={nct_id: failure for nct_id in nct_ids if failure})

    def _settled(self, nct_ids: list[str], answer: FetchBatch | RegistryError) -> FetchBatch:
        """A part's answer, or its error: a malformed or rejected answer is asked again one id
        at a time, so one bad record never takes the others down with it."""
        if isinstance(answer, FetchBatch):
            return answer
        if isinstance(answer, MalformedResponse) or answer.status == 400:
            logger.info("batch of %d failed (%s); fetching one by one", len(nct_ids), answer)
            return self._fetch_one_by_one(nct_ids)
        return FetchBatch(errors={nct_id: answer for nct_id in nct_ids})

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

    def updated_since(
        self, since: str, *, cheaper_than: int, known_last: int = 0
    ) -> UpdateListing | None:
        """Every study the registry updated since `since`
        (`AREA[LastUpdatePostDate]RANGE[since,MAX]`, 1,000 a page), newest first, page by
        page as they are read: what it costs depends on how busy the registry was, not on how
        many trials are watched. The first page's `totalCount` tells how many pages that takes
        (a reader stops at the first of the `known_last` studies at the end it already knows);
        when asking by id would take no more than `cheaper_than` requests, None (one request
        spent learning it)."""
        params = {
            "filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{since},MAX]",
            # with the old ids merged into each study: a watched alias is not "unchanged"
            "fields": "NCTId|NCTIdAlias|LastUpdatePostDate",
            "sort": "LastUpdatePostDate:desc",
            "pageSize": PAGE_SIZE,
            "countTotal": "true",
        }
        first = self.get_json("/studies", params=params)
        total = first.get("totalCount") if isinstance(first, dict) else None
        if not isinstance(total, int):
            return None
        to_read = total - known_last + 1 if known_last else total
        if -(-to_read // PAGE_SIZE) >= cheaper_than:
            return None
        studies = (
            (study_ids(study), last_update_posted(study))
            for study in self.list_studies(params, first_page=first)
        )
        return UpdateListing(total, studies)

    def requests_by_id(self, count: int, *, batch_size: int = UPDATE_DATES_BATCH) -> int:
        """How many requests asking for `count` trials' update dates by id takes."""
        return -(-count // self.ids_per_request(batch_size))

    def _update_dates_of(self, nct_ids: list[str], *, attempts: int | None = None) -> list[Any]:
        params = {
            "filter.ids": ",".join(nct_ids),
            "fields": "NCTId|LastUpdatePostDate",
            "pageSize": PAGE_SIZE,
        }
        return list(self.list_studies(params, attempts=attempts))

    def ids_per_request(self, size: int) -> int:
        """`size`, or fewer if needed to keep the request URL under 8 KB."""
        room = MAX_URL_LENGTH - len(str(self.http.base_url)) - 200  # path and other parameters
        return max(1, min(size, room // URL_BYTES_PER_ID))

    def _chunks(self, ids: list[str], size: int) -> Iterator[list[str]]:
        """`size` ids at a time, fewer if needed to keep the request URL under 8 KB."""
        size = self.ids_per_request(size)
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
            yield from self._split_on_failure(nct_ids, ask, failure, _budget(nct_ids))

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
        page, paging = first_page, Paging(params)
        while True:
            if page is None:
                page = self.get_json("/studies", params=params, attempts=attempts)
            studies = page.get("studies") if isinstance(page, dict) else None
            if not isinstance(studies, list):
                raise MalformedResponse("malformed JSON: no 'studies' list")
            yield from studies
            following = paging.after(page, studies=len(studies))
            if following is None:
                return
            params, page = following, None

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
        """One request's answer, whole."""
        whole = FetchBatch()
        for part in self._fetch_streamed(nct_ids, attempts=attempts):
            whole.studies.update(part.studies)
            whole.errors.update(part.errors)
            whole.moved.update(part.moved)
        return whole

    def _fetch_streamed(
        self, nct_ids: list[str], *, attempts: int | None = None
    ) -> Iterator[FetchBatch]:
        """One request for `nct_ids`: each asked study as it arrives, then what the answer as
        a whole tells (complete)."""
        wanted = set(nct_ids)
        found: set[str] = set()
        merged_into: set[str] = set()  # asked ids another record lists as merged into it
        params = {"filter.ids": ",".join(nct_ids), "pageSize": len(nct_ids)}
        for study in self._streamed_list(params, attempts=attempts):
            try:
                nct_id, *aliases = study_ids(study)
            except RegistryError as exc:
                raise MalformedResponse(f"{exc} in a batch answer") from exc
            if nct_id in wanted and nct_id not in found:
                found.add(nct_id)
                yield FetchBatch(studies={nct_id: study}, complete=False)
            merged_into.update(alias for alias in aliases if alias in wanted)
        # filter.ids matches aliases too. A record claiming an id is no proof that the id moved
        # (it may still be served as itself): the registry's answer to that id decides.
        last = self._fetch_one_by_one([i for i in nct_ids if i in merged_into - found])
        for nct_id in nct_ids:
            if nct_id not in found and nct_id not in last.studies:
                last.errors[nct_id] = last.errors.get(nct_id) or StudyNotFound(
                    "not found in the registry", nct_id=nct_id
                )
        yield last

    def _streamed_list(self, params: dict[str, Any], *, attempts: int | None) -> Iterator[Any]:
        """Every study of a `/studies` list answer as it arrives, page after page."""
        paging = Paging(params)
        while True:
            answer = self.stream_studies("/studies", params=params, attempts=attempts)
            rest, studies = yield from counted(answer)
            following = paging.after(rest, studies=studies)
            if following is None:
                return
            params = following

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


def _budget(nct_ids: list[str]) -> list[int]:
    """Extra requests `_split_on_failure` may spend finding the bad records: 4 x log2(n)."""
    return [4 * max(1, (len(nct_ids) - 1).bit_length())]
