"""The runs table: every check, import and run, with what it saw of the registry."""

from __future__ import annotations

import datetime as dt
import json

from monitor.registry.watermark import Watermark
from monitor.store._base import Family
from monitor.times import optional_moment, utc_text

WATERMARKS_KEPT_WHOLE = 7  # a run older than these lists its watermark's whole day again


class Runs(Family):
    """Every check, import and run (`store.runs`): the `runs` table."""

    def start(self, command: str, *, now: dt.datetime) -> int:
        with self._writing():
            return int(
                self.db.table("runs")
                .insert({"command": command, "started_at": utc_text(now)})
                .last_pk
                or 0
            )

    def finish(
        self,
        run_id: int,
        *,
        now: dt.datetime,
        checked: int,
        changes: int,
        errors: list[dict[str, str]],
        data_timestamp: str | None = None,
        full: bool = False,
        watermark: Watermark | None = None,
    ) -> None:
        with self._writing():
            self.db.table("runs").update(
                run_id,
                {
                    "finished_at": utc_text(now),
                    "checked": checked,
                    "changes": changes,
                    "errors": json.dumps(errors),
                    "data_timestamp": data_timestamp,
                    "full": int(full),
                    "listed_through": watermark and watermark.posted,
                    "listed_through_ids": watermark and json.dumps(sorted(watermark.nct_ids)),
                },
            )
            if watermark is not None:  # a day's ids (~40 KB): older runs keep only the day
                self.db.execute(
                    "update runs set listed_through_ids = '[]' where listed_through_ids != '[]'"
                    " and id not in (select id from runs where listed_through is not null"
                    f" order by id desc limit {WATERMARKS_KEPT_WHOLE})"
                )

    def last_full_check_at(self) -> dt.datetime | None:
        """When the last check that fetched every trial (and finished) started: a weekly pass
        measured from its end would come a day late each week, after a daily run at the same
        hour."""
        sql = "select max(started_at) as at from runs where full = 1 and finished_at is not null"
        return optional_moment(next(iter(self.db.query(sql)))["at"])

    def last_complete_check_at(self) -> dt.datetime | None:
        """When the last check (not an import) that finished without errors finished."""
        sql = """
            select max(finished_at) as at from runs
            where finished_at is not null and errors = '[]' and command != 'import'
        """
        return optional_moment(next(iter(self.db.query(sql)))["at"])

    def last_complete_data_timestamp(self) -> str | None:
        """The registry data timestamp of the last check that finished without errors."""
        sql = """
            select data_timestamp from runs
            where finished_at is not null and errors = '[]' and data_timestamp is not null
            order by id desc limit 1
        """
        rows = list(self.db.query(sql))
        return rows[0]["data_timestamp"] if rows else None

    def watermark_before(self, confirmed_at: dt.datetime) -> Watermark | None:
        """The watermark of the last finished run that started at or before `confirmed_at`:
        what is known of a trial (or search) confirmed then is at least as new as that run's
        listing, so a listing from its watermark misses nothing of it (runs never overlap:
        they hold the run lock)."""
        sql = """
            select listed_through, listed_through_ids from runs
            where listed_through is not null and finished_at is not null and started_at <= ?
            order by id desc limit 1
        """
        row = self.db.execute(sql, [utc_text(confirmed_at)]).fetchone()
        return Watermark(row[0], frozenset(json.loads(row[1]))) if row else None
