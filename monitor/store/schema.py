"""The database schema as a list of migrations: version N is what the first N of them build."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import sqlite_utils

from monitor.store.packing import Base, pack


def _create_first_schema(db: sqlite_utils.Database) -> None:
    """Version 1: watches, snapshots, change events and runs."""
    db.table("watches").create(
        {
            "nct_id": str,
            "label": str,
            "recipients": str,
            "added_at": str,
            "active": int,
            "title": str,
            "acronym": str,
            "last_checked_at": str,
            "last_error": str,
        },
        pk="nct_id",
        not_null={"added_at", "active", "recipients"},
        defaults={"active": 1, "recipients": "[]"},
    )
    db.table("snapshots").create(
        {
            "id": int,
            "nct_id": str,
            "fetched_at": str,
            "last_seen_at": str,
            "content_hash": str,
            "source": str,
            "raw": str,
        },
        pk="id",
        not_null={"nct_id", "fetched_at", "last_seen_at", "content_hash", "source", "raw"},
        foreign_keys=[("nct_id", "watches", "nct_id")],
    )
    db.table("snapshots").create_index(["nct_id", "id"])
    db.table("events").create(
        {
            "id": int,
            "nct_id": str,
            "snapshot_id": int,
            "detected_at": str,
            "category": str,
            "field": str,
            "site_key": str,
            "site": str,
            "old": str,
            "new": str,
            "summary": str,
        },
        pk="id",
        not_null={"nct_id", "snapshot_id", "detected_at", "category", "field", "site_key"},
        defaults={"site_key": ""},
        foreign_keys=[("nct_id", "watches", "nct_id"), ("snapshot_id", "snapshots", "id")],
    )
    db.table("events").create_index(["nct_id", "detected_at"])
    db.table("events").create_index(["category"])
    # One event per field per site per snapshot: a replayed write can never double an event.
    db.table("events").create_index(["snapshot_id", "category", "field", "site_key"], unique=True)
    db.table("runs").create(
        {
            "id": int,
            "command": str,
            "started_at": str,
            "finished_at": str,
            "checked": int,
            "changes": int,
            "errors": str,
        },
        pk="id",
        not_null={"command", "started_at"},
    )


def _add_deliveries(db: sqlite_utils.Database) -> None:
    """Version 2: digest delivery bookkeeping for exactly-once mail."""
    db.table("events").add_column("delivered_at", str)
    db.table("events").create_index(["delivered_at"])
    db.table("deliveries").create(
        {
            "id": int,
            "message_id": str,
            "audience": str,
            "channel": str,
            "subject": str,
            "message": bytes,
            "state": str,
            "created_at": str,
            "finished_at": str,
            "error": str,
        },
        pk="id",
        not_null={"message_id", "audience", "channel", "message", "state", "created_at"},
    )
    db.table("deliveries").create_index(["message_id"], unique=True)
    db.table("deliveries").create_index(["state"])
    db.table("delivery_events").create(
        {"delivery_id": int, "event_id": int},
        pk=("delivery_id", "event_id"),
        not_null={"delivery_id", "event_id"},
        foreign_keys=[("delivery_id", "deliveries", "id"), ("event_id", "events", "id")],
    )
    db.table("delivery_events").create_index(["event_id"])


def _add_run_data_timestamp(db: sqlite_utils.Database) -> None:
    """Version 3: the registry's data timestamp each run saw, to skip fetching when unchanged."""
    db.table("runs").add_column("data_timestamp", str)


SITE_STATUS_OVER_TIME = """
select s.nct_id, w.acronym, s.id as snapshot_id, s.fetched_at, s.last_seen_at,
  json_extract(site.value, '$.facility') as facility,
  json_extract(site.value, '$.city') as city,
  json_extract(site.value, '$.state') as state,
  json_extract(site.value, '$.country') as country,
  json_extract(site.value, '$.status') as status
from snapshots s
join watches w on w.nct_id = s.nct_id,
  json_each(trialwatch_raw(s.id), '$.protocolSection.contactsLocationsModule.locations') site
"""
# The latest snapshot is the newest fetched (a backfilled older version has a higher id).
LATEST_SITE_STATUS = (
    SITE_STATUS_OVER_TIME
    + """where s.id = (select latest.id from snapshots latest where latest.nct_id = s.nct_id
  order by latest.fetched_at desc, latest.id desc limit 1)
"""
)
EVENTS_WITH_TITLES = """
select e.id, e.nct_id, w.acronym, w.title, w.label, e.detected_at, e.category, e.field,
  json_extract(e.site, '$.facility') as facility,
  json_extract(e.site, '$.country') as country,
  e.summary, e.old, e.new, e.delivered_at
from events e left join watches w on w.nct_id = e.nct_id
"""
BROWSING_VIEWS = {
    "site_status_over_time": SITE_STATUS_OVER_TIME,
    "latest_site_status": LATEST_SITE_STATUS,
    "events_with_titles": EVENTS_WITH_TITLES,
}


def _add_browsing_views(db: sqlite_utils.Database) -> None:
    """Version 4: views for browsing with Datasette or any SQLite client (since version 7, one
    that has the `trialwatch_raw` function: trialwatch itself, or Datasette with its plugin)."""
    for name, sql in BROWSING_VIEWS.items():
        db.create_view(name, sql, replace=True)


def _add_searches_and_backfill(db: sqlite_utils.Database) -> None:
    """Version 5: watched searches, backfilled registry versions, and events that are about a
    trial nobody watches (a search match) or carry extra keys (`extra`, JSON)."""
    for name in BROWSING_VIEWS:
        db.execute(f"drop view if exists {name}")
    db.table("events").transform(not_null={"snapshot_id": False}, drop_foreign_keys=["nct_id"])
    db.table("events").add_column("extra", str)
    db.table("queries").create(
        {
            "name": str,
            "params": str,
            "follow": int,
            "created_at": str,
            "last_checked_at": str,
            "last_error": str,
        },
        pk="name",
        not_null={"params", "follow", "created_at"},
    )
    db.table("query_matches").create(
        {"query_name": str, "nct_id": str, "title": str, "first_seen": str},
        pk=("query_name", "nct_id"),
        not_null={"query_name", "nct_id", "first_seen"},
        foreign_keys=[("query_name", "queries", "name")],
    )
    db.table("registry_versions").create(
        {"nct_id": str, "version": int, "version_date": str, "snapshot_id": int},
        pk=("nct_id", "version"),
        not_null={"nct_id", "version", "version_date"},
        foreign_keys=[("nct_id", "watches", "nct_id"), ("snapshot_id", "snapshots", "id")],
    )
    _add_browsing_views(db)


def _add_update_dates(db: sqlite_utils.Database) -> None:
    """Version 6: each trial's last-update date as last fetched (the daily check's cheap first
    phase compares it), and which runs fetched everything (the weekly safety net)."""
    db.table("watches").add_column("last_update_posted", str)
    db.table("runs").add_column("full", int)


def _compress_snapshots(db: sqlite_utils.Database) -> None:
    """Version 7: raw JSON stored zstd-compressed, each version as a delta against the trial's
    version before (`packing`); the browsing views read it through `trialwatch_raw`."""
    for name in BROWSING_VIEWS:
        db.execute(f"drop view if exists {name}")
    snapshots = db.table("snapshots")
    snapshots.add_column("raw_zstd", bytes)
    snapshots.add_column("raw_base_id", int)
    snapshots.add_column("raw_chain", int)
    latest: dict[str, Base] = {}
    ids = [row[0] for row in db.execute("select id from snapshots order by id").fetchall()]
    for snapshot_id in ids:
        nct_id, text = db.execute(
            "select nct_id, raw from snapshots where id = ?", [snapshot_id]
        ).fetchone()
        raw = text.encode()
        packed = pack(raw, latest.get(nct_id))
        db.execute(
            "update snapshots set raw_zstd = ?, raw_base_id = ?, raw_chain = ? where id = ?",
            [packed.data, packed.base_id, packed.chain, snapshot_id],
        )
        latest[nct_id] = Base(snapshot_id, raw, packed.chain)
    # Dropping the old table checks every row against the tables that refer to it: without
    # this index, each backfilled version would be looked for across all of them.
    db.table("registry_versions").create_index(["snapshot_id"])
    snapshots.transform(drop={"raw"}, not_null={"raw_zstd", "raw_chain"})
    _add_browsing_views(db)


def _add_watch_channels(db: sqlite_utils.Database) -> None:
    """Version 8: the chat or webhook channels (names in the config's `channels`) a watch's
    changes also go to. Names only: the URLs hold tokens and stay in the config."""
    db.table("watches").add_column("channels", str, not_null_default="[]")


def _add_refusals_and_database_token(db: sqlite_utils.Database) -> None:
    """Version 9: the recipients a mail server refused (owed the digest again), and a random
    token of this database's own that its Message-IDs carry (two databases mailing the same
    events to the same people must not send one Message-ID for two digests)."""
    db.table("deliveries").add_column("refused", str)
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("meta").insert({"key": "message_id_token", "value": secrets.token_hex(8)})


def _add_watch_rules(db: sqlite_utils.Database) -> None:
    """Version 10: a watch's alert rule (what its changes must be to be told), as JSON."""
    db.table("watches").add_column("rules", str, not_null_default="{}")


def _add_run_watermarks(db: sqlite_utils.Database) -> None:
    """Version 11: what a run's complete listing of the registry's updates vouched for (the
    newest post date it saw, and the studies posted that day, as a JSON list)."""
    db.table("runs").add_column("listed_through", str)
    db.table("runs").add_column("listed_through_ids", str)


def _unmailed_as_a_state(db: sqlite_utils.Database) -> None:
    """Version 12: a digest for addressed recipients that only reached the outbox (SMTP was
    not configured) is in state `unmailed`; it was `sent` through a transport named
    `outbox-unmailed`, a state kept in a name."""
    db.execute(
        "update deliveries set state = 'unmailed'"
        " where channel = 'outbox-unmailed' and state = 'sent' and audience != '[]'"
    )
    db.execute("update deliveries set channel = 'outbox' where channel = 'outbox-unmailed'")


def _add_trial_sites(db: sqlite_utils.Database) -> None:
    """Version 13: each watched trial's sites with a sure identity across trials, as its
    latest snapshot lists them (where trials meet); filled in as each trial is checked."""
    db.table("trial_sites").create(
        {
            "nct_id": str,
            "identity": str,
            "facility": str,
            "city": str,
            "country": str,
            "zip": str,
            "status": str,
        },
        pk=("nct_id", "identity"),
    )
    db.table("trial_sites").create_index(["identity"])


def _transport_column(db: sqlite_utils.Database) -> None:
    """Version 14: a delivery's column naming what carried it is `transport`, the word the
    code uses; `channel` means a chat or webhook channel, and only that."""
    db.execute("alter table deliveries rename column channel to transport")


def _trial_sites_by_place_then_trial(db: sqlite_utils.Database) -> None:
    """Version 15: `trial_sites` indexed by identity and trial, and the stopped watches by
    themselves, so that the few other watched trials at a place, and how many there are, are
    read from indexes alone (a place many watched trials share, read by identity only, cost
    100 ms a site event at 10,000 trials)."""
    db.execute("drop index if exists idx_trial_sites_identity")
    db.table("trial_sites").create_index(["identity", "nct_id"])
    db.execute("create index watches_stopped on watches (nct_id) where active = 0")


# Schema version N is reached by running MIGRATIONS[N-1]; `PRAGMA user_version` holds N.
# Never edit a released migration: add the next one.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _create_first_schema,
    _add_deliveries,
    _add_run_data_timestamp,
    _add_browsing_views,
    _add_searches_and_backfill,
    _add_update_dates,
    _compress_snapshots,
    _add_watch_channels,
    _add_refusals_and_database_token,
    _add_watch_rules,
    _add_run_watermarks,
    _unmailed_as_a_state,
    _add_trial_sites,
    _transport_column,
    _trial_sites_by_place_then_trial,
]
SCHEMA_VERSION = len(MIGRATIONS)
COMPRESSED_SINCE = MIGRATIONS.index(_compress_snapshots) + 1
