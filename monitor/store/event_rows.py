"""The `events` table's one owner: a change event written as a row and read back, its JSON
columns (site, old, new, extra) encoded and decoded here and nowhere else."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from monitor.records.events import Category, ChangeEvent, SiteRef
from monitor.times import moment_of, optional_moment, optional_utc_text, utc_text


class EventRows:
    """Writes to `events`, and the one reading of a row; the caller holds the transaction."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def insert(
        self,
        events: list[ChangeEvent],
        snapshot_id: int | None,
        *,
        delivered_at: dt.datetime | None = None,
    ) -> None:
        """One statement for a check's events (a search's have no snapshot); `delivered_at`
        for events nobody is owed (a backfill's history)."""
        delivered = optional_utc_text(delivered_at)
        rows = [_row(event, snapshot_id, delivered) for event in events]
        if rows:
            columns = ", ".join(rows[0])
            marks = ", ".join(f":{column}" for column in rows[0])
            self.db.conn.executemany(f"insert into events ({columns}) values ({marks})", rows)

    def move(self, old_id: str, current_id: str) -> None:
        """A merged trial's events now belong to its current id."""
        self.db.execute("update events set nct_id = ? where nct_id = ?", [current_id, old_id])

    def delivered(self, event_ids: Iterable[int], *, at: dt.datetime) -> None:
        delivered_at = utc_text(at)
        self.db.conn.executemany(
            "update events set delivered_at = ? where id = ?",
            ((delivered_at, event_id) for event_id in event_ids),
        )

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[ChangeEvent]:
        """The events a `select * from events ...` finds, in its order."""
        return [event_of(row) for row in self.db.query(sql, list(params))]


def event_of(row: dict[str, Any]) -> ChangeEvent:
    return ChangeEvent(
        id=row["id"],
        nct_id=row["nct_id"],
        detected_at=moment_of(row["detected_at"]),
        category=Category(row["category"]),
        field=row["field"],
        site=SiteRef.from_json(json.loads(row["site"])) if row["site"] else None,
        old=json.loads(row["old"]),
        new=json.loads(row["new"]),
        summary=row["summary"],
        snapshot_id=row["snapshot_id"],
        delivered_at=optional_moment(row.get("delivered_at")),
        extra=json.loads(row["extra"]) if row.get("extra") else {},
    )


def _row(event: ChangeEvent, snapshot_id: int | None, delivered_at: str | None) -> dict[str, Any]:
    return {
        "nct_id": event.nct_id,
        "snapshot_id": snapshot_id,
        "detected_at": utc_text(event.detected_at),
        "category": str(event.category),
        "field": event.field,
        "site_key": event.site_key,
        "site": json.dumps(event.site.to_json(), ensure_ascii=False) if event.site else None,
        "old": json.dumps(event.old, ensure_ascii=False),
        "new": json.dumps(event.new, ensure_ascii=False),
        "summary": event.summary,
        "extra": json.dumps(event.extra, ensure_ascii=False) if event.extra else None,
        "delivered_at": delivered_at,
    }
