"""The registry's list of studies updated since a date, asked at most once a run.

A daily check needs it twice: to learn which watched trials moved, and to learn which of a
big search's matches were updated (and so may have left it). One list since the earliest
date answers every later date too, since each study carries its update date.

How far back to list comes from what the registry itself vouched for, not from our clock.
The registry publishes once a day (`/version`'s `dataTimestamp`, about 09:00 UTC), and a
record's last update post date is the day of the refresh that published it: in six weeks of
daily captures of real records at about 01:00 UTC (the corpus's source), each of the 31 new
versions seen one day after the previous capture had been posted the day before, none
earlier. So the newest post date a complete listing saw, and the studies posted that day,
are a `Watermark`: a record published after that listing is posted that day or later. The
next listing starts at that day, newest first (the documented `sort`), and stops once the
studies it has not read are exactly those of that day it already knew (counted against
`totalCount`). Were a refresh to publish more of an already listed day, the count would not
match and the listing would read on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from monitor.registry.client import RegistryClient, UpdateListing
from monitor.registry.watermark import Watermark

UPDATE_OVERLAP_DAYS = 2  # with no watermark to go by: our clock is UTC, the registry's Eastern


Bound = str | Watermark  # list since a date (ISO), or since what a listing already saw


def since_date(bound: Bound) -> str:
    """The first post date a list since `bound` asks for."""
    return bound if isinstance(bound, str) else bound.posted


def listing_bound(watermark: Watermark | None, confirmed_at: dt.datetime) -> Bound:
    """Since what to list updates for what was last confirmed at `confirmed_at` (a time):
    the watermark of the last listing before then, or without one, that day less a margin."""
    if watermark is not None:
        return watermark
    day = confirmed_at.date() - dt.timedelta(days=UPDATE_OVERLAP_DAYS)
    return day.isoformat()


class UpdatedSince:
    """`since(bound)`: every study updated since `bound`, with its last update post date;
    `watermark` afterwards: what the run's first complete listing vouches for, for the next
    run. The first: whatever a run confirms after it (trials, then each search) is at least
    as new as it, which a later listing cannot say of a search checked before it."""

    def __init__(self, client: RegistryClient, *, today: dt.date) -> None:
        """`today`: our (UTC) day; the registry's (US Eastern) is never later, so a post date
        after it is a registry error and may not move the watermark (it would hide every
        later day's updates until it came round)."""
        self.client = client
        self.latest_post = today.isoformat()
        self.watermark: Watermark | None = None
        self._asked: Bound | None = None
        self._dates: dict[str, str | None] | None = None

    def since(
        self,
        bound: Bound,
        *,
        cheaper_than: int,
        each: Callable[[str, str | None], None] = lambda nct_id, posted: None,
    ) -> dict[str, str | None] | None:
        """The studies updated since `bound`, or None when asking would take `cheaper_than`
        requests or more (a list already at hand costs nothing). Since a watermark, the
        studies of its day not listed again are not in the answer: they have not moved. `each`
        is told every study of a list asked now as its page arrives (a check queues what it
        will read while waiting for the next page)."""
        date = since_date(bound)
        if self._dates is not None and self._asked is not None and _answers(self._asked, bound):
            return {
                nct_id: posted
                for nct_id, posted in self._dates.items()
                if posted is None or posted >= date
            }
        if cheaper_than <= 1:  # the list takes a request at least
            return None
        known = bound.nct_ids if isinstance(bound, Watermark) else None
        listing = self.client.updated_since(
            date, cheaper_than=cheaper_than, known_last=len(known or ())
        )
        if listing is None:
            return None
        dates, watermark = _read(listing, date, known, each, latest=self.latest_post)
        self.watermark = self.watermark or watermark
        self._asked, self._dates = bound, dates
        return dates


def _answers(asked: Bound, bound: Bound) -> bool:
    """Whether the list asked since `asked` tells every update since `bound`."""
    if isinstance(asked, str):
        return asked <= since_date(bound)
    return asked == bound or (isinstance(bound, str) and bound > asked.posted)


def _read(
    listing: UpdateListing,
    date: str,
    known: frozenset[str] | None,
    each: Callable[[str, str | None], None],
    *,
    latest: str,
) -> tuple[dict[str, str | None], Watermark | None]:
    """Read `listing` (since `date`) until what is left is exactly the studies of `date` the
    last listing saw (`known`), whose post date has not moved, so they have not; with no
    `known`, to its end. The dates read, and the watermark for the next listing (of post
    dates up to `latest`)."""
    dates: dict[str, str | None] = {}
    unread_known = set(known or ())
    newest: str | None = None
    newest_ids: set[str] = set()
    read = 0
    for ids, posted in listing.studies:
        read += 1
        for nct_id in ids:
            dates[nct_id] = posted
            each(nct_id, posted)
        unread_known.discard(ids[0])
        if posted is None or posted > latest:
            continue
        if newest is None or posted > newest:
            newest, newest_ids = posted, set()
        if posted == newest:
            newest_ids.add(ids[0])
        # newest first, as asked (the documented `sort`): once `date` shows, nothing newer
        # is left, and what is left of that day is known when it counts as many as unread
        if known is not None and posted == date and listing.total - read == len(unread_known):
            if newest == date:  # nothing newer: that day is what was read and known
                newest_ids |= unread_known
            break
    if newest is None:
        return dates, None
    return dates, Watermark(newest, frozenset(newest_ids))
