"""`trialwatch check` against the loopback registry: baseline, changes, faults, a crash."""

from __future__ import annotations

import gc
import os
import pty
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import (
    NO_REGISTRY,
    PATIENCE,
    SPEC_EVENT_KEYS,
    Spawn,
    Trialwatch,
    cli_command,
    find_site,
    study_with_id,
)
from tests.registry_server import RegistryServer

A, B, GONE = "NCT00000001", "NCT00000002", "NCT09999999"


def db_rows(home: Path, sql: str) -> list[Any]:
    with sqlite3.connect(home / "trialwatch.db") as conn:
        return conn.execute(sql).fetchall()


def changed(study: dict[str, Any]) -> dict[str, Any]:
    find_site(study, "Cleveland Clinic")["status"] = "ACTIVE_NOT_RECRUITING"
    study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 300
    return study


def test_first_check_is_a_baseline_then_changes_are_events(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    first = trialwatch("check", "--json")
    assert (first.code, first.json()) == (
        0,
        {"checked": 1, "fetched": 1, "changes": [], "errors": []},
    )
    registry.put(changed(study_with_id(A)))
    second = trialwatch("check", "--json").json()
    assert [(e["category"], e["nct_id"]) for e in second["changes"]] == [
        ("site_status", A),
        ("enrollment", A),
    ]
    assert set(second["changes"][0]) >= SPEC_EVENT_KEYS
    third = trialwatch("check", "--json").json()
    assert third["changes"] == []
    assert db_rows(home, "select count(*) from snapshots") == [(2,)]
    assert db_rows(home, "select count(*) from events") == [(2,)]


def test_human_output_lists_summaries(trialwatch: Trialwatch, registry: RegistryServer) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    trialwatch("check")
    registry.put(changed(study_with_id(A)))
    result = trialwatch("check")
    assert result.stdout.splitlines() == [
        f"{A}  Cleveland Clinic, Cleveland, United States: Recruiting -> Active, not recruiting",
        f"{A}  Enrollment 270 -> 300 (estimated)",
        "Checked 1 trial(s) (1 downloaded): 2 change(s), 0 error(s)",
    ]
    assert result.stderr == ""


def test_a_missing_trial_is_reported_and_the_others_still_checked(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    registry.put(study_with_id(A), study_with_id(B))
    trialwatch("watch", "add", "--no-verify", A, GONE, B)
    result = trialwatch("check", "--json")
    assert result.code == 1
    assert result.json() == {
        "checked": 2,
        "fetched": 2,
        "changes": [],
        "errors": [{"nct_id": GONE, "error": "not found in the registry"}],
    }
    assert result.stderr == f"trialwatch: {GONE}: not found in the registry\n"
    assert db_rows(home, "select nct_id from snapshots order by nct_id") == [(A,), (B,)]
    listed = {w["nct_id"]: w["last_error"] for w in trialwatch("watch", "list", "--json").json()}
    assert listed == {A: None, B: None, GONE: "not found in the registry"}


def test_server_down_is_reported_with_exit_1_and_nothing_lost(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    trialwatch("check")
    registry.put(changed(study_with_id(A)))
    registry.fail(status=503, times=1000)  # down for the whole check
    down = trialwatch("check", "--json")
    assert down.code == 1
    assert down.json()["errors"] == [
        {"nct_id": A, "error": "server error (HTTP 503) after 3 attempts"}
    ]
    registry.faults.clear()
    recovered = trialwatch("check", "--json")
    assert recovered.code == 0 and len(recovered.json()["changes"]) == 2


def test_malformed_json_for_one_trial_spares_the_others(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id(B))
    registry.put_raw(A, "{not json")
    trialwatch("watch", "add", "--no-verify", A, B)
    result = trialwatch("check", "--json")
    assert result.code == 1
    assert result.json()["errors"] == [{"nct_id": A, "error": "malformed JSON from the registry"}]
    assert result.json()["checked"] == 1


def test_checking_named_trials_only(trialwatch: Trialwatch, registry: RegistryServer) -> None:
    registry.put(study_with_id(A), study_with_id(B))
    trialwatch("watch", "add", "--no-verify", A, B)
    assert trialwatch("check", B, "--json").json()["checked"] == 1
    assert [r.params["filter.ids"] for r in registry.study_requests()] == [[B]]


def test_checking_an_unwatched_trial_is_bad_input(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    result = trialwatch("check", A)
    assert (result.code, result.stderr) == (
        2,
        f"trialwatch: not watched: {A} (see `trialwatch watch list`)\n",
    )
    assert registry.requests == []


def test_crash_between_two_trials_loses_and_doubles_nothing(
    trialwatch: Trialwatch, spawn_trialwatch: Spawn, registry: RegistryServer, home: Path
) -> None:
    registry.put(study_with_id(A), study_with_id(B))
    trialwatch("watch", "add", A, B)
    assert trialwatch("check").code == 0
    registry.put(changed(study_with_id(A)), changed(study_with_id(B)))
    # the next check asks /version, the update dates (phase one), then one request per trial
    # (batch size 1): hold the second trial's
    registry.hold(len(registry.requests) + 4)
    process = spawn_trialwatch("check", env={"TRIALWATCH_BATCH_SIZE": "1"})
    assert registry.request_held.wait(PATIENCE)
    process.send_signal(signal.SIGKILL)
    process.wait()
    registry.release.set()
    assert db_rows(home, "PRAGMA integrity_check") == [("ok",)]
    assert db_rows(home, "select nct_id, count(*) from events group by nct_id") == [(A, 2)]
    rerun = trialwatch("check", "--json")
    assert rerun.code == 0
    assert {e["nct_id"] for e in rerun.json()["changes"]} == {B}
    assert db_rows(home, "select nct_id, count(*) from events group by nct_id") == [(A, 2), (B, 2)]
    assert db_rows(home, "select nct_id, count(*) from snapshots group by nct_id") == [
        (A, 2),
        (B, 2),
    ]


def test_progress_shows_on_a_terminal_only(
    registry: RegistryServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """On a pseudo-terminal the progress bar is drawn on stderr; piped output stays clean."""
    registry.put(*(study_with_id(f"NCT0000010{n}") for n in range(5)))
    env = {**cli_env, "TRIALWATCH_BATCH_SIZE": "1", "TERM": "xterm"}
    ids = [f"NCT0000010{n}" for n in range(5)]
    subprocess.run(
        cli_command("watch", "add", *ids),
        env=env,
        check=True,
        capture_output=True,
    )
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        cli_command("check"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=terminal,
        cwd=tmp_path,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        shown += chunk
    stdout, _ = process.communicate()
    os.close(controller)
    assert process.returncode == 0
    assert b"Checking trials" in shown
    assert b"Checking trials" not in stdout and stdout.endswith(b"0 error(s)\n")


def test_a_watch_that_keeps_failing_is_told_once_then_kept_quiet_until_it_fails_anew(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id(A), study_with_id(B))
    trialwatch("watch", "add", A, B)
    trialwatch("run")
    del registry.studies[B]  # withdrawn from public view
    registry.update_dates.pop(B)
    registry.put(study_with_id(A))
    first = trialwatch("run")
    assert first.code == 1 and f"{B}: not found in the registry" in first.stderr
    assert f"trialwatch watch remove {B}" in first.stderr
    registry.put(study_with_id(A))
    quiet = trialwatch("run")  # the next morning: cron mails nothing
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, "", "")
    assert "PROBLEM  watches   1 failing" in trialwatch("doctor").stdout
    assert "not found" in trialwatch("watch", "list").stdout
    registry.put(study_with_id(B))  # back
    assert trialwatch("run").code == 0
    del registry.studies[B]
    registry.update_dates.pop(B)
    registry.put(study_with_id(A))
    again = trialwatch("run")  # failing anew after recovering: told again
    assert again.code == 1 and f"{B}: not found in the registry" in again.stderr


def test_the_wait_for_the_registry_is_spent_reading_baselines_and_changes_nothing(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    """With the registry's politeness, the versions changed trials are compared with are read
    while the check waits its turn: the changes told are exactly those told without waiting."""
    C = "NCT00000003"
    registry.put(*(study_with_id(nct_id) for nct_id in (A, B, C)))
    trialwatch("watch", "add", A, B, C)
    trialwatch("check")
    registry.put(changed(study_with_id(A)), changed(study_with_id(C)))
    polite = trialwatch("check", "--json", env={"TRIALWATCH_REQUEST_INTERVAL": "0.3"}).json()
    assert [(e["nct_id"], e["category"]) for e in polite["changes"]] == [
        (A, "site_status"),
        (A, "enrollment"),
        (C, "site_status"),
        (C, "enrollment"),
    ]
    assert (polite["checked"], polite["fetched"], polite["errors"]) == (3, 2, [])
    assert gc.isenabled()  # paused during the check only: the daemon's process lives on


def test_a_check_says_many_sites_changed_alike_in_one_line(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    from tests.test_render import flood

    before, after = flood()
    registry.put(before)
    trialwatch("watch", "add", "NCT05869955")
    assert trialwatch("check").code == 0
    registry.put(after)
    lines = trialwatch("check").stdout.splitlines()
    said = (
        "NCT05869955  230 sites now list a status: 177 Recruiting, 40 Not yet recruiting, "
        "13 Completed (each: trialwatch changes NCT05869955 --category site_status --since "
    )
    assert [line for line in lines if line.startswith(said)]
    assert len(lines) < 10  # not 460


def test_an_unreachable_registry_counts_trials_and_searches_apart(trialwatch: Trialwatch) -> None:
    trialwatch("watch", "add", "--no-verify", "NCT00000001", "NCT00000002")
    trialwatch("watch", "query", "lupus", "--term", "lupus")
    result = trialwatch("check", env={"TRIALWATCH_API_URL": NO_REGISTRY})
    assert result.code == 1
    assert "could not reach the registry" in result.stderr
    assert ": 2 trials and 1 search not checked (" in result.stderr
    assert "(1 attempts)" not in result.stderr
