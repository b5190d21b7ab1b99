"""Benchmark `trialwatch report --out DIR` over a portfolio: N trials (the bundled record, 54
sites, under N ids), 2% of them changed twice before the first report (a site's status each
time), then a day on which another 1% changed.

Prints, for each N: the first report's wall time, peak memory and files written; the next
day's report likewise; and, as the baseline measured in the same run, the time to read every
trial's events and snapshot dates from the database (the least any report must do).

    .venv/bin/python bench/report_bench.py                 # N = 1,000 and 10,000
    .venv/bin/python bench/report_bench.py --n 50000       # one size
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.jobs.check import DatedStudy, import_studies  # noqa: E402 (after the path is set)
from monitor.store import Store  # noqa: E402
from monitor.times import moment_of  # noqa: E402

SEED = ROOT / "seeds" / "NCT05869955" / "2026-01-13.json"
DAYS = tuple(moment_of(f"2026-11-{day}T07:00:00Z") for day in (28, 29, 30))
NEXT_DAY = moment_of("2026-12-01T07:00:00Z")
STATUSES = ("RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED", "SUSPENDED")


def trial_ids(count: int) -> list[str]:
    return [f"NCT{10_000_000 + number:08d}" for number in range(count)]


def with_id(seed: dict[str, Any], nct_id: str, change: int = 0) -> dict[str, Any]:
    """The seed under `nct_id`; `change` > 0 gives its first site another status."""
    study = copy.deepcopy(seed)
    study["protocolSection"]["identificationModule"]["nctId"] = nct_id
    if change:
        sites = study["protocolSection"]["contactsLocationsModule"]["locations"]
        sites[0]["status"] = STATUSES[change % len(STATUSES)]
    return study


def build(database: Path, count: int) -> list[str]:
    """The portfolio: every trial's baseline, then 2% changed on each of two days."""
    seed = json.loads(SEED.read_text())
    ids = trial_ids(count)
    store = Store.open(database)
    store.watches.add(ids, label=None, recipients=[], now=DAYS[0])
    import_studies(store, (DatedStudy("bench", with_id(seed, i), DAYS[0]) for i in ids))
    for change, day in enumerate(DAYS[1:], start=1):
        changed = ids[change::50]
        import_studies(store, (DatedStudy("bench", with_id(seed, i, change), day) for i in changed))
    return ids


def next_day(database: Path, ids: list[str]) -> None:
    """Another 1% of the trials changed."""
    seed = json.loads(SEED.read_text())
    store = Store.open(database)
    changed = ids[7::100]
    import_studies(store, (DatedStudy("bench", with_id(seed, i, 3), NEXT_DAY) for i in changed))


def report(home: Path, out: Path) -> tuple[float, float, int]:
    """Wall seconds, peak resident MB and files written by one `trialwatch report`."""
    before = {path: path.stat().st_mtime_ns for path in out.glob("*")} if out.exists() else {}
    env = {**os.environ, "TRIALWATCH_HOME": str(home)}
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-q", "report", "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    if status != 0:
        raise SystemExit(f"trialwatch report failed: {errors}")
    written = sum(1 for path in out.glob("*") if before.get(path) != path.stat().st_mtime_ns)
    return seconds, usage.ru_maxrss / 1024, written


def least(database: Path) -> float:
    """Seconds to read every event and every snapshot's id and time: the floor of a report."""
    start = time.perf_counter()
    store = Store.open(database, reading=True)
    for _ in store.db.query("select * from events"):
        pass
    for _ in store.db.query("select id, nct_id, fetched_at from snapshots"):
        pass
    return time.perf_counter() - start


def bench(count: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        home, out = Path(folder) / "home", Path(folder) / "out"
        home.mkdir()
        start = time.perf_counter()
        ids = build(home / "trialwatch.db", count)
        built = time.perf_counter() - start
        floor = least(home / "trialwatch.db")
        first = report(home, out)
        next_day(home / "trialwatch.db", ids)
        second = report(home, out)
    return [
        f"N = {count:,} (database built in {built:.0f} s; reading every event and snapshot "
        f"time: {floor:.2f} s)",
        f"  first report     {first[0]:7.1f} s  {first[0] / floor:7.0f}x the floor  "
        f"peak {first[1]:5.0f} MB  {first[2]:6,} files written",
        f"  next day's       {second[0]:7.1f} s  {second[0] / floor:7.0f}x the floor  "
        f"peak {second[1]:5.0f} MB  {second[2]:6,} files written",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="trial count (repeatable)")
    arguments = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    for count in arguments.n or [1_000, 10_000]:
        for line in bench(count):
            print(line, flush=True)


if __name__ == "__main__":
    main()
