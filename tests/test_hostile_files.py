"""Files (issue 22): record dates that are paths, impossible dates, NUL in registry text, and
output paths that are FIFOs, devices or symlinks. What the user named is written; nothing else."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Spawn, Trialwatch, find_site, load_seed, study_with_id

A = "NCT00000001"


def imported(trialwatch: Trialwatch, tmp_path: Path, *studies: dict[str, Any]) -> None:
    for number, study in enumerate(studies):
        path = tmp_path / f"v{number}.json"
        path.write_text(json.dumps(study))
        trialwatch("import", str(path), "--as-of", f"2026-0{number + 1}-01")


@pytest.mark.parametrize("posted", ["../../outside-evil", "2026-02-30", "2026-05-01\x00"])
def test_a_record_date_that_is_not_a_date_is_not_used_as_one(
    trialwatch: Trialwatch, tmp_path: Path, posted: str
) -> None:
    """The last-update date dates an import and names its snapshot file."""
    study = study_with_id(A)
    study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = posted
    (tmp_path / "evil.json").write_text(json.dumps(study))
    assert trialwatch("watch", "add", "--no-verify", A).code == 0
    assert trialwatch("import", str(tmp_path / "evil.json")).code == 0
    folder = tmp_path / "deep" / "er" / "snaps"
    assert trialwatch("history", A, "--snapshots", str(folder)).code == 0
    [written] = [path for path in tmp_path.rglob("*") if path.is_file() and "snaps" in str(path)]
    assert written.parent == folder
    assert not list(tmp_path.rglob("outside-evil*"))
    assert trialwatch("report", "--out", str(tmp_path / "report")).code == 0
    assert trialwatch("history", A, "--html", str(tmp_path / "page.html")).code == 0


def test_an_impossible_date_is_shown_as_written_and_every_page_still_works(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    broken = study_with_id(A)
    broken["protocolSection"]["statusModule"]["primaryCompletionDateStruct"]["date"] = "2026-02-30"
    trialwatch("watch", "add", A)
    imported(trialwatch, tmp_path, study_with_id(A))
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    result = trialwatch("import", str(tmp_path / "broken.json"), "--as-of", "2026-05-01")
    assert result.code == 0
    assert "Primary completion 2028-08-29 -> 2026-02-30" in trialwatch("changes").stdout
    assert trialwatch("report", "--out", str(tmp_path / "report")).code == 0
    assert "2026-02-30" in (tmp_path / "report" / f"{A}.html").read_text()
    assert trialwatch("history", A, "--html", str(tmp_path / "page.html")).code == 0
    assert trialwatch("changes", "--csv").code == 0 and trialwatch("digest").code == 0


def test_nul_and_escapes_in_a_site_name_never_reach_html_xml_or_mail(
    trialwatch: Trialwatch, tmp_path: Path, home: Path
) -> None:
    renamed = study_with_id(A)
    site = find_site(renamed, "Cleveland Clinic")
    site["facility"], site["status"] = "Cleveland\x00 Clinic\x1b[2J", "SUSPENDED"
    trialwatch("watch", "add", A)
    imported(trialwatch, tmp_path, study_with_id(A), renamed)
    assert "Cleveland Clinic" in trialwatch("changes").stdout
    assert trialwatch("report", "--out", str(tmp_path / "report")).code == 0
    assert trialwatch("digest").code == 0
    written = [*(tmp_path / "report").rglob("*.*"), *(home / "outbox").glob("*.eml")]
    for path in written:
        assert "\x00" not in path.read_text() and "\x1b" not in path.read_text(), path


def test_a_page_goes_into_a_fifo_a_device_or_a_symlinks_target(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    trialwatch("watch", "add", A)
    imported(trialwatch, tmp_path, study_with_id(A))
    fifo = tmp_path / "page.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert trialwatch("history", A, "--html", str(fifo)).code == 0
    reader.join(10)
    assert received and received[0].startswith(b"<!DOCTYPE html>") and fifo.is_fifo()

    if os.geteuid() == 0:  # a device of our own, not the machine's /dev/null
        device = tmp_path / "null"
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        assert trialwatch("history", A, "--html", str(device)).code == 0
        assert stat.S_ISCHR(device.stat().st_mode)

    target, link = tmp_path / "pages" / "real.html", tmp_path / "link.html"
    target.parent.mkdir()
    target.write_text("old")
    link.symlink_to(target)
    assert trialwatch("history", A, "--html", str(link)).code == 0
    assert link.is_symlink() and target.read_text().startswith("<!DOCTYPE html>")


def test_a_report_into_a_symlink_to_a_missing_folder_makes_that_folder(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    """`--out` naming a symlink whose folder is not there yet: the report is written through
    it, as through any symlink (it said "File exists", exit 2)."""
    trialwatch("watch", "add", A)
    imported(trialwatch, tmp_path, study_with_id(A))
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "reports" / "today")
    result = trialwatch("report", "--out", str(link))
    assert result.code == 0, result.stderr
    assert (tmp_path / "reports" / "today" / "index.html").is_file() and link.is_symlink()


def test_a_symlink_planted_at_a_temporary_name_is_not_followed(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    trialwatch("watch", "add", A)
    imported(trialwatch, tmp_path, study_with_id(A))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "page.html.tmp").symlink_to(victim)  # the name the writer once used
    assert trialwatch("history", A, "--html", str(tmp_path / "page.html")).code == 0
    assert victim.read_text() == "precious"
    assert (tmp_path / "page.html").read_text().startswith("<!DOCTYPE html>")


def test_the_lock_files_symlink_is_refused_not_followed(
    trialwatch: Trialwatch, tmp_path: Path, home: Path
) -> None:
    trialwatch("watch", "add", A)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (home / "trialwatch.db.lock").symlink_to(victim)
    result = trialwatch("check")
    assert result.code == 1 and "it is a symlink" in result.stderr
    assert victim.read_text() == "precious"


def test_a_page_can_be_written_to_standard_output(
    trialwatch: Trialwatch, spawn_trialwatch: Spawn, tmp_path: Path
) -> None:
    trialwatch("watch", "add", A)
    imported(trialwatch, tmp_path, load_seed())
    # /dev/stdout is a symlink to this: a writer that replaced it would fail, not break /dev
    process = spawn_trialwatch("history", "NCT05869955", "--html", "/proc/self/fd/1")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.startswith(b"<!DOCTYPE html>") and b"</html>" in out


def test_a_database_held_by_another_writer_is_waited_for_as_long_as_db_wait(
    trialwatch: Trialwatch, tmp_path: Path, home: Path
) -> None:
    trialwatch("watch", "add", A)
    imported(trialwatch, tmp_path, study_with_id(A))
    blocker = sqlite3.connect(home / "trialwatch.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    changed = study_with_id(A)
    changed["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    started = time.monotonic()
    result = trialwatch("import", str(tmp_path / "changed.json"), env={"TRIALWATCH_DB_WAIT": "1.5"})
    waited = time.monotonic() - started
    blocker.execute("ROLLBACK")
    assert result.code == 1 and "is locked by another program (waited 1.5 s)" in result.stderr
    assert waited >= 1.5  # it gave up after 0.3 s before
    assert trialwatch("import", str(tmp_path / "changed.json")).code == 0


@pytest.mark.parametrize("where", ["middle", "third page"])
def test_doctor_reports_a_database_with_garbage_in_it(
    trialwatch: Trialwatch, tmp_path: Path, home: Path, where: str
) -> None:
    """In the middle, or early (where the watches are, which the channel and who-hears-what
    listings read): the database is the problem, never a channel."""
    trialwatch("watch", "add", A)
    imported(trialwatch, tmp_path, study_with_id(A), load_seed(1), load_seed(2))
    database = home / "trialwatch.db"
    with open(database, "r+b") as file:
        file.seek(database.stat().st_size // 2 if where == "middle" else 2 * 4096)
        file.write(b"\xde\xad" * 4096)
    result = trialwatch("doctor")
    assert result.code == 1 and "internal error" not in result.stderr
    assert re.search(r"PROBLEM\s+database\s+.*damaged", result.stdout), result.stdout
    assert not re.search(r"PROBLEM\s+channel", result.stdout)  # no channel is at fault


def test_import_reads_no_more_than_a_record_can_be(trialwatch: Trialwatch) -> None:
    result = trialwatch("import", "/dev/zero")
    assert result.code == 2 and "larger than 128 MB" in result.stderr


@pytest.mark.parametrize("where", ["option", "data folder"])
def test_a_fifo_as_the_config_file_is_refused_not_waited_on(
    trialwatch: Trialwatch, home: Path, tmp_path: Path, where: str
) -> None:
    """Reading a FIFO blocks until something writes to it: every command would hang."""
    fifo = tmp_path / "fifo.toml" if where == "option" else home / "trialwatch.toml"
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    args = ("--config", str(fifo)) if where == "option" else ()
    result = trialwatch(*args, "watch", "list")
    assert result.code == 2
    assert result.stderr == f"trialwatch: cannot read config {fifo}: not a regular file\n"
