"""Property tests: noise (order, whitespace) never makes an event; real edits always do, exactly
one event each, whatever else changed in the same version."""

from __future__ import annotations

import copy
import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.records.diff import diff_records
from monitor.records.normalise import normalise_study
from monitor.records.sites import SITE_NUMBER_IN_CONTACT
from tests.conftest import ANY_TIME, load_seed, locations

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
def test_shuffled_and_respaced_copies_yield_no_events(
    order: list[int], condition_order: list[int], padding: list[str], respaced: set[int]
) -> None:
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
    assert diff_records(BASELINE, normalise_study(study), detected_at=ANY_TIME) == []


# One edit to a copy of the seed and the one event it must make: (category, field, what).
Edit = tuple[Callable[[dict[str, Any]], None], tuple[str, str, Any]]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(study: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = study["protocolSection"]
        for part in parents:
            target = target[part]
        target[last] = value

    return apply


def _protocol(path: str) -> Any:
    value = SEED["protocolSection"]
    for part in path.split("."):
        value = value[part]
    return value


def _changed(path: str, value: Any, event: tuple[str, str, Any]) -> list[Edit]:
    """The edit setting `path` to `value`, and its event unless the seed already has it."""
    return [] if _protocol(path) == value else [(_set(path, value), event)]


iso_dates = st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)).map(dt.date.isoformat)
date_types = st.sampled_from(["ESTIMATED", "ACTUAL"])
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12)


@st.composite
def record_edits(draw: st.DrawFn, *, with_sites: bool = True) -> list[Edit]:
    """Any mix of edits to the seed record (17 kinds), each to another field or another site."""
    edits: list[Edit] = []
    if draw(st.booleans()):
        status = draw(st.sampled_from(STATUSES))
        edits += _changed("statusModule.overallStatus", status, ("overall_status", "", None))
    if draw(st.booleans()):
        enrollment = {"count": draw(st.integers(0, 5000)), "type": draw(date_types)}
        edits += _changed(
            "designModule.enrollmentInfo", enrollment, ("enrollment", "enrollment", None)
        )
    for struct, field in (
        ("startDateStruct", "start_date"),
        ("primaryCompletionDateStruct", "primary_completion_date"),
        ("completionDateStruct", "completion_date"),
    ):
        if draw(st.booleans()):
            value = {"date": draw(iso_dates), "type": draw(date_types)}
            edits += _changed(f"statusModule.{struct}", value, ("date", field, None))
    if draw(st.booleans()):
        age = f"{draw(st.integers(0, 99))} Years"
        edits += _changed(
            "eligibilityModule.minimumAge", age, ("eligibility", "eligibility.minimum_age", None)
        )
    if draw(st.booleans()):
        sex = draw(st.sampled_from(["ALL", "FEMALE", "MALE"]))
        edits += _changed("eligibilityModule.sex", sex, ("eligibility", "eligibility.sex", None))
    if draw(st.booleans()):
        healthy = draw(st.booleans())
        edits += _changed(
            "eligibilityModule.healthyVolunteers",
            healthy,
            ("eligibility", "eligibility.healthy_volunteers", None),
        )
    if draw(st.booleans()):
        criteria = _protocol("eligibilityModule.eligibilityCriteria") + f"\n* {draw(words)}"
        edits += _changed(
            "eligibilityModule.eligibilityCriteria",
            criteria,
            ("eligibility", "eligibility.criteria", None),
        )
    if draw(st.booleans()):
        acronym = f"BF-{draw(words)}"
        edits += _changed(
            "identificationModule.acronym", acronym, ("other", "identificationModule.acronym", None)
        )
    if draw(st.booleans()):
        conditions = [*_protocol("conditionsModule.conditions"), f"Condition {draw(words)}"]
        edits += _changed(
            "conditionsModule.conditions",
            conditions,
            ("other", "conditionsModule.conditions", None),
        )
    if draw(st.booleans()):
        phone = f"855-{draw(st.integers(100, 999))}-{draw(st.integers(1000, 9999))}"
        central = copy.deepcopy(_protocol("contactsLocationsModule.centralContacts"))
        central[0]["phone"] = phone
        edits += _changed(
            "contactsLocationsModule.centralContacts", central, ("contact", "contacts", None)
        )
    if draw(st.booleans()):
        officials = [
            *_protocol("contactsLocationsModule.overallOfficials"),
            {"name": f"Dr {draw(words)}", "role": "PRINCIPAL_INVESTIGATOR"},
        ]
        edits += _changed(
            "contactsLocationsModule.overallOfficials",
            officials,
            ("contact", "contacts.officials", None),
        )
    return edits + (draw(site_edits()) if with_sites else [])


@st.composite
def site_edits(draw: st.DrawFn) -> list[Edit]:
    """Status changes, renames and removals at distinct seed sites (by index into the seed's
    order, so removals go last and from the end), and brand-new sites. Only a site whose
    contacts carry its sponsor site number can be renamed and still be known as the same site.
    """
    touched = draw(st.lists(st.integers(0, SITE_COUNT - 1), unique=True, max_size=10))
    removed = draw(st.sets(st.sampled_from(touched))) if touched else set()
    seed_sites = locations(SEED)
    edits: list[Edit] = []
    for index in sorted(touched, key=lambda i: (i in removed, -i)):
        site = seed_sites[index]
        where = (site["facility"], site["city"])
        if index in removed:
            edits.append((_site_removed(index), ("site_removed", "locations", where)))
        elif index in RENAMEABLE and draw(st.booleans()):
            name = f"Renamed Hospital {draw(words)}"
            renamed = ("site_renamed", "locations.facility", (name, site["city"]))
            edits.append((_site_renamed(index, name), renamed))
        else:
            status = draw(st.sampled_from([s for s in STATUSES if s != site["status"]]))
            edits.append((_site_status(index, status), ("site_status", "locations.status", where)))
    for number in range(draw(st.integers(0, 3))):
        where = (f"Testing Hospital {number}", f"Testville {number}")
        edits.append((_site_added(where), ("site_added", "locations", where)))
    return edits


RENAMEABLE = {
    index
    for index, site in enumerate(locations(SEED))
    if any(SITE_NUMBER_IN_CONTACT.search(c.get("name", "")) for c in site.get("contacts", []))
}


def _site_renamed(index: int, name: str) -> Callable[[dict[str, Any]], None]:
    def apply(study: dict[str, Any]) -> None:
        locations(study)[index]["facility"] = name

    return apply


def _site_status(index: int, status: str) -> Callable[[dict[str, Any]], None]:
    def apply(study: dict[str, Any]) -> None:
        locations(study)[index]["status"] = status

    return apply


def _site_removed(index: int) -> Callable[[dict[str, Any]], None]:
    def apply(study: dict[str, Any]) -> None:
        del locations(study)[index]

    return apply


def _site_added(where: tuple[str, str]) -> Callable[[dict[str, Any]], None]:
    def apply(study: dict[str, Any]) -> None:
        locations(study).append(
            {"facility": where[0], "city": where[1], "country": "Spain", "status": "RECRUITING"}
        )

    return apply


def _what(event: Any) -> tuple[str, str, Any]:
    where = (event.site.facility, event.site.city) if event.site else None
    field = "" if event.category == "overall_status" else event.field
    return (str(event.category), field, where)


@fast
@given(edits=record_edits(), shuffler=st.randoms(use_true_random=False))
def test_random_edits_make_exactly_their_events(edits: list[Edit], shuffler: random.Random) -> None:
    study = copy.deepcopy(SEED)
    for apply, _ in edits:
        apply(study)
    shuffler.shuffle(locations(study))
    events = diff_records(BASELINE, normalise_study(study), detected_at=ANY_TIME)
    assert Counter(_what(event) for event in events) == Counter(event for _, event in edits)


@fast
@given(first=record_edits(), second=record_edits(with_sites=False))
def test_a_to_b_to_c_agrees_with_a_to_c(first: list[Edit], second: list[Edit]) -> None:
    b = copy.deepcopy(SEED)
    for apply, _ in first:
        apply(b)
    c = copy.deepcopy(b)
    for apply, _ in second:
        apply(c)
    stepwise: dict[tuple[str, str | None], tuple[Any, Any]] = {}
    for old, new in ((SEED, b), (b, c)):
        for event in diff_records(normalise_study(old), normalise_study(new), detected_at=ANY_TIME):
            key = (event.field, event.site_key)
            stepwise[key] = (stepwise.get(key, (event.old, None))[0], event.new)
    direct = {
        (e.field, e.site_key): (e.old, e.new)
        for e in diff_records(BASELINE, normalise_study(c), detected_at=ANY_TIME)
    }
    assert direct == {key: values for key, values in stepwise.items() if values[0] != values[1]}


def research_site(zip_code: str, status: str) -> dict[str, Any]:
    """A generic sponsor site name, as real records have several of in one city: only the zip
    tells them apart (the registry geocodes them all to the city's centre)."""
    return {
        "facility": "Research Site",
        "status": status,
        "city": "Seoul",
        "zip": zip_code,
        "country": "South Korea",
        "geoPoint": {"lat": 37.566, "lon": 126.9784},
    }


@fast
@given(
    statuses=st.lists(st.sampled_from(STATUSES), min_size=2, max_size=5),
    data=st.data(),
    shuffler=st.randoms(use_true_random=False),
)
def test_generic_sites_in_one_city_keep_their_own_changes(
    statuses: list[str], data: st.DataObject, shuffler: random.Random
) -> None:
    """Several "Research Site" rows in one city: status changes, removals and new sites land
    on exactly the rows they happened to, whatever the order of the list."""
    zips = [f"0{3000 + n}" for n in range(len(statuses))]
    old = copy.deepcopy(SEED)
    locations(old).extend(research_site(z, s) for z, s in zip(zips, statuses, strict=True))
    new = copy.deepcopy(SEED)
    expected: list[tuple[str, str]] = []
    removed = data.draw(st.sets(st.sampled_from(zips), max_size=len(zips) - 1))
    added = [f"0{4000 + n}" for n in range(data.draw(st.integers(0, 3)))]
    if len(removed) == 1 and len(added) == 1:
        added = []  # one gone and one new of the same name in a city reads as a zip correction
    for zip_code, status in zip(zips, statuses, strict=True):
        if zip_code in removed:
            expected.append(("site_removed", zip_code))
            continue
        now = data.draw(st.sampled_from(STATUSES))
        locations(new).append(research_site(zip_code, now))
        if now != status:
            expected.append(("site_status", zip_code))
    for zip_code in added:
        locations(new).append(research_site(zip_code, data.draw(st.sampled_from(STATUSES))))
        expected.append(("site_added", zip_code))
    shuffler.shuffle(locations(new))
    events = diff_records(normalise_study(old), normalise_study(new), detected_at=ANY_TIME)
    found = [(str(event.category), event.site.zip) for event in events if event.site]
    assert Counter(found) == Counter(expected)
