"""Debian's headless chromium, for the tests that look at pages as a reader would."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

PHONE = (390, 844)
DESKTOP = (1280, 900)


def chromium(*args: str, profile: Path, size: tuple[int, int] = PHONE) -> str:
    binary = shutil.which("chromium")
    if binary is None:
        raise AssertionError("chromium is not installed: run .ci/install-browser")
    done = subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return done.stdout


def probe(page: Path, *, profile: Path, size: tuple[int, int] = PHONE) -> Any:
    """Load a page holding a probe script that writes JSON into `<pre id="probe">`; the JSON."""
    dom = chromium("--dump-dom", page.as_uri(), profile=profile, size=size)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, flags=re.S)
    assert found, "the probe did not run"
    return json.loads(
        found.group(1)
        .replace("&quot;", '"')
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
    )
