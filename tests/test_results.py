"""Results, documents, outcome measures and stops on a real record (issue 23): NCT05665595 from
the corpus, with its 61 KB resultsSection, and the record as it was before its results."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any, cast

from monitor.records.diff import diff_records
from monitor.records.events import ChangeEvent
from monitor.records.normalise import normalise_study
from monitor.records.results import RESULTS_DATE_FIELDS
from monitor.reports.render import headline
from monitor.times import moment_of
from tests.corpora import needs_tigit, tigit_file

pytestmark = needs_tigit
WITH_RESULTS = tigit_file("NCT05665595", "2026-02-19")  # a real record as the registry served it


def with_results() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(WITH_RESULTS.read_text(encoding="utf-8")))


def before_results() -> dict[str, Any]:
    """The same record as it read before its results were posted."""
    study = with_results()
    study.pop("resultsSection")
    study.pop("documentSection", None)
    study["hasResults"] = False
    for field in RESULTS_DATE_FIELDS:
        study["protocolSection"]["statusModule"].pop(field, None)
    return study


def events(old: dict[str, Any], new: dict[str, Any]) -> list[Any]:
    return diff_records(
        normalise_study(old), normalise_study(new), detected_at=moment_of("2026-04-07")
    )


def stored(found: list[Any]) -> list[ChangeEvent]:
    return [dataclasses.replace(event, id=n, snapshot_id=1) for n, event in enumerate(found)]


def test_results_posted_is_one_event_that_says_what_a_reader_wants_to_know() -> None:
    found = events(before_results(), with_results())
    posted = [event for event in found if str(event.category) == "results_posted"]
    assert len(posted) == 1, [event.summary for event in found]
    assert posted[0].summary == (
        "Results posted (first posted 2025-04-06): primary outcome 'Recurrence-Free Survival "
        "(RFS)'; 1402 participants"
    )
    assert posted[0].new["url"] == "https://clinicaltrials.gov/study/NCT05665595?tab=results"
    assert not [e for e in found if e.field.startswith(("resultsSection.", "statusModule.results"))]
    # 17 "other" lines before ("Denoms: added Units Participants, Counts Group id BG000, ...")
    assert [str(e.category) for e in found] == ["results_posted", "document"]
    assert found[1].summary == (
        "Document posted: Study Protocol and Statistical Analysis Plan (2024-06-27)"
    )


def test_a_digest_headline_leads_with_results_posted() -> None:
    parts = headline(stored(events(before_results(), with_results())), None)
    assert parts[0] == "results posted"


def test_results_updated_is_one_line_per_results_module() -> None:
    old, new = with_results(), with_results()
    measures = new["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]
    measures.append({**copy.deepcopy(measures[-1]), "title": "Overall Survival (OS)"})
    measures[0]["timeFrame"] = "Up to approximately 60 months"
    new["resultsSection"]["adverseEventsModule"]["seriousEvents"].pop()
    found = events(old, new)
    assert [(str(e.category), e.summary) for e in found] == [
        ("results_updated", "Results, adverse events: serious events 1 removed"),
        ("results_updated", "Results, outcome measures: 1 added, 1 changed"),
    ]


def test_a_primary_outcome_replaced_by_a_secondary_one_says_so() -> None:
    old = with_results()
    new = copy.deepcopy(old)
    outcomes = new["protocolSection"]["outcomesModule"]
    primary, secondary = outcomes["primaryOutcomes"], outcomes["secondaryOutcomes"]
    primary[0], secondary[0] = secondary[0], primary[0]
    found = {e.field: e for e in events(old, new)}
    first = found["outcomesModule.primaryOutcomes"]
    assert str(first.category) == "outcome"
    was = old["protocolSection"]["outcomesModule"]["primaryOutcomes"][0]["measure"]
    assert first.summary.startswith(f"Primary outcome replaced: '{was}'")
    assert "now a secondary outcome" in first.summary


def test_a_stopped_trial_says_why_in_the_same_sentence() -> None:
    old, new = with_results(), with_results()
    status = new["protocolSection"]["statusModule"]
    status["overallStatus"], status["whyStopped"] = "TERMINATED", "Business decision"
    old["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    found = events(old, new)
    assert [(str(e.category), e.summary) for e in found] == [
        (
            "overall_status",
            "Overall status: Active, not recruiting -> Terminated (why stopped: Business decision)",
        )
    ]
    assert found[0].to_json()["why_stopped"] == "Business decision"
