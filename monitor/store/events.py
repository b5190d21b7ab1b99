"""Change events as the report, the feeds and delivery read them (`store.events`); the
`events` table's rows are written and decoded in `event_rows.py`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from monitor.records.events import ChangeEvent
from monitor.store._base import Family
from monitor.times import optional_utc_text


class Events(Family):
    """Stored change events, each list oldest first."""

    def listed(
        self,
        *,
        nct_id: str | None = None,
        since: dt.datetime | None = None,
        category: str | None = None,
        field: str | None = None,
    ) -> list[ChangeEvent]:
        """Stored events, filtered by whatever is given."""
        clauses, params = [], []
        for clause, value in (
            ("nct_id = ?", nct_id),
            ("detected_at >= ?", optional_utc_text(since)),
            ("category = ?", category),
            ("field = ?", field),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = f"where {' and '.join(clauses)}" if clauses else ""
        sql = f"select * from events {where} order by detected_at, id"
        return self.event_rows.read(sql, params)

    def of_latest_checks(self, checks: int) -> list[ChangeEvent]:
        """The events of the newest `checks` (detection time, trial) groups: a feed's entries,
        read without reading every event ever stored."""
        sql = """
            select * from events where (detected_at, nct_id) in (
              select distinct detected_at, nct_id from events
              order by detected_at desc, nct_id desc limit ?
            ) order by detected_at, id
        """
        return self.event_rows.read(sql, [checks])

    def pending(self) -> list[ChangeEvent]:
        """Events not yet delivered to everyone they are meant for."""
        sql = "select * from events where delivered_at is null order by detected_at, id"
        return self.event_rows.read(sql)

    def by_id(self, event_ids: Iterable[int]) -> list[ChangeEvent]:
        wanted = list(event_ids)
        marks = ", ".join("?" for _ in wanted)
        sql = f"select * from events where id in ({marks}) order by detected_at, id"
        return self.event_rows.read(sql, wanted)

    def mark_delivered(self, event_ids: Iterable[int], *, now: dt.datetime) -> None:
        with self._writing():
            self.event_rows.delivered(event_ids, at=now)
