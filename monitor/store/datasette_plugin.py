"""Datasette plugin: gives Datasette's connections `trialwatch_raw`, so the browsing views that
read compressed snapshots work there too. Registered through the `datasette` entry point;
loaded only by Datasette installed in the same environment as trialwatch."""

from __future__ import annotations

import sqlite3

from datasette import hookimpl

from monitor.store.packing import register_raw_function


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    register_raw_function(conn)
