"""Benchmark the daily `trialwatch check` against N synthetic trials on a loopback registry
that models what a user waits for: a network (0.1 s before each answer, 20 MB/s) and the
registry's politeness (one request a second, kept by both sides), with a background of 3,000
registry trials nobody watches updated every day (other ones each day, as in the registry).
Each round is one registry day: its updates are all posted that day. The first daily check
has no listing to go by and lists from two days before its last check; later ones list from
the newest day the last listing saw (its watermark).

For each N: the first check (a full pass), then daily checks after another 1% of the trials
changed each time (a day passes: the database's run times move back a day), taking turns with
a polite bare download of all N records with httpx (the least a naive monitor does) and with
an oracle: a client that already knows the day's date and needs nothing else, listing the
day's updates (ids only, 1,000 a page) and downloading the watched ones that moved (500 a
request), as politely. Medians are compared, so one slow moment of a shared machine does not
decide. Prints wall times, requests, peak memory of the check process, and the ratios daily
check / bare download and daily check / oracle, each against its target.

    .venv/bin/python bench/check_bench.py                # N = 1,000 and 10,000
    .venv/bin/python bench/check_bench.py --n 2000       # one size
    .venv/bin/python bench/check_bench.py --interval 0 --latency 0 --bandwidth-mb 0
                                                         # loopback speed, no politeness
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import multiprocessing.pool
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.registry_server import RegistryServer  # noqa: E402 (after the path is set)

SEED = ROOT / "seeds" / "NCT05869955" / "2026-01-13.json"
BATCH = 100


def trial_ids(count: int) -> list[str]:
    return [f"NCT{10_000_000 + number:08d}" for number in range(count)]


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one `python -m monitor` process.

    Runs inside the small spawner process (see `main`): a child forked from this big process,
    which holds the whole synthetic registry, would report that as its own peak memory.
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    assert process.stderr is not None  # piped above
    errors = process.stderr.read().decode()
    process.stderr.close()
    if status != 0:
        raise SystemExit(f"trialwatch {' '.join(args[:2])} failed: {errors}")
    return elapsed, usage.ru_maxrss / 1024


def bare_download(url: str, ids: list[str], *, interval: float) -> float:
    """Every record once, in batches of 100, bytes read and nothing else done, as politely as
    trialwatch and no more: a request starts `interval` seconds after the previous one started."""
    start = next_request_at = time.perf_counter()
    with httpx.Client(base_url=url, timeout=120) as client:
        for first in range(0, len(ids), BATCH):
            time.sleep(max(0.0, next_request_at - time.perf_counter()))
            next_request_at = time.perf_counter() + interval
            chunk = ids[first : first + BATCH]
            client.get("/studies", params={"filter.ids": ",".join(chunk), "pageSize": BATCH}).read()
    return time.perf_counter() - start


ORACLE_BATCH = 500


def oracle(url: str, watched: set[str], day: str, *, interval: float) -> tuple[float, int]:
    """The floor of a daily check: the day's updates listed (ids only), the watched ones that
    moved downloaded, 500 a request; seconds and requests."""
    start = next_request_at = time.perf_counter()
    requests = 0
    with httpx.Client(base_url=url, timeout=120) as client:

        def get(params: dict[str, Any]) -> dict[str, Any]:
            nonlocal next_request_at, requests
            time.sleep(max(0.0, next_request_at - time.perf_counter()))
            next_request_at = time.perf_counter() + interval
            requests += 1
            answer: dict[str, Any] = client.get("/studies", params=params).json()
            return answer

        listing = {
            "filter.advanced": f"AREA[LastUpdatePostDate]RANGE[{day},MAX]",
            "fields": "NCTId",
            "pageSize": 1000,
        }
        moved, token = [], None
        while True:
            page = get(listing | ({"pageToken": token} if token else {}))
            moved += [
                s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]
            ]
            token = page.get("nextPageToken")
            if not token:
                break
        wanted = [nct_id for nct_id in moved if nct_id in watched]
        for first in range(0, len(wanted), ORACLE_BATCH):
            chunk = wanted[first : first + ORACLE_BATCH]
            get({"filter.ids": ",".join(chunk), "pageSize": len(chunk)})
    return time.perf_counter() - start, requests


def a_day_passes(database: Path) -> None:
    """Move the recorded runs back a day, as if the last check ran yesterday."""
    with sqlite3.connect(database) as db:
        db.execute(
            "update runs set started_at = strftime('%Y-%m-%dT%H:%M:%SZ', started_at, '-1 day'),"
            " finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', finished_at, '-1 day')"
        )


def background_update(server: RegistryServer, count: int, *, day: str, number: int) -> None:
    """A registry's busy day (the `number`th): `count` trials nobody here watches, other ones
    each day as in the registry, updated on `day`."""
    for one in range(count):
        nct_id = f"NCT{90_000_000 + number * count + one:08d}"
        posted = {"date": day, "type": "ACTUAL"}
        study = {
            "protocolSection": {
                "identificationModule": {"nctId": nct_id},
                "statusModule": {"overallStatus": "RECRUITING", "lastUpdatePostDateStruct": posted},
            }
        }
        server.put_raw(nct_id, json.dumps(study))


def bench(
    count: int, spawner: multiprocessing.pool.Pool, *, repeat: int, network: argparse.Namespace
) -> dict[str, Any]:
    server = RegistryServer().start()
    seed_text = SEED.read_text()
    ids = trial_ids(count)
    for nct_id in ids:
        server.put_raw(nct_id, seed_text.replace("NCT05869955", nct_id))
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "TRIALWATCH_HOME": home,
            "TRIALWATCH_API_URL": server.url,
            "TRIALWATCH_REQUEST_INTERVAL": str(network.interval),
        }
        spawner.apply(run_cli, (["watch", "add", *ids], env))
        server.latency, server.bandwidth = network.latency, network.bandwidth_mb * 1_000_000
        before = len(server.requests)
        first_seconds, first_mb = spawner.apply(run_cli, (["-q", "check"], env))
        first_requests = len(server.requests) - before
        database = Path(home) / "trialwatch.db"
        first_db_mb = database.stat().st_size / 1_000_000
        daily: list[tuple[float, float, int]] = []
        bare: list[float] = []
        floor: list[tuple[float, int]] = []
        watched = set(ids)
        for round_number in range(repeat):  # daily check, bare download and oracle take turns
            # the registry's date of the day's updates: what the oracle knows. The last round's
            # is today: a post date after today is a registry error, which moves no watermark
            today = dt.datetime.now(dt.UTC).date()
            day = (today - dt.timedelta(days=repeat - 1 - round_number)).isoformat()
            for nct_id in ids[round_number::100]:  # another 1% changes: a site's status
                study = json.loads(server.studies[nct_id])
                status = study["protocolSection"]["statusModule"]
                status["lastUpdatePostDateStruct"] = {"date": day, "type": "ACTUAL"}
                locations = study["protocolSection"]["contactsLocationsModule"]["locations"]
                locations[0]["status"] = "SUSPENDED"
                server.put_raw(nct_id, json.dumps(study))
            background_update(server, network.background, day=day, number=round_number)
            a_day_passes(database)
            before = len(server.requests)
            seconds, mb = spawner.apply(run_cli, (["-q", "check"], env))
            daily.append((seconds, mb, len(server.requests) - before))
            if network.bare or round_number == 0:  # its pace is the politeness: once is enough
                bare.append(bare_download(server.url, ids, interval=network.interval))
            floor.append(oracle(server.url, watched, day, interval=network.interval))
        final_db_mb = database.stat().st_size / 1_000_000
    server.stop()
    daily_times = sorted(seconds for seconds, _, _ in daily)
    return {
        "n": count,
        "first_s": first_seconds,
        "first_requests": first_requests,
        "first_mb": first_mb,
        "daily_s": statistics.median(daily_times),
        "daily_spread": f"{daily_times[0]:.2f}-{daily_times[-1]:.2f}",
        "daily_requests": max(requests for _, _, requests in daily),
        "daily_mb": max(mb for _, mb, _ in daily),
        "bare_s": statistics.median(bare),
        "bare_spread": f"{min(bare):.2f}-{max(bare):.2f}",
        "oracle_s": statistics.median(seconds for seconds, _ in floor),
        "oracle_requests": max(requests for _, requests in floor),
        "repeat": repeat,
        "first_db_mb": first_db_mb,
        "final_db_mb": final_db_mb,
    }


def report(figures: dict[str, Any]) -> list[str]:
    n = int(figures["n"])
    ratio = figures["daily_s"] / figures["bare_s"]
    ratio_target = 0.05 if n >= 50_000 else 0.2 if n >= 10_000 else None
    floor = figures["daily_s"] / figures["oracle_s"]
    checks = [
        (
            "daily check / oracle",
            f"{floor:.3f}",
            "<= 1.3 (at 10,000 and up)",
            n < 10_000 or floor <= 1.3,
        ),
        (
            "daily check / bare download",
            f"{ratio:.3f}",
            f"<= {ratio_target}" if ratio_target else "(none below 10,000)",
            ratio_target is None or ratio <= ratio_target,
        ),
        (
            "daily check requests",
            f"{figures['daily_requests']}",
            "<= 10",
            figures["daily_requests"] <= 10,
        ),
        (
            "daily check peak memory",
            f"{figures['daily_mb']:.0f} MB",
            "<= 300 MB (any N)",
            figures["daily_mb"] <= 300,
        ),
        (
            "first check peak memory",
            f"{figures['first_mb']:.0f} MB",
            "<= 300 MB (any N)",
            figures["first_mb"] <= 300,
        ),
        (
            "first check",
            f"{figures['first_s']:.1f} s",
            "<= 180 s (at 10,000)" if n <= 10_000 else "(only at 10,000)",
            n > 10_000 or figures["first_s"] <= 180,
        ),
    ]
    lines = [
        f"N = {n:,}: first check {figures['first_s']:.1f} s ({figures['first_requests']} "
        f"requests); median of {figures['repeat']}: daily check {figures['daily_s']:.2f} s "
        f"({figures['daily_spread']} s, {figures['daily_requests']} requests), bare download "
        f"{figures['bare_s']:.2f} s ({figures['bare_spread']} s), oracle "
        f"{figures['oracle_s']:.2f} s ({figures['oracle_requests']} requests)",
        f"  database {figures['first_db_mb']:.1f} MB after the first check, "
        f"{figures['final_db_mb']:.1f} MB after {figures['repeat']} daily checks",
    ]
    lines += [
        f"  {name:<30} {value:>10}  target {target:<22} {'ok' if ok else 'MISSED'}"
        for name, value, target, ok in checks
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="trial count (repeatable)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="daily checks and bare downloads, taking turns"
    )
    parser.add_argument(
        "--bare-once",
        dest="bare",
        action="store_false",
        help="the bare download in the first round only (at 50,000 it takes 500 s a round, set "
        "by the politeness alone); the daily checks and the oracle still take turns",
    )
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before each answer")
    parser.add_argument(
        "--bandwidth-mb", type=float, default=20, help="MB a second (0: loopback speed)"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="politeness: seconds between requests"
    )
    parser.add_argument(
        "--background", type=int, default=3000, help="unwatched trials updated each day"
    )
    arguments = parser.parse_args()
    sizes = arguments.n or [1_000, 10_000]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}; network: "
        f"{arguments.latency} s latency, {arguments.bandwidth_mb} MB/s, one request every "
        f"{arguments.interval} s, {arguments.background} unwatched trials updated a day"
    )
    with multiprocessing.get_context("fork").Pool(1) as spawner:  # forked while still small
        for count in sizes:
            figures = bench(count, spawner, repeat=arguments.repeat, network=arguments)
            for line in report(figures):
                print(line, flush=True)


if __name__ == "__main__":
    main()
