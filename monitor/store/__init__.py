"""The SQLite store (sqlite-utils): the schema's tables and every query, one file per family,
each family an attribute of `Store` (`store.watches.add(...)`, `store.events.pending()`), as
sqlite-utils gives each table an object.

Transactions live in `_base.StoreBase._writing` and only there: a trial's snapshot and its
events are committed together, so a crash loses or doubles nothing.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from monitor.store._base import StoreBase
from monitor.store.deliveries import (
    DELIVERED_STATES,
    UNFAILED_STATES,
    Deliveries,
    Delivery,
    DeliveryState,
    StoredAudience,
    audience_key,
)
from monitor.store.events import Events
from monitor.store.runs import Runs
from monitor.store.searches import Searches
from monitor.store.sites import OthersAt, SharedPlace, Sites, TrialAtSite
from monitor.store.snapshot_rows import StoredSnapshot
from monitor.store.snapshots import BackfilledVersion, FetchedVersion, Snapshots
from monitor.store.watches import LastFetch, Trial, Watch, Watches

__all__ = [
    "DELIVERED_STATES",
    "UNFAILED_STATES",
    "BackfilledVersion",
    "Delivery",
    "DeliveryState",
    "StoredAudience",
    "FetchedVersion",
    "OthersAt",
    "SharedPlace",
    "Store",
    "TrialAtSite",
    "StoredSnapshot",
    "Trial",
    "LastFetch",
    "Watch",
    "audience_key",
]


class Store(StoreBase):
    """The trialwatch database: watches, snapshots, change events, deliveries, searches, runs."""

    def __init__(
        self, db: sqlite_utils.Database, path: Path, *, wait: float, read_only: bool = False
    ) -> None:
        super().__init__(db, path, wait=wait, read_only=read_only)
        self.watches = Watches(self)
        self.snapshots = Snapshots(self)
        self.events = Events(self)
        self.deliveries = Deliveries(self)
        self.searches = Searches(self)
        self.runs = Runs(self)
        self.sites = Sites(self)

    def move_trial(self, old_id: str, current_id: str) -> None:
        """The registry merged `old_id` into `current_id` (it keeps the old one as an alias):
        the watch, its snapshots, events and search matches move to the current id, in one
        transaction. A watch the current id already had keeps its settings, gains the old
        one's recipients, and is active if either was."""
        old = self.watch_rows.row(old_id)
        if old is None:
            return
        with self.transaction():
            self.watch_rows.move(old, current_id)
            self.snapshots.move(old_id, current_id)
            self.event_rows.move(old_id, current_id)
            self.searches.move_matches(old_id, current_id)
            self.sites.move(old_id, current_id)
            self.watch_rows.delete(old_id)
