"""The SQLite schema and every query (sqlite-utils). Transactions live here and only here: a
trial's snapshot and its events are committed together, so a crash loses or doubles nothing.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.errors import BadInput, StoreError
from monitor.events import ChangeEvent
from monitor.schema import MIGRATIONS, SCHEMA_VERSION


@dataclass(frozen=True)
class StoredSnapshot:
    id: int
    nct_id: str
    fetched_at: str
    content_hash: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class BackfilledVersion:
    """A past registry version ready to store, with its events against the version before."""

    number: int
    fetched_at: str
    raw: dict[str, Any]
    content_hash: str
    events: list[ChangeEvent]


@dataclass(frozen=True)
class Watch:
    nct_id: str
    label: str | None
    recipients: list[str]
    added_at: str
    title: str | None
    acronym: str | None
    last_checked_at: str | None
    last_error: str | None
    snapshots: int
    events: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Delivery:
    """One digest message to one audience, as recorded before it is sent."""

    id: int
    message_id: str
    audience: str
    channel: str
    subject: str
    message: bytes
    state: str
    created_at: str

    @property
    def recipients(self) -> list[str]:
        return json.loads(self.audience)


# A delivery is `prepared` (recorded, not yet handed over), `data_sent` (the mail server was
# given the whole message), `sent` (accepted) or `failed` (refused; its events are sent again).
UNFAILED_STATES = ("prepared", "data_sent", "sent")


class Store:
    """The trialwatch database: watches, snapshots, change events and runs."""

    def __init__(self, db: sqlite_utils.Database, path: Path):
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) and migrate; an unusable path is bad input, not a crash."""
        if path.is_dir():
            raise BadInput(f"cannot use database {path}: it is a directory")
        if not path.parent.is_dir():
            raise BadInput(f"cannot use database {path}: folder {path.parent} does not exist")
        try:
            db = sqlite_utils.Database(sqlite3.connect(path, timeout=10))
            db.execute("PRAGMA foreign_keys=ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise BadInput(
                    f"database {path} has schema version {version}, newer than this trialwatch "
                    f"({SCHEMA_VERSION}): upgrade trialwatch"
                )
            if db.journal_mode != "wal":
                db.enable_wal()
            store = cls(db, path)
            store.migrate(version)
        except sqlite3.DatabaseError as exc:
            raise BadInput(f"cannot use database {path}: {exc}") from exc
        return store

    def migrate(self, version: int) -> None:
        for number in range(version, SCHEMA_VERSION):
            with self.db.atomic():
                MIGRATIONS[number](self.db)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    def close(self) -> None:
        self.db.close()

    # --- watches ---------------------------------------------------------------------------

    def add_watches(
        self, nct_ids: Iterable[str], *, label: str | None, recipients: list[str], now: str
    ) -> list[str]:
        """Start (or resume) watching; returns the ids that were not watched before."""
        added = []
        with self._writing():
            for nct_id in nct_ids:
                existing = self._watch_row(nct_id)
                if existing is None or not existing["active"]:
                    added.append(nct_id)
                row = {"nct_id": nct_id, "active": 1, "added_at": now, "recipients": "[]"}
                if existing is not None:
                    row["added_at"] = existing["added_at"]
                    row["recipients"] = existing["recipients"]
                    row["label"] = existing["label"]
                if label is not None:
                    row["label"] = label
                if recipients:
                    row["recipients"] = json.dumps(recipients)
                self.db["watches"].upsert(row, pk="nct_id")
        return added

    def remove_watches(self, nct_ids: Iterable[str]) -> None:
        """Stop watching; snapshots and events stay for the history."""
        with self._writing():
            for nct_id in nct_ids:
                self.db["watches"].update(nct_id, {"active": 0})

    def unwatched(self, nct_ids: Iterable[str]) -> list[str]:
        """The ids among `nct_ids` that are not actively watched."""
        return [nct_id for nct_id in nct_ids if not (self._watch_row(nct_id) or {}).get("active")]

    def watched_ids(self) -> list[str]:
        return [
            row["nct_id"]
            for row in self.db.query("select nct_id from watches where active = 1 order by nct_id")
        ]

    def list_watches(self) -> list[Watch]:
        sql = """
            select w.*,
              (select count(*) from snapshots s where s.nct_id = w.nct_id) as snapshots,
              (select count(*) from events e where e.nct_id = w.nct_id) as events
            from watches w where active = 1 order by nct_id
        """
        return [
            Watch(
                **{
                    **{key: row[key] for key in Watch.__dataclass_fields__ if key in row},
                    "recipients": json.loads(row["recipients"]),
                }
            )
            for row in self.db.query(sql)
        ]

    def _watch_row(self, nct_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from watches where nct_id = ?", [nct_id]))
        return rows[0] if rows else None

    # --- watched searches ------------------------------------------------------------------

    def add_search(self, name: str, params: dict[str, Any], *, follow: bool, now: str) -> bool:
        """Store (or update) a search; returns whether it is new."""
        with self._writing():
            is_new = not list(self.db.query("select 1 from queries where name = ?", [name]))
            row = {"name": name, "params": json.dumps(params), "follow": int(follow)}
            if is_new:
                self.db["queries"].insert({**row, "created_at": now})
            else:
                self.db["queries"].update(name, row)
        return is_new

    def search_rows(self) -> list[dict[str, Any]]:
        """Every search with its parameters and match count, by name."""
        sql = """
            select q.*, (select count(*) from query_matches m where m.query_name = q.name)
              as matches
            from queries q order by name
        """
        return [{**row, "params": json.loads(row["params"])} for row in self.db.query(sql)]

    def search_matches(self, name: str) -> dict[str, str]:
        sql = "select nct_id, title from query_matches where query_name = ?"
        return {row["nct_id"]: row["title"] for row in self.db.query(sql, [name])}

    def is_first_search_check(self, name: str) -> bool:
        sql = "select last_checked_at from queries where name = ?"
        return self.db.execute(sql, [name]).fetchone()[0] is None

    def save_search_check(
        self,
        name: str,
        matches: dict[str, str],
        events: list[ChangeEvent],
        *,
        follow: list[str],
        now: str,
    ) -> None:
        """The search's new match list, its events and any followed trials, together."""
        with self._writing():
            before = self.search_matches(name)
            for nct_id in set(before) - set(matches):
                self.db.execute(
                    "delete from query_matches where query_name = ? and nct_id = ?",
                    [name, nct_id],
                )
            self.db["query_matches"].insert_all(
                (
                    {"query_name": name, "nct_id": nct_id, "title": title, "first_seen": now}
                    for nct_id, title in matches.items()
                    if nct_id not in before
                ),
            )
            self._insert_events(events, None)
            for nct_id in follow:
                if self._watch_row(nct_id) is None:
                    self.db["watches"].insert(
                        {"nct_id": nct_id, "added_at": now, "recipients": "[]"}
                    )
            self.db["queries"].update(name, {"last_checked_at": now, "last_error": None})

    def save_search_error(self, name: str, error: str) -> None:
        """Only the error: a search that never succeeded still gets its baseline first."""
        with self._writing():
            self.db["queries"].update(name, {"last_error": error})

    # --- snapshots and events --------------------------------------------------------------

    def latest_snapshot(self, nct_id: str) -> StoredSnapshot | None:
        return self._one_snapshot("nct_id = ? order by fetched_at desc, id desc", [nct_id])

    def snapshots_of(self, nct_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        """(id, fetched_at, raw study) of every snapshot of a trial, oldest first."""
        sql = "select id, fetched_at, raw from snapshots where nct_id = ? order by fetched_at, id"
        return [
            (row["id"], row["fetched_at"], json.loads(row["raw"]))
            for row in self.db.query(sql, [nct_id])
        ]

    def backfilled_version_numbers(self, nct_id: str) -> set[int]:
        sql = "select version from registry_versions where nct_id = ?"
        return {row["version"] for row in self.db.query(sql, [nct_id])}

    def first_checked_snapshot(self, nct_id: str) -> StoredSnapshot | None:
        """The trial's oldest snapshot taken by a check or import (not by backfill)."""
        return self._one_snapshot(
            "nct_id = ? and id not in (select snapshot_id from registry_versions"
            " where snapshot_id is not null) order by fetched_at, id",
            [nct_id],
        )

    def latest_backfilled_record(self, nct_id: str) -> dict[str, Any] | None:
        latest = self._latest_backfilled(nct_id)
        return latest.raw if latest else None

    def _latest_backfilled(self, nct_id: str) -> StoredSnapshot | None:
        return self._one_snapshot(
            "id in (select snapshot_id from registry_versions where nct_id = ?)"
            " order by fetched_at desc, id desc",
            [nct_id],
        )

    def is_baseline(self, snapshot_id: int) -> bool:
        """True when no event was recorded against this snapshot."""
        sql = "select count(*) from events where snapshot_id = ?"
        return self.db.execute(sql, [snapshot_id]).fetchone()[0] == 0

    def save_backfill(
        self,
        nct_id: str,
        versions: list[BackfilledVersion],
        *,
        horizon_events: list[ChangeEvent],
        horizon_id: int | None,
        delivered_at: str | None,
        now: str,
    ) -> None:
        """Store a trial's past versions and their events in one transaction."""
        with self._writing():
            self._ensure_watch(nct_id, now=now)
            latest = self._latest_backfilled(nct_id)
            previous_id, previous_hash = (
                (latest.id, latest.content_hash) if latest else (None, None)
            )
            for version in versions:
                if version.content_hash != previous_hash:
                    previous_id = (
                        self.db["snapshots"]
                        .insert(
                            {
                                "nct_id": nct_id,
                                "fetched_at": version.fetched_at,
                                "last_seen_at": version.fetched_at,
                                "content_hash": version.content_hash,
                                "source": f"history:{version.number}",
                                "raw": json.dumps(version.raw, ensure_ascii=False),
                            }
                        )
                        .last_pk
                    )
                    previous_hash = version.content_hash
                    self._insert_events(version.events, previous_id, delivered_at=delivered_at)
                self.db["registry_versions"].insert(
                    {
                        "nct_id": nct_id,
                        "version": version.number,
                        "version_date": version.fetched_at[:10],
                        "snapshot_id": previous_id,
                    }
                )
            if horizon_id is not None:
                self._insert_events(horizon_events, horizon_id, delivered_at=delivered_at)

    def _one_snapshot(self, where: str, params: list[Any]) -> StoredSnapshot | None:
        rows = list(self.db.query(f"select * from snapshots where {where} limit 1", params))
        if not rows:
            return None
        row = rows[0]
        return StoredSnapshot(
            row["id"], row["nct_id"], row["fetched_at"], row["content_hash"], json.loads(row["raw"])
        )

    def _insert_events(
        self, events: list[ChangeEvent], snapshot_id: int | None, *, delivered_at: str | None = None
    ) -> None:
        self.db["events"].insert_all(
            {**self._event_row(event, snapshot_id), "delivered_at": delivered_at}
            for event in events
        )

    def save_check(
        self,
        *,
        nct_id: str,
        raw: dict[str, Any],
        content_hash: str,
        events: list[ChangeEvent],
        fetched_at: str,
        source: str,
        title: str | None,
        acronym: str | None,
    ) -> bool:
        """Store one trial's check in one transaction; returns whether a new snapshot was added.

        Unchanged content (same hash as the latest snapshot) only moves `last_seen_at`.
        """
        with self._writing():
            self._ensure_watch(nct_id, now=fetched_at)
            latest = self.latest_snapshot(nct_id)
            is_new = latest is None or latest.content_hash != content_hash
            if is_new:
                snapshot_id = (
                    self.db["snapshots"]
                    .insert(
                        {
                            "nct_id": nct_id,
                            "fetched_at": fetched_at,
                            "last_seen_at": fetched_at,
                            "content_hash": content_hash,
                            "source": source,
                            "raw": json.dumps(raw, ensure_ascii=False),
                        }
                    )
                    .last_pk
                )
                self._insert_events(events, snapshot_id)
            else:
                self.db["snapshots"].update(latest.id, {"last_seen_at": fetched_at})
            self.db["watches"].update(
                nct_id,
                {
                    "title": title,
                    "acronym": acronym,
                    "last_checked_at": fetched_at,
                    "last_error": None,
                },
            )
        return is_new

    def save_error(self, nct_id: str, error: str, *, now: str) -> None:
        with self._writing():
            self.db["watches"].update(nct_id, {"last_checked_at": now, "last_error": error})

    def _ensure_watch(self, nct_id: str, *, now: str) -> None:
        """Imported files may name a trial not watched yet: importing starts watching it."""
        if self._watch_row(nct_id) is None:
            self.db["watches"].insert({"nct_id": nct_id, "added_at": now, "recipients": "[]"})

    @staticmethod
    def _event_row(event: ChangeEvent, snapshot_id: int | None) -> dict[str, Any]:
        return {
            "nct_id": event.nct_id,
            "snapshot_id": snapshot_id,
            "detected_at": event.detected_at,
            "category": str(event.category),
            "field": event.field,
            "site_key": event.site_key,
            "site": json.dumps(event.site.to_json(), ensure_ascii=False) if event.site else None,
            "old": json.dumps(event.old, ensure_ascii=False),
            "new": json.dumps(event.new, ensure_ascii=False),
            "summary": event.summary,
            "extra": json.dumps(event.extra, ensure_ascii=False) if event.extra else None,
        }

    def list_events(
        self,
        *,
        nct_id: str | None = None,
        since: str | None = None,
        category: str | None = None,
    ) -> list[dict[str, Any]]:
        """Stored events as the spec's JSON objects, oldest first."""
        clauses, params = [], []
        for clause, value in (
            ("nct_id = ?", nct_id),
            ("detected_at >= ?", since),
            ("category = ?", category),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = f"where {' and '.join(clauses)}" if clauses else ""
        sql = f"select * from events {where} order by detected_at, id"
        return [self._event_json(row) for row in self.db.query(sql, params)]

    @staticmethod
    def _event_json(row: dict[str, Any]) -> dict[str, Any]:
        extra = json.loads(row["extra"]) if row.get("extra") else {}
        return extra | {
            "id": row["id"],
            "nct_id": row["nct_id"],
            "detected_at": row["detected_at"],
            "category": row["category"],
            "field": row["field"],
            "site": json.loads(row["site"]) if row["site"] else None,
            "old": json.loads(row["old"]),
            "new": json.loads(row["new"]),
            "summary": row["summary"],
            "snapshot_id": row["snapshot_id"],
            "delivered_at": row.get("delivered_at"),
        }

    # --- digests and deliveries ------------------------------------------------------------

    def pending_events(self) -> list[dict[str, Any]]:
        """Events not yet delivered to everyone they are meant for, oldest first."""
        sql = "select * from events where delivered_at is null order by detected_at, id"
        return [self._event_json(row) for row in self.db.query(sql)]

    def trials(self) -> dict[str, dict[str, Any]]:
        """Every trial ever watched: title, acronym, label and recipients, by NCT id."""
        return {
            row["nct_id"]: {**row, "recipients": json.loads(row["recipients"])}
            for row in self.db.query("select * from watches")
        }

    def covered(self, states: tuple[str, ...] = UNFAILED_STATES) -> set[tuple[int, str]]:
        """(event id, audience) pairs of pending events already in a delivery in `states`."""
        marks = ", ".join("?" for _ in states)
        sql = f"""
            select de.event_id, d.audience from delivery_events de
            join deliveries d on d.id = de.delivery_id
            join events e on e.id = de.event_id
            where e.delivered_at is null and d.state in ({marks})
        """
        return {(row["event_id"], row["audience"]) for row in self.db.query(sql, states)}

    def create_delivery(
        self,
        *,
        message_id: str,
        audience: str,
        channel: str,
        subject: str,
        message: bytes,
        event_ids: Iterable[int],
        now: str,
    ) -> Delivery:
        """Record a delivery attempt before sending; a failed one for the same events is reused."""
        with self._writing():
            existing = self._delivery_rows("message_id = ?", [message_id])
            if existing:
                self.db["deliveries"].update(existing[0].id, {"state": "prepared", "error": None})
            else:
                row = {
                    "message_id": message_id,
                    "audience": audience,
                    "channel": channel,
                    "subject": subject,
                    "message": message,
                    "state": "prepared",
                    "created_at": now,
                }
                delivery_id = self.db["deliveries"].insert(row).last_pk
                self.db["delivery_events"].insert_all(
                    {"delivery_id": delivery_id, "event_id": event_id} for event_id in event_ids
                )
        return self._delivery_rows("message_id = ?", [message_id])[0]

    def set_delivery_state(
        self, delivery_id: int, state: str, *, now: str | None = None, error: str | None = None
    ) -> None:
        with self._writing():
            self.db["deliveries"].update(
                delivery_id, {"state": state, "finished_at": now, "error": error}
            )

    def unfinished_deliveries(self) -> list[Delivery]:
        """Attempts a crash interrupted: recorded, but neither sent nor failed."""
        return self._delivery_rows("state in ('prepared', 'data_sent')", [])

    def mark_delivered(self, event_ids: Iterable[int], *, now: str) -> None:
        with self._writing():
            for event_id in event_ids:
                self.db["events"].update(event_id, {"delivered_at": now})

    def _delivery_rows(self, where: str, params: list[Any]) -> list[Delivery]:
        rows = self.db.query(f"select * from deliveries where {where} order by id", params)
        return [
            Delivery(
                id=row["id"],
                message_id=row["message_id"],
                audience=row["audience"],
                channel=row["channel"],
                subject=row["subject"],
                message=row["message"],
                state=row["state"],
                created_at=row["created_at"],
            )
            for row in rows
        ]

    # --- runs ------------------------------------------------------------------------------

    def start_run(self, command: str, *, now: str) -> int:
        with self._writing():
            return self.db["runs"].insert({"command": command, "started_at": now}).last_pk

    def finish_run(
        self,
        run_id: int,
        *,
        now: str,
        checked: int,
        changes: int,
        errors: list[dict[str, str]],
        data_timestamp: str | None = None,
    ) -> None:
        with self._writing():
            self.db["runs"].update(
                run_id,
                {
                    "finished_at": now,
                    "checked": checked,
                    "changes": changes,
                    "errors": json.dumps(errors),
                    "data_timestamp": data_timestamp,
                },
            )

    def last_complete_data_timestamp(self) -> str | None:
        """The registry data timestamp of the last check that finished without errors."""
        sql = """
            select data_timestamp from runs
            where finished_at is not null and errors = '[]' and data_timestamp is not null
            order by id desc limit 1
        """
        rows = list(self.db.query(sql))
        return rows[0]["data_timestamp"] if rows else None

    def unsettled_ids(self, nct_ids: Iterable[str]) -> list[str]:
        """Among `nct_ids`, the trials never checked or whose last check failed."""
        wanted = list(nct_ids)
        sql = "select nct_id from watches where last_checked_at is not null and last_error is null"
        settled = {row["nct_id"] for row in self.db.query(sql)}
        return [nct_id for nct_id in wanted if nct_id not in settled]

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A transaction whose database failures surface as `StoreError`."""
        try:
            with self.db.atomic():
                yield
        except sqlite3.OperationalError as exc:
            raise StoreError(f"database {self.path}: {exc}") from exc
