"""The SQLite store (sqlite-utils): the schema's tables and every query, one file per family.

Transactions live in `_base.StoreBase._writing` and only there: a trial's snapshot and its
events are committed together, so a crash loses or doubles nothing.
"""

from __future__ import annotations

from monitor.store._base import StoreBase
from monitor.store.deliveries import (
    DELIVERED_STATES,
    UNFAILED_STATES,
    UNMAILED,
    Delivery,
    DeliveryQueries,
    DeliveryState,
    Destination,
    audience_key,
)
from monitor.store.runs import RunQueries
from monitor.store.searches import SearchQueries
from monitor.store.snapshot_rows import StoredSnapshot
from monitor.store.snapshots import BackfilledVersion, FetchedVersion, SnapshotQueries
from monitor.store.watches import LastFetch, Trial, Watch, WatchQueries

__all__ = [
    "DELIVERED_STATES",
    "UNFAILED_STATES",
    "UNMAILED",
    "BackfilledVersion",
    "Delivery",
    "DeliveryState",
    "Destination",
    "FetchedVersion",
    "Store",
    "StoredSnapshot",
    "Trial",
    "LastFetch",
    "Watch",
    "audience_key",
]


class Store(WatchQueries, SnapshotQueries, DeliveryQueries, SearchQueries, RunQueries, StoreBase):
    """The trialwatch database: watches, snapshots, change events, deliveries, searches, runs."""
