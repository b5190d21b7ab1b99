"""Property tests: noise (order, whitespace) never makes an event; real edits always do."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.diff import diff_records
from monitor.normalise import normalise_study
from tests.conftest import load_seed, locations

SEED = load_seed()
BASELINE = normalise_study(SEED)
STATUSES = [
    "NOT_YET_RECRUITING",
    "RECRUITING",
    "ACTIVE_NOT_RECRUITING",
    "SUSPENDED",
    "WITHDRAWN",
    "COMPLETED",
    "TERMINATED",
]
SITE_COUNT = len(locations(SEED))
whitespace = st.text(alphabet=" \t\n\u00a0", min_size=1, max_size=3)
fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def respace(text: str, padding: list[str]) -> str:
    words = text.split(" ")
    return (
        padding[0]
        + "".join(word + padding[i % len(padding)] for i, word in enumerate(words)).rstrip()
        + padding[-1]
    )


@fast
@given(
    order=st.permutations(range(SITE_COUNT)),
    condition_order=st.permutations(range(4)),
    padding=st.lists(whitespace, min_size=1, max_size=4),
    respaced=st.sets(st.integers(0, SITE_COUNT - 1), max_size=10),
)
def test_shuffled_and_respaced_copies_yield_no_events(order, condition_order, padding, respaced):
    study = copy.deepcopy(SEED)
    sites = locations(study)
    for index in respaced:
        sites[index]["facility"] = respace(sites[index]["facility"], padding)
        sites[index]["city"] = padding[0] + sites[index]["city"] + padding[-1]
    study["protocolSection"]["contactsLocationsModule"]["locations"] = [sites[i] for i in order]
    conditions = study["protocolSection"]["conditionsModule"]["conditions"]
    study["protocolSection"]["conditionsModule"]["conditions"] = [
        conditions[i] for i in condition_order
    ]
    description = study["protocolSection"]["descriptionModule"]
    description["briefSummary"] = respace(description["briefSummary"], padding)
    assert diff_records(BASELINE, normalise_study(study), detected_at="t") == []


@fast
@given(
    changes=st.dictionaries(
        st.integers(0, SITE_COUNT - 1), st.sampled_from(STATUSES), min_size=1, max_size=8
    ),
    order=st.permutations(range(SITE_COUNT)),
)
def test_each_site_status_edit_is_one_event_at_that_site(changes, order):
    study = copy.deepcopy(SEED)
    sites = locations(study)
    expected: set[tuple[Any, ...]] = set()
    for index, status in changes.items():
        if sites[index]["status"] != status:
            expected.add(
                (sites[index]["facility"], sites[index]["city"], sites[index]["status"], status)
            )
        sites[index]["status"] = status
    study["protocolSection"]["contactsLocationsModule"]["locations"] = [sites[i] for i in order]
    events = diff_records(BASELINE, normalise_study(study), detected_at="t")
    assert all(event.category == "site_status" for event in events)
    assert {(e.site.facility, e.site.city, e.old, e.new) for e in events} == expected
    assert len(events) == len(expected)


@fast
@given(
    first=st.sampled_from(STATUSES),
    second=st.sampled_from(STATUSES),
    count=st.integers(1, 2000),
)
def test_a_to_b_to_c_agrees_with_a_to_c_on_final_values(first, second, count):
    b = copy.deepcopy(SEED)
    b["protocolSection"]["statusModule"]["overallStatus"] = first
    c = copy.deepcopy(b)
    c["protocolSection"]["statusModule"]["overallStatus"] = second
    c["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = count
    stepwise = {}
    for old, new in ((SEED, b), (b, c)):
        for event in diff_records(normalise_study(old), normalise_study(new), detected_at="t"):
            stepwise[event.field] = event.new
    direct = {e.field: e.new for e in diff_records(BASELINE, normalise_study(c), detected_at="t")}
    assert direct == {
        field: value for field, value in stepwise.items() if value != _baseline_value(field)
    }


def _baseline_value(field: str) -> Any:
    return BASELINE[field]
