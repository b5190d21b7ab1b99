"""The `snapshots` table's one owner: a version written (zstd, as a delta against the trial's
latest), its last sighting moved, one read back; the last few decompressed are remembered."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from monitor.store.packing import Base, RawReader, pack
from monitor.times import moment_of, utc_text

RECENT_SNAPSHOTS = 16  # single snapshots remembered decompressed


@dataclass(frozen=True)
class StoredSnapshot:
    id: int
    nct_id: str
    fetched_at: dt.datetime
    content_hash: str
    raw: dict[str, Any]


class SnapshotRows:
    """Writes to `snapshots`, and single snapshots read; the caller holds the transaction."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._recent = RawReader(db.conn, keep=RECENT_SNAPSHOTS)

    def insert(
        self,
        nct_id: str,
        *,
        fetched_at: dt.datetime,
        content_hash: str,
        source: str,
        raw: dict[str, Any],
    ) -> int:
        raw_bytes = json.dumps(raw, ensure_ascii=False).encode()
        packed = pack(raw_bytes, self._delta_base(nct_id))
        sql = (
            "insert into snapshots (nct_id, fetched_at, last_seen_at, content_hash, source,"
            " raw_zstd, raw_base_id, raw_chain) values (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        seen_at = utc_text(fetched_at)
        values = [nct_id, seen_at, seen_at, content_hash, source]
        cursor = self.db.execute(sql, [*values, packed.data, packed.base_id, packed.chain])
        return int(cursor.lastrowid or 0)

    def move(self, old_id: str, current_id: str) -> None:
        """A merged trial's snapshots now belong to its current id."""
        self.db.execute("update snapshots set nct_id = ? where nct_id = ?", [current_id, old_id])

    def seen(self, snapshot_id: int, *, at: dt.datetime) -> None:
        """The same content fetched again: only its last sighting moves."""
        self.db.execute(
            "update snapshots set last_seen_at = ? where id = ?", [utc_text(at), snapshot_id]
        )

    def one(self, where: str, params: list[Any]) -> StoredSnapshot | None:
        sql = f"select id, nct_id, fetched_at, content_hash from snapshots where {where} limit 1"
        rows = list(self.db.query(sql, params))
        if not rows:
            return None
        row = rows[0]
        raw = json.loads(self._recent.raw(row["id"]))
        return StoredSnapshot(
            row["id"], row["nct_id"], moment_of(row["fetched_at"]), row["content_hash"], raw
        )

    def reader(self) -> RawReader:
        """A reader of its own, remembering everything it reads (a trial's versions)."""
        return RawReader(self.db.conn)

    def forget_recent(self) -> None:
        """After a rollback: what was remembered may be of snapshots that are gone."""
        self._recent = RawReader(self.db.conn, keep=RECENT_SNAPSHOTS)

    def _delta_base(self, nct_id: str) -> Base | None:
        """The trial's newest stored snapshot, which a new one is stored as a delta against:
        the version a check compared with, so usually still remembered, not decompressed
        again."""
        sql = "select id, raw_chain from snapshots where nct_id = ? order by id desc limit 1"
        row = self.db.execute(sql, [nct_id]).fetchone()
        return Base(row[0], self._recent.raw(row[0]), row[1]) if row else None
