"""The registry's list of studies updated since a date, asked at most once a run.

A daily check needs it twice: to learn which watched trials moved, and to learn which of a
big search's matches were updated (and so may have left it). One list since the earliest
date answers every later date too, since each study carries its update date.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.registry.client import RegistryClient

UPDATE_OVERLAP_DAYS = 2  # the registry posts on US Eastern days, our clock is UTC: margin


class UpdatedSince:
    """`since(date)`: every study updated since `date`, with its last update post date."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self._asked: str | None = None
        self._dates: dict[str, str | None] | None = None

    def since(
        self,
        date: str,
        *,
        cheaper_than: int,
        each: Callable[[str, str | None], None] = lambda nct_id, posted: None,
    ) -> dict[str, str | None] | None:
        """The studies updated since `date` (ISO), or None when asking would take
        `cheaper_than` requests or more (a list already at hand costs nothing). `each` is told
        every study of a list asked now as its page arrives (a check queues what it will read
        while waiting for the next page)."""
        if self._dates is not None and self._asked is not None and self._asked <= date:
            return {
                nct_id: posted
                for nct_id, posted in self._dates.items()
                if posted is None or posted >= date
            }
        if cheaper_than <= 1:  # the list takes a request at least
            return None
        listed = self.client.updated_since(date, cheaper_than=cheaper_than)
        if listed is None:
            return None
        dates: dict[str, str | None] = {}
        for nct_id, posted in listed:
            dates[nct_id] = posted
            each(nct_id, posted)
        self._asked, self._dates = date, dates
        return dates
