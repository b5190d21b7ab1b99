"""`trialwatch history` and `report` on the demo database: goldens and a real browser."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser import chromium
from tests.conftest import ROOT, Trialwatch
from tests.test_digest_browser import ARTIFACTS

NCT = "NCT05869955"


@pytest.fixture
def demo_db(trialwatch: Trialwatch, home: Path) -> str:
    assert trialwatch("demo").code == 0
    return str(home / "demo" / "trialwatch.db")


def test_text_history_is_newest_first_by_date(
    trialwatch: Trialwatch, demo_db: str, assert_golden: Callable[[str, str], None]
) -> None:
    result = trialwatch("--db", demo_db, "history", NCT)
    assert result.code == 0
    days = re.findall(r"^(\d{4}-\d{2}-\d{2})", result.stdout, flags=re.M)
    assert days == ["2026-06-02", "2026-04-21", "2026-03-17", "2026-02-10"]
    assert_golden("history-seed.txt", result.stdout)


def test_json_history_has_every_snapshot_and_event(
    trialwatch: Trialwatch, demo_db: str, assert_golden: Callable[[str, str], None]
) -> None:
    result = trialwatch("--db", demo_db, "history", NCT, "--json")
    history = result.json()
    assert [s["fetched_at"][:10] for s in history["snapshots"]] == [
        "2026-01-13",
        "2026-02-10",
        "2026-03-17",
        "2026-04-21",
        "2026-06-02",
    ]
    assert len(history["events"]) == 17
    assert_golden("history-seed.json", json.dumps(history, indent=2, ensure_ascii=False) + "\n")


PROBE = """<script>
window.addEventListener("load", () => {
  const shown = (selector) => [...document.querySelectorAll(selector)]
    .filter((element) => element.offsetParent !== null).length;
  const before = shown("li.c-site_status");
  document.getElementById("f-site_status").click();
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    before, after: shown("li.c-site_status"), dates: shown("li.c-date"),
    text: document.body.innerText,
  });
  document.body.appendChild(probe);
});
</script>"""


def test_history_page_in_a_browser(trialwatch: Trialwatch, demo_db: str, tmp_path: Path) -> None:
    page = tmp_path / "history.html"
    assert trialwatch("--db", demo_db, "history", NCT, "--html", str(page)).code == 0
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = chromium("--dump-dom", probed.as_uri(), profile=tmp_path / "profile")
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, flags=re.S)
    assert found, "the probe did not run"
    raw = found.group(1)
    seen = json.loads(
        raw.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    assert (seen["before"], seen["after"], seen["dates"]) == (6, 0, 2)  # the filter works
    assert (
        "Primary completion 2028-08-29 -> 2029-02-28 (+183 days since 2026-01-13)" in seen["text"]
    )
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "history.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "profile2")
    assert shot.stat().st_size > 20_000


def test_report_writes_an_index_and_trial_pages(
    trialwatch: Trialwatch, demo_db: str, tmp_path: Path
) -> None:
    result = trialwatch("--db", demo_db, "report", "--out", str(tmp_path / "out"))
    assert result.code == 0 and "1 trial page(s)" in result.stdout
    assert (tmp_path / "out" / "index.html").is_file()
    assert (tmp_path / "out" / f"{NCT}.html").is_file()


def test_stored_versions_come_out_as_files_that_import_reads_back(
    trialwatch: Trialwatch, demo_db: str, tmp_path: Path
) -> None:
    """Snapshots are compressed in the database: this is how a person gets the JSON back."""
    folder = tmp_path / "versions"
    result = trialwatch("--db", demo_db, "history", NCT.lower(), "--snapshots", str(folder))
    assert result.code == 0 and result.stdout == f"Wrote 5 version(s) of {NCT} to {folder}\n"
    files = sorted(folder.glob("*.json"))
    assert [path.name for path in files][0] == "2026-01-13T070000Z.json"
    seeds = sorted((ROOT / "seeds" / NCT).glob("*.json"))
    assert [json.loads(p.read_text()) for p in files] == [json.loads(p.read_text()) for p in seeds]
    copy = str(tmp_path / "copy.db")
    assert trialwatch("--db", copy, "import", *map(str, files)).code == 0
    again = trialwatch("--db", copy, "changes", "--json").json()
    original = trialwatch("--db", demo_db, "changes", "--json").json()
    assert [e["summary"] for e in again] == [e["summary"] for e in original]
