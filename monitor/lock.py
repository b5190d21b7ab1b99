"""The run lock: one check, digest or run at a time per database, across processes.

An exclusive `flock` on `<database>.lock`. The kernel releases it when its holder exits or is
killed, so a lock left by a dead process never blocks anyone; the file's content (the holder's
pid and since when it holds the lock) is only for messages: a run that steps aside says so
quietly, unless the holder has held it for longer than any run takes (`STUCK_AFTER`), which
is a hang someone must look at.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from monitor.errors import RunInProgress, RunStuck, StoreError
from monitor.times import moment_of, utc_text

POLL_SECONDS = 0.2
# A daily run of 50,000 trials at the registry's pace takes well under an hour; a holder this
# old is stuck (a registry that never stops answering, a hung connection), not busy.
STUCK_AFTER = dt.timedelta(hours=6)
HOLDER = re.compile(r"pid (?P<pid>\d+) since (?P<since>\S+)")


@contextmanager
def run_lock(db_path: Path, *, wait: float, now: dt.datetime) -> Iterator[None]:
    """Hold the lock for the block; wait up to `wait` seconds, then raise `RunInProgress`
    (`RunStuck` if its holder has held it since longer than `STUCK_AFTER` before `now`)."""
    path = db_path.with_name(db_path.name + ".lock")
    try:
        # never through a symlink planted at its name: its target would be truncated
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        handle = os.fdopen(descriptor, "r+")
    except OSError as exc:
        reason = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror
        raise StoreError(f"cannot open run lock {path}: {reason}") from exc
    with handle:
        deadline = time.monotonic() + wait
        while not _try_lock(handle):
            if time.monotonic() >= deadline:
                handle.seek(0)
                _step_aside(handle.read().strip(), now)
            time.sleep(POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {utc_text(now)}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _step_aside(holder: str, now: dt.datetime) -> None:
    found = HOLDER.fullmatch(holder)
    try:
        held = now - moment_of(found["since"]) if found else dt.timedelta()
    except ValueError:  # not our own writing: say who holds it, as for an old release's lock
        held = dt.timedelta()
    if found and held > STUCK_AFTER:
        raise RunStuck(
            f"another trialwatch run (pid {found['pid']}) has held the lock since "
            f"{found['since']}, {held // dt.timedelta(hours=1)} hours: it looks stuck, and "
            f"this run skipped (if it is, stop it: kill {found['pid']})"
        )
    raise RunInProgress(
        f"another trialwatch run is in progress ({holder or 'another process'}); skipped"
    )


def _try_lock(handle: IO[Any]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
