"""Files written whole or not at all: a reader (a browser, a mail client, the next run looking
for a delivered digest) never finds half of one, even after a crash or a full disk."""

from __future__ import annotations

import os
from pathlib import Path


def write_whole(path: Path, content: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it into place.
    On failure (an `OSError` for the caller to word) no temporary file is left behind."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
