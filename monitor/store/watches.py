"""Watched trials: adding, removing, listing, and which of them still need a check."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor.records.rules import Rule, parse_rule
from monitor.store._base import Family
from monitor.times import moment_of, optional_moment, optional_utc_text, utc_text


@dataclass(frozen=True)
class Trial:
    """A trial ever watched, as digests and reports name and address it."""

    nct_id: str
    label: str | None
    recipients: list[str]
    channels: list[str]  # names of chat or webhook channels in the config
    title: str | None
    acronym: str | None
    rules: Rule  # what its changes must be to be told to anyone


@dataclass(frozen=True)
class LastFetch:
    """A trial's last check: the registry's last-update date it then had, and whether it
    failed (then it is fetched again whatever the date says)."""

    update_posted: str | None
    failed: bool


@dataclass(frozen=True)
class Watch(Trial):
    """A watched trial as `watch list` shows it."""

    added_at: dt.datetime
    last_checked_at: dt.datetime | None
    last_error: str | None
    snapshots: int
    events: int

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "rules": self.rules.to_json(),
            "added_at": utc_text(self.added_at),
            "last_checked_at": optional_utc_text(self.last_checked_at),
        }


class Watches(Family):
    """The watched trials (`store.watches`): the `watches` table, written through `watch_rows`."""

    def add(
        self,
        nct_ids: Iterable[str],
        *,
        label: str | None,
        recipients: list[str],
        now: dt.datetime,
        channels: list[str] | None = None,
        rules: Rule | None = None,
    ) -> list[str]:
        """Start (or resume) watching; returns the ids that were not watched before."""
        with self._writing():
            return [
                nct_id
                for nct_id in nct_ids
                if self.watch_rows.watch(
                    nct_id,
                    now=now,
                    label=label,
                    recipients=recipients,
                    channels=channels,
                    rules=rules.to_json() if rules is not None else None,
                )
            ]

    def edit(
        self,
        nct_id: str,
        *,
        label: str | None = None,
        recipients: list[str] | None = None,
        channels: list[str] | None = None,
        rules: Rule | None = None,
    ) -> None:
        """Change what is given of a watch (None: leave it); an empty list or rule clears."""
        with self._writing():
            self.watch_rows.edit(
                nct_id,
                label=label,
                recipients=recipients,
                channels=channels,
                rules=rules.to_json() if rules is not None else None,
            )

    def remove(self, nct_ids: Iterable[str]) -> None:
        """Stop watching; snapshots and events stay for the history."""
        with self._writing():
            self.watch_rows.stop(nct_ids)

    def unwatched(self, nct_ids: Iterable[str]) -> list[str]:
        """The ids among `nct_ids` that are not actively watched."""
        return [
            nct_id for nct_id in nct_ids if not (self.watch_rows.row(nct_id) or {}).get("active")
        ]

    def count(self) -> int:
        return int(self.db.execute("select count(*) from watches where active = 1").fetchone()[0])

    def ids(self) -> list[str]:
        sql = "select nct_id from watches where active = 1 order by nct_id"
        return [nct_id for (nct_id,) in self.db.execute(sql).fetchall()]

    def listed(self) -> list[Watch]:
        sql = """
            select w.*,
              (select count(*) from snapshots s where s.nct_id = w.nct_id) as snapshots,
              (select count(*) from events e where e.nct_id = w.nct_id) as events
            from watches w where active = 1 order by nct_id
        """
        return [
            Watch(
                **vars(_trial(row)),
                added_at=moment_of(row["added_at"]),
                last_checked_at=optional_moment(row["last_checked_at"]),
                last_error=row["last_error"],
                snapshots=row["snapshots"],
                events=row["events"],
            )
            for row in self.db.query(sql)
        ]

    def trials(self) -> dict[str, Trial]:
        """Every trial ever watched (also those no longer watched), by NCT id."""
        return {row["nct_id"]: _trial(row) for row in self.db.query("select * from watches")}

    def last_fetches(self) -> dict[str, LastFetch]:
        """How each trial ever checked was last fetched, in one read of the watch list."""
        sql = (
            "select nct_id, last_update_posted, last_error is not null"
            " from watches where last_checked_at is not null"
        )
        return {
            nct_id: LastFetch(posted, bool(failed))
            for nct_id, posted, failed in self.db.execute(sql).fetchall()
        }

    def earliest_check(self) -> dt.datetime | None:
        """The earliest last check of a watched trial (None: none was ever checked). Trials
        whose last check failed are left out: the next check fetches them anyway."""
        sql = "select min(last_checked_at) from watches where active = 1 and last_error is null"
        at = self.db.execute(sql).fetchone()[0]
        return optional_moment(at)

    def confirm_unchanged(self, nct_ids: list[str], *, now: dt.datetime) -> None:
        """Trials this check confirmed unchanged without downloading them (their update date
        had not moved, or the registry's data had not): checked now, all the same."""
        with self._writing():
            self.watch_rows.confirmed(nct_ids, at=now)

    def check_failed(self, nct_id: str, error: str, *, now: dt.datetime) -> None:
        """Note the failure on the trial's watch, if it has one (an imported file may not)."""
        with self._writing():
            self.watch_rows.failed(nct_id, error, at=now)

    def failing(self) -> dict[str, str]:
        """{NCT id: its error} of the watched trials whose last check failed."""
        sql = "select nct_id, last_error from watches where active = 1 and last_error is not null"
        return {row["nct_id"]: row["last_error"] for row in self.db.query(sql)}

    def unsettled(self, nct_ids: Iterable[str]) -> list[str]:
        """Among `nct_ids`, the trials never checked or whose last check failed."""
        wanted = list(nct_ids)
        sql = "select nct_id from watches where last_checked_at is not null and last_error is null"
        settled = {row["nct_id"] for row in self.db.query(sql)}
        return [nct_id for nct_id in wanted if nct_id not in settled]


def _trial(row: dict[str, Any]) -> Trial:
    """A `watches` row with its JSON columns decoded (encoded in `watch_rows.py`)."""
    return Trial(
        nct_id=row["nct_id"],
        label=row["label"],
        recipients=json.loads(row["recipients"]),
        channels=json.loads(row["channels"]),
        title=row["title"],
        acronym=row["acronym"],
        rules=parse_rule(
            json.loads(row.get("rules") or "{}"), where=f"watch {row['nct_id']}", stored=True
        ),
    )
