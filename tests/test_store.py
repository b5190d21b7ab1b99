"""The SQLite store on real files: schema, migrations, one transaction per trial, no duplicates."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from monitor.config import load_settings
from monitor.errors import BadInput
from monitor.jobs.check import Baselines, store_study
from monitor.jobs.check_run import is_full_pass_due
from monitor.records.categories import make_event
from monitor.records.events import Category
from monitor.records.normalise import content_hash, normalise_study
from monitor.store import BackfilledVersion, FetchedVersion, Store
from monitor.store.schema import SCHEMA_VERSION
from monitor.times import moment_of
from tests.conftest import ANY_TIME, ROOT, SEED_FILES, completed, study_with_id

NCT = "NCT05869955"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "trialwatch.db")
    yield store
    store.close()


def count(store: Store, table: str, nct_id: str = "NCT05869955") -> int:
    sql = f"select count(*) from {table} where nct_id = ?"
    return int(store.db.execute(sql, [nct_id]).fetchone()[0])


def test_schema_has_its_tables_keys_indexes_wal_and_version(store: Store) -> None:
    db = store.db
    assert set(db.table_names()) >= {"watches", "snapshots", "events", "runs"}
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # events may be about a trial nobody watches (a search match): no key to watches
    assert {fk.other_table for fk in db.table("events").foreign_keys} == {"snapshots"}
    assert [fk.other_table for fk in db.table("snapshots").foreign_keys] == ["watches"]
    unique = [index.columns for index in db.table("events").indexes if index.unique]
    assert unique == [["snapshot_id", "category", "field", "site_key"]]


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.db.table("snapshots").insert(
            {
                "nct_id": "NCT00000000",
                "fetched_at": "2026-01-01T00:00:00Z",
                "last_seen_at": "2026-01-01T00:00:00Z",
                "content_hash": "x",
                "source": "api",
                "raw_zstd": b"",
                "raw_chain": 0,
            }
        )


def test_identical_content_adds_no_snapshot_row(store: Store, seed: dict[str, Any]) -> None:
    store_study(store, seed, fetched_at=moment_of("2026-01-13T07:00:00Z"), source="api")
    moved = copy.deepcopy(seed)
    moved["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2026-02-01"
    events = store_study(store, moved, fetched_at=moment_of("2026-02-01T07:00:00Z"), source="api")
    assert events == [] and count(store, "snapshots") == 1
    snapshot = store.db.execute("select fetched_at, last_seen_at from snapshots").fetchone()
    assert snapshot == ("2026-01-13T07:00:00Z", "2026-02-01T07:00:00Z")


def test_changed_content_stores_raw_json_and_its_events(store: Store, seed: dict[str, Any]) -> None:
    store_study(store, seed, fetched_at=moment_of("2026-01-13T07:00:00Z"), source="api")
    changed = copy.deepcopy(seed)
    changed["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    store_study(store, changed, fetched_at=moment_of("2026-02-01T07:00:00Z"), source="api")
    latest = store.snapshots.latest("NCT05869955")
    assert latest is not None and latest.raw == changed
    [event] = store.events.listed()
    assert (event.category, event.old, event.new) == (
        "overall_status",
        "RECRUITING",
        "COMPLETED",
    )


def test_a_baseline_read_ahead_is_used_only_while_it_is_the_latest_snapshot(
    store: Store, seed: dict[str, Any]
) -> None:
    """A check reads a trial's baseline while waiting for the registry; should a newer version
    be stored before the trial's turn, the change is told against that version, not twice."""
    store_study(store, seed, fetched_at=moment_of("2026-01-13T07:00:00Z"), source="api")
    baselines = Baselines(store, keep=2)
    baselines.want([NCT, "NCT00000000", "NCT00000001"])  # no snapshot; no room left
    assert [baselines.read_one() for _ in range(3)] == [True, True, False]
    completed = copy.deepcopy(seed)
    completed["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    store_study(store, completed, fetched_at=moment_of("2026-02-01T07:00:00Z"), source="api")
    enrolled = copy.deepcopy(completed)
    enrolled["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 99
    events = store_study(
        store,
        enrolled,
        fetched_at=moment_of("2026-03-01T07:00:00Z"),
        source="api",
        baselines=baselines,
    )
    assert [event.category for event in events] == ["enrollment"]

    baselines.expect([NCT])
    assert baselines.read_one() and not baselines.read_one()
    stored = store.snapshots.latest_hash(NCT)
    assert stored is not None
    ready = baselines.latest(NCT, stored[0])
    assert ready is not None and ready.record == normalise_study(enrolled)
    assert ready is not baselines.latest(NCT, ready.snapshot_id)  # taken once, then read again


def test_snapshot_and_events_commit_together_or_not_at_all(
    store: Store, seed: dict[str, Any]
) -> None:
    """A failure while writing events rolls the snapshot back: no snapshot without its events."""
    event = make_event(
        "NCT05869955", Category.OVERALL_STATUS, "overall_status", "A", "B", detected_at=ANY_TIME
    )
    with pytest.raises(sqlite3.IntegrityError):
        version = FetchedVersion(NCT, seed, "h1", ANY_TIME, "api", None, None, None)
        store.snapshots.save_check(version, latest=None, events=[event, event])
    assert count(store, "snapshots") == 0 and count(store, "events") == 0


def test_removing_a_watch_keeps_its_history(store: Store, seed: dict[str, Any]) -> None:
    store_study(store, seed, fetched_at=ANY_TIME, source="api")
    store.watches.remove(["NCT05869955"])
    assert store.watches.ids() == [] and count(store, "snapshots") == 1


def test_migrations_bring_an_empty_database_to_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    store = Store.open(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()
    reopened = Store.open(path)
    assert reopened.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    reopened.close()


def test_a_database_from_a_newer_trialwatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(BadInput, match="newer than this trialwatch"):
        Store.open(path)


def test_content_hash_ignores_bookkeeping(seed: dict[str, Any]) -> None:
    moved = copy.deepcopy(seed)
    moved["derivedSection"]["miscInfoModule"]["versionHolder"] = "2030-01-01"
    assert content_hash(normalise_study(seed)) == content_hash(normalise_study(moved))


def test_a_version_1_database_with_history_migrates_and_keeps_it(
    tmp_path: Path, seed: dict[str, Any]
) -> None:
    """Built by the first migration alone, as trialwatch 0.1's first release left it."""
    import sqlite_utils

    from monitor.store.schema import MIGRATIONS

    path = tmp_path / "v1.db"
    old = sqlite_utils.Database(path)
    MIGRATIONS[0](old)
    old.execute("PRAGMA user_version = 1")
    old.table("watches").insert(
        {"nct_id": "NCT05869955", "added_at": "2026-01-01T00:00:00Z", "recipients": "[]"}
    )
    old.table("snapshots").insert(
        {
            "nct_id": "NCT05869955",
            "fetched_at": "2026-01-01T00:00:00Z",
            "last_seen_at": "2026-01-01T00:00:00Z",
            "content_hash": "h",
            "source": "api",
            "raw": "{}",
        }
    )
    old.table("events").insert(
        {
            "nct_id": "NCT05869955",
            "snapshot_id": 1,
            "detected_at": "2026-01-01T00:00:00Z",
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
    [event] = migrated.events.pending()
    assert (event.summary, event.delivered_at) == ("s", None)
    migrated.close()


def test_a_version_6_database_compresses_its_snapshots_and_keeps_every_byte(tmp_path: Path) -> None:
    """Real history (the seed's five versions) stored as JSON text by schema 6: after the
    migration every version reads back equal, the later ones as deltas, and the file shrinks."""
    import sqlite_utils

    from monitor.store.schema import MIGRATIONS

    path = tmp_path / "v6.db"
    old = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:6]:
        migration(old)
    old.execute("PRAGMA user_version = 6")
    versions = [json.loads(file.read_text()) for file in SEED_FILES]
    old.table("watches").insert(
        {"nct_id": NCT, "added_at": "2026-01-01T00:00:00Z", "recipients": "[]"}
    )
    for number, raw in enumerate(versions):
        old.table("snapshots").insert(
            {
                "nct_id": NCT,
                "fetched_at": f"2026-0{number + 1}-01T07:00:00Z",
                "last_seen_at": "2026-01-01T00:00:00Z",
                "content_hash": str(number),
                "source": "api",
                "raw": json.dumps(raw, ensure_ascii=False),
            }
        )
    old.close()
    size_before = path.stat().st_size

    migrated = Store.open(path)
    assert [raw for _, _, raw in migrated.snapshots.of(NCT)] == versions
    chains = [row["raw_chain"] for row in migrated.db.query("select raw_chain from snapshots")]
    assert chains == [0, 1, 2, 3, 4]
    [first] = migrated.db.execute("select raw_zstd from snapshots where raw_chain = 0").fetchone()
    trained = zstandard.ZstdCompressionDict((ROOT / "monitor/store/records-v1.zdict").read_bytes())
    assert zstandard.get_frame_parameters(first).dict_id == trained.dict_id() != 0
    rows = migrated.db.execute("select count(*) from site_status_over_time").fetchone()[0]
    assert rows == sum(
        len(raw["protocolSection"]["contactsLocationsModule"]["locations"]) for raw in versions
    )
    [stored] = migrated.db.execute("select sum(length(raw_zstd)) from snapshots").fetchone()
    assert stored < sum(len(json.dumps(raw, ensure_ascii=False)) for raw in versions) / 10
    migrated.close()
    with sqlite3.connect(path) as db:  # the pages the raw JSON held went back to the disk
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert path.stat().st_size < size_before


def test_a_long_history_starts_a_new_chain_and_reads_back(
    store: Store, seed: dict[str, Any]
) -> None:
    """Past `LONGEST_CHAIN` deltas a snapshot is stored alone, so no read decompresses more."""
    from monitor.store.packing import LONGEST_CHAIN

    for number in range(LONGEST_CHAIN + 2):
        version = copy.deepcopy(seed)
        version["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = number
        store_study(
            store, version, fetched_at=moment_of(f"2026-01-01T07:{number:02d}:00Z"), source="api"
        )
    chains = [row[0] for row in store.db.execute("select raw_chain from snapshots order by id")]
    assert chains == [*range(LONGEST_CHAIN + 1), 0]
    counts = [
        raw["protocolSection"]["designModule"]["enrollmentInfo"]["count"]
        for _, _, raw in store.snapshots.of(NCT)
    ]
    assert counts == list(range(LONGEST_CHAIN + 2))
    latest = store.snapshots.latest(NCT)
    assert latest is not None
    assert (
        latest.raw["protocolSection"]["designModule"]["enrollmentInfo"]["count"]
        == LONGEST_CHAIN + 1
    )


def test_a_merged_trial_moves_every_row_keyed_by_its_id(store: Store) -> None:
    """The registry merged OLD into CURRENT: its watch, snapshots, events, backfilled versions
    and search matches all move; a match CURRENT already had is kept once."""
    old, current = "NCT00000001", "NCT00000009"
    store.watches.add([old], label=None, recipients=["a@example.org"], now=ANY_TIME)
    store_study(store, study_with_id(old), fetched_at=moment_of("2026-01-01"), source="api")
    store_study(store, completed(old), fetched_at=moment_of("2026-01-02"), source="api")
    version = BackfilledVersion(1, moment_of("2025-12-01"), study_with_id(old), "h", [])
    store.snapshots.save_backfill(
        old, [version], horizon_events=[], horizon_id=None, delivered_at=None, now=ANY_TIME
    )
    store.searches.add("lupus", {"term": "lupus"}, follow=False, now=ANY_TIME)
    matches = {old: "A", current: "A"}
    asked = {"term": "lupus"}
    assert store.searches.save_check("lupus", matches, [], follow=[], now=ANY_TIME, asked=asked)
    store.move_trial(old, current)
    for table, rows in (
        ("watches", 1),
        ("snapshots", 3),
        ("events", 1),
        ("registry_versions", 1),
        ("query_matches", 1),
    ):
        assert (count(store, table, old), count(store, table, current)) == (0, rows), table
    assert store.watches.trials()[current].recipients == ["a@example.org"]


def test_a_version_11_database_keeps_what_only_reached_the_outbox_owed_to_mail(
    tmp_path: Path,
) -> None:
    """Schema 11 kept "only reached the outbox" as a transport name (`outbox-unmailed`, state
    `sent`); after the migration it is the state `unmailed`, and still owed its mail."""
    import sqlite_utils

    from monitor.store.schema import MIGRATIONS

    path = tmp_path / "v11.db"
    old = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:11]:
        migration(old)
    old.execute("PRAGMA user_version = 11")
    old.table("watches").insert(
        {"nct_id": NCT, "added_at": "2026-01-01T00:00:00Z", "recipients": "[]"}
    )
    old.table("snapshots").insert(
        {
            "nct_id": NCT,
            "fetched_at": "2026-01-01T00:00:00Z",
            "last_seen_at": "2026-01-01T00:00:00Z",
        }
        | {"content_hash": "h", "source": "api", "raw_zstd": b"", "raw_chain": 0}
    )
    old.table("events").insert(
        {"nct_id": NCT, "snapshot_id": 1, "detected_at": "2026-01-01T00:00:00Z"}
        | {"category": "enrollment", "field": "enrollment", "site_key": "", "summary": "s"}
        | {"old": "1", "new": "2", "delivered_at": "2026-01-01T00:00:00Z"}
    )
    for number, (audience, channel, state) in enumerate(
        [
            ('["ops@example.org"]', "outbox-unmailed", "sent"),  # owed a mail
            ("[]", "outbox-unmailed", "sent"),  # for no one: the outbox was all it needed
            ('["ops@example.org"]', "outbox-unmailed", "mailed"),  # its catch-up went out
            ('["ops@example.org"]', "smtp", "sent"),
        ],
        start=1,
    ):
        old.table("deliveries").insert(
            {"message_id": f"<{number}@x>", "audience": audience, "channel": channel}
            | {"subject": "s", "message": b"", "state": state, "created_at": "2026-01-01T00:00:00Z"}
        )
        old.table("delivery_events").insert({"delivery_id": number, "event_id": 1})
    old.close()

    migrated = Store.open(path)
    rows = migrated.db.execute("select transport, state from deliveries order by id").fetchall()
    assert rows == [
        ("outbox", "unmailed"),
        ("outbox", "sent"),
        ("outbox", "mailed"),
        ("smtp", "sent"),
    ]
    assert migrated.deliveries.unmailed() == {1: [1]}
    migrated.close()


def test_a_weekly_full_pass_is_due_a_week_after_the_last_one_started(tmp_path: Path) -> None:
    """A daily run at 07:00 whose full pass took ten minutes: a week later, at 07:00, the next
    one is due (measured from its end, it came a day late each week: every 8 days)."""
    store = Store.open(tmp_path / "t.db")
    run = store.runs.start("run", now=moment_of("2026-03-02T07:00:00Z"))
    store.runs.finish(
        run, now=moment_of("2026-03-02T07:10:00Z"), checked=1, changes=0, errors=[], full=True
    )
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.full_check_days == 7
    assert not is_full_pass_due(store, settings, now=moment_of("2026-03-09T06:59:00Z"))
    assert is_full_pass_due(store, settings, now=moment_of("2026-03-09T07:00:00Z"))
    store.close()
