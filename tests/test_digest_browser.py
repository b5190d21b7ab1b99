"""The HTML digest in a real headless browser (Debian's chromium), at phone width."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.reports.render import render_digest
from monitor.store import Store
from tests.browser import chromium, probe
from tests.conftest import ANY_TIME

ARTIFACTS = Path(__file__).parent / "artifacts"
PROBE = """
<script>
window.addEventListener("load", () => {
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    text: document.body.innerText,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    linkColor: getComputedStyle(document.querySelector("h2 a")).color,
  });
  document.body.appendChild(probe);
});
</script>
"""


LONGEST_LABEL = "Lupus-CAR-T-" + "x" * 88  # 100 characters, no space to wrap at


@pytest.fixture
def digest_html(story_store: Store, tmp_path: Path) -> Path:
    story_store.watches.add(["NCT05869955"], label=LONGEST_LABEL, recipients=[], now=ANY_TIME)
    page = tmp_path / "digest.html"
    page.write_text(render_digest(story_store.events.pending(), story_store.watches.trials()).html)
    return page


def test_a_reader_on_a_phone_sees_the_changes_without_scrolling_sideways(
    digest_html: Path, tmp_path: Path
) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(digest_html.read_text().replace("</body>", PROBE + "</body>"))
    seen = probe(probed, profile=tmp_path / "profile")
    text = seen["text"]
    assert f"NCT05869955 Breakfree-1 {LONGEST_LABEL}" in text
    assert "5 sites changed status, 1 added, 1 removed" in text
    assert re.search(r"Hopitaux Universitaires de Strasbourg\s+was Local Institution - 0043", text)
    assert re.search(r"University of Massachusetts Chan Medical School\s+site 0032", text)
    assert "Primary completion 2028-08-29 -> 2029-02-28 (+183 days)" in text
    assert seen["overflow"] <= 0, f"page is {seen['overflow']}px wider than a phone"
    assert seen["linkColor"] == "rgb(5, 80, 174)"  # the inlined CSS applies


def test_screenshot_of_the_phone_layout_is_kept(digest_html: Path, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "digest-phone.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", digest_html.as_uri(), profile=tmp_path / "profile")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
