"""Snapshots and their change events: one trial's check (or backfill) in one transaction."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from monitor.records.events import ChangeEvent
from monitor.store._base import Family, merge_id
from monitor.store.snapshot_rows import StoredSnapshot
from monitor.times import moment_of


@dataclass(frozen=True)
class BackfilledVersion:
    """A past registry version ready to store, with its events against the version before."""

    number: int
    fetched_at: dt.datetime
    raw: dict[str, Any]
    content_hash: str
    events: list[ChangeEvent]


@dataclass(frozen=True)
class FetchedVersion:
    """A trial's record as a check or an import got it, ready to store: the raw study, the
    hash of its normalised form, and what the watch list shows of it."""

    nct_id: str
    raw: dict[str, Any]
    content_hash: str
    fetched_at: dt.datetime
    source: str  # "api", or the file it was imported from
    title: str | None
    acronym: str | None
    last_update_posted: str | None


class LatestSnapshot(NamedTuple):
    """What a check compares a new version with first: the latest snapshot's hash."""

    id: int
    content_hash: str
    fetched_at: dt.datetime


class Snapshots(Family):
    """Stored versions (`store.snapshots`): the `snapshots` and `registry_versions` tables;
    a version is saved with its events in one transaction."""

    def latest(self, nct_id: str) -> StoredSnapshot | None:
        return self.snapshot_rows.one("nct_id = ? order by fetched_at desc, id desc", [nct_id])

    def latest_hash(self, nct_id: str) -> LatestSnapshot | None:
        """The latest snapshot's id, content hash and time, without loading its raw JSON."""
        sql = (
            "select id, content_hash, fetched_at from snapshots where nct_id = ?"
            " order by fetched_at desc, id desc limit 1"
        )
        row = self.db.execute(sql, [nct_id]).fetchone()
        return LatestSnapshot(row[0], row[1], moment_of(row[2])) if row else None

    def history_stamps(self) -> dict[str, tuple[int, int]]:
        """Each watched trial with a snapshot: (its latest event id or 0, its latest snapshot
        id). A trial's history changed exactly when its stamp did."""
        sql = """
            select w.nct_id,
              (select max(id) from events e where e.nct_id = w.nct_id) as event,
              (select max(id) from snapshots s where s.nct_id = w.nct_id) as snapshot
            from watches w where w.active = 1 order by w.nct_id
        """
        return {
            row["nct_id"]: (row["event"] or 0, row["snapshot"])
            for row in self.db.query(sql)
            if row["snapshot"] is not None
        }

    def of(self, nct_id: str) -> list[tuple[int, dt.datetime, dict[str, Any]]]:
        """(id, fetched_at, raw study) of every snapshot of a trial, oldest first."""
        sql = "select id, fetched_at from snapshots where nct_id = ? order by fetched_at, id"
        reader = self.snapshot_rows.reader()
        return [
            (row["id"], moment_of(row["fetched_at"]), json.loads(reader.raw(row["id"])))
            for row in self.db.query(sql, [nct_id])
        ]

    def move(self, old_id: str, current_id: str) -> None:
        """A merged trial's versions now belong to its current id (in the caller's
        transaction)."""
        self.snapshot_rows.move(old_id, current_id)
        merge_id(self.db, "registry_versions", old_id, current_id)

    def backfilled_numbers(self, nct_id: str) -> set[int]:
        sql = "select version from registry_versions where nct_id = ?"
        return {row["version"] for row in self.db.query(sql, [nct_id])}

    def first_checked(self, nct_id: str) -> StoredSnapshot | None:
        """The trial's oldest snapshot taken by a check or import (not by backfill)."""
        return self.snapshot_rows.one(
            "nct_id = ? and id not in (select snapshot_id from registry_versions"
            " where snapshot_id is not null) order by fetched_at, id",
            [nct_id],
        )

    def latest_backfilled_record(self, nct_id: str) -> dict[str, Any] | None:
        latest = self._latest_backfilled(nct_id)
        return latest.raw if latest else None

    def _latest_backfilled(self, nct_id: str) -> StoredSnapshot | None:
        return self.snapshot_rows.one(
            "id in (select snapshot_id from registry_versions where nct_id = ?)"
            " order by fetched_at desc, id desc",
            [nct_id],
        )

    def is_baseline(self, snapshot_id: int) -> bool:
        """True when no event was recorded against this snapshot."""
        sql = "select count(*) from events where snapshot_id = ?"
        return bool(self.db.execute(sql, [snapshot_id]).fetchone()[0] == 0)

    def save_backfill(
        self,
        nct_id: str,
        versions: list[BackfilledVersion],
        *,
        horizon_events: list[ChangeEvent],
        horizon_id: int | None,
        delivered_at: dt.datetime | None,
        now: dt.datetime,
    ) -> None:
        """Store a trial's past versions and their events in one transaction."""
        with self._writing():
            self.watch_rows.ensure(nct_id, now=now)
            latest = self._latest_backfilled(nct_id)
            previous_id, previous_hash = (
                (latest.id, latest.content_hash) if latest else (None, None)
            )
            for version in versions:
                if version.content_hash != previous_hash:
                    previous_id = self.snapshot_rows.insert(
                        nct_id,
                        fetched_at=version.fetched_at,
                        content_hash=version.content_hash,
                        source=f"history:{version.number}",
                        raw=version.raw,
                    )
                    previous_hash = version.content_hash
                    self.event_rows.insert(version.events, previous_id, delivered_at=delivered_at)
                self.db.table("registry_versions").insert(
                    {
                        "nct_id": nct_id,
                        "version": version.number,
                        "version_date": version.fetched_at.date().isoformat(),
                        "snapshot_id": previous_id,
                    }
                )
            if horizon_id is not None:
                self.event_rows.insert(horizon_events, horizon_id, delivered_at=delivered_at)

    def save_check(
        self,
        version: FetchedVersion,
        *,
        latest: LatestSnapshot | None,
        events: list[ChangeEvent],
    ) -> None:
        """Store one trial's check in one transaction; `latest`: its latest snapshot, as read
        in the caller's transaction (`latest_hash`).

        Unchanged content (same hash as the latest snapshot) only moves `last_seen_at`.
        """
        with self._writing():
            self.watch_rows.ensure(version.nct_id, now=version.fetched_at)
            if latest is not None and latest.content_hash == version.content_hash:  # the same
                self.snapshot_rows.seen(latest.id, at=version.fetched_at)
            else:
                snapshot_id = self.snapshot_rows.insert(
                    version.nct_id,
                    fetched_at=version.fetched_at,
                    content_hash=version.content_hash,
                    source=version.source,
                    raw=version.raw,
                )
                self.event_rows.insert(events, snapshot_id)
            self.watch_rows.checked(
                version.nct_id,
                at=version.fetched_at,
                title=version.title,
                acronym=version.acronym,
                update_posted=version.last_update_posted,
            )
