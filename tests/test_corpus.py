"""The differ on real records: 65 consecutive-version pairs of 52 real trials (tests/corpus),
against events a person wrote by reading the two JSONs."""

from __future__ import annotations

import pytest

from tests.corpus_score import PairScore, score_corpus, site_precision_recall


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
