"""The differ on real records: 65 consecutive-version pairs of 52 real trials (read where
`tests/corpora.py` finds them), against events a person wrote by reading the two JSONs
(`tests/corpus/expected-events.json`)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.conftest import Trialwatch
from tests.corpora import needs_tigit, tigit_files
from tests.corpus_score import (
    EXPECTED,
    SITE_CATEGORIES,
    PairScore,
    badly_worded,
    score_corpus,
    site_precision_recall,
)


@pytest.fixture(scope="module")
def scores() -> list[PairScore]:
    return score_corpus()


@needs_tigit
def test_site_events_on_real_records_have_the_target_precision_and_recall(
    scores: list[PairScore],
) -> None:
    precision, recall, hits, found, expected = site_precision_recall(scores)
    print(
        f"site events: precision {precision:.4f}, recall {recall:.4f} ({hits}/{found}/{expected})"
    )
    assert expected > 500
    assert precision >= 0.995 and recall >= 0.995


@needs_tigit
def test_every_real_pair_gives_exactly_the_expected_events(scores: list[PairScore]) -> None:
    wrong = {
        score.pair: {"missing": dict(score.missing), "unexpected": dict(score.unexpected)}
        for score in scores
        if score.missing or score.unexpected
    }
    assert wrong == {}


@needs_tigit
def test_no_summary_shows_a_registry_code_or_a_doubled_bracket(scores: list[PairScore]) -> None:
    summaries = [summary for score in scores for summary in score.summaries]
    assert len(summaries) > 850  # every summary of the corpus: 890
    assert badly_worded(summaries) == []


def test_the_wording_check_catches_what_it_looks_for() -> None:
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


@needs_tigit
def test_the_whole_corpus_imported_newest_file_first_gives_the_expected_events(
    trialwatch: Trialwatch,
) -> None:
    """Several versions of 52 trials in one `import`, files in reverse order: the records'
    own dates put them in order (ties, where the registry changed a record without a new
    update date, broken by its data version), so every event is the forward one."""
    files = tigit_files()[::-1]
    result = trialwatch("import", *map(str, files), "--json")
    assert result.code == 0, result.stderr
    assert result.json()["checked"] == len(files)

    def row(event: dict[str, Any]) -> tuple[Any, ...]:
        site = event["site"] or {}
        values = (
            (event["old"], event["new"]) if event["category"] in SITE_CATEGORIES else (None,) * 2
        )
        where = (site.get("facility"), site.get("city"), site.get("zip"))
        return (event["nct_id"], event["category"], event["field"], *where, *values)

    expected = json.loads(EXPECTED.read_text())
    wanted = Counter(
        (pair.split()[0], *event) for pair, events in expected.items() for event in events
    )
    assert Counter(row(event) for event in result.json()["changes"]) == wanted


@needs_tigit
def test_sites_said_to_be_shared_across_real_trials_are_one_place() -> None:
    """Precision of where trials meet on the real corpus, against a sample judged by hand
    (tests/corpus/README.md): at least 0.98, and the sample still covers what the code says."""
    import itertools
    from collections import defaultdict

    from monitor.records.normalise import normalise_study
    from monitor.records.shared_sites import same_place, site_places

    latest = {path.parent.name: path for path in sorted(tigit_files())}
    by_identity: dict[str, dict[str, Any]] = defaultdict(dict)
    for nct_id, path in latest.items():
        record = normalise_study(json.loads(path.read_text()))
        for place in site_places(record["sites"]).values():
            by_identity[place.identity].setdefault(nct_id, place)
    said = set()
    for found in by_identity.values():
        if len(found) > 1 and same_place(found.values()):
            for (a, x), (b, y) in itertools.combinations(sorted(found.items()), 2):
                said.add((a, x.facility, b, y.facility))
    judged = json.loads((EXPECTED.parent / "shared-sites-judged.json").read_text())
    verdicts = {
        (row["trials"][0], row["sites"][0][0], row["trials"][1], row["sites"][1][0]): row[
            "same_place"
        ]
        for row in judged
    }
    covered = [verdicts[pair] for pair in said if pair in verdicts]
    assert len(covered) >= 100, "the judged sample no longer covers what the code says"
    assert sum(covered) / len(covered) >= 0.98
