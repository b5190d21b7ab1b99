"""The SQLite store on real files: schema, migrations, one transaction per trial, no duplicates."""

from __future__ import annotations

import copy
import sqlite3

import pytest

from monitor.errors import BadInput
from monitor.jobs.check import record_study
from monitor.records.events import Category, make_event
from monitor.records.normalise import content_hash, normalise_study
from monitor.store import Store
from monitor.store.schema import SCHEMA_VERSION


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path / "trialwatch.db")
    yield store
    store.close()


def count(store, table, nct_id="NCT05869955"):
    return store.db.execute(f"select count(*) from {table} where nct_id = ?", [nct_id]).fetchone()[
        0
    ]


def test_schema_has_its_tables_keys_indexes_wal_and_version(store):
    db = store.db
    assert set(db.table_names()) >= {"watches", "snapshots", "events", "runs"}
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # events may be about a trial nobody watches (a search match): no key to watches
    assert {fk.other_table for fk in db["events"].foreign_keys} == {"snapshots"}
    assert [fk.other_table for fk in db["snapshots"].foreign_keys] == ["watches"]
    unique = [index.columns for index in db["events"].indexes if index.unique]
    assert unique == [["snapshot_id", "category", "field", "site_key"]]


def test_foreign_keys_are_enforced(store):
    with pytest.raises(sqlite3.IntegrityError):
        store.db["snapshots"].insert(
            {
                "nct_id": "NCT00000000",
                "fetched_at": "t",
                "last_seen_at": "t",
                "content_hash": "x",
                "source": "api",
                "raw": "{}",
            }
        )


def test_identical_content_adds_no_snapshot_row(store, seed):
    record_study(store, seed, fetched_at="2026-01-13T07:00:00Z", source="api")
    moved = copy.deepcopy(seed)
    moved["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2026-02-01"
    events = record_study(store, moved, fetched_at="2026-02-01T07:00:00Z", source="api")
    assert events == [] and count(store, "snapshots") == 1
    snapshot = store.db.execute("select fetched_at, last_seen_at from snapshots").fetchone()
    assert snapshot == ("2026-01-13T07:00:00Z", "2026-02-01T07:00:00Z")


def test_changed_content_stores_raw_json_and_its_events(store, seed):
    record_study(store, seed, fetched_at="2026-01-13T07:00:00Z", source="api")
    changed = copy.deepcopy(seed)
    changed["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    record_study(store, changed, fetched_at="2026-02-01T07:00:00Z", source="api")
    assert store.latest_snapshot("NCT05869955").raw == changed
    [event] = store.list_events()
    assert (event.category, event.old, event.new) == (
        "overall_status",
        "RECRUITING",
        "COMPLETED",
    )


def test_snapshot_and_events_commit_together_or_not_at_all(store, seed):
    """A failure while writing events rolls the snapshot back: no snapshot without its events."""
    event = make_event(
        "NCT05869955", Category.OVERALL_STATUS, "overall_status", "A", "B", detected_at="t"
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.save_check(
            nct_id="NCT05869955",
            raw=seed,
            content_hash="h1",
            events=[event, event],
            fetched_at="t",
            source="api",
            title=None,
            acronym=None,
        )
    assert count(store, "snapshots") == 0 and count(store, "events") == 0


def test_removing_a_watch_keeps_its_history(store, seed):
    record_study(store, seed, fetched_at="t", source="api")
    store.remove_watches(["NCT05869955"])
    assert store.watched_ids() == [] and count(store, "snapshots") == 1


def test_migrations_bring_an_empty_database_to_the_current_version(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    store = Store.open(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()
    reopened = Store.open(path)
    assert reopened.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    reopened.close()


def test_a_database_from_a_newer_trialwatch_is_refused(tmp_path):
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(BadInput, match="newer than this trialwatch"):
        Store.open(path)


def test_content_hash_ignores_bookkeeping(seed):
    moved = copy.deepcopy(seed)
    moved["derivedSection"]["miscInfoModule"]["versionHolder"] = "2030-01-01"
    assert content_hash(normalise_study(seed)) == content_hash(normalise_study(moved))


def test_a_version_1_database_with_history_migrates_and_keeps_it(tmp_path, seed):
    """Built by the first migration alone, as trialwatch 0.1's first release left it."""
    import sqlite_utils

    from monitor.store.schema import MIGRATIONS

    path = tmp_path / "v1.db"
    old = sqlite_utils.Database(path)
    MIGRATIONS[0](old)
    old.execute("PRAGMA user_version = 1")
    old["watches"].insert({"nct_id": "NCT05869955", "added_at": "t", "recipients": "[]"})
    old["snapshots"].insert(
        {
            "nct_id": "NCT05869955",
            "fetched_at": "t",
            "last_seen_at": "t",
            "content_hash": "h",
            "source": "api",
            "raw": "{}",
        }
    )
    old["events"].insert(
        {
            "nct_id": "NCT05869955",
            "snapshot_id": 1,
            "detected_at": "t",
            "category": "overall_status",
            "field": "overall_status",
            "site_key": "",
            "old": '"A"',
            "new": '"B"',
            "summary": "s",
        }
    )
    old.close()
    migrated = Store.open(path)
    assert migrated.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert {"deliveries", "delivery_events"} <= set(migrated.db.table_names())
    [event] = migrated.pending_events()
    assert (event.summary, event.delivered_at) == ("s", None)
    migrated.close()
