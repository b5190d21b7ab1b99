"""Where watched trials meet: each watched trial's sites with a sure identity across trials
(`records.shared_sites`), as its latest snapshot lists them, in `trial_sites`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.records.shared_sites import SitePlace, same_place
from monitor.store._base import Family, merge_id


@dataclass(frozen=True)
class TrialAtSite:
    """One watched trial at a place, as the place's page and notes name it."""

    nct_id: str
    acronym: str | None
    status: str | None


@dataclass(frozen=True)
class OthersAt:
    """The other watched trials at one place: the first few by id, and how many in all (a
    big centre hosts hundreds of a portfolio's trials; a note names a few and counts the
    rest)."""

    named: tuple[TrialAtSite, ...]
    count: int


@dataclass(frozen=True)
class SharedPlace:
    """A place that hosts two or more watched trials."""

    facility: str
    city: str
    country: str
    trials: tuple[TrialAtSite, ...]


# The other active watched trials at a place: (identity, nct_id) walks the index alone.
OTHERS_AT = """
    from trial_sites s join watches w on w.nct_id = s.nct_id and w.active = 1
    where s.identity = :place and s.nct_id != :trial
"""
# How many: every trial there, counted in the index, less the few whose watch was stopped.
COUNT_OTHERS_AT = """
    select (select count(*) from trial_sites where identity = :place and nct_id != :trial)
        - (select count(*) from watches w indexed by watches_stopped cross join trial_sites s
            where w.active = 0 and w.nct_id != :trial
            and s.nct_id = w.nct_id and s.identity = :place)
"""


class Sites(Family):
    """Watched trials' sites by identity (`store.sites`): the `trial_sites` table."""

    def replace(self, nct_id: str, places: Iterable[SitePlace]) -> None:
        """The trial's places now (its latest snapshot's), in the caller's transaction."""
        rows = {
            place.identity: (
                nct_id,
                place.identity,
                place.facility,
                place.city,
                place.country,
                place.zip,
                place.status,
            )
            for place in places
        }
        with self._writing():  # plain statements: a changed trial's 50 sites in a millisecond
            self.db.execute("delete from trial_sites where nct_id = ?", [nct_id])
            self.db.conn.executemany(
                "insert into trial_sites (nct_id, identity, facility, city, country, zip, status)"
                " values (?, ?, ?, ?, ?, ?, ?)",
                rows.values(),
            )

    def known(self, nct_id: str) -> bool:
        """Whether the trial's places were recorded (a database written before they were is
        filled in as each trial is next checked)."""
        sql = "select 1 from trial_sites where nct_id = ? limit 1"
        return self.db.execute(sql, [nct_id]).fetchone() is not None

    def others_at(
        self, identities: Iterable[str], nct_id: str, *, named: int
    ) -> dict[str, OthersAt]:
        """{identity: the other watched trials there, `named` of them by id and the count}
        for `identities` of `nct_id`'s sites."""
        found = {}
        for identity in sorted(set(identities)):
            place = {"place": identity, "trial": nct_id, "named": named}
            count = self.db.execute(COUNT_OTHERS_AT, place).fetchone()[0]
            if count:
                first = self.db.query(
                    f"select s.nct_id, s.status, w.acronym {OTHERS_AT} order by s.nct_id "
                    "limit :named",
                    place,
                )
                there = (TrialAtSite(row["nct_id"], row["acronym"], row["status"]) for row in first)
                found[identity] = OthersAt(tuple(there), count)
        return found

    def shared(self) -> list[SharedPlace]:
        """Every place hosting two or more watched trials whose zips agree, by country and
        city."""
        sql = """
            select s.*, w.acronym from trial_sites s
            join watches w on w.nct_id = s.nct_id and w.active = 1
            where s.identity in (
                select identity from trial_sites t join watches v on v.nct_id = t.nct_id
                where v.active = 1 group by identity having count(distinct t.nct_id) > 1
            )
            order by s.country, s.city, s.identity, s.nct_id
        """
        by_identity: dict[str, list[dict[str, object]]] = defaultdict(list)
        for row in self.db.query(sql):
            by_identity[str(row["identity"])].append(row)
        shared = []
        for rows in by_identity.values():
            places = [_place(row) for row in rows]
            if not same_place(places):
                continue
            first = rows[0]
            shared.append(
                SharedPlace(
                    str(first["facility"]),
                    str(first["city"]),
                    str(first["country"]),
                    tuple(
                        TrialAtSite(str(row["nct_id"]), _text(row["acronym"]), _text(row["status"]))
                        for row in rows
                    ),
                )
            )
        return shared

    def move(self, old_id: str, current_id: str) -> None:
        merge_id(self.db, "trial_sites", old_id, current_id)


def _place(row: dict[str, object]) -> SitePlace:
    return SitePlace(
        str(row["identity"]),
        str(row["facility"]),
        str(row["city"]),
        str(row["country"]),
        _text(row["zip"]),
        _text(row["status"]),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
