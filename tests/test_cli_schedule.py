"""`schedule`, overlapping runs, stale locks and the /version shortcut, with real processes."""

from __future__ import annotations

import datetime as dt
import json
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from monitor.times import utc_text
from tests.clock import days_ago, now
from tests.conftest import PATIENCE, Spawn, Trialwatch, find_site, study_with_id
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer

A = "NCT00000001"


class LineReader:
    """Collects a process's stdout lines in a thread, so a test can wait for one."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        assert stream is not None, "the process was started with its output piped"
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.lines.put(raw.decode().rstrip("\n"))

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = PATIENCE) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no matching line; saw {self.seen}")


def suspended(nct_id: str) -> dict[str, Any]:
    study = study_with_id(nct_id)
    find_site(study, "Cleveland Clinic")["status"] = "SUSPENDED"
    return study


def mailed_with_a_change_waiting(trialwatch: Trialwatch, registry: RegistryServer) -> None:
    """A watched trial mailed to ops@, with its baseline taken and a site change published."""
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A, "--to", "ops@example.org")
    trialwatch("check")
    registry.put(suspended(A))


def test_daemon_runs_on_schedule_mails_each_change_once_and_stops_on_sigterm(
    trialwatch: Trialwatch, spawn_trialwatch: Spawn, registry: RegistryServer, smtp: SmtpServer
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A, "--to", "ops@example.org")
    daemon = spawn_trialwatch("schedule", "--every", "1", env=smtp.env())
    output = LineReader(daemon.stdout)
    baseline = output.wait_for(lambda line: "run: checked 1, changed 0" in line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ run: checked 1, .*", baseline)
    registry.put(suspended(A))
    output.wait_for(lambda line: "changed 1" in line and "emails 1" in line)
    output.wait_for(lambda line: "run: checked" in line)  # a later run: nothing new
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(PATIENCE) == 0
    assert len(smtp.received) == 1
    assert "Recruiting -> Suspended" in smtp.received[0].part("plain")


def test_sigterm_during_a_run_exits_cleanly_and_loses_nothing(
    trialwatch: Trialwatch,
    spawn_trialwatch: Spawn,
    registry: RegistryServer,
    smtp: SmtpServer,
    home: Path,
) -> None:
    mailed_with_a_change_waiting(trialwatch, registry)
    registry.hold(len(registry.requests) + 2)  # /version, then hold the trial's fetch
    daemon = spawn_trialwatch("schedule", "--every", "3600", env=smtp.env())
    assert registry.request_held.wait(PATIENCE)
    daemon.send_signal(signal.SIGTERM)
    registry.release.set()
    assert daemon.wait(PATIENCE) == 0
    assert smtp.received == []  # stopped before the digest...
    rerun = trialwatch("run", env=smtp.env())  # ...which the next run delivers
    assert rerun.code == 0 and len(smtp.received) == 1


@pytest.mark.parametrize(
    "args,message",
    [
        (["--cron", "0 7 * *"], "not a five-field cron expression"),
        (["--cron", "0 7 * * 9"], "bad cron weekday '9'"),
        (["--timezone", "Nowhere/Special"], "unknown timezone"),
        (["--cron", "0 7 * * *", "--every", "5"], "give --cron or --every, not both"),
    ],
)
def test_bad_schedule_is_bad_input(trialwatch: Trialwatch, args: list[str], message: str) -> None:
    result = trialwatch("schedule", *args)
    assert result.code == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_overlapping_runs_send_one_digest(
    trialwatch: Trialwatch, spawn_trialwatch: Spawn, registry: RegistryServer, smtp: SmtpServer
) -> None:
    mailed_with_a_change_waiting(trialwatch, registry)
    registry.hold(len(registry.requests) + 2)
    first = spawn_trialwatch("run", env=smtp.env())
    assert registry.request_held.wait(PATIENCE)
    second = trialwatch("run", env={**smtp.env(), "TRIALWATCH_LOCK_WAIT": "0.5"})
    assert second.code == 0
    assert "another trialwatch run is in progress (pid " in second.stderr
    registry.release.set()
    assert first.wait(PATIENCE) == 0
    assert len(smtp.received) == 1
    assert trialwatch("run", env=smtp.env()).code == 0 and len(smtp.received) == 1


def test_a_lock_left_by_a_killed_process_is_recovered(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path, tmp_path: Path
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX);"
            " f.write('pid 1'); f.flush(); print('locked', flush=True); time.sleep(60)",
            str(home / "trialwatch.db.lock"),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    blocked = trialwatch("check", env={"TRIALWATCH_LOCK_WAIT": "0.2"})
    assert blocked.code == 0 and "in progress (pid 1)" in blocked.stderr
    holder.kill()
    holder.wait()
    holder.stdout.close()
    assert (home / "trialwatch.db.lock").read_text() == "pid 1"  # the file stays behind...
    recovered = trialwatch("check", "--json")
    assert recovered.code == 0 and recovered.json()["checked"] == 1  # ...but does not block


@pytest.mark.parametrize("hours", [1, 7])
def test_a_run_holding_the_lock_for_hours_is_reported_as_stuck(
    trialwatch: Trialwatch, home: Path, hours: int
) -> None:
    """A run steps aside quietly (exit 0) from one that holds the lock; but one holding it
    for more hours than any run takes has hung (a registry answering forever), and every cron
    run after it would skip unheard: this says so, exit 1."""
    trialwatch("watch", "add", "--no-verify", A)
    since = utc_text(now() - dt.timedelta(hours=hours))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX);"
            " f.write(sys.argv[2]); f.flush(); print('locked', flush=True); time.sleep(60)",
            str(home / "trialwatch.db.lock"),
            f"pid 4242 since {since}",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        skipped = trialwatch("run", env={"TRIALWATCH_LOCK_WAIT": "0.2"})
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
    if hours == 1:
        assert skipped.code == 0 and "in progress (pid 4242 since " in skipped.stderr
    else:
        assert skipped.code == 1
        assert f"(pid 4242) has held the lock since {since}, 7 hours" in skipped.stderr
        assert "kill 4242" in skipped.stderr


def test_unchanged_registry_data_skips_fetching_unless_forced(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    assert trialwatch("check").code == 0
    fetches = len(registry.study_requests())
    long_ago = f"{days_ago(330)}T00:00:00Z"
    with sqlite3.connect(home / "trialwatch.db") as db:
        db.execute("update watches set last_checked_at = ?", [long_ago])
    quiet = trialwatch("-v", "check", "--json")
    assert (quiet.json()["checked"], quiet.json()["fetched"]) == (1, 0)  # confirmed, no download
    assert len(registry.study_requests()) == fetches
    last_checked = trialwatch("watch", "list", "--json").json()[0]["last_checked_at"]
    assert last_checked > long_ago  # watch list says it was checked just now
    assert f"registry data unchanged since {registry.data_timestamp}" in quiet.stderr
    forced = trialwatch("check", "--force", "--json")
    assert forced.json()["fetched"] == 1 and len(registry.study_requests()) == fetches + 1
    registry.put(suspended(A))
    moved = trialwatch("check", "--json").json()
    assert moved["checked"] == 1 and len(moved["changes"]) == 1


def test_new_and_failed_trials_are_fetched_even_when_registry_data_is_unchanged(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    b, c = "NCT00000002", "NCT00000003"
    registry.put(study_with_id(A), study_with_id(c))
    trialwatch("watch", "add", "--no-verify", A)
    assert trialwatch("check").code == 0  # complete: the registry's timestamp is remembered
    trialwatch("watch", "add", "--no-verify", b, c)  # b is not in the registry
    assert trialwatch("check").code == 1
    assert registry.study_requests()[-1].params["filter.ids"] == [f"{b},{c}"]
    assert trialwatch("check").code == 1
    assert registry.study_requests()[-1].params["filter.ids"] == [b]


def test_daily_check_fetches_full_records_only_for_updated_trials(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    ids = [f"NCT0000002{n}" for n in range(5)]
    registry.put(*(study_with_id(nct_id) for nct_id in ids))
    trialwatch("watch", "add", *ids)
    assert trialwatch("check").code == 0  # the first check is a full pass
    registry.put(suspended(ids[3]))
    before = len(registry.study_requests())
    result = trialwatch("check", "--json").json()
    phase_one, phase_two = registry.study_requests()[before:]
    assert phase_one.params["fields"] == ["NCTId|LastUpdatePostDate"]
    assert phase_one.params["filter.ids"] == [",".join(ids)]
    assert phase_two.params["filter.ids"] == [ids[3]] and "fields" not in phase_two.params
    assert (result["checked"], result["fetched"]) == (5, 1) and len(result["changes"]) == 1


def test_full_pass_fetches_everything(trialwatch: Trialwatch, registry: RegistryServer) -> None:
    ids = [f"NCT0000003{n}" for n in range(3)]
    registry.put(*(study_with_id(nct_id) for nct_id in ids))
    trialwatch("watch", "add", *ids)
    trialwatch("check")
    registry.put(suspended(ids[0]))
    assert trialwatch("check", "--full", "--json").json()["checked"] == 3
    registry.put(suspended(ids[1]))
    weekly = trialwatch("check", "--json", env={"TRIALWATCH_FULL_CHECK_DAYS": "0"})
    assert weekly.json()["checked"] == 3  # the safety net is due at once


def test_the_daemon_outlives_a_locked_database_and_catches_up(
    trialwatch: Trialwatch,
    spawn_trialwatch: Spawn,
    registry: RegistryServer,
    smtp: SmtpServer,
    home: Path,
) -> None:
    mailed_with_a_change_waiting(trialwatch, registry)
    holder = sqlite3.connect(home / "trialwatch.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    daemon = spawn_trialwatch(
        "schedule", "--every", "1", env={**smtp.env(), "TRIALWATCH_DB_WAIT": "0.2"}
    )
    errors, output = LineReader(daemon.stderr), LineReader(daemon.stdout)
    errors.wait_for(lambda line: "run not completed" in line and "locked by another" in line)
    holder.execute("ROLLBACK")
    holder.close()
    output.wait_for(lambda line: "changed 1" in line and "emails 1" in line)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(PATIENCE) == 0
    assert len(smtp.received) == 1


def minimal_study(nct_id: str, status: str, posted: str) -> str:
    return json.dumps(
        {
            "protocolSection": {
                "identificationModule": {"nctId": nct_id},
                "statusModule": {
                    "overallStatus": status,
                    "lastUpdatePostDateStruct": {"date": posted, "type": "ACTUAL"},
                },
            }
        }
    )


def test_a_long_watch_list_asks_the_registry_what_changed_not_about_every_trial(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    """700 watched trials take 3 requests by id (300 a request); the registry updated 1,503
    studies since the last check (2 pages of 1,000): it is asked for those instead, and only
    the 3 watched ones that moved are downloaded. Absent from the answer means unchanged."""
    watched = [f"NCT0100{n:04d}" for n in range(700)]
    for nct_id in watched:
        registry.put_raw(nct_id, minimal_study(nct_id, "RECRUITING", days_ago(330)))
    trialwatch("watch", "add", "--no-verify", *watched)
    assert trialwatch("check").code == 0  # the first check is a full pass
    today = days_ago(0)
    for nct_id in watched[:3]:
        registry.put_raw(nct_id, minimal_study(nct_id, "COMPLETED", today))
    for n in range(1500):  # a busy day at the registry: trials nobody here watches
        other = f"NCT0200{n:04d}"
        registry.put_raw(other, minimal_study(other, "RECRUITING", today))
    before = len(registry.study_requests())
    result = trialwatch("check", "--json")
    assert result.code == 0, result.stderr
    asked = registry.study_requests()[before:]
    assert [r.params.get("filter.advanced", [""])[0][:26] for r in asked] == [
        "AREA[LastUpdatePostDate]RA",
        "AREA[LastUpdatePostDate]RA",
        "",
    ]
    assert asked[-1].params["filter.ids"] == [",".join(watched[:3])]
    assert (result.json()["checked"], result.json()["fetched"]) == (700, 3)
    assert len(result.json()["changes"]) == 3
