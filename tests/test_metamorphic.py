"""Metamorphic tests over the real records of the corpus (issue 23): the registry's own
housekeeping (countries renamed, cities re-spelled, zips re-formatted, names re-cased or
mis-encoded and repaired, lists re-ordered, points re-geocoded) moves no site; real edits made
on top come out exactly."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from itertools import groupby
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.records.diff import diff_records
from monitor.records.normalise import normalise_study
from tests.conftest import ANY_TIME
from tests.corpora import needs_tigit, tigit_files
from tests.metamorphic import (
    HOUSEKEEPING,
    housekeeping_pair,
    locations,
    respell_one_city_without_zips,
    without_zips,
)

CORPUS = tigit_files()
# The default pass: every other trial, its newest version (a trial's versions mostly repeat
# its sites); the heavy pass (`pytest -m heavy`, run once by CI) takes every version of every
# trial.
NEWEST_VERSIONS = [max(versions) for _, versions in groupby(CORPUS, key=lambda p: p.parent)]
SAMPLE = NEWEST_VERSIONS[::2]
pytestmark = needs_tigit
MOVED = {"site_added", "site_removed", "site_status"}


def load(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(path.read_text(encoding="utf-8")))


def site_events(before: dict[str, Any], after: dict[str, Any]) -> Counter[str]:
    events = diff_records(normalise_study(before), normalise_study(after), detected_at=ANY_TIME)
    return Counter(str(event.category) for event in events if event.site is not None)


def test_the_corpus_has_the_records_the_transformations_need() -> None:
    countries = {site.get("country") for path in CORPUS for site in locations(load(path))}
    assert len(CORPUS) > 100
    assert {"Czechia", "Turkey (Türkiye)", "South Korea", "Vietnam", "Moldova"} <= countries


PURE_RESPELLINGS = {
    "facility names re-cased",
    "zips re-formatted (leading zero, ZIP+4)",
    "locations and contacts re-ordered",
    "geoPoints re-geocoded",
    "country renamed to its historical spelling",
}


@pytest.mark.parametrize(
    "records",
    [
        pytest.param(SAMPLE, id="newest version of every other trial"),
        pytest.param(CORPUS, id="every version", marks=pytest.mark.heavy),
    ],
)
@pytest.mark.parametrize("name", [name for name, _, _ in HOUSEKEEPING])
def test_registry_housekeeping_adds_removes_or_changes_the_status_of_no_site(
    name: str, records: list[Path]
) -> None:
    """Housekeeping may re-describe a site (a rename, a corrected city), never move one; a
    pure respelling makes no site event at all."""
    [(transformation, backwards)] = [(t, b) for n, t, b in HOUSEKEEPING if n == name]
    found: Counter[str] = Counter()
    for number, path in enumerate(records):
        before, after = housekeeping_pair(
            load(path), transformation, backwards=backwards, seed=number
        )
        found += site_events(before, after)
    if name in PURE_RESPELLINGS:
        assert found == Counter()
    assert {category: n for category, n in found.items() if category in MOVED} == {}


NEW_SITE = {
    "facility": "Trialwatch Metamorphic Test Clinic",
    "status": "RECRUITING",
    "city": "Reykjavik",
    "country": "Iceland",
    "geoPoint": {"lat": 64.1355, "lon": -21.8954},
}
STATUSES = ["RECRUITING", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED", "WITHDRAWN"]


CATEGORIES = list(dict.fromkeys(transformation for _, transformation, _ in HOUSEKEEPING))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    record=st.sampled_from(CORPUS),
    chosen=st.lists(st.sampled_from(range(len(CATEGORIES))), min_size=1, max_size=3, unique=True),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_real_edits_on_top_of_housekeeping_come_out_exactly(
    record: Path, chosen: list[int], seed: int, data: st.DataObject
) -> None:
    """Up to three kinds of housekeeping at once, then a site's status changed and a site
    added: exactly those two site events, whatever the housekeeping was."""
    transformations = [CATEGORIES[index] for index in sorted(chosen)]
    study = load(record)
    if respell_one_city_without_zips in transformations:
        study = without_zips(study)
    if not locations(study):
        return
    after = copy.deepcopy(study)
    for number, transformation in enumerate(transformations):
        after = transformation(after, random.Random(seed + number))
    sites = locations(after)
    edited = data.draw(st.integers(0, len(sites) - 1))
    old_status = sites[edited].get("status")
    sites[edited]["status"] = data.draw(st.sampled_from([s for s in STATUSES if s != old_status]))
    sites.append(copy.deepcopy(NEW_SITE))
    moved = {k: n for k, n in site_events(study, after).items() if k in MOVED}
    assert moved == {"site_status": 1, "site_added": 1}
