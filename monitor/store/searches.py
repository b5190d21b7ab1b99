"""Watched searches: their definitions, current matches, and each check's events."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from monitor.records.events import ChangeEvent
from monitor.records.rules import Rule, parse_rule
from monitor.store._base import Family, merge_id
from monitor.times import moment_of, optional_moment, optional_utc_text, utc_text


@dataclass(frozen=True)
class StoredSearch:
    """A watched search as stored: its parameters, its last check and how many it matches."""

    name: str
    params: dict[str, Any]
    follow: bool
    created_at: dt.datetime
    last_checked_at: dt.datetime | None
    last_error: str | None
    matches: int

    @property
    def rule(self) -> Rule:
        """What of its new and leaving matches is told (every one, without a rule)."""
        return parse_rule(self.params.get("rule") or {}, where=f"search {self.name}", stored=True)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {
            "follow": int(self.follow),
            "created_at": utc_text(self.created_at),
            "last_checked_at": optional_utc_text(self.last_checked_at),
        }


class Searches(Family):
    """Watched searches (`store.searches`): the `queries` and `query_matches` tables."""

    def add(self, name: str, params: dict[str, Any], *, follow: bool, now: dt.datetime) -> bool:
        """Store (or update) a search; returns whether it is new. A search whose criteria
        changed starts again from a baseline: its next check tells nothing."""
        with self._writing():
            old = self._stored_params(name)
            row = {"name": name, "params": json.dumps(params), "follow": int(follow)}
            if old is None:
                self.db.table("queries").insert({**row, "created_at": utc_text(now)})
            elif _criteria(old) != _criteria(params):
                self.db.table("queries").update(name, row | {"last_checked_at": None})
            else:
                self.db.table("queries").update(name, row)
        return old is None

    def _stored_params(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute("select params from queries where name = ?", [name]).fetchone()
        return json.loads(row[0]) if row else None

    def remove(self, name: str) -> None:
        """Stop watching a search; the events it made stay for the history."""
        with self._writing():
            self.db.execute("delete from query_matches where query_name = ?", [name])
            self.db.execute("delete from queries where name = ?", [name])

    def rules(self) -> dict[str, Rule]:
        """Each search's alert rule (what of its new and leaving matches is told), by name."""
        return {search.name: search.rule for search in self.rows()}

    def rows(self) -> list[StoredSearch]:
        """Every search with its parameters and match count, by name."""
        sql = """
            select q.*, (select count(*) from query_matches m where m.query_name = q.name)
              as matches
            from queries q order by name
        """
        return [
            StoredSearch(
                name=row["name"],
                params=json.loads(row["params"]),
                follow=bool(row["follow"]),
                created_at=moment_of(row["created_at"]),
                last_checked_at=optional_moment(row["last_checked_at"]),
                last_error=row["last_error"],
                matches=row["matches"],
            )
            for row in self.db.query(sql)
        ]

    def move_matches(self, old_id: str, current_id: str) -> None:
        """A merged trial matches as its current id (in the caller's transaction)."""
        merge_id(self.db, "query_matches", old_id, current_id)

    def matches(self, name: str) -> dict[str, str]:
        sql = "select nct_id, title from query_matches where query_name = ?"
        return {row["nct_id"]: row["title"] for row in self.db.query(sql, [name])}

    def save_check(
        self,
        name: str,
        matches: dict[str, str],
        events: list[ChangeEvent],
        *,
        follow: list[str],
        now: dt.datetime,
        asked: dict[str, Any],
    ) -> bool:
        """The search's new match list, its events and any followed trials, together; False,
        and nothing saved, when the search was removed or its criteria changed since the check
        read them (`asked`): an edit lands whole, and the edited search's next check is its
        baseline."""
        checked_at = utc_text(now)
        with self._writing():
            current = self._stored_params(name)
            if current is None or _criteria(current) != _criteria(asked):
                return False
            before = self.matches(name)
            for nct_id in set(before) - set(matches):
                self.db.execute(
                    "delete from query_matches where query_name = ? and nct_id = ?",
                    [name, nct_id],
                )
            self.db.table("query_matches").insert_all(
                (
                    {
                        "query_name": name,
                        "nct_id": nct_id,
                        "title": title,
                        "first_seen": checked_at,
                    }
                    for nct_id, title in matches.items()
                    if nct_id not in before
                ),
            )
            self.event_rows.insert(events, None)
            for nct_id in follow:
                self.watch_rows.ensure(nct_id, now=now)
            self.db.table("queries").update(
                name, {"last_checked_at": checked_at, "last_error": None}
            )
        return True

    def save_error(self, name: str, error: str) -> None:
        """Only the error: a search that never succeeded still gets its baseline first."""
        with self._writing():
            self.db.table("queries").update(name, {"last_error": error})


def _criteria(params: dict[str, Any]) -> dict[str, Any]:
    """A stored search's criteria: its parameters but the rule, absent ones left out."""
    return {key: value for key, value in params.items() if key != "rule" and value}
