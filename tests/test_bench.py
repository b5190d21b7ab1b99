"""The benchmark scripts keep working (they print figures; no timing is asserted here). They
take half a minute of CPU, so they are of the heavy pass (`pytest -m heavy`, run once by CI)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.corpora import needs_tigit

pytestmark = pytest.mark.heavy


def run_bench(script: str, *args: str, timeout: float = 120) -> str:
    """A bench script's output; it must exit 0."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_script_runs_and_prints_every_figure() -> None:
    output = run_bench(
        "check_bench.py",
        *("--n", "200", "--interval", "0", "--latency", "0.01", "--bandwidth-mb", "0"),
        *("--background", "50"),
        timeout=300,
    )
    lines = output.splitlines()
    assert lines[0].startswith("machine: ")
    assert lines[1].startswith("N = 200: first check ")
    assert re.fullmatch(
        r"  database [\d.]+ MB after the first check, [\d.]+ MB after 3 daily checks", lines[2]
    )
    assert [line.split()[0] for line in lines[3:]] == [
        *("daily", "daily", "daily", "daily", "first", "first")
    ]
    # a day after the last check, no /version: one batch of update dates, one of the 2 changed
    # records; the oracle lists the day's updates (one page) and downloads the 2 (one request)
    assert re.search(r"median of 3: daily check [\d.]+ s \([\d.]+-[\d.]+ s, 2 requests\)", lines[1])
    assert re.search(r"oracle [\d.]+ s \(2 requests\)$", lines[1])


@needs_tigit
def test_corpus_bench_prints_precision_and_recall() -> None:
    assert "site events: precision 1.0000, recall 1.0000" in run_bench("corpus_bench.py")


@needs_tigit
def test_storage_bench_prints_bytes_per_snapshot_against_json_text() -> None:
    output = run_bench("storage_bench.py")
    ratios = dict(
        re.findall(r"^(stored alone|stored as deltas|all) .* ratio ([\d.]+)$", output, re.M)
    )
    # a first version with the trained dictionary (0.256 without it), a later one as a delta
    assert float(ratios["stored as deltas"]) < 0.05 < float(ratios["stored alone"]) < 0.23
    assert re.search(r"^database file: [\d,]+ B as schema 6 .* ratio 0\.\d+$", output, re.M)
