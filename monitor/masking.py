"""How a URL may be shown anywhere (doctor, run, errors, logs) without the secrets services keep
in it, and the name a chat channel given without one goes by."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit


def mask_url(url: str) -> str:
    """A URL as it may be shown anywhere (doctor, run, errors, logs): scheme, host and port;
    its user and password, path and query, where services keep tokens, only as `***`."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return (
        f"{parts.scheme}://"
        + ("***@" if "@" in parts.netloc else "")
        + host
        + ("/***" if parts.path.strip("/") else "")
        + ("?***" if parts.query else "")
    )


def unnamed_channel(url: str) -> str:
    return "notify-" + hashlib.sha256(url.encode()).hexdigest()[:10]
