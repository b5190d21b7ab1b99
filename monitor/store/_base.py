"""The database connection: opening, migrating, transactions, and the owners of the tables
more than one query family writes (`watch_rows`, `event_rows`, `snapshot_rows`), through which
they write. Transactions live here and only here."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import sqlite_utils

from monitor.errors import BadInput, StoreError, TrialwatchError
from monitor.store.event_rows import EventRows
from monitor.store.packing import register_raw_function
from monitor.store.schema import COMPRESSED_SINCE, MIGRATIONS, SCHEMA_VERSION
from monitor.store.snapshot_rows import SnapshotRows
from monitor.store.watch_rows import WatchRows

logger = logging.getLogger(__name__)


class StoreBase:
    """A trialwatch database connection; the query families below add the queries."""

    @classmethod
    def open(cls, path: Path, *, wait: float = 10.0, reading: bool = False) -> Self:
        """Open (creating if needed) and migrate; an unusable path is bad input, not a crash.

        `wait`: seconds to wait for another program's lock on the database before giving up.
        `reading`: the command only reads, so a database it may not write (owned by the service
        user, on a read-only disk) is opened read-only instead of refused.
        """
        if path.is_dir():
            raise BadInput(f"cannot use database {path}: it is a directory")
        if not path.parent.is_dir():
            raise BadInput(f"cannot use database {path}: folder {path.parent} does not exist")
        if reading and not path.exists():
            return cls.absent(path)
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            if reading and path.is_file():
                return cls._open_read_only(path, wait=wait)
            raise BadInput(f"cannot use database {path}: it is read-only here")
        try:
            db = sqlite_utils.Database(sqlite3.connect(path, timeout=wait))
            register_raw_function(db.conn)
            db.execute("PRAGMA foreign_keys=ON")
            version = cls._usable_version(db, path)
            if db.journal_mode != "wal":
                db.enable_wal()
            store = cls(db, path, wait=wait)
            store.migrate(version)
        except sqlite3.DatabaseError as exc:
            raise database_failure(path, exc, wait=wait, opening=True) from exc
        return store

    @classmethod
    def absent(cls, path: Path) -> Self:
        """No database at `path`: for a command that only reads, an empty one in memory (it
        lists nothing), so that no command but those that add something creates the file."""
        db = sqlite_utils.Database(memory=True)
        register_raw_function(db.conn)
        store = cls(db, path, wait=0.0, read_only=True)
        store.migrate(0)
        return store

    @classmethod
    def _open_read_only(cls, path: Path, *, wait: float) -> Self:
        """SQLite's read-only mode; where it cannot share the WAL index (no `-shm` file and no
        right to create one), the file is read as immutable, which is safe while no one writes."""
        last_error: sqlite3.DatabaseError | None = None
        for options in ("mode=ro", "mode=ro&immutable=1"):
            uri = f"{path.resolve().as_uri()}?{options}"
            connection = sqlite3.connect(uri, uri=True, timeout=wait)
            register_raw_function(connection)
            try:
                db = sqlite_utils.Database(connection)
                version = cls._usable_version(db, path)
            except sqlite3.DatabaseError as exc:
                connection.close()
                last_error = exc
                continue
            if version != SCHEMA_VERSION:
                connection.close()
                raise BadInput(
                    f"database {path} has schema version {version} and is read-only here: "
                    "a command that writes (such as `trialwatch check`) must upgrade it first"
                )
            return cls(db, path, wait=wait, read_only=True)
        assert last_error is not None
        raise database_failure(path, last_error, wait=wait, opening=True) from last_error

    @staticmethod
    def _usable_version(db: sqlite_utils.Database, path: Path) -> int:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise BadInput(
                f"database {path} has schema version {version}, newer than this trialwatch "
                f"({SCHEMA_VERSION}): upgrade trialwatch"
            )
        return int(version)

    def migrate(self, version: int) -> None:
        for number in range(version, SCHEMA_VERSION):
            with self.db.atomic():
                MIGRATIONS[number](self.db)
                self.db.execute(f"PRAGMA user_version = {number + 1}")
        if 0 < version < COMPRESSED_SINCE:  # hand the space the old raw JSON took back to the disk
            try:
                self.db.execute("VACUUM")
            except sqlite3.OperationalError as exc:  # a reader holds it: the space is reused anyway
                logger.warning(
                    "database %s: snapshots compressed, but the freed space could not be handed "
                    "back to the disk now (%s); it is reused as trialwatch writes, or run "
                    "`sqlite3 %s VACUUM` when nothing else has it open",
                    self.path,
                    exc,
                    self.path,
                )

    def backup_to(self, target: Path) -> None:
        """A consistent copy through SQLite's online backup, safe while others write."""
        if target.exists():
            raise BadInput(f"{target} already exists: back up to a new file")
        if not target.parent.is_dir():
            raise BadInput(f"cannot write backup {target}: folder {target.parent} does not exist")
        try:
            copy = sqlite3.connect(target)
        except sqlite3.Error as exc:
            raise BadInput(f"cannot write backup {target}: {exc}") from exc
        try:
            self.db.conn.backup(copy)
        except sqlite3.Error as exc:
            raise StoreError(f"backup to {target} failed: {exc}") from exc
        finally:
            copy.close()

    def integrity_problems(self) -> list[str]:
        """What `PRAGMA integrity_check` and `foreign_key_check` report; empty when sound. A
        file too damaged for SQLite to check is one problem, said in words."""
        try:
            rows = [row[0] for row in self.db.execute("PRAGMA integrity_check").fetchall()]
            broken = self.db.execute("PRAGMA foreign_key_check").fetchall()
        except sqlite3.DatabaseError as exc:
            return [f"{self.path}: damaged ({exc}): restore it from a backup"]
        problems = [] if rows == ["ok"] else rows
        return problems + [f"{len(broken)} row(s) break a foreign key"] * bool(broken)

    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Many writes as one: a download's trials committed together (one sync to disk, not
        one each); each trial's own writes inside stay all or nothing."""
        return self._writing()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A transaction whose database failures surface as `StoreError`. It takes the write
        lock first (BEGIN IMMEDIATE): a deferred transaction that has read cannot wait for
        another writer (SQLite refuses it at once), so `db_wait` would never be waited."""
        connection = self.db.conn
        try:
            if connection.in_transaction:
                try:
                    with self.db.atomic():  # a savepoint in the transaction under way
                        yield
                except BaseException:
                    self.snapshot_rows.forget_recent()
                    raise
                return
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                self.snapshot_rows.forget_recent()
                raise
        except sqlite3.OperationalError as exc:
            raise database_failure(self.path, exc, wait=self.wait) from exc

    def __init__(
        self, db: sqlite_utils.Database, path: Path, *, wait: float, read_only: bool = False
    ):
        self.db = db
        self.watch_rows = WatchRows(db)
        self.event_rows = EventRows(db)
        self.snapshot_rows = SnapshotRows(db)
        self.path = path
        self.wait = wait
        self.read_only = read_only


class Family:
    """One family of queries (`store.watches`, `store.events`, ...): it reads through the
    store's connection, writes through its table owners, inside the store's transactions."""

    def __init__(self, store: StoreBase) -> None:
        self.db = store.db
        self.watch_rows = store.watch_rows
        self.event_rows = store.event_rows
        self.snapshot_rows = store.snapshot_rows
        self._writing = store.transaction


def merge_id(db: sqlite_utils.Database, table: str, old_id: str, current_id: str) -> None:
    """A merged trial's rows of a table keyed with its id move to the current id; where the
    current id has the same row already, the old one's goes."""
    db.execute(f"update or ignore {table} set nct_id = ? where nct_id = ?", [current_id, old_id])
    db.execute(f"delete from {table} where nct_id = ?", [old_id])


LOW_DISK_BYTES = 1 << 20


def database_failure(
    path: Path, exc: sqlite3.DatabaseError, *, wait: float, opening: bool = False
) -> TrialwatchError:
    """SQLite's terse error in the user's terms. A locked database or a full disk is a run-time
    fault (exit 1: what was committed stays, the rest is found by the next check); a file that
    cannot be used at all, found while opening it, is bad input (exit 2)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(
            f"database {path} is locked by another program (waited {wait:g} s): "
            "nothing more was recorded, run again when it is free"
        )
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):  # is it the disk? (only then ask)
        free = shutil.disk_usage(path.parent).free
        if code == sqlite3.SQLITE_FULL or free < LOW_DISK_BYTES:
            return StoreError(
                f"database {path}: the disk is full ({free // 1024} KiB free): nothing more was "
                "recorded, free some space and run again"
            )
    if opening and code != sqlite3.SQLITE_IOERR:
        return BadInput(f"cannot use database {path}: {exc}")
    return StoreError(f"database {path}: {exc}")
