"""One polite, retrying GET to the registry: a minimum interval between requests, retries with
backoff (honouring Retry-After, waiting out throttling), a whole-request deadline, and the
registry's failures said in a few plain words."""

from __future__ import annotations

import codecs
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any, Self, TypeVar

import httpx
import tenacity

from monitor import __version__
from monitor.errors import BrokenOff, RegistryError, StudyNotFound, attempts_text
from monitor.registry.answers import (
    StudiesStream,
    capped_chunks,
    connection_failure,
    malformed,
    parse_json,
    parse_retry_after,
    read_capped,
)
from monitor.registry.deadline import RequestDeadline, deadline_transport

logger = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = f"trialwatch/{__version__} (+https://github.com/trialwatch/trialwatch)"
RETRYABLE_STATUSES = frozenset({403, 429, 500, 502, 503, 504})
# Waits the registry's own signals call for: 429 means a per-minute window; 403 is its
# firewall, which some networks meet in bursts. Neither passes in 1-2-4 seconds.
THROTTLING_STATUSES = frozenset({403, 429})
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


class PoliteHttp:
    """One shared httpx client with timeouts, retries and a minimum interval between requests:
    every GET the registry gets from trialwatch goes through `get_json`."""

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
        sleep: Callable[[float], None] | None = None,
    ):
        """`sleep`: how the client waits (between retries, and for its turn); by default a
        real wait that a stop cuts short. A test passes its own, as a check takes a clock."""
        self._deadline = RequestDeadline(should_stop=should_stop)
        self._sleep = sleep or self._sleep_unless_stopped
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
        self._next_request_at = 0.0
        self._turn = threading.Lock()
        # Work to do while waiting for a turn: one small piece a call, False when none is left.
        self.while_waiting: Callable[[], bool] = lambda: False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    def get_json(
        self, path: str, *, params: dict[str, Any] | None = None, attempts: int | None = None
    ) -> Any:
        """GET with retries (`attempts`, default `max_attempts`): parsed JSON, or a
        `RegistryError` that says what went wrong."""
        status, content = self._retried(self._get_once, path, params, attempts)
        _refuse_status(status)
        return parse_json(content)

    def stream_studies(
        self, path: str, *, params: dict[str, Any], attempts: int | None = None
    ) -> Generator[Any, None, dict[str, Any]]:
        """A `/studies` page's studies one by one as its answer arrives, so the caller's work
        on them overlaps the transfer; returns the rest of the page (`nextPageToken`). Until
        the answer starts, as `get_json` (retries); once it has started, a broken connection
        is `BrokenOff` (the studies already given stand: the caller asks again for the rest).
        """
        status, response = self._retried(self._open_once, path, params, attempts)
        try:
            if not isinstance(response, httpx.Response):
                _refuse_status(status)
                raise RegistryError(f"unexpected HTTP {status}", status=status)
            page, text = StudiesStream(), codecs.getincrementaldecoder("utf-8")()
            for chunk in capped_chunks(response):
                yield from page.feed(text.decode(chunk))
            yield from page.feed(text.decode(b"", final=True), last=True)
            return page.close()
        except UnicodeDecodeError as exc:
            raise malformed() from exc
        except httpx.TimeoutException as exc:
            raise BrokenOff("timed out", "") from exc
        except httpx.TransportError as exc:
            raise BrokenOff("connection failed", connection_failure(exc)) from exc
        finally:
            if isinstance(response, httpx.Response):
                response.close()

    def _retried(
        self,
        once: Callable[[str, dict[str, Any] | None], tuple[int, T]],
        path: str,
        params: dict[str, Any] | None,
        attempts: int | None,
    ) -> tuple[int, T]:
        """`once(path, params)`, tried again on throttling, 5xx and broken connections;
        what failed for good, said as a `RegistryError`."""
        if self.unreachable is not None:  # this run already knows: no network, no registry
            raise RegistryError(str(self.unreachable))
        attempts = attempts or self.max_attempts
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((RetryableResponse, httpx.TransportError)),
            stop=lambda state: self._stop_retrying(state, attempts),
            wait=self._retry_wait,
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(once, path, params)
        except RetryableResponse as exc:
            if exc.status == 403:
                self.refused = True
                raise RegistryError(REFUSED, status=403) from exc
            what = "rate limited" if exc.status == 429 else "server error"
            raise RegistryError(
                f"{what} (HTTP {exc.status}) after {attempts_text(attempts)}", status=exc.status
            ) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self.unreachable = RegistryError(
                f"could not reach the registry at {self.http.base_url.host}: "
                f"{connection_failure(exc)} ({attempts_text(attempts)})"
            )
            raise self.unreachable from exc
        except httpx.TimeoutException as exc:
            if self.should_stop():
                raise RegistryError("not answered: the run was asked to stop") from exc
            raise RegistryError(f"timed out after {attempts_text(attempts)}") from exc
        except httpx.TransportError as exc:
            raise RegistryError(
                f"connection failed after {attempts_text(attempts)} ({connection_failure(exc)})"
            ) from exc

    def _get_once(self, path: str, params: dict[str, Any] | None) -> tuple[int, bytes]:
        """(status, body) of one GET, which must be over within the request's deadline."""
        self._wait_for_turn()
        self._deadline.start(self.request_deadline)
        with self.http.stream("GET", path, params=params) as response:
            if response.status_code in RETRYABLE_STATUSES:
                raise RetryableResponse(response.status_code, parse_retry_after(response))
            return response.status_code, read_capped(response)

    def _open_once(
        self, path: str, params: dict[str, Any] | None
    ) -> tuple[int, httpx.Response | bytes]:
        """(status, the answer still open) of one GET that succeeded, else (status, body)."""
        self._wait_for_turn()
        self._deadline.start(self.request_deadline)
        request = self.http.build_request("GET", path, params=params)
        response = self.http.send(request, stream=True)
        if response.status_code == 200:
            return 200, response
        try:
            if response.status_code in RETRYABLE_STATUSES:
                raise RetryableResponse(response.status_code, parse_retry_after(response))
            return response.status_code, read_capped(response)
        finally:
            response.close()

    def _sleep_unless_stopped(self, seconds: float) -> None:
        """A wait before retrying (up to minutes, for Retry-After) that a stop cuts short."""
        until = time.monotonic() + seconds
        while not self.should_stop() and time.monotonic() < until:
            time.sleep(min(0.2, max(0.0, until - time.monotonic())))

    @contextlib.contextmanager
    def waiting_on(self, work: Callable[[], bool]) -> Iterator[None]:
        """While the block runs, each wait for a request's turn is first spent on `work`
        (reading ahead what the answers will be compared with; it returns False when it has
        nothing left to do), then given back as it was."""
        before, self.while_waiting = self.while_waiting, work
        try:
            yield
        finally:
            self.while_waiting = before

    def _wait_for_turn(self) -> None:
        """Politeness: at most one request per `request_interval` seconds, across threads;
        the wait is first spent on `while_waiting`, never longer than the turn takes."""
        with self._turn:
            while time.monotonic() < self._next_request_at and self.while_waiting():
                pass
            delay = self._next_request_at - time.monotonic()
            if delay > 0:
                self._sleep(delay)
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


def _refuse_status(status: int) -> None:
    """Any answer but 200, said as what it means for the question asked."""
    if status == 404:
        raise StudyNotFound("not found (HTTP 404)", status=404)
    if status == 400:
        raise RegistryError("invalid id (HTTP 400)", status=400)
    if status == 414:
        raise RegistryError("request URL too long (HTTP 414)", status=414)
    if status != 200:
        raise RegistryError(f"unexpected HTTP {status}", status=status)
