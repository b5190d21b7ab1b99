"""`trialwatch import FILE...`: the same pipeline fed from local API v2 JSON files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import SEED_FILES, Trialwatch, study_with_id


def rows(home: Path, sql: str) -> list[Any]:
    with sqlite3.connect(home / "trialwatch.db") as conn:
        return conn.execute(sql).fetchall()


def test_importing_the_seed_story_in_order_gives_its_events(
    trialwatch: Trialwatch, home: Path
) -> None:
    first = trialwatch("import", str(SEED_FILES[0]), "--json")
    assert (first.code, first.json()) == (
        0,
        {"checked": 1, "fetched": 1, "changes": [], "errors": []},
    )
    rest = trialwatch("import", *map(str, SEED_FILES[1:]), "--json").json()
    assert rest["checked"] == 4
    categories = [event["category"] for event in rest["changes"]]
    assert categories.count("site_renamed") == 1
    assert {
        "site_status",
        "site_added",
        "site_removed",
        "enrollment",
        "date",
        "eligibility",
        "contact",
        "other",
    } <= set(categories)
    assert rows(home, "select count(*) from snapshots") == [(5,)]
    assert rows(home, "select nct_id, active from watches") == [("NCT05869955", 1)]


def test_an_api_list_answer_is_accepted(trialwatch: Trialwatch, tmp_path: Path) -> None:
    listing = tmp_path / "page.json"
    listing.write_text(json.dumps({"studies": [json.loads(SEED_FILES[0].read_text())]}))
    assert trialwatch("import", str(listing), "--json").json()["checked"] == 1


def test_one_unreadable_file_imports_nothing(
    trialwatch: Trialwatch, home: Path, tmp_path: Path
) -> None:
    result = trialwatch("import", str(SEED_FILES[0]), str(tmp_path / "missing.json"))
    assert result.code == 2
    assert result.stderr == (
        f"trialwatch: cannot read {tmp_path / 'missing.json'}: No such file or directory\n"
    )
    assert not (home / "trialwatch.db").exists()


def test_a_file_that_is_not_json_imports_nothing(
    trialwatch: Trialwatch, home: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{oops")
    result = trialwatch("import", str(SEED_FILES[0]), str(broken))
    assert result.code == 2 and result.stderr.startswith(f"trialwatch: {broken} is not JSON:")
    assert len(result.stderr.splitlines()) == 1
    assert not (home / "trialwatch.db").exists()


def test_json_that_is_not_a_study_is_refused(trialwatch: Trialwatch, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}')
    result = trialwatch("import", str(other))
    assert result.code == 2 and "is not API v2 study JSON" in result.stderr


def test_a_file_of_an_unexpected_shape_fails_alone(trialwatch: Trialwatch, tmp_path: Path) -> None:
    odd = study_with_id("NCT00000001")
    odd["protocolSection"]["contactsLocationsModule"]["locations"] = ["a site as a string"]
    (tmp_path / "odd.json").write_text(json.dumps(odd))
    result = trialwatch("import", str(tmp_path / "odd.json"), str(SEED_FILES[0]), "--json")
    assert result.code == 1 and result.json()["checked"] == 1
    [error] = result.json()["errors"]
    assert error["nct_id"] == "NCT00000001"
    assert error["error"].startswith("unexpected record shape (")


def test_an_archive_is_dated_by_its_records_and_imported_oldest_first(
    trialwatch: Trialwatch, home: Path
) -> None:
    """Files given newest first: the history still runs from 2026-01-13 to 2026-06-02, and the
    events are the forward ones (not the story told backwards)."""
    result = trialwatch("import", *map(str, reversed(SEED_FILES)), "--json")
    assert result.code == 0, result.stderr
    assert rows(home, "select fetched_at from snapshots order by id") == [
        (f"{path.stem}T00:00:00Z",) for path in SEED_FILES
    ]
    enrollment = [e for e in result.json()["changes"] if e["category"] == "enrollment"]
    assert [(e["old"]["count"], e["new"]["count"], e["detected_at"]) for e in enrollment] == [
        (270, 300, "2026-03-17T00:00:00Z")
    ]


def test_as_of_dates_every_record_of_the_import(trialwatch: Trialwatch, home: Path) -> None:
    assert trialwatch("import", str(SEED_FILES[0]), "--as-of", "2025-12-01").code == 0
    assert rows(home, "select fetched_at from snapshots") == [("2025-12-01T00:00:00Z",)]
    bad = trialwatch("import", str(SEED_FILES[1]), "--as-of", "1 Dec")
    assert bad.code == 2 and "--as-of" in bad.stderr


def test_a_version_older_than_the_latest_snapshot_is_refused_and_changes_nothing(
    trialwatch: Trialwatch, home: Path
) -> None:
    assert trialwatch("import", str(SEED_FILES[2])).code == 0
    refused = trialwatch("import", str(SEED_FILES[1]))
    assert refused.code == 2
    assert "NCT05869955 as of 2026-02-10 is older than its latest snapshot (2026-03-17)" in (
        refused.stderr
    )
    assert rows(home, "select count(*) from snapshots") == [(1,)]


def test_a_partial_record_is_refused_not_diffed_into_removals(
    trialwatch: Trialwatch, home: Path, tmp_path: Path
) -> None:
    """A search answer (`fields=`-limited) over a full snapshot: not "40 criteria lines removed,
    Sex: All -> (none)", but bad input that changes nothing."""
    assert trialwatch("import", str(SEED_FILES[0])).code == 0
    full = json.loads(SEED_FILES[1].read_text())["protocolSection"]
    search_answer = tmp_path / "search.json"
    search_answer.write_text(
        json.dumps(
            {
                "protocolSection": {
                    "identificationModule": full["identificationModule"],
                    "statusModule": full["statusModule"],
                }
            }
        )
    )
    refused = trialwatch("import", str(search_answer), "--json")
    assert refused.code == 2
    assert "partial record: it lacks" in refused.stderr and "eligibilityModule" in refused.stderr
    assert rows(home, "select count(*) from snapshots") == [(1,)]
    assert rows(home, "select count(*) from events") == [(0,)]
