"""Score the differ on the real-record corpus (read where `tests/corpora.py` finds it): its
events for every pair of consecutive versions against the events a person wrote by reading the
two records (`tests/corpus/expected-events.json`)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.records import categories
from monitor.records.diff import diff_records
from monitor.records.events import ChangeEvent
from monitor.records.normalise import normalise_study
from monitor.times import moment_of
from tests.corpora import tigit_file

EXPECTED = Path(__file__).parent / "corpus" / "expected-events.json"
SITE_CATEGORIES = {str(category) for category in categories.SITE_CATEGORIES}
# A registry code shown as is ("NOT_YET_RECRUITING", "PHASE2") or a bracket doubled by wording.
RAW_CODE = re.compile(r"\b(?:[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]|PHASE[0-9]|ESTIMATED|ACTUAL)\b")
DOUBLED = re.compile(r"\(\(|\)\)")

Row = tuple[Any, ...]


@dataclass
class PairScore:
    pair: str
    expected: Counter[Row]
    found: Counter[Row]
    summaries: list[str] = field(default_factory=list)

    @property
    def missing(self) -> Counter[Row]:
        return self.expected - self.found

    @property
    def unexpected(self) -> Counter[Row]:
        return self.found - self.expected


def event_row(event: ChangeEvent) -> Row:
    """An event as expected-events.json writes it: [category, field, facility, city, zip, old,
    new]; old and new only where the file gives them (site status, added, removed, renamed)."""
    site = event.site
    where = (site.facility, site.city, site.zip) if site else (None, None, None)
    values = (event.old, event.new) if event.category in SITE_CATEGORIES else (None, None)
    return (str(event.category), event.field, *where, *values)


def pair_events(nct_id: str, old_date: str, new_date: str) -> list[ChangeEvent]:
    old, new = (
        normalise_study(json.loads(tigit_file(nct_id, date).read_text()))
        for date in (old_date, new_date)
    )
    return diff_records(old, new, detected_at=moment_of(f"{new_date}T00:00:00Z"))


def score_corpus() -> list[PairScore]:
    expected = json.loads(EXPECTED.read_text())
    scores = []
    for pair, rows in expected.items():
        events = pair_events(*pair.split())
        scores.append(
            PairScore(
                pair,
                Counter(tuple(row) for row in rows),
                Counter(event_row(event) for event in events),
                [event.summary for event in events],
            )
        )
    return scores


def site_precision_recall(scores: list[PairScore]) -> tuple[float, float, int, int, int]:
    """(precision, recall, true positives, found, expected) over site events only."""

    def site_rows(rows: Counter[Row]) -> Counter[Row]:
        return Counter({row: n for row, n in rows.items() if row[0] in SITE_CATEGORIES})

    hits = found = wanted = 0
    for score in scores:
        found_rows, expected_rows = site_rows(score.found), site_rows(score.expected)
        hits += sum((found_rows & expected_rows).values())
        found += sum(found_rows.values())
        wanted += sum(expected_rows.values())
    return hits / (found or 1), hits / (wanted or 1), hits, found, wanted


def badly_worded(summaries: list[str]) -> list[str]:
    return [text for text in summaries if RAW_CODE.search(text) or DOUBLED.search(text)]
