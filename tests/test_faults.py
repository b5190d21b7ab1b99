"""Faults from issue 9 that earlier tests did not cover: hostile text everywhere, a huge record,
a watched trial that vanishes from the registry, a full or read-only disk, a locked database."""

from __future__ import annotations

import copy
import datetime as dt
import email
import email.policy
import json
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.store.packing import register_raw_function
from tests.clock import days_ago, now
from tests.conftest import (
    PATIENCE,
    CliResult,
    Spawn,
    Trialwatch,
    completed,
    find_site,
    load_seed,
    study_with_id,
)
from tests.registry_server import RegistryServer

A, B = "NCT00000001", "NCT00000002"
HOSTILE = '<b onmouseover="x()">\x1b[31m\x1b]0;owned\x07\x00\r\nBcc: evil@example.org</b>'


def poisoned(value: Any) -> Any:
    """Every string in a record with hostile markup and control sequences appended."""
    if isinstance(value, str):
        return value + HOSTILE
    if isinstance(value, dict):
        return {key: poisoned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [poisoned(item) for item in value]
    return value


def test_hostile_text_in_every_field_stays_inert(
    trialwatch: Trialwatch, tmp_path: Path, home: Path
) -> None:
    before = load_seed()
    after = copy.deepcopy(before)
    for module in (
        "descriptionModule",
        "conditionsModule",
        "contactsLocationsModule",
        "eligibilityModule",
        "armsInterventionsModule",
    ):
        after["protocolSection"][module] = poisoned(after["protocolSection"][module])
    after["protocolSection"]["identificationModule"]["acronym"] += HOSTILE
    for name, study in (("a.json", before), ("b.json", after)):
        (tmp_path / name).write_text(json.dumps(study))
    assert trialwatch("import", str(tmp_path / "a.json"), str(tmp_path / "b.json")).code == 0
    shown = trialwatch("changes").stdout + trialwatch("history", "NCT05869955").stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", shown)
    assert trialwatch("digest").code == 0
    [eml] = (home / "outbox").glob("*.eml")
    raw = eml.read_bytes()
    headers = raw.split(b"\r\n\r\n", 1)[0]
    # the hostile text may appear inside the (folded) Subject value, never as a header line
    assert not re.search(rb"(^|\r\n)Bcc:", headers) and b"\x1b" not in headers
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert "Bcc" not in message
    page = tmp_path / "history.html"
    trialwatch("history", "NCT05869955", "--html", str(page))
    body = message.get_body(("html",))
    assert body is not None
    for html in (page.read_text(), body.get_content()):
        assert "<b onmouseover" not in html and "&lt;b onmouseover" in html


def test_a_ten_megabyte_record_is_checked(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    huge = study_with_id(A)
    huge["protocolSection"]["descriptionModule"]["detailedDescription"] = "word " * 2_000_000
    registry.put(huge, study_with_id(B))
    trialwatch("watch", "add", A, B)
    result = trialwatch("check", "--json")
    assert result.code == 0 and result.json()["checked"] == 2
    with sqlite3.connect(home / "trialwatch.db") as conn:
        register_raw_function(conn)
        [(size,)] = conn.execute(
            "select length(trialwatch_raw(id)) from snapshots where nct_id = ?", [A]
        )
    assert size > 10_000_000


def test_a_watched_trial_removed_from_the_registry_keeps_its_history(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    registry.put(study_with_id(A), study_with_id(B))
    trialwatch("watch", "add", A, B)
    trialwatch("check")
    del registry.studies[A]
    registry.put(study_with_id(B))  # the registry publishes: data timestamp moves
    result = trialwatch("check", "--json", "--full")
    assert result.code == 1
    assert result.json()["errors"] == [{"nct_id": A, "error": "not found in the registry"}]
    assert result.json()["checked"] == 1
    listed = {
        w["nct_id"]: (w["snapshots"], w["last_error"])
        for w in trialwatch("watch", "list", "--json").json()
    }
    assert listed == {A: (1, "not found in the registry"), B: (1, None)}
    history = trialwatch("history", A, "--json")
    assert history.code == 0 and len(history.json()["snapshots"]) == 1


def test_registry_text_is_never_read_as_terminal_markup(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    marked_up = study_with_id(A)
    identification = marked_up["protocolSection"]["identificationModule"]
    identification["acronym"] = "[link=http://evil.example]Click[/link] [bold]me[/bold]"
    registry.put(marked_up)
    trialwatch("watch", "add", A)
    trialwatch("check")
    listed = trialwatch("watch", "list").stdout
    assert "[link=http://evil.example]Click[/link]" in listed
    changed = study_with_id(A, marked_up)
    changed["protocolSection"]["statusModule"]["overallStatus"] = "[red]COMPLETED[/red]"
    registry.put(changed)
    trialwatch("check")
    assert "Recruiting -> [red]completed[/red]" in trialwatch("history", A).stdout


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB file system (tmpfs) to fill up or remount read-only; mounting needs root."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path, *, leave: int) -> Path:
    """Take all but `leave` bytes of the disk's free space."""
    ballast = disk / "ballast"
    ballast.write_bytes(b"\0" * max(0, shutil.disk_usage(disk).free - leave))
    return ballast


def watched_with_a_baseline(
    trialwatch: Trialwatch,
    registry: RegistryServer,
    *nct_ids: str,
    env: dict[str, str] | None = None,
) -> None:
    """Watch `nct_ids` and take their baseline, so that the next check can find changes."""
    registry.put(*(study_with_id(nct_id) for nct_id in nct_ids))
    trialwatch("watch", "add", *nct_ids, env=env)
    assert trialwatch("check", env=env).code == 0


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def overall_status_events(result: CliResult) -> list[str]:
    return sorted(
        e["nct_id"] for e in result.json()["changes"] if e["category"] == "overall_status"
    )


@pytest.mark.parametrize("leave", [8_000, 40_000], ids=["no_room_for_the_journal", "some_room"])
def test_a_full_disk_stops_the_check_and_the_next_check_finds_every_change_once(
    trialwatch: Trialwatch, registry: RegistryServer, small_disk: Path, leave: int
) -> None:
    on_disk = {"TRIALWATCH_HOME": str(small_disk)}
    watched_with_a_baseline(trialwatch, registry, A, B, env=on_disk)
    registry.put(completed(A), completed(B))
    low = trialwatch("doctor", env=on_disk)  # 2 MiB: doctor warns before the disk fills up
    assert low.code == 1 and "PROBLEM  disk" in low.stdout and "(under 64 MiB" in low.stdout
    ballast = fill(small_disk, leave=leave)
    full = trialwatch("check", env=on_disk)
    assert full.code == 1 and full.stderr.count("\n") == 1
    assert "the disk is full" in full.stderr and "free some space and run again" in full.stderr
    ballast.unlink()
    assert integrity(small_disk / "trialwatch.db") == "ok"
    again = trialwatch("check", "--json", env=on_disk)
    stored = trialwatch("changes", "--json", env=on_disk).json()
    assert sorted(e["nct_id"] for e in stored) == [A, B]
    assert again.code == 0 and len(stored) == 2  # whatever the failed run kept, once each


def test_a_full_disk_under_the_outbox_keeps_the_digest_owed(
    trialwatch: Trialwatch, registry: RegistryServer, small_disk: Path
) -> None:
    watched_with_a_baseline(trialwatch, registry, A)
    registry.put(completed(A))
    trialwatch("check")
    outbox = small_disk / "outbox"
    ballast = fill(small_disk, leave=0)
    full = trialwatch("digest", "--outbox", str(outbox))
    assert full.code == 1 and full.stderr.count("\n") == 1
    assert f"cannot write to outbox {outbox}: No space left on device" in full.stderr
    assert list(outbox.glob("*")) == []  # no half-written file left behind
    ballast.unlink()
    assert trialwatch("digest", "--outbox", str(outbox)).code == 0
    assert trialwatch("digest", "--outbox", str(outbox)).code == 0
    assert len(list(outbox.glob("*.eml"))) == 1


def test_on_a_read_only_disk_reading_works_and_writing_is_refused(
    trialwatch: Trialwatch, registry: RegistryServer, small_disk: Path, tmp_path: Path
) -> None:
    on_disk = {"TRIALWATCH_HOME": str(small_disk)}
    watched_with_a_baseline(trialwatch, registry, A, env=on_disk)
    registry.put(completed(A))
    assert trialwatch("check", env=on_disk).code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    assert not list(small_disk.glob("*-shm"))  # no WAL index to share: read as immutable
    for command in (["check"], ["watch", "add", B], ["run"]):
        result = trialwatch(*command, env=on_disk)
        assert result.code == 2 and result.stderr.count("\n") == 1
        assert "trialwatch.db: it is read-only here" in result.stderr
    changes = trialwatch("changes", "--json", env=on_disk)
    assert changes.code == 0 and [e["nct_id"] for e in changes.json()] == [A]
    assert [w["nct_id"] for w in trialwatch("watch", "list", "--json", env=on_disk).json()] == [A]
    assert "Recruiting -> Completed" in trialwatch("history", A, env=on_disk).stdout
    assert trialwatch("report", "--out", str(tmp_path / "report"), env=on_disk).code == 0
    assert trialwatch("backup", str(tmp_path / "copy.db"), env=on_disk).code == 0
    doctor = trialwatch("doctor", env=on_disk)
    assert doctor.code == 1 and "read-only here: commands that write" in doctor.stdout


@pytest.mark.parametrize(
    "statements",
    [["BEGIN IMMEDIATE"], ["PRAGMA locking_mode = EXCLUSIVE", "BEGIN EXCLUSIVE"]],
    ids=["write_lock", "exclusive_lock"],
)
def test_a_database_locked_by_another_program_fails_clearly_then_recovers(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path, statements: list[str]
) -> None:
    watched_with_a_baseline(trialwatch, registry, A)
    registry.put(completed(A))
    holder = sqlite3.connect(home / "trialwatch.db", isolation_level=None)
    for statement in statements:
        holder.execute(statement)
    holder.execute(
        "insert into watches (nct_id, added_at, recipients) values ('NCT09999999', '', '[]')"
    )
    locked = trialwatch("check", env={"TRIALWATCH_DB_WAIT": "0.5"})
    assert locked.code == 1 and locked.stderr.count("\n") == 1
    assert "is locked by another program (waited 0.5 s)" in locked.stderr
    holder.execute("ROLLBACK")
    holder.close()
    again = trialwatch("check", "--json")
    assert again.code == 0 and overall_status_events(again) == [A]


def test_a_check_waiting_on_the_network_holds_no_database_lock(
    trialwatch: Trialwatch, spawn_trialwatch: Spawn, registry: RegistryServer, home: Path
) -> None:
    watched_with_a_baseline(trialwatch, registry, A)
    registry.put(completed(A))
    registry.hold(len(registry.requests) + 1)  # the download of A's record
    check = spawn_trialwatch("check", "--full")
    assert registry.request_held.wait(PATIENCE)
    impatient = {"TRIALWATCH_DB_WAIT": "0"}
    assert trialwatch("watch", "add", "--no-verify", B, env=impatient).code == 0
    assert trialwatch("watch", "list", env=impatient).code == 0
    registry.release.set()
    assert check.wait(PATIENCE) == 0  # B, added meanwhile, is for the next check
    assert [e["nct_id"] for e in trialwatch("changes", "--json").json()] == [A]


def test_dates_and_counts_that_are_not_dates_and_counts_are_shown_as_written(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path, tmp_path: Path
) -> None:
    watched_with_a_baseline(trialwatch, registry, A)
    odd = study_with_id(A)
    status = odd["protocolSection"]["statusModule"]
    status["primaryCompletionDateStruct"]["date"] = "2028-02-30"
    status["completionDateStruct"]["date"] = "soon"
    odd["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "about 300"
    registry.put(odd)
    checked = trialwatch("check", "--json")
    assert checked.code == 0, checked.stderr
    assert {e["summary"] for e in checked.json()["changes"]} == {
        "Primary completion 2028-08-29 -> 2028-02-30",
        "Completion 2028-08-29 -> soon",
        "Enrollment 270 -> about 300 (estimated)",
    }
    assert trialwatch("history", A, "--html", str(tmp_path / "h.html")).code == 0
    assert trialwatch("digest").code == 0
    [eml] = (home / "outbox").glob("*.eml")
    subject = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)["Subject"]
    assert subject.strip() == (
        f"{A}: enrollment changed; primary completion changed; completion changed"
    )


@pytest.mark.parametrize(
    "reshape",
    [
        lambda p: p["contactsLocationsModule"].update(locations=["a site as a string"]),
        lambda p: p["statusModule"].update(overallStatus=["RECRUITING"]),
        lambda p: p["designModule"].update(enrollmentInfo=300),
        lambda p: p["eligibilityModule"].update(eligibilityCriteria=5),
    ],
    ids=["locations", "status", "enrollment", "criteria"],
)
def test_a_record_of_an_unexpected_shape_fails_alone(
    trialwatch: Trialwatch, registry: RegistryServer, reshape: Callable[[dict[str, Any]], None]
) -> None:
    watched_with_a_baseline(trialwatch, registry, A, B)
    odd = completed(A)
    reshape(odd["protocolSection"])
    registry.put(odd, completed(B))
    result = trialwatch("check", "--json")
    assert result.code == 1
    [error] = result.json()["errors"]
    assert error["nct_id"] == A and error["error"].startswith("unexpected record shape (")
    assert overall_status_events(result) == [B]


def test_a_partial_record_from_the_registry_fails_alone_and_records_nothing(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    watched_with_a_baseline(trialwatch, registry, A, B)
    partial = completed(A)
    for module in ("eligibilityModule", "contactsLocationsModule", "descriptionModule"):
        del partial["protocolSection"][module]
    registry.put(partial, completed(B))
    result = trialwatch("check", "--json")
    assert result.code == 1
    assert overall_status_events(result) == [B]
    [error] = result.json()["errors"]
    assert error["nct_id"] == A
    assert error["error"].startswith(
        "partial record: it lacks contactsLocationsModule, descriptionModule, eligibilityModule"
    )
    with sqlite3.connect(home / "trialwatch.db") as conn:
        assert conn.execute("select count(*) from snapshots where nct_id = ?", [A]).fetchone() == (
            1,
        )


def test_a_poisoned_record_never_blocks_its_batch_and_is_caught_up_later(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    """One record the registry cannot serialise (500 for every request that includes it), in
    both phases of the daily check: the other trials are checked and alerted on in the same
    run; only the bad one carries the error, and it is caught up when served again."""
    ids = [f"NCT0000010{n}" for n in range(6)]
    watched_with_a_baseline(trialwatch, registry, *ids)
    registry.put(*(completed(nct_id) for nct_id in ids))
    registry.poisoned = {ids[4]}
    result = trialwatch("check", "--json")
    assert result.code == 1
    assert overall_status_events(result) == sorted(set(ids) - {ids[4]})
    assert result.json()["errors"] == [
        {"nct_id": ids[4], "error": "server error (HTTP 500) after 3 attempts"}
    ]
    registry.poisoned = set()
    caught_up = trialwatch("check", "--json")
    assert caught_up.code == 0 and overall_status_events(caught_up) == [ids[4]]


def test_a_merged_trial_moves_its_watch_and_history_and_is_told_once(
    trialwatch: Trialwatch, registry: RegistryServer, home: Path
) -> None:
    """The registry merged A into C: the batch answer comes back under C (A is an alias). The
    watch, snapshots and events move to C, nothing is lost, and the user is told once."""
    current = "NCT00000009"
    watched_with_a_baseline(trialwatch, registry, A, B)
    registry.merge(A, current)
    moved = trialwatch("check", "--json")
    assert moved.code == 0, moved.stderr
    assert moved.json()["moved"] == [{"nct_id": A, "now": current}]
    assert f"trialwatch: {A} is now {current} (the registry merged them)" in moved.stderr
    assert moved.json()["changes"] == []  # the same record under its current id: no change
    with sqlite3.connect(home / "trialwatch.db") as db:
        assert db.execute("select nct_id from watches order by nct_id").fetchall() == [
            (B,),
            (current,),
        ]
        snapshots = db.execute("select count(*) from snapshots where nct_id = ?", [current])
        assert snapshots.fetchone()[0] == 2  # the baseline taken as A, the record now as C
    registry.put(completed(current))
    later = trialwatch("check", "--json")
    assert overall_status_events(later) == [current] and "merged" not in later.stderr
    history = trialwatch("history", current, "--json").json()
    assert len(history["snapshots"]) == 3


def test_a_record_we_cannot_read_is_told_on_every_run_until_it_is_recorded(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    """A trial withdrawn from view is told once while it lasts; a record our code fails on
    (here a site that is a string) is ours to fix: every run names it and exits 1."""
    registry.put(study_with_id(A), study_with_id(B))
    trialwatch("watch", "add", A, B)
    assert trialwatch("run").code == 0
    unreadable = completed(A)
    unreadable["protocolSection"]["contactsLocationsModule"]["locations"] = ["a site"]
    registry.put(unreadable)
    for _ in range(2):
        result = trialwatch("-v", "run")
        assert result.code == 1
        assert f"trialwatch: {A}: unexpected record shape (AttributeError" in result.stderr
        assert "Traceback (most recent call last)" in result.stderr  # -v shows where
    registry.put(completed(A))
    assert trialwatch("run").code == 0


def test_a_version_dated_after_today_is_followed_by_the_next_fetch(
    trialwatch: Trialwatch, registry: RegistryServer, tmp_path: Path
) -> None:
    """An imported record posted five months ahead (a registry error) is dated today: dated
    ahead, it stayed the latest snapshot, and every fetch told its site change back again."""
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    assert trialwatch("check").code == 0
    ahead = study_with_id(A)
    find_site(ahead, "Cleveland Clinic")["status"] = "SUSPENDED"
    status = ahead["protocolSection"]["statusModule"]
    status["lastUpdatePostDateStruct"] = {"date": days_ago(-150), "type": "ACTUAL"}
    (tmp_path / "ahead.json").write_text(json.dumps(ahead))
    assert trialwatch("import", str(tmp_path / "ahead.json")).code == 0
    told = trialwatch("check", "--force", "--json").json()["changes"]
    assert [change["category"] for change in told] == ["site_status"]  # back to Recruiting
    assert trialwatch("check", "--force", "--json").json()["changes"] == []
    as_of = trialwatch("import", str(tmp_path / "ahead.json"), "--as-of", days_ago(-1))
    assert as_of.code == 2 and "is after today" in as_of.stderr


def test_a_clock_set_back_still_tells_a_change_once(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id(A))
    trialwatch("watch", "add", A)
    assert trialwatch("check").code == 0
    registry.put(completed(A))

    def two_days_behind() -> dt.datetime:
        return now() - dt.timedelta(days=2)

    told = trialwatch("check", "--force", "--json", clock=two_days_behind).json()["changes"]
    assert [change["field"] for change in told] == ["overall_status"]
    again = trialwatch("check", "--force", "--json", clock=two_days_behind).json()["changes"]
    assert again == []
