"""Precision and recall of site events on the real-record corpus (`tests/corpora.py` finds
it): the differ's events for 65 consecutive-version pairs of 52 real trials against
hand-written expectations.

    python bench/corpus_bench.py
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.corpora import MISSING, tigit_records  # noqa: E402
from tests.corpus_score import badly_worded, score_corpus, site_precision_recall  # noqa: E402


def main() -> None:
    if not tigit_records().is_dir():
        sys.exit(MISSING)
    started = time.perf_counter()
    scores = score_corpus()
    elapsed = time.perf_counter() - started
    precision, recall, hits, found, expected = site_precision_recall(scores)
    summaries = [summary for score in scores for summary in score.summaries]
    wrong = Counter(row[0] for score in scores for row in (score.missing + score.unexpected))
    print(f"pairs: {len(scores)}, events: {len(summaries)}, diffed in {elapsed:.2f} s")
    print(f"site events: precision {precision:.4f}, recall {recall:.4f}")
    print(f"  {hits} right of {found} reported, {expected} expected")
    print(f"events differing from the expected file, by category: {dict(wrong) or 'none'}")
    print(
        f"summaries with a raw registry code or a doubled bracket: {len(badly_worded(summaries))}"
    )


if __name__ == "__main__":
    main()
