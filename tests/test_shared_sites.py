"""Where watched trials meet (issue 37, point 4): a site event says which other watched trial
is at that site (through the real SMTP server), the report's sites page lists every site
hosting two or more watched trials (chromium, 1280 and 390 px), and generic names never make
two trials meet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.records.shared_sites import site_places
from monitor.records.sites import normalise_site
from tests.browser import DESKTOP, PHONE, probe
from tests.conftest import Trialwatch, find_site, study_with_id
from tests.registry_server import RegistryServer
from tests.smtp_server import SmtpServer

MINE, RIVAL = "NCT00000001", "NCT00000002"


def rival_with_cleveland(status: str) -> dict[str, Any]:
    """A competitor's trial at two of the seed's sites: Cleveland Clinic (with `status`) and
    a placeholder that must never match by name."""
    study = study_with_id(RIVAL)
    locations = study["protocolSection"]["contactsLocationsModule"]["locations"]
    cleveland = find_site(study, "Cleveland Clinic")
    placeholder = find_site(study, "Local Institution - 0038")
    locations[:] = [cleveland, placeholder]
    cleveland["status"] = status
    study["protocolSection"]["identificationModule"]["acronym"] = "RIVAL-1"
    return study


def test_a_competitor_opening_at_your_site_is_told_in_your_digest(
    trialwatch: Trialwatch, registry: RegistryServer, smtp: SmtpServer
) -> None:
    registry.put(study_with_id(MINE), rival_with_cleveland("NOT_YET_RECRUITING"))
    assert trialwatch("watch", "add", MINE, RIVAL).code == 0
    assert trialwatch("check").code == 0
    registry.put(rival_with_cleveland("RECRUITING"))
    env = {**smtp.env(), "TRIALWATCH_MAIL_TO": "ops@example.org"}
    assert trialwatch("run", env=env).code == 0
    [mail] = smtp.received
    text = mail.part("plain").replace("\r\n", "\n")
    assert (
        "Cleveland Clinic, Cleveland, United States: Not yet recruiting -> Recruiting "
        f"(also here: {MINE} Breakfree-1, Recruiting)"
    ) in text
    assert "Local Institution - 0038" not in text  # unchanged, and never matched by name
    assert f"also here: {MINE} Breakfree-1, Recruiting" in mail.part("html")  # the site table


def test_a_place_many_watched_trials_share_names_three_and_counts_the_rest(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    """A big centre hosts hundreds of a portfolio's trials: a site event there names the first
    three others by id and counts the rest, in its sentence and in what is stored and printed
    (every other trial was stored with every event: with 10,000 watched trials sharing every
    site, each daily check of 100 changes grew the database by 77 MB; bench/check_bench.py)."""
    stopped, *others = [f"NCT0000010{n}" for n in range(7)]
    registry.put(
        rival_with_cleveland("NOT_YET_RECRUITING"), *map(study_with_id, [stopped, *others])
    )
    assert trialwatch("watch", "add", RIVAL, stopped, *others).code == 0
    assert trialwatch("check").code == 0
    assert trialwatch("watch", "remove", stopped).code == 0  # no longer watched: not there
    registry.put(rival_with_cleveland("RECRUITING"))
    [event] = trialwatch("check", "--json").json()["changes"]
    assert [other["nct_id"] for other in event["also_here"]] == others[:3]
    assert event["also_here_more"] == 3
    assert event["summary"].endswith(
        f"(also here: {others[0]} Breakfree-1, Recruiting; {others[1]} Breakfree-1, Recruiting; "
        f"{others[2]} Breakfree-1, Recruiting; 3 more watched trials)"
    )


def test_generic_names_and_one_trials_labels_never_identify_a_place() -> None:
    rows = {
        "a": {"facility": "Research Site", "city": "Boston", "country": "United States"},
        "b": {"facility": "GSK Investigational Site", "city": "Boston", "country": "US"},
        "c": {"facility": "Local Institution - 0043", "city": "Paris", "country": "France"},
        "d": {"facility": "Acme Oncology", "city": "Lyon", "country": "France"},
        "e": {"facility": "Acme Oncology", "city": "Nice", "country": "France"},  # a label
        "f": {"facility": "Hôpital Foch ( Site 0707)", "city": "Suresnes", "country": "France"},
    }
    places = site_places({key: normalise_site(row) for key, row in rows.items()})
    assert list(places) == ["f"] and places["f"].identity == "FR|suresnes|hopitalfoch"


SITES_PROBE = """
<script>
window.addEventListener("load", () => {
  const shown = () => [...document.querySelectorAll("#sites tbody tr")].filter((r) => !r.hidden);
  const all = shown().length;
  const filter = document.getElementById("filter");
  filter.value = "france";
  filter.dispatchEvent(new Event("input"));
  const inFrance = shown().length;
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    all, inFrance, overflow: document.documentElement.scrollWidth - window.innerWidth,
  });
  document.body.appendChild(probe);
});
</script>
"""


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_sites_page_lists_where_watched_trials_meet(
    trialwatch: Trialwatch,
    registry: RegistryServer,
    home: Path,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    rival = study_with_id(RIVAL)  # every site of the seed, as another sponsor's trial
    registry.put(study_with_id(MINE), rival)
    trialwatch("watch", "add", MINE, RIVAL)
    trialwatch("check")
    assert trialwatch("report", "--out", str(tmp_path / "report")).code == 0
    page: Path = tmp_path / "report" / "sites.html"
    html = page.read_text()
    assert "<td>Local Institution" not in html  # placeholders never meet
    assert 'href="sites.html"' in (tmp_path / "report" / "index.html").read_text()
    page.write_text(html.replace("</body>", SITES_PROBE + "</body>"))
    seen = probe(page, profile=tmp_path / "profile", size=size)
    assert seen["all"] > 20 and 0 < seen["inFrance"] < seen["all"]
    assert seen["overflow"] <= 0
