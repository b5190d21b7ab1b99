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
    """Load a page holding a probe script that writes JSON into `<pre id="probe">`; the JSON.
    Headless chromium's window is never narrower than 500 px, so a narrower size (a phone)
    is given to the page by an iframe of that size."""
    dom = chromium(
        "--allow-file-access-from-files",
        "--dump-dom",
        sized(page, size).as_uri(),
        profile=profile,
        size=size,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, flags=re.S)
    assert found, "the probe did not run"
    return json.loads(
        found.group(1)
        .replace("&quot;", '"')
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
    )


NARROWEST_WINDOW = 500  # headless chromium's


def sized(page: Path, size: tuple[int, int]) -> Path:
    """`page`, or for a size narrower than chromium's window a page framing it at that size,
    which copies the framed page's probe out once it has loaded."""
    if size[0] >= NARROWEST_WINDOW:
        return page
    frame = page.with_name(f"{page.stem}-{size[0]}px.html")
    frame.write_text(
        "<!DOCTYPE html><html><body style='margin:0'>"
        f"<iframe id='page' src='{page.name}' style='border:0;width:{size[0]}px;"
        f"height:{size[1]}px'></iframe><script>"
        "document.getElementById('page').addEventListener('load', (event) => {"
        " const found = event.target.contentDocument.getElementById('probe');"
        " if (found) document.body.append(found.cloneNode(true)); });"
        "</script></body></html>"
    )
    return frame
