"""The registry client against a real HTTP server on loopback: batching, paging, retries, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from monitor import __version__
from monitor.errors import RegistryError, StudyNotFound
from monitor.registry.answers import connection_failure
from monitor.registry.client import RegistryClient
from tests.conftest import study_with_id
from tests.registry_server import RegistryServer
from tests.test_search_areas import small_trial

IDS = [f"NCT0000000{n}" for n in range(1, 6)]


@pytest.fixture
def client(registry: RegistryServer) -> Iterator[RegistryClient]:
    with RegistryClient(
        registry.url, request_interval=0, backoff_base=0, throttle_wait=0, max_attempts=3
    ) as client:
        yield client


@pytest.fixture
def five_trials(registry: RegistryServer) -> list[str]:
    registry.put(*(study_with_id(nct_id) for nct_id in IDS))
    return IDS


def fetch_all(
    client: RegistryClient, ids: list[str], batch_size: int = 100
) -> tuple[dict[str, Any], dict[str, Any]]:
    studies, errors = {}, {}
    for batch in client.fetch_studies(ids, batch_size=batch_size):
        studies.update(batch.studies)
        errors.update({nct_id: str(error) for nct_id, error in batch.errors.items()})
    return studies, errors


def test_trials_are_fetched_in_batches_not_one_request_each(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    studies, errors = fetch_all(client, five_trials, batch_size=2)
    assert sorted(studies) == IDS and errors == {}
    assert [r.params["filter.ids"][0] for r in registry.study_requests()] == [
        "NCT00000001,NCT00000002",
        "NCT00000003,NCT00000004",
        "NCT00000005",
    ]


def test_next_page_token_is_followed(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.max_page_size = 2
    studies, _ = fetch_all(client, five_trials)
    assert sorted(studies) == IDS
    assert [r.params.get("pageToken") for r in registry.study_requests()] == [None, ["2"], ["4"]]


def test_requests_name_trialwatch_and_its_version(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    fetch_all(client, IDS[:1])
    assert registry.requests[0].headers["User-Agent"].startswith(f"trialwatch/{__version__}")


def test_trial_absent_from_a_batch_is_reported_not_found(
    client: RegistryClient, five_trials: list[str]
) -> None:
    studies, errors = fetch_all(client, [*IDS, "NCT09999999"])
    assert sorted(studies) == IDS
    assert errors == {"NCT09999999": "not found in the registry"}


def test_server_errors_are_retried_then_succeed(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.fail(status=503, times=2)
    studies, errors = fetch_all(client, IDS)
    assert sorted(studies) == IDS and errors == {}
    assert len(registry.study_requests()) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_that_persists_names_the_status(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str], status: int
) -> None:
    registry.fail(status=status, times=5)
    registry.fail(status=status, path_prefix="/version")  # down for everyone: no more splitting
    studies, errors = fetch_all(client, IDS[:2])
    assert studies == {}
    assert errors == {
        nct_id: f"server error (HTTP {status}) after 3 attempts" for nct_id in IDS[:2]
    }
    assert len(registry.study_requests()) == 3 + 2  # the halves asked once each, then it stops


def waiting_client(registry: RegistryServer, waits: list[float], **options: Any) -> RegistryClient:
    """A client whose waits are recorded, not slept: what it waits is what is asserted."""
    settings: dict[str, Any] = {"request_interval": 0, "backoff_base": 0} | options
    return RegistryClient(registry.url, sleep=waits.append, **settings)


def test_rate_limit_honours_retry_after(registry: RegistryServer, five_trials: list[str]) -> None:
    registry.fail(status=429, headers={"Retry-After": "7"})
    waits: list[float] = []
    with waiting_client(registry, waits) as client:
        studies, _ = fetch_all(client, IDS)
    assert sorted(studies) == IDS and len(registry.study_requests()) == 2
    assert waits == [7.0]


def test_rate_limit_that_persists_is_reported(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.fail(status=429, headers={"Retry-After": "0"}, times=3)
    _, errors = fetch_all(client, IDS[:1])
    assert errors == {IDS[0]: "rate limited (HTTP 429) after 3 attempts"}


def test_throttling_without_retry_after_waits_for_a_window_to_pass(
    registry: RegistryServer, five_trials: list[str]
) -> None:
    """No Retry-After: a 429 waits `throttle_wait` (doubling), not the short 5xx backoff."""
    registry.fail(status=429, times=2)
    waits: list[float] = []
    with waiting_client(registry, waits, throttle_wait=40, max_attempts=3) as throttled:
        studies, _ = fetch_all(throttled, IDS[:1])
    assert list(studies) == IDS[:1]
    assert waits == [40.0, 80.0]


def test_a_refusal_is_tried_again_once_then_said_in_plain_words(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    """The registry's firewall answers 403 to some networks: one more try (a burst passes),
    then a message that says what to do; later requests are not retried again."""
    registry.fail(status=403, times=1)
    studies, errors = fetch_all(client, IDS[:1])
    assert list(studies) == IDS[:1] and errors == {}
    registry.fail(status=403, times=10)
    _, errors = fetch_all(client, IDS[1:3], batch_size=1)
    assert errors[IDS[1]] == errors[IDS[2]]
    assert errors[IDS[1]].startswith("refused by the registry (HTTP 403): its firewall turns away")
    assert "HTTPS_PROXY" in errors[IDS[1]]
    assert len(registry.study_requests()) == 1 + 1 + 2 + 1  # ok after one; 2 tries; then 1


def test_backoff_grows_exponentially(registry: RegistryServer, five_trials: list[str]) -> None:
    registry.fail(status=500, times=3)
    waits: list[float] = []
    with waiting_client(registry, waits, backoff_base=2, max_attempts=4) as slow:
        fetch_all(slow, IDS[:1])
    assert len(registry.study_requests()) == 4
    assert waits == [2.0, 4.0, 8.0]


def test_politeness_interval_spaces_requests(
    registry: RegistryServer, five_trials: list[str]
) -> None:
    waits: list[float] = []
    with waiting_client(registry, waits, request_interval=30) as polite:
        fetch_all(polite, IDS, batch_size=1)
    # before each request after the first: what is left of the 30 s since the one before
    assert len(registry.study_requests()) == 5
    assert len(waits) == 4 and all(29 < wait <= 30 for wait in waits)


def test_timeouts_are_retried_then_reported(
    registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.fail(delay=10, times=3)  # twenty times the timeout: late on any machine
    with RegistryClient(
        registry.url, request_interval=0, backoff_base=0, timeout=0.5, max_attempts=3
    ) as client:
        _, errors = fetch_all(client, IDS[:1])
    assert errors == {IDS[0]: "timed out after 3 attempts"}
    assert len(registry.study_requests()) == 3


def test_connection_reset_is_retried(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.fail(reset=True)
    studies, errors = fetch_all(client, IDS[:1])
    assert list(studies) == IDS[:1] and errors == {}


def test_connection_refused_is_reported(registry: RegistryServer) -> None:
    with RegistryClient(
        "http://127.0.0.1:9", request_interval=0, backoff_base=0, max_attempts=2
    ) as client:
        _, errors = fetch_all(client, IDS[:1])
    assert errors == {
        IDS[0]: "could not reach the registry at 127.0.0.1: connection refused (2 attempts)"
    }


def test_an_unreachable_registry_is_tried_once_per_run_not_once_per_request(
    registry: RegistryServer,
) -> None:
    """Offline: the first request finds out (with its retries); every later one is told at
    once, so an offline check takes seconds, not a retry cycle per batch."""
    waits: list[float] = []
    with RegistryClient(
        "http://127.0.0.1:9", request_interval=0, backoff_base=1, max_attempts=2, sleep=waits.append
    ) as client:
        assert client.data_timestamp() is None
        assert waits == [1.0]  # /version, with its one retry
        _, errors = fetch_all(client, IDS[:3], batch_size=1)
        assert waits == [1.0]  # nothing more was tried
    assert len(set(errors.values())) == 1 and len(errors) == 3


@pytest.mark.parametrize(
    "error, cause",
    [
        ("[Errno -2] Name or service not known", "its name could not be resolved"),
        ("[Errno -3] Temporary failure in name resolution", "its name could not be resolved"),
        ("[Errno 111] Connection refused", "connection refused"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "TLS failed: [SSL"),
        ("[Errno 101] Network is unreachable", "no route to it"),
    ],
)
def test_connection_failures_name_their_cause(error: str, cause: str) -> None:
    assert connection_failure(httpx.ConnectError(error)).startswith(cause)


def test_an_answer_that_breaks_off_keeps_what_it_delivered_and_asks_for_the_rest(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    """Studies are handed on as the answer arrives: those before the break stand, and only
    the ids the answer did not reach are asked again."""
    registry.fail(truncate=True)
    handed_on = [batch for batch in client.fetch_studies(IDS)]
    _, again = registry.study_requests()
    asked_again = again.params["filter.ids"][0].split(",")
    reached = [
        nct_id for batch in handed_on[: len(IDS) - len(asked_again)] for nct_id in batch.studies
    ]
    assert 0 < len(asked_again) < len(IDS) and reached == IDS[: len(reached)]
    assert asked_again == [nct_id for nct_id in IDS if nct_id not in reached]
    assert not any(batch.complete for batch in handed_on[: len(reached)])
    assert sorted(i for batch in handed_on for i in batch.studies) == IDS
    assert not any(batch.errors for batch in handed_on)


def test_an_answer_cut_off_halfway_is_retried_then_reported(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.fail(truncate=True)
    studies, errors = fetch_all(client, IDS)
    assert sorted(studies) == IDS and errors == {}
    registry.fail(truncate=True, times=1000)
    studies, errors = fetch_all(client, IDS[:1])
    assert errors == {IDS[0]: "connection failed after 3 attempts (the answer broke off halfway)"}


def test_one_malformed_record_does_not_take_down_its_batch(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.put_raw(IDS[2], '{"protocolSection": {"identificationModule": {"nctId": "NCT0')
    studies, errors = fetch_all(client, IDS)
    assert sorted(studies) == [nct_id for nct_id in IDS if nct_id != IDS[2]]
    assert errors == {IDS[2]: "malformed JSON from the registry"}


def test_record_without_an_id_is_isolated_as_malformed(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.put_raw(IDS[0], '{"protocolSection": {}}')
    studies, errors = fetch_all(client, IDS[:2])
    assert list(studies) == IDS[1:2]
    assert "malformed study record" in errors[IDS[0]]


def test_record_answering_for_another_trial_is_rejected(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.put_raw(IDS[0], registry.studies[IDS[1]])
    with pytest.raises(RegistryError, match="registry answered with NCT00000002 instead"):
        client.fetch_study(IDS[0])


def test_unknown_single_trial_is_not_found(
    client: RegistryClient, registry: RegistryServer
) -> None:
    with pytest.raises(StudyNotFound, match=r"not found \(HTTP 404\)"):
        client.fetch_study("NCT09999999")


def test_rejected_batch_is_retried_one_by_one(
    client: RegistryClient, registry: RegistryServer, five_trials: list[str]
) -> None:
    registry.fail(status=400, body='{"message": "bad"}')
    studies, errors = fetch_all(client, IDS[:2])
    assert sorted(studies) == IDS[:2] and errors == {}


def many_trials(registry: RegistryServer, count: int) -> list[str]:
    """`count` small records: what is asked and answered matters here, not what they hold."""
    ids = [f"NCT{n:08d}" for n in range(1, count + 1)]
    registry.put(*(small_trial(nct_id, f"Trial {n}") for n, nct_id in enumerate(ids)))
    return ids


def test_a_poisoned_record_is_isolated_and_the_rest_of_its_batch_fetched(
    client: RegistryClient, registry: RegistryServer
) -> None:
    """A record the registry cannot serialise fails every request that includes it: the batch
    is halved until it is found, within a bound on extra requests."""
    ids = many_trials(registry, 20)
    registry.poisoned = {ids[13]}
    studies, errors = fetch_all(client, ids, batch_size=20)
    assert sorted(studies) == sorted(set(ids) - {ids[13]})
    assert errors == {ids[13]: "server error (HTTP 500) after 3 attempts"}
    # 3 tries of the batch, then two halves per level: 20 -> 10 -> 5 -> 3 -> 2 -> 1
    assert len(registry.study_requests()) <= 3 + 2 * 5


def test_two_poisoned_records_in_both_halves_are_both_isolated(
    client: RegistryClient, registry: RegistryServer
) -> None:
    ids = many_trials(registry, 16)
    registry.poisoned = {ids[2], ids[11]}
    studies, errors = fetch_all(client, ids, batch_size=16)
    assert set(errors) == {ids[2], ids[11]} and len(studies) == 14
    assert len(registry.version_requests()) == 1  # both halves failed: is it down? no


def test_the_update_dates_phase_isolates_a_poisoned_record_too(
    client: RegistryClient, registry: RegistryServer
) -> None:
    ids = many_trials(registry, 12)
    registry.poisoned = {ids[5]}
    dates = client.fetch_update_dates(ids)
    assert set(dates) == set(ids) - {ids[5]}  # the poisoned one counts as moved


def test_request_urls_stay_under_8_kb_whatever_the_batch_size(
    client: RegistryClient, registry: RegistryServer
) -> None:
    ids = many_trials(registry, 1200)
    studies, errors = fetch_all(client, ids, batch_size=1000)
    assert len(studies) == 1200 and errors == {}
    requests = registry.study_requests()
    assert len(requests) == 3
    assert max(len(r.params["filter.ids"][0]) for r in requests) < 8000


def test_a_414_is_split_like_a_failing_batch(
    client: RegistryClient, registry: RegistryServer
) -> None:
    ids = many_trials(registry, 8)
    registry.max_url_length = 80 + 4 * 12  # room for about four ids
    studies, errors = fetch_all(client, ids, batch_size=8)
    assert sorted(studies) == ids and errors == {}


def test_a_merged_trial_answers_under_its_current_id_by_batch_and_by_redirect(
    client: RegistryClient, registry: RegistryServer
) -> None:
    registry.put(study_with_id("NCT00000001"), study_with_id("NCT00000002"))
    registry.merge("NCT00000001", "NCT00000009")
    studies, errors = fetch_all(client, ["NCT00000001", "NCT00000002"])
    assert errors == {}
    assert studies["NCT00000001"]["protocolSection"]["identificationModule"]["nctId"] == (
        "NCT00000009"
    )
    [batch] = client.fetch_studies(["NCT00000001"])
    assert batch.moved == {"NCT00000001": "NCT00000009"}
    assert client.fetch_study("NCT00000001")["protocolSection"]["identificationModule"][
        "nctId"
    ] == ("NCT00000009")
    assert registry.requests[-2].path == "/studies/NCT00000001"  # 301, followed
    assert registry.requests[-1].path == "/studies/NCT00000009"


def test_the_registry_wide_answer_names_the_old_ids_merged_into_a_study(
    client: RegistryClient, registry: RegistryServer
) -> None:
    registry.put(study_with_id("NCT00000001"), study_with_id("NCT00000002"))
    registry.merge("NCT00000001", "NCT00000009")
    listed = client.updated_since(registry.first_posted.isoformat(), cheaper_than=2)
    assert listed is not None and listed.total == 2
    dates = {nct_id: posted for ids, posted in listed.studies for nct_id in ids}
    assert dates["NCT00000001"] == dates["NCT00000009"]  # the old id moved: fetch it
    assert registry.study_requests()[-1].params["fields"] == ["NCTId|NCTIdAlias|LastUpdatePostDate"]


def test_the_wait_for_a_turn_is_spent_on_the_check_s_own_work_never_longer(
    registry: RegistryServer, five_trials: list[str]
) -> None:
    """Work handed to `while_waiting` is done in small pieces while the politeness interval
    runs, and never delays a request past its turn nor brings it forward."""
    registry.min_interval = 0.2  # a request sooner than this after the last gets 429
    pieces: list[float] = []

    def one_piece() -> bool:
        time.sleep(0.01)
        pieces.append(time.monotonic())
        return len(pieces) < 1000  # more than any wait here has room for

    with RegistryClient(registry.url, request_interval=0.5, max_attempts=1) as client:
        client.while_waiting = one_piece
        studies, errors = fetch_all(client, five_trials, batch_size=2)
    assert sorted(studies) == IDS and errors == {}  # no request came too soon (429)
    starts = [request.at for request in registry.study_requests()]
    assert len(starts) == 3 and 5 <= len(pieces) < 1000
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert all(gap >= 0.2 for gap in gaps)  # 0.5 as the client sent them, less the jitter


def test_an_answer_broken_off_on_every_attempt_keeps_its_trial_status_and_cause() -> None:
    from monitor.errors import BrokenOff

    broken = BrokenOff("connection failed", "reset by peer")
    broken.nct_id, broken.status = "NCT05869955", 200
    told = broken.after(1)
    assert str(told) == "connection failed after 1 attempt (reset by peer)"
    assert (told.nct_id, told.status, told.__cause__) == ("NCT05869955", 200, broken)
