"""The benchmark script keeps working (it prints figures; no timing is asserted here)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_bench_script_runs_and_prints_every_figure():
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "check_bench.py"),
            *("--n", "200", "--interval", "0", "--latency", "0.01", "--bandwidth-mb", "0"),
            *("--background", "50"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("machine: ")
    assert lines[1].startswith("N = 200: first check ")
    assert re.fullmatch(
        r"  database [\d.]+ MB after the first check, [\d.]+ MB after 3 daily checks", lines[2]
    )
    assert [line.split()[0] for line in lines[3:]] == ["daily", "daily", "daily", "first", "first"]
    # /version, one batch of update dates, one batch of the 2 changed records
    assert re.search(r"median of 3: daily check [\d.]+ s \([\d.]+-[\d.]+ s, 3 requests\)", lines[1])


def test_corpus_bench_prints_precision_and_recall():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "corpus_bench.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "site events: precision 1.0000, recall 1.0000" in done.stdout


def test_storage_bench_prints_bytes_per_snapshot_against_json_text():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "storage_bench.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    ratios = dict(
        re.findall(
            r"^(stored alone|stored as deltas|all) .* ratio ([\d.]+)$", done.stdout, re.MULTILINE
        )
    )
    assert float(ratios["stored as deltas"]) < 0.05 < float(ratios["stored alone"]) < 0.4
    assert re.search(r"^database file: [\d,]+ B as schema 6 .* ratio 0\.\d+$", done.stdout, re.M)
