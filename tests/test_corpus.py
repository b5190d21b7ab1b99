"""The differ on real records: 65 consecutive-version pairs of 52 real trials (tests/corpus),
against events a person wrote by reading the two JSONs."""

from __future__ import annotations

import pytest

from tests.corpus_score import PairScore, badly_worded, score_corpus, site_precision_recall


@pytest.fixture(scope="module")
def scores() -> list[PairScore]:
    return score_corpus()


def test_site_events_on_real_records_have_the_target_precision_and_recall(scores):
    precision, recall, hits, found, expected = site_precision_recall(scores)
    print(
        f"site events: precision {precision:.4f}, recall {recall:.4f} ({hits}/{found}/{expected})"
    )
    assert expected > 500
    assert precision >= 0.995 and recall >= 0.995


def test_every_real_pair_gives_exactly_the_expected_events(scores):
    wrong = {
        score.pair: {"missing": dict(score.missing), "unexpected": dict(score.unexpected)}
        for score in scores
        if score.missing or score.unexpected
    }
    assert wrong == {}


def test_no_summary_shows_a_registry_code_or_a_doubled_bracket(scores):
    summaries = [summary for score in scores for summary in score.summaries]
    assert len(summaries) > 900
    assert badly_worded(summaries) == []


def test_the_wording_check_catches_what_it_looks_for():
    assert badly_worded(
        [
            "Last known status: (none) -> NOT_YET_RECRUITING",
            "New site: X, Nagoya, Japan ((none))",
            "Phases: added PHASE3",
        ]
    ) == [
        "Last known status: (none) -> NOT_YET_RECRUITING",
        "New site: X, Nagoya, Japan ((none))",
        "Phases: added PHASE3",
    ]
