"""Files written whole or not at all: a reader (a browser, a mail client, the next run looking
for a delivered digest) never finds half of one, even after a crash or a full disk."""

from __future__ import annotations

import functools
import os
import stat
import tempfile
from pathlib import Path


@functools.cache
def process_umask() -> int:
    """The process's umask, which the files written whole get as `open` would give it (mkstemp
    makes them 0600). Read from /proc without changing it; where there is no /proc, the only
    other way is setting it and back, done once, the first time a file is written."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_whole(path: Path, content: bytes) -> None:
    """Write to a new temporary file beside `path` (created exclusively: nothing planted at a
    guessable name is followed), flush it to disk, then rename it into place. What the user
    named is what gets written: through a symlink to its target, and into a FIFO or a device
    (`/dev/stdout`) directly, never replaced by a regular file. On failure (an `OSError` for
    the caller to word) no temporary file is left behind."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        with open(path, "wb") as stream:
            stream.write(content)
        return
    target = path.resolve()  # through any symlink on the way: to a missing folder, it is made
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~process_umask())
        os.replace(temporary, target)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        raise
