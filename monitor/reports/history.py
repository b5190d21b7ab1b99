"""A trial's history from its stored snapshots and events: what the `history` views show.

Sites are followed across snapshots with the differ's identity rule (`reconcile_site_keys`), so
a placeholder that gets its hospital's name stays one row of the site-status matrix.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from monitor.records.events import ChangeEvent, tell_apart
from monitor.records.normalise import Record, normalise_study
from monitor.records.pairing import reconcile_site_keys
from monitor.records.sites import Site, name_and_place
from monitor.registry.raw import last_update_posted
from monitor.times import utc_text


@dataclass(frozen=True)
class SnapshotPoint:
    """What one snapshot said about the fields the history charts follow."""

    id: int
    fetched_at: dt.datetime
    overall_status: str | None
    enrollment: int | None
    enrollment_type: str | None
    primary_completion: str | None
    completion: str | None
    results_posted: bool = False
    # the registry's update date of this version (when the check's own date if it has none):
    # six versions read on one day are still six days of the registry's history
    posted: str | None = None

    @property
    def date(self) -> str:
        return self.posted or self.fetched_at.date().isoformat()


@dataclass(frozen=True)
class SiteHistory:
    """One row of the site-status matrix: a site's status in each snapshot (None: not listed;
    "": listed without a status)."""

    key: str
    facility: str
    former_names: tuple[str, ...]
    city: str | None
    country: str
    statuses: tuple[str | None, ...]
    # "site 0032" or "zip 53705" when another row has the same name in the same city
    tell_apart: str | None = None


def trial_name(nct_id: str, acronym: str | None) -> str:
    """How feeds and the terminal name a trial: its id, then its acronym if it has one."""
    return " ".join(part for part in (nct_id, acronym) if part)


@dataclass(frozen=True)
class TrialHistory:
    nct_id: str
    title: str | None
    acronym: str | None
    snapshots: list[SnapshotPoint]
    sites: list[SiteHistory]
    events: list[ChangeEvent]

    def events_by_day(self) -> list[tuple[dt.date, list[ChangeEvent]]]:
        """Events grouped by detection day, newest day first, in importance order within it."""
        days: dict[dt.date, list[ChangeEvent]] = {}
        for event in self.events:
            days.setdefault(event.detected_at.date(), []).append(event)
        return sorted(days.items(), reverse=True)

    def days(self) -> list[tuple[str, int]]:
        """The snapshots' dates, each once, with how many versions share it, oldest first."""
        days: list[tuple[str, int]] = []
        for point in self.snapshots:
            if days and days[-1][0] == point.date:
                days[-1] = (point.date, days[-1][1] + 1)
            else:
                days.append((point.date, 1))
        return days

    def status_counts(self, index: int) -> dict[str, int]:
        """How many sites had each status in snapshot `index` (-1: the latest)."""
        return dict(Counter(s.statuses[index] or "" for s in self.sites if s.statuses[index]))

    def to_json(self) -> dict[str, Any]:
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "acronym": self.acronym,
            "snapshots": [
                {
                    "id": point.id,
                    "fetched_at": utc_text(point.fetched_at),
                    "overall_status": point.overall_status,
                    "enrollment": point.enrollment,
                    "enrollment_type": point.enrollment_type,
                    "primary_completion_date": point.primary_completion,
                    "completion_date": point.completion,
                }
                for point in self.snapshots
            ],
            "events": [event.to_json() for event in self.events],
        }


def build_history(
    nct_id: str,
    snapshots: list[tuple[int, dt.datetime, dict[str, Any]]],
    events: list[ChangeEvent],
    *,
    title: str | None = None,
    acronym: str | None = None,
) -> TrialHistory:
    """`snapshots` are (id, fetched_at, raw study), oldest first; `events` oldest first."""
    points: list[SnapshotPoint] = []
    tracks: dict[str, _SiteTrack] = {}
    previous: dict[str, Site] = {}
    for index, (snapshot_id, fetched_at, raw) in enumerate(snapshots):
        record = normalise_study(raw)
        points.append(_point(snapshot_id, fetched_at, record, last_update_posted(raw)))
        sites = reconcile_site_keys(previous, record["sites"])
        for key, site in sites.items():
            track = tracks.setdefault(key, _SiteTrack(site, [None] * len(snapshots), []))
            track.statuses[index] = site["status"] or ""
            track.latest = site
            if site["facility"] not in track.names:
                track.names.append(site["facility"])
        previous = {**previous, **sites}
    repeated = Counter(name_and_place(track.latest) for track in tracks.values())
    rows = [
        track.row(key, repeated=repeated[name_and_place(track.latest)] > 1)
        for key, track in tracks.items()
    ]
    rows.sort(key=lambda site: (site.country, site.city or "", site.facility, site.key))
    return TrialHistory(nct_id, title, acronym, points, rows, events)


@dataclass
class _SiteTrack:
    """One site followed through the snapshots: as last listed, its status in each snapshot
    (None: not listed; "": listed without a status), and every name it went by."""

    latest: Site
    statuses: list[str | None]
    names: list[str | None]

    def row(self, key: str, *, repeated: bool) -> SiteHistory:
        """Its row of the matrix; `repeated`: another row has its name in its city."""
        site = self.latest
        return SiteHistory(
            key=key,
            facility=site["facility"] or "(unnamed site)",
            former_names=tuple(name for name in self.names if name and name != site["facility"]),
            city=site["city"],
            country=site["country"] or "(no country)",
            statuses=tuple(self.statuses),
            tell_apart=tell_apart(site["site_number"], site["zip"]) if repeated else None,
        )


def _point(
    snapshot_id: int, fetched_at: dt.datetime, record: Record, posted: str | None
) -> SnapshotPoint:
    enrollment = record["enrollment"]
    primary_completion, completion = record["primary_completion_date"], record["completion_date"]
    return SnapshotPoint(
        id=snapshot_id,
        fetched_at=fetched_at,
        overall_status=record["overall_status"],
        enrollment=enrollment["count"] if enrollment else None,
        enrollment_type=enrollment["type"] if enrollment else None,
        primary_completion=primary_completion["date"] if primary_completion else None,
        completion=completion["date"] if completion else None,
        results_posted=bool(record["results"]),
        posted=posted,
    )
