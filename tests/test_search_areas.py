"""A watched search's other areas (sponsor, location, distance, phase, study type, a raw
Essie expression), editing a search, and a search whose daily cost follows what changed:
against the loopback registry, which reads these areas as the API document describes them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.clock import days_ago
from tests.conftest import Trialwatch, study_with_id
from tests.registry_server import RegistryServer

A, B, C = "NCT00000001", "NCT00000002", "NCT00000003"
MGH = {
    "facility": "Massachusetts General Hospital",
    "status": "RECRUITING",
    "city": "Boston",
    "state": "Massachusetts",
    "zip": "02114",
    "country": "United States",
    "geoPoint": {"lat": 42.36254, "lon": -71.06975},
}
# 12 miles due north of the hospital: the patient advocate's home
MGH_POINT = {"lat": 42.36254, "lon": -71.06975}
HOME_LAT = MGH_POINT["lat"] + 12 * 1.609344 / (6371.0 * math.pi / 180)
HOME = f"{HOME_LAT:.5f},{MGH_POINT['lon']}"


def site(
    facility: str, city: str, lat: float, lon: float, status: str = "RECRUITING"
) -> dict[str, Any]:
    return {
        "facility": facility,
        "status": status,
        "city": city,
        "country": "United States",
        "geoPoint": {"lat": lat, "lon": lon},
    }


def lupus_trial(
    nct_id: str,
    *sites: dict[str, Any],
    title: str = "CAR T cells for lupus",
    phases: tuple[str, ...] = ("PHASE1",),
) -> dict[str, Any]:
    study = study_with_id(nct_id)
    section = study["protocolSection"]
    section["identificationModule"]["briefTitle"] = title
    section["designModule"]["phases"] = list(phases)
    section["contactsLocationsModule"]["locations"] = list(sites)
    return study


LOS_ANGELES = site("UCLA Medical Center", "Los Angeles", 34.0663, -118.4455)
WORCESTER = site("UMass Memorial Medical Center", "Worcester", 42.2775, -71.7615)


def test_a_distance_search_says_which_site_brought_a_trial_near(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(lupus_trial(A, LOS_ANGELES))
    added = trialwatch(
        "watch", "query", "boston-lupus", "--condition", "lupus", "--near", HOME, "--within", "50mi"
    )
    assert added.stdout == (
        f"Watching search boston-lupus: condition=lupus, within 50 miles of {HOME}\n"
    )
    assert trialwatch("check", "--json").json()["changes"] == []
    [search] = [r for r in registry.study_requests() if "filter.ids" not in r.params]
    assert search.params["filter.geo"] == [f"distance({HOME},50mi)"]
    assert "LocationGeoPoint" in search.params["fields"][0].split("|")

    # the morning a site opens near home: B opens at MGH (and far away); A opens in Worcester
    registry.put(lupus_trial(B, LOS_ANGELES, MGH, title="Anifrolumab in lupus nephritis"))
    events = trialwatch("check", "--json").json()["changes"]
    assert [(e["category"], e["nct_id"]) for e in events] == [("new_trial", B)]
    [new] = events
    assert new["summary"] == (
        "New in search boston-lupus: Massachusetts General Hospital, Boston, 12 miles, "
        "Recruiting: Anifrolumab in lupus nephritis (Phase 1; Juno Therapeutics, Inc., a "
        "Bristol-Myers Squibb Company; Recruiting)"
    )
    assert new["nearby_site"] == {
        "facility": "Massachusetts General Hospital",
        "city": "Boston",
        "state": "Massachusetts",
        "country": "United States",
        "status": "RECRUITING",
        "distance": 12.0,
        "unit": "mi",
        "others_within": 0,
        "within": 50.0,
    }


def test_the_nearby_site_is_the_nearest_open_one_and_counts_the_others(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    trialwatch("watch", "query", "near", "--term", "lupus", "--near", HOME, "--within", "80km")
    trialwatch("check")
    closed_nearer = site("Lahey Clinic", "Burlington", HOME_LAT - 0.05, -71.07, "COMPLETED")
    registry.put(lupus_trial(C, closed_nearer, WORCESTER, MGH))
    [new] = trialwatch("check", "--json").json()["changes"]
    assert new["summary"].startswith(
        "New in search near: Massachusetts General Hospital, Boston, 19 km, Recruiting "
        "(and 2 more sites within 80 km): CAR T cells for lupus"
    )


def test_sponsor_location_phase_type_and_advanced_are_sent_and_kept(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    other_sponsor = lupus_trial(B, WORCESTER)
    other_sponsor["protocolSection"]["sponsorCollaboratorsModule"]["leadSponsor"]["name"] = "Acme"
    phase3 = lupus_trial(C, WORCESTER, phases=("PHASE2", "PHASE3"))
    registry.put(lupus_trial(A, LOS_ANGELES), other_sponsor, phase3)
    added = trialwatch(
        "watch", "query", "juno", "--sponsor", "Juno", "--location", "Worcester",
        "--phase", "phase3", "--phase", "phase2", "--study-type", "interventional",
        "--advanced", "AREA[EnrollmentCount]RANGE[10,MAX]",
    )  # fmt: skip
    assert added.code == 0, added.stderr
    trialwatch("check")
    [search] = [r for r in registry.study_requests() if "filter.ids" not in r.params]
    assert search.params["query.spons"] == ["Juno"]
    assert search.params["query.locn"] == ["Worcester"]
    assert search.params["filter.advanced"] == [
        "(AREA[Phase]PHASE3 OR AREA[Phase]PHASE2) AND AREA[StudyType]INTERVENTIONAL"
        " AND (AREA[EnrollmentCount]RANGE[10,MAX])"
    ]
    [row] = trialwatch("watch", "list", "--json", "--searches").json()
    assert row["matches"] == 1  # C: Juno's, in Worcester, phase 2/3; not A (LA), not B (Acme)
    listed = trialwatch("watch", "list").stdout
    assert "sponsor=Juno, location=Worcester, phase=PHASE3|PHASE2" in " ".join(listed.split())


@pytest.mark.parametrize(
    "args, message",
    [
        (("--near", "95,10"), "--near: '95,10' is not a place on Earth"),
        (("--near", "Boston"), "--near: expected LATITUDE,LONGITUDE in degrees"),
        (("--near", "42.3,-71", "--within", "50 parsecs"), "--within: expected a distance"),
        (("--term", "x", "--within", "50mi"), "--within needs --near LAT,LON"),
        (("--sponsor", " "), "--sponsor: expected one line of printable text"),
        (("--phase", "phase9"), "phase9"),
    ],
)
def test_bad_search_criteria_are_bad_input(
    trialwatch: Trialwatch, args: tuple[str, ...], message: str
) -> None:
    result = trialwatch("watch", "query", "s", *args)
    assert result.code == 2 and message in result.stderr
    assert trialwatch("watch", "list", "--json", "--searches").json() == []


def test_a_search_is_edited_by_name_and_starts_from_a_new_baseline(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(lupus_trial(A, WORCESTER), lupus_trial(B, MGH))
    trialwatch("watch", "query", "boston", "--term", "lupus", "--near", HOME, "--within", "20mi")
    trialwatch("check")
    assert trialwatch("watch", "list", "--json", "--searches").json()[0]["matches"] == 1
    edited = trialwatch("watch", "edit", "boston", "--within", "60mi", "--near", HOME, "--follow")
    assert edited.stdout == (
        f"Edited search boston: term=lupus, within 60 miles of {HOME}; follows new matches\n"
    )
    # A (Worcester) is in the wider search now, but the edit is a new baseline: no event
    assert trialwatch("check", "--json").json()["changes"] == []
    assert trialwatch("watch", "list", "--json", "--searches").json()[0]["matches"] == 2
    # what was not given stays; a rule alone keeps the baseline
    ruled = trialwatch("watch", "edit", "boston", "--only", "new_trial")
    assert ruled.stdout.startswith(f"Edited search boston: term=lupus, within 60 miles of {HOME};")
    registry.put(lupus_trial(C, MGH))
    assert [e["nct_id"] for e in trialwatch("check", "--json").json()["changes"]] == [C]


def test_editing_says_what_does_not_apply(trialwatch: Trialwatch, registry: RegistryServer) -> None:
    registry.put(lupus_trial(A, MGH))
    trialwatch("watch", "add", A, "--no-verify")
    trialwatch("watch", "query", "s", "--term", "lupus")
    label = trialwatch("watch", "edit", "s", "--label", "x")
    assert label.code == 2 and "--label: a search has no label" in label.stderr
    criteria = trialwatch("watch", "edit", A, "--sponsor", "Juno")
    assert criteria.code == 2 and f"{A}: no watched search of that name" in criteria.stderr


def small_trial(nct_id: str, title: str) -> dict[str, Any]:
    """A record with what a search reads and little else: a big registry stays quick."""
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct_id, "briefTitle": title},
            "statusModule": {"overallStatus": "RECRUITING"},
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Acme"}},
        }
    }


def test_a_big_search_asks_daily_only_for_what_changed(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    """2,500 matches take three pages; a day after, one trial entered (updated today), one
    left with an update of its own and one left without: the day's check asks for matches
    updated since the last check and the registry's list of updated studies (two requests),
    and tells the first two; the full pass lists every match and tells the third."""
    ids = [f"NCT{10_000_000 + n:08d}" for n in range(2500)]
    registry.put(*(small_trial(nct_id, f"Lupus study {n}") for n, nct_id in enumerate(ids)))
    registry.update_dates |= dict.fromkeys(ids, days_ago(330))  # long before today
    trialwatch("watch", "query", "lupus", "--term", "lupus")
    trialwatch("check")
    today = days_ago(0)
    entering, leaving, silent = "NCT20000000", ids[7], ids[8]
    registry.put(small_trial(entering, "A new lupus study"), small_trial(leaving, "Gout study"))
    registry.update_dates |= {entering: today, leaving: today}
    registry.studies[silent] = registry.studies[silent].replace("Lupus", "Asthma")
    registry.requests.clear()

    daily = trialwatch("check", "--json").json()["changes"]

    assert [(e["category"], e["nct_id"]) for e in daily] == [
        ("new_trial", entering),
        ("left_query", leaving),
    ]
    asked = [r.params for r in registry.study_requests()]
    since = days_ago(2)
    updated = f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"
    assert [p["filter.advanced"] for p in asked] == [[updated], [updated]]
    assert [p.get("query.term") for p in asked] == [None, ["lupus"]]

    full = trialwatch("check", "--full", "--json").json()["changes"]
    assert [(e["category"], e["nct_id"]) for e in full] == [("left_query", silent)]
    assert trialwatch("watch", "list", "--json", "--searches").json()[0]["matches"] == 2499


def test_a_new_radius_alone_keeps_the_searchs_point(trialwatch: Trialwatch) -> None:
    trialwatch("watch", "query", "near", "--term", "lupus", "--near", HOME, "--within", "50mi")
    edited = trialwatch("watch", "edit", "near", "--within", "80km")
    assert edited.code == 0 and f"within 80 km of {HOME}" in edited.stdout
    trialwatch("watch", "query", "plain", "--term", "lupus")
    refused = trialwatch("watch", "edit", "plain", "--within", "80km")
    assert refused.code == 2 and "--within needs --near LAT,LON" in refused.stderr
