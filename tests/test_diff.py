"""The differ on the seed record: each category, the no-event cases, twin and renamed sites."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any, cast

import pytest

from monitor.records.diff import diff_records
from monitor.records.normalise import normalise_study
from monitor.times import moment_of
from tests.conftest import ANY_TIME, event_keys, find_site, load_seed, locations

Study = dict[str, Any]
UMASS = "University of Massachusetts Chan Medical School"


def diff(old: Study, new: Study) -> list[tuple[str, str, str]]:
    events = diff_records(
        normalise_study(old), normalise_study(new), detected_at=moment_of("2026-02-01T07:00:00Z")
    )
    return event_keys(events)


def edited(edit: Callable[[Study], None]) -> tuple[Study, Study]:
    old = load_seed()
    new = copy.deepcopy(old)
    edit(new)
    return old, new


def status_module(study: Study) -> dict[str, Any]:
    return cast(dict[str, Any], study["protocolSection"]["statusModule"])


def set_path(path: str, value: Any) -> Callable[[Study], None]:
    def edit(study: Study) -> None:
        *parents, last = path.split(".")
        target = study["protocolSection"]
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value

    return edit


def site_edit(which: str, contact: str = "", /, **changes: Any) -> Callable[[Study], None]:
    def edit(study: Study) -> None:
        site = find_site(study, which, contact=contact)
        for key, value in changes.items():
            if value is None:
                site.pop(key, None)
            else:
                site[key] = value

    return edit


def add_site(study: Study) -> None:
    locations(study).append(
        {
            "facility": "Hospital Universitario 12 de Octubre",
            "status": "NOT_YET_RECRUITING",
            "city": "Madrid",
            "country": "Spain",
            "contacts": [{"name": "Maria Galindo, Site 0059", "role": "CONTACT"}],
        }
    )


def remove_site(study: Study) -> None:
    locations(study).remove(find_site(study, "Local Institution - 0054"))


CASES: list[tuple[str, Callable[[Study], None], list[tuple[str, str, str]]]] = [
    (
        "overall_status",
        set_path("statusModule.overallStatus", "ACTIVE_NOT_RECRUITING"),
        [
            (
                "overall_status",
                "overall_status",
                "Overall status: Recruiting -> Active, not recruiting",
            )
        ],
    ),
    (
        "site_status",
        site_edit("Mayo Clinic in Rochester, Minnesota", status="ACTIVE_NOT_RECRUITING"),
        [
            (
                "site_status",
                "locations.status",
                "Mayo Clinic in Rochester, Minnesota, Rochester, United States: "
                "Recruiting -> Active, not recruiting",
            )
        ],
    ),
    (
        "site_added",
        add_site,
        [
            (
                "site_added",
                "locations",
                "New site: Hospital Universitario 12 de Octubre, Madrid, Spain "
                "(Not yet recruiting)",
            )
        ],
    ),
    (
        "site_removed",
        remove_site,
        [
            (
                "site_removed",
                "locations",
                "Site removed: Local Institution - 0054, New York, United States (was Withdrawn)",
            )
        ],
    ),
    (
        "site_renamed_with_status",
        site_edit(
            "Local Institution - 0043",
            facility="Hopitaux Universitaires de Strasbourg",
            status="RECRUITING",
        ),
        [
            (
                "site_status",
                "locations.status",
                "Hopitaux Universitaires de Strasbourg (was Local Institution - 0043), Strasbourg, "
                "France: Not yet recruiting -> Recruiting",
            ),
            (
                "site_renamed",
                "locations.facility",
                "Site renamed: Local Institution - 0043 -> Hopitaux Universitaires de Strasbourg, "
                "Strasbourg, France",
            ),
        ],
    ),
    (
        "enrollment_count",
        set_path("designModule.enrollmentInfo.count", 300),
        [("enrollment", "enrollment", "Enrollment 270 -> 300 (estimated)")],
    ),
    (
        "enrollment_type",
        set_path("designModule.enrollmentInfo.type", "ACTUAL"),
        [("enrollment", "enrollment", "Enrollment 270: estimated -> actual")],
    ),
    (
        "enrollment_both",
        set_path("designModule.enrollmentInfo", {"count": 265, "type": "ACTUAL"}),
        [("enrollment", "enrollment", "Enrollment 270 (estimated) -> 265 (actual)")],
    ),
    (
        "date_slip",
        set_path(
            "statusModule.primaryCompletionDateStruct", {"date": "2029-02-28", "type": "ESTIMATED"}
        ),
        [
            (
                "date",
                "primary_completion_date",
                "Primary completion 2028-08-29 -> 2029-02-28 (+183 days)",
            )
        ],
    ),
    (
        "date_earlier",
        set_path("statusModule.completionDateStruct", {"date": "2028-08-28", "type": "ESTIMATED"}),
        [("date", "completion_date", "Completion 2028-08-29 -> 2028-08-28 (-1 day)")],
    ),
    (
        "date_type",
        set_path("statusModule.completionDateStruct", {"date": "2028-08-29", "type": "ACTUAL"}),
        [("date", "completion_date", "Completion 2028-08-29: estimated -> actual")],
    ),
    (
        "date_slip_and_type",
        set_path(
            "statusModule.primaryCompletionDateStruct", {"date": "2028-09-30", "type": "ACTUAL"}
        ),
        [
            (
                "date",
                "primary_completion_date",
                "Primary completion 2028-08-29 -> 2028-09-30 (+32 days), estimated -> actual",
            )
        ],
    ),
    (
        "date_partial",
        set_path("statusModule.completionDateStruct", {"date": "2028-11", "type": "ESTIMATED"}),
        [("date", "completion_date", "Completion 2028-08-29 -> 2028-11 (+3 months)")],
    ),
    (
        "start_date",
        set_path("statusModule.startDateStruct", {"date": "2023-09-14", "type": "ACTUAL"}),
        [("date", "start_date", "Start 2023-09-13 -> 2023-09-14 (+1 day)")],
    ),
    (
        "eligibility_min_age",
        set_path("eligibilityModule.minimumAge", "16 Years"),
        [("eligibility", "eligibility.minimum_age", "Minimum age: 18 Years -> 16 Years")],
    ),
    (
        "eligibility_max_age",
        set_path("eligibilityModule.maximumAge", "75 Years"),
        [("eligibility", "eligibility.maximum_age", "Maximum age: (none) -> 75 Years")],
    ),
    (
        "eligibility_sex",
        set_path("eligibilityModule.sex", "FEMALE"),
        [("eligibility", "eligibility.sex", "Sex: All -> Female")],
    ),
    (
        "eligibility_healthy",
        set_path("eligibilityModule.healthyVolunteers", True),
        [("eligibility", "eligibility.healthy_volunteers", "Healthy volunteers: no -> yes")],
    ),
    (
        "eligibility_criteria",
        lambda s: s["protocolSection"]["eligibilityModule"].update(
            eligibilityCriteria=s["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
            + "\n\n* Prior CAR T-cell therapy"
        ),
        [
            (
                "eligibility",
                "eligibility.criteria",
                "Eligibility criteria changed: 1 line added, 0 removed",
            )
        ],
    ),
    (
        "central_contact",
        lambda s: s["protocolSection"]["contactsLocationsModule"]["centralContacts"][0].update(
            phone="855-907-0000"
        ),
        [
            (
                "contact",
                "contacts",
                "Central contacts: changed "
                "BMS Clinical Trials Contact Center www.BMSClinicalTrials.com: "
                "phone 855-907-3286 -> 855-907-0000",
            )
        ],
    ),
    (
        "site_contact",
        site_edit(
            "Cleveland Clinic", contacts=[{"name": "Jane Doe, Site 0005", "role": "CONTACT"}]
        ),
        [
            (
                "contact",
                "contacts",
                "Contacts at Cleveland Clinic, Cleveland, United States: "
                "Emily Littlejohn, Site 0005 -> Jane Doe, Site 0005",
            )
        ],
    ),
    (
        "officials",
        lambda s: s["protocolSection"]["contactsLocationsModule"]["overallOfficials"].append(
            {"name": "Ann Smith", "role": "PRINCIPAL_INVESTIGATOR"}
        ),
        [("contact", "contacts.officials", "Study officials: added Ann Smith")],
    ),
    (
        "other_title",
        set_path("identificationModule.acronym", "BREAKFREE-1"),
        [("other", "identificationModule.acronym", "Acronym: Breakfree-1 -> BREAKFREE-1")],
    ),
    (
        "other_list",
        lambda s: s["protocolSection"]["conditionsModule"]["conditions"].append("Lupus Nephritis"),
        [("other", "conditionsModule.conditions", "Conditions: added Lupus Nephritis")],
    ),
    (
        "other_site_field",
        site_edit("Cleveland Clinic", zip="44195"),
        [
            (
                "other",
                "locations.zip",
                "Cleveland Clinic, Cleveland, United States: zip set: 44195",
            )
        ],
    ),
    (
        "results_posted",
        lambda s: s.update(
            hasResults=True,
            resultsSection={
                "outcomeMeasuresModule": {
                    "outcomeMeasures": [{"type": "PRIMARY", "title": "Remission at week 24"}]
                }
            },
        ),
        [
            (
                "results_posted",
                "resultsSection",
                "Results posted: primary outcome 'Remission at week 24'",
            )
        ],
    ),
]


@pytest.mark.parametrize("edit,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_category_of_change_gives_exactly_its_event(
    edit: Callable[[Study], None], expected: list[tuple[str, str, str]]
) -> None:
    assert diff(*edited(edit)) == expected


def shuffle_everything(study: Study) -> None:
    rng = random.Random(3)
    rng.shuffle(locations(study))
    rng.shuffle(study["protocolSection"]["conditionsModule"]["conditions"])
    rng.shuffle(study["protocolSection"]["contactsLocationsModule"]["centralContacts"])
    rng.shuffle(study["protocolSection"]["armsInterventionsModule"]["interventions"])


def respace(study: Study) -> None:
    module = study["protocolSection"]["descriptionModule"]
    module["briefSummary"] = "  " + module["briefSummary"].replace(" ", "\n  ") + "\t"
    eligibility = study["protocolSection"]["eligibilityModule"]
    eligibility["eligibilityCriteria"] = eligibility["eligibilityCriteria"].replace(
        "\n\n", "\n \n\n"
    )
    find_site(study, "Cleveland Clinic")["facility"] = " Cleveland  Clinic "


def move_bookkeeping(study: Study) -> None:
    status = status_module(study)
    status["statusVerifiedDate"] = "2026-11"
    status["lastUpdateSubmitDate"] = "2026-11-20"
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-24", "type": "ACTUAL"}
    study["derivedSection"]["miscInfoModule"]["versionHolder"] = "2026-11-24"


def move_geo_point(study: Study) -> None:
    find_site(study, "Cleveland Clinic")["geoPoint"] = {"lat": 41.5, "lon": -81.7}


def break_the_encoding(study: Study) -> None:
    """What the registry did to nine of a trial's sites and undid a month later (NCT06203210):
    a mis-encoded name re-broken with a stray quote, space and capital."""
    find_site(study, "Cleveland Clinic")["facility"] = 'Cleve"Land CLINIC.'


@pytest.mark.parametrize(
    "edit",
    [shuffle_everything, respace, move_bookkeeping, move_geo_point, break_the_encoding],
    ids=["reordered_lists", "whitespace_only", "bookkeeping_fields", "geocoding", "encoding"],
)
def test_noise_produces_no_events(edit: Callable[[Study], None]) -> None:
    assert diff(*edited(edit)) == []


def test_first_snapshot_is_a_baseline_without_events(seed: dict[str, Any]) -> None:
    assert (
        diff_records(None, normalise_study(seed), detected_at=moment_of("2026-01-13T07:00:00Z"))
        == []
    )


@pytest.mark.parametrize("contact,number", [("Site 0032", "0032"), ("Site 0033", "0033")])
def test_identical_twin_sites_are_reported_separately(contact: str, number: str) -> None:
    old, new = edited(site_edit(UMASS, contact, status="WITHDRAWN"))
    events = diff_records(normalise_study(old), normalise_study(new), detected_at=ANY_TIME)
    assert len(events) == 1
    assert events[0].site is not None and events[0].site.site_number == number
    assert f"{UMASS} (site {number}), Worcester, United States: " in events[0].summary


def test_twin_sites_keep_identity_when_reordered_and_changed() -> None:
    def edit(study: Study) -> None:
        locations(study).reverse()
        find_site(study, UMASS, contact="Site 0033")["status"] = "SUSPENDED"

    assert [e[2] for e in diff(*edited(edit))] == [
        f"{UMASS} (site 0033), Worcester, United States: Recruiting -> Suspended"
    ]


def test_withdrawn_site_losing_its_contact_is_still_the_same_site() -> None:
    old, new = edited(site_edit(UMASS, "Site 0032", status="WITHDRAWN", contacts=None))
    assert [e[0] for e in diff(old, new)] == ["site_status", "contact"]


def test_city_respelled_with_punctuation_or_accents_is_silent() -> None:
    """ "St Louis" -> "St. Louis", "Kraków" -> "Krakow": the same city, nothing to tell."""
    washington = "Washington University School of Medicine"
    assert diff(*edited(site_edit(washington, city="St. Louis"))) == []
    assert diff(*edited(site_edit(washington, city="Saint Lóuis"))) != []


def test_city_renamed_keeps_the_site_by_its_number() -> None:
    events = diff(*edited(site_edit("Washington University School of Medicine", city="Clayton")))
    assert events == [
        (
            "other",
            "locations.city",
            "Washington University School of Medicine, Clayton, United States: "
            "city: St Louis -> Clayton",
        )
    ]


def test_placeholder_renamed_through_a_site_number_in_contacts() -> None:
    edit = site_edit(
        "Local Institution - 0038",
        facility="Dana-Farber Cancer Institute",
        contacts=[{"name": "Pat Lee, Site 0038", "role": "CONTACT"}],
    )
    assert [e[0] for e in diff(*edited(edit))] == ["site_renamed", "contact"]


def test_placeholder_named_without_a_number_is_the_one_new_site_in_its_city() -> None:
    edit = site_edit(
        "Local Institution - 0043", facility="Hopitaux Universitaires de Strasbourg", contacts=None
    )
    assert [e[0] for e in diff(*edited(edit))] == ["site_renamed", "contact"]


def test_placeholder_with_two_new_sites_in_its_city_is_a_removal_and_two_additions() -> None:
    """The remaining limit: with two candidates and no number, nothing says which one it was."""

    name_the_placeholder = site_edit(
        "Local Institution - 0043", facility="Hopitaux de Strasbourg", contacts=None
    )

    def edit(study: Study) -> None:
        name_the_placeholder(study)
        locations(study).append(
            {
                "facility": "Clinique Rhena",
                "status": "RECRUITING",
                "city": "Strasbourg",
                "country": "France",
            }
        )

    assert sorted(e[0] for e in diff(*edited(edit))) == ["site_added", "site_added", "site_removed"]


def test_site_event_json_has_the_spec_shape(seed: dict[str, Any]) -> None:
    old, new = edited(site_edit(UMASS, "Site 0032", status="RECRUITING"))
    event = diff_records(
        normalise_study(old), normalise_study(new), detected_at=moment_of("2026-11-24T07:00:03Z")
    )[0]
    assert event.to_json() == {
        "nct_id": "NCT05869955",
        "detected_at": "2026-11-24T07:00:03Z",
        "category": "site_status",
        "field": "locations.status",
        "site": {
            "facility": UMASS,
            "city": "Worcester",
            "state": "Massachusetts",
            "zip": None,
            "country": "United States",
            "key": "united states|worcester|#0032",
            "site_number": "0032",
        },
        "old": "NOT_YET_RECRUITING",
        "new": "RECRUITING",
        "summary": f"{UMASS} (site 0032), Worcester, United States: "
        "Not yet recruiting -> Recruiting",
    }


def test_a_default_that_disappears_is_no_change_and_one_that_flips_is() -> None:
    """The registry drops `hasExpandedAccess: false` between versions (real records do)."""
    with_default = set_path("statusModule.expandedAccessInfo", {"hasExpandedAccess": False})
    _, old = edited(with_default)
    new = copy.deepcopy(old)
    del status_module(new)["expandedAccessInfo"]
    assert diff(old, new) == []
    assert diff(new, old) == []
    _, flipped = edited(set_path("statusModule.expandedAccessInfo", {"hasExpandedAccess": True}))
    assert diff(new, flipped) == [
        (
            "other",
            "statusModule.expandedAccessInfo",
            "Expanded access info: has expanded access no -> yes",
        )
    ]


def test_a_module_that_appears_is_told_field_by_field() -> None:
    reference = {"pmid": "41529226", "type": "DERIVED", "citation": "Tang W, et al. NEOTERIC."}
    events = diff(*edited(set_path("referencesModule", {"references": [reference]})))
    assert events == [
        ("other", "referencesModule.references", "References: added Tang W, et al. NEOTERIC.")
    ]


def test_an_erratum_appended_to_a_citation_says_what_was_added() -> None:
    citation = (
        "Haataja P, Korhonen P, Ojala R. Hospital admissions. Pediatr Pulmonol. 2018;53(2):209-217."
    )
    reference = {"pmid": "29193814", "type": "BACKGROUND", "citation": citation}
    _, old = edited(set_path("referencesModule", {"references": [reference]}))
    new = copy.deepcopy(old)
    new_reference = new["protocolSection"]["referencesModule"]["references"][0]
    new_reference["citation"] = citation + " Erratum In: Pediatr Pulmonol. 2018;53(5):680."
    [(_, _, summary)] = diff(old, new)
    assert summary.startswith("References: changed Haataja P")
    assert summary.endswith(
        ': citation "…Pediatr Pulmonol. 2018;53(2):209-217." -> '
        '"…Pediatr Pulmonol. 2018;53(2):209-217. Erratum In: Pediatr P…"'
    )


def test_registry_codes_read_as_words() -> None:
    events = diff(*edited(set_path("statusModule.lastKnownStatus", "NOT_YET_RECRUITING")))
    assert events == [
        ("other", "statusModule.lastKnownStatus", "Last known status set: Not yet recruiting")
    ]
    events = diff(*edited(set_path("designModule.phases", ["PHASE1", "PHASE2"])))
    assert events == [("other", "designModule.phases", "Phases: added Phase 2")]


def test_a_site_without_a_status_reads_without_empty_brackets() -> None:
    def add_unstatused(study: Study) -> None:
        locations(study).append(
            {"facility": "Aichi Cancer Center", "city": "Nagoya", "country": "Japan"}
        )

    assert diff(*edited(add_unstatused)) == [
        ("site_added", "locations", "New site: Aichi Cancer Center, Nagoya, Japan")
    ]


def test_a_country_the_registry_renamed_is_the_same_country_and_no_event() -> None:
    """Real captures from 2016-2018 spell "Czech Republic" and "Turkey"; today's records
    "Czechia" and "Turkey (Türkiye)": every site there stays, nothing is told."""

    old, new = edited(lambda study: None)
    for site in locations(old):
        site["country"] = {"Spain": "Czech Republic", "France": "Turkey"}.get(
            site["country"], site["country"]
        )
    for site in locations(new):
        site["country"] = {"Spain": "Czechia", "France": "Turkey (Türkiye)"}.get(
            site["country"], site["country"]
        )
    assert diff(old, new) == []


def site_in(study: Study, facility: str, city: str, **fields: Any) -> None:
    locations(study).append(
        {"facility": facility, "status": "RECRUITING", "city": city, "country": "Italy"} | fields
    )


NAPLES = {"lat": 40.85216, "lon": 14.26811}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (("Napoli", NAPLES), ("Naples", {"lat": 40.8522, "lon": 14.2681})),  # translated
        (("Padua", None), ("Padova", None)),  # no points: the spellings are alike
    ],
)
def test_a_city_respelled_for_a_site_without_a_zip_is_the_same_site(
    before: tuple[str, dict[str, float] | None], after: tuple[str, dict[str, float] | None]
) -> None:
    old, new = edited(lambda study: None)
    for study, (city, point) in ((old, before), (new, after)):
        site_in(study, "Azienda Ospedaliera Universitaria Federico II", city)
        if point:
            locations(study)[-1]["geoPoint"] = point
    events = diff(old, new)
    assert [e[:2] for e in events] == [("other", "locations.city")]


def test_generic_names_in_cities_far_apart_stay_different_sites() -> None:
    old, new = edited(lambda study: None)
    site_in(old, "Research Site", "Roma", geoPoint={"lat": 41.89, "lon": 12.51})
    site_in(new, "Research Site", "Milano", geoPoint={"lat": 45.46, "lon": 9.19})
    assert sorted(e[0] for e in diff(old, new)) == ["site_added", "site_removed"]
    old, new = edited(lambda study: None)
    site_in(old, "Research Site", "Napoli", zip="80131")
    site_in(new, "Research Site", "Naples", zip="80138")  # another zip: another site
    assert sorted(e[0] for e in diff(old, new)) == ["site_added", "site_removed"]


def test_zips_written_differently_are_the_same_zip() -> None:
    old, new = edited(lambda study: None)
    site_in(old, "Hospital del Mar", "Barcelona", zip="08003")
    site_in(new, "Hospital del Mar", "Barcelona", zip="8003")
    for study, code in ((old, "01655"), (new, "01655-0002")):
        find_site(study, UMASS, contact="Site 0032")["zip"] = code
    assert diff(old, new) == []


@pytest.mark.parametrize("spelling", ["U.S.A. (mainland)", "Estados Unidos"])
def test_a_country_spelled_as_no_table_knows_keeps_its_site(spelling: str) -> None:
    """Facility, city and zip unchanged: the same site, its country a detail that changed,
    never a site removed and another added."""

    def respell(study: Study) -> None:
        find_site(study, "Cleveland Clinic")["country"] = spelling

    [(category, field, _)] = diff(*edited(respell))
    assert (category, field) == ("other", "locations.country")
