"""The run lock: one check, digest or run at a time per database, across processes.

An exclusive `flock` on `<database>.lock`. The kernel releases it when its holder exits or is
killed, so a lock left by a dead process never blocks anyone; the file's content (the holder's
pid) is only for messages.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from monitor.errors import RunInProgress, StoreError

POLL_SECONDS = 0.2


@contextmanager
def run_lock(db_path: Path, *, wait: float) -> Iterator[None]:
    """Hold the lock for the block; wait up to `wait` seconds, then raise `RunInProgress`."""
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
                holder = handle.read().strip() or "another process"
                raise RunInProgress(f"another trialwatch run is in progress ({holder}); skipped")
            time.sleep(POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _try_lock(handle: IO[Any]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
