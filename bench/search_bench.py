"""Benchmark what a big watched search costs a day: requests and wall time for a search of
20,000 matches when 1% of them changed, against listing every match every day (what each
check did before, and what the full pass still does), in the same run on the same registry.

The loopback registry models what a user waits for: 0.1 s before each answer, 20 MB/s, and one
request a second (kept by both sides). The registry is busy as the real one is: the list of
studies updated since a search's last check (two days' margin) holds three days of about
3,100 updates each. Each simulated day, 1% of the matches are updated: a tenth of those leave
the search with that update, and as many new trials enter it.

Two homes run side by side, one listing every match (`check --full`), one asking for what
changed (`check`); their search events must agree. With `--watched N`, the second home also
watches N trials, enough that the trials' check reads the registry's list of updated studies
itself: the search then shares it, and only its own pages count as its cost.

    .venv/bin/python bench/search_bench.py                  # 20,000 matches, 3 days
    .venv/bin/python bench/search_bench.py --watched 5000   # with a portfolio sharing the list
    .venv/bin/python bench/search_bench.py --interval 0 --latency 0 --bandwidth-mb 0
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from tests.registry_server import RegistryServer  # noqa: E402 (after the path is set)

DAYS_LISTED = 3  # today and the two days of margin a daily check asks for


def small_study(nct_id: str, title: str, posted: str) -> str:
    """What a search reads of a trial, and little else: a big registry stays quick to serve."""
    return json.dumps(
        {
            "protocolSection": {
                "identificationModule": {"nctId": nct_id, "briefTitle": title},
                "statusModule": {
                    "overallStatus": "RECRUITING",
                    "lastUpdatePostDateStruct": {"date": posted, "type": "ACTUAL"},
                },
                "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Acme"}},
                "designModule": {"phases": ["PHASE2"]},
            }
        }
    )


def publish(server: RegistryServer, nct_id: str, title: str, posted: str) -> None:
    server.put_raw(nct_id, small_study(nct_id, title, posted))
    server.update_dates[nct_id] = posted


def trialwatch(home: str, server: RegistryServer, *args: str, interval: float) -> float:
    """Run the CLI in its own process; its wall seconds."""
    env = {
        **os.environ,
        "TRIALWATCH_HOME": home,
        "TRIALWATCH_API_URL": server.url,
        "TRIALWATCH_REQUEST_INTERVAL": str(interval),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *args], env=env, capture_output=True, text=True
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"trialwatch {' '.join(args)} failed: {done.stderr.strip()}")
    return time.perf_counter() - start


def counted(server: RegistryServer, run: Any) -> tuple[float, dict[str, int]]:
    """Seconds and requests of one check, by purpose."""
    before = len(server.requests)
    seconds = run()
    purposes = {"search pages": 0, "updated-studies list": 0, "trials": 0, "version": 0}
    for request in server.requests[before:]:
        if request.path == "/version":
            purposes["version"] += 1
        elif any(key.startswith("query.") for key in request.params):
            purposes["search pages"] += 1
        elif "filter.advanced" in request.params:
            purposes["updated-studies list"] += 1
        else:
            purposes["trials"] += 1
    return seconds, purposes


def events(home: str, server: RegistryServer) -> list[tuple[str, str]]:
    env = {**os.environ, "TRIALWATCH_HOME": home, "TRIALWATCH_API_URL": server.url}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "changes", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(
        (e["category"], e["nct_id"])
        for e in json.loads(done.stdout)
        if e["field"].startswith("query:")
    )


def bench(arguments: argparse.Namespace) -> None:
    server = RegistryServer().start()
    today = dt.datetime.now(dt.UTC).date()
    long_ago = (today - dt.timedelta(days=400)).isoformat()
    matches = [f"NCT{10_000_000 + n:08d}" for n in range(arguments.matches)]
    for number, nct_id in enumerate(matches):
        publish(server, nct_id, f"Lupus study {number}", long_ago)
    watched = [f"NCT{30_000_000 + n:08d}" for n in range(arguments.watched)]
    for number, nct_id in enumerate(watched):
        publish(server, nct_id, f"Asthma study {number}", long_ago)
    for day in range(DAYS_LISTED):  # the registry's busy days before the first check
        posted = (today - dt.timedelta(days=day)).isoformat()
        for number in range(arguments.background):
            publish(server, f"NCT{90_000_000 + day * 100_000 + number:08d}", "Gout", posted)
    with tempfile.TemporaryDirectory() as listing, tempfile.TemporaryDirectory() as changed:
        homes = {"list every match (before)": listing, "ask what changed (after)": changed}
        for home in homes.values():
            trialwatch(home, server, "watch", "query", "lupus", "--term", "lupus", interval=0)
        if watched:
            trialwatch(changed, server, "watch", "add", "--no-verify", *watched, interval=0)
        for home in homes.values():
            trialwatch(home, server, "-q", "check", interval=0)  # the baseline
        server.latency, server.bandwidth = arguments.latency, arguments.bandwidth_mb * 1_000_000
        server.min_interval = arguments.interval * 0.9
        figures: dict[str, list[tuple[float, dict[str, int]]]] = {name: [] for name in homes}
        step = max(1, round(100 / arguments.changed_percent))
        for day in range(arguments.days):
            today_text = today.isoformat()
            updated = matches[day::step]
            for number, nct_id in enumerate(updated):  # a tenth leave with their update
                title = "Gout study" if number % 10 == 0 else f"Lupus study {nct_id} (amended)"
                publish(server, nct_id, title, today_text)
            for number in range(len(updated) // 10):
                nct_id = f"NCT{20_000_000 + day * 10_000 + number:08d}"
                publish(server, nct_id, "A new lupus study", today_text)
            for name, home in homes.items():
                full = ["--full"] if "before" in name else []
                figures[name].append(
                    counted(
                        server,
                        lambda home=home, full=full: trialwatch(
                            home, server, "-q", "check", *full, interval=arguments.interval
                        ),
                    )
                )
        agree = events(listing, server) == events(changed, server)
    server.stop()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; network: {arguments.latency} s latency, "
        f"{arguments.bandwidth_mb} MB/s, one request every {arguments.interval} s; "
        f"{arguments.background} registry updates a day, {DAYS_LISTED} days listed"
    )
    print(
        f"search of {arguments.matches:,} matches, {arguments.changed_percent}% updated a day, "
        f"{arguments.watched:,} trials watched beside it, {arguments.days} days:"
    )
    # the search's own cost: its pages, and the updated-studies list unless the trials read it
    own = ("search pages",) if watched else ("search pages", "updated-studies list")
    base = statistics_of(figures["list every match (before)"], own)
    for name, days in figures.items():
        seconds, requests, purposes = statistics_of(days, own)
        timing = "" if watched else f", {seconds:5.1f} s a day, {seconds / base[0]:.2f}x the time"
        print(
            f"  {name:27} {requests:5.1f} search requests a day, {requests / base[1]:.2f}x "
            f"the requests{timing}; all requests by purpose: {purposes}"
        )
    print(f"  search events of both homes agree: {'yes' if agree else 'NO'}")


def statistics_of(
    days: list[tuple[float, dict[str, int]]], own: tuple[str, ...]
) -> tuple[float, float, str]:
    """Mean seconds, mean requests of the purposes `own`, and each purpose's mean, over days."""
    seconds = sum(day_seconds for day_seconds, _ in days) / len(days)
    requests = sum(sum(purposes[purpose] for purpose in own) for _, purposes in days) / len(days)
    by_purpose = {purpose: sum(k[purpose] for _, k in days) / len(days) for purpose in days[0][1]}
    text = ", ".join(f"{purpose} {count:g}" for purpose, count in by_purpose.items() if count)
    return seconds, requests, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=20_000, help="the search's matches")
    parser.add_argument("--changed-percent", type=float, default=1.0, help="updated a day")
    parser.add_argument("--watched", type=int, default=0, help="trials watched beside it")
    parser.add_argument("--days", type=int, default=3, help="daily checks compared")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before each answer")
    parser.add_argument("--bandwidth-mb", type=float, default=20, help="MB a second (0: loopback)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between requests")
    parser.add_argument("--background", type=int, default=3100, help="registry updates a day")
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
