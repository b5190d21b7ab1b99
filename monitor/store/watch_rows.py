"""The `watches` table's one owner: every write to it is here, whichever query family's
transaction it is part of (a watch added or edited, a trial stored by a check or an import, a
search's match followed, a merged trial moved), as sqlite-utils gives each table an object.
The JSON columns (recipients, channels, rules) are encoded here and decoded in `watches.py`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from monitor.times import utc_text


class WatchRows:
    """Writes to `watches`; the caller holds the transaction."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def row(self, nct_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from watches where nct_id = ?", [nct_id]))
        return rows[0] if rows else None

    def ensure(self, nct_id: str, *, now: dt.datetime) -> None:
        """A trial stored or followed without a watch yet (an imported file, a search's
        match) gets one; an existing watch is left as it is."""
        self.db.execute(
            "insert into watches (nct_id, added_at, recipients) select ?, ?, '[]'"
            " where not exists (select 1 from watches where nct_id = ?)",
            [nct_id, utc_text(now), nct_id],
        )

    def watch(
        self,
        nct_id: str,
        *,
        now: dt.datetime,
        label: str | None,
        recipients: list[str],
        channels: list[str] | None,
        rules: dict[str, Any] | None,
    ) -> bool:
        """Start or resume watching, keeping what is not given; whether it was not watched."""
        existing = self.row(nct_id)
        row: dict[str, Any] = {
            "nct_id": nct_id,
            "active": 1,
            "added_at": utc_text(now),
            "recipients": "[]",
        }
        if existing is not None:
            for kept in ("added_at", "recipients", "label", "channels"):
                row[kept] = existing[kept]
        if label is not None:
            row["label"] = label
        if recipients:
            row["recipients"] = json.dumps(recipients)
        if channels:
            row["channels"] = json.dumps(channels)
        if rules is not None:
            row["rules"] = json.dumps(rules)
        self.db.table("watches").upsert(row, pk="nct_id")
        return existing is None or not existing["active"]

    def edit(
        self,
        nct_id: str,
        *,
        label: str | None,
        recipients: list[str] | None,
        channels: list[str] | None,
        rules: dict[str, Any] | None,
    ) -> None:
        """Change what is given (None: leave it); an empty label, list or rule clears."""
        changes: dict[str, Any] = {}
        if label is not None:
            changes["label"] = label or None
        if recipients is not None:
            changes["recipients"] = json.dumps(recipients)
        if channels is not None:
            changes["channels"] = json.dumps(channels)
        if rules is not None:
            changes["rules"] = json.dumps(rules)
        if changes:
            self.db.table("watches").update(nct_id, changes)

    def stop(self, nct_ids: Iterable[str]) -> None:
        self.db.conn.executemany(
            "update watches set active = 0 where nct_id = ?", ((nct_id,) for nct_id in nct_ids)
        )

    def checked(
        self,
        nct_id: str,
        *,
        at: dt.datetime,
        title: str | None,
        acronym: str | None,
        update_posted: str | None,
    ) -> None:
        """A check or import stored the trial: its names and registry update date as of now."""
        self.db.execute(
            "update watches set title = ?, acronym = ?, last_checked_at = ?,"
            " last_error = null, last_update_posted = ? where nct_id = ?",
            [title, acronym, utc_text(at), update_posted, nct_id],
        )

    def failed(self, nct_id: str, error: str, *, at: dt.datetime) -> None:
        self.db.execute(
            "update watches set last_checked_at = ?, last_error = ? where nct_id = ?",
            [utc_text(at), error, nct_id],
        )

    def confirmed(self, nct_ids: list[str], *, at: dt.datetime) -> None:
        """Checked without a download (their update date, or the registry's data, had not
        moved): one statement for them all (50,000 row updates one by one took 4 s)."""
        checked_at = utc_text(at)
        self.db.conn.executemany(
            "update watches set last_checked_at = ? where nct_id = ?",
            ((checked_at, nct_id) for nct_id in nct_ids),
        )

    def move(self, old: dict[str, Any], current_id: str) -> None:
        """A merged trial's watch moves to its current id. A watch the current id already had
        keeps its settings, gains the old one's recipients and channels, and is active if
        either was."""
        current = self.row(current_id)
        if current is None:
            self.db.table("watches").insert({**old, "nct_id": current_id})
        else:
            recipients, channels = (
                list(dict.fromkeys([*json.loads(current[key]), *json.loads(old[key])]))
                for key in ("recipients", "channels")
            )
            self.db.table("watches").update(
                current_id,
                {
                    "active": int(bool(current["active"] or old["active"])),
                    "recipients": json.dumps(recipients),
                    "channels": json.dumps(channels),
                    "label": current["label"] or old["label"],
                },
            )

    def delete(self, nct_id: str) -> None:
        """Only once nothing refers to it any more (a merged trial's old id, moved)."""
        self.db.execute("delete from watches where nct_id = ?", [nct_id])
