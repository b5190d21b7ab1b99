"""Digest rendering: golden text and HTML for the seed story, escaping, subjects."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.jobs.check import store_study
from monitor.registry.raw import study_nct_id
from monitor.reports.render import Digest, header_text, render_digest
from monitor.reports.templating import markdown_text
from monitor.store import Store
from monitor.times import moment_of
from tests.conftest import ANY_TIME, completed, load_seed, locations, study_with_id

A, B = "NCT00000001", "NCT00000002"
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def test_seed_story_digest_matches_the_golden_files(
    story_store: Store, assert_golden: Callable[[str, str], None]
) -> None:
    digest = render_digest(story_store.events.pending(), story_store.watches.trials())
    assert digest.subject == (  # the high change first; the site renamed and opened is one
        "NCT05869955: primary completion +183 days; 5 sites changed status, 1 added, 1 removed; "
        "enrollment 270 -> 300 and more"
    )
    assert_golden("digest-seed.txt", digest.text)
    assert_golden("digest-seed.html", digest.html)
    assert_golden("digest-seed.md", digest.chat)


def test_html_is_self_contained_with_inlined_css(story_store: Store) -> None:
    html = render_digest(story_store.events.pending(), story_store.watches.trials()).html
    assert 'style="' in html and "<table" in html
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert not re.search(r"(src|href)=\"(?!https://clinicaltrials\.gov/study/NCT\d{8}\")", html)
    assert "@media (max-width: 480px)" in html  # the phone layout survives inlining
    assert '<a href="https://clinicaltrials.gov/study/NCT05869955"' in html


def digest_of(
    tmp_path: Path,
    changes: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    label: str | None = None,
) -> Digest:
    """The digest of (before, after) records stored in a new database, optionally labelled."""
    from monitor.store import Store

    store = Store.open(tmp_path / "t.db")
    try:
        if label:
            nct_ids = {study_nct_id(after) for _, after in changes}
            store.watches.add(nct_ids, label=label, recipients=[], now=ANY_TIME)
        for before, after in changes:
            store_study(store, before, fetched_at=moment_of("2026-01-01T00:00:00Z"), source="t")
            store_study(store, after, fetched_at=moment_of("2026-01-02T00:00:00Z"), source="t")
        return render_digest(store.events.pending(), store.watches.trials())
    finally:
        store.close()


def test_registry_text_is_escaped_in_html_and_kept_out_of_the_subject(tmp_path: Path) -> None:
    before = load_seed()
    after = copy.deepcopy(before)
    locations(after)[0]["facility"] = HOSTILE
    after["protocolSection"]["identificationModule"]["acronym"] = "Evil\r\nBcc: victim@example.org"
    status = after["protocolSection"]["statusModule"]
    status["overallStatus"] = "Bcc: status@example.org"
    status["primaryCompletionDateStruct"]["date"] = "Bcc: date@example.org"
    after["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "Bcc: count@example.org"
    digest = digest_of(tmp_path, [(before, after)])
    assert "<script" not in digest.html and "<img" not in digest.html
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;img src=x' in digest.html
    assert HOSTILE in digest.text  # plain text is not HTML: shown as submitted
    assert digest.subject == (
        "NCT05869955: status changed; 1 site renamed; enrollment changed and more"
    )
    assert "Primary completion 2028-08-29 -> Bcc: date@example.org" in digest.text
    # chat: literal Markdown, on one line, no tag or mention (Slack's <!channel>) left live
    assert not re.search(r"(?<!\\)<", digest.chat) and r"\<script>alert" in digest.chat
    assert r"Evil Bcc: victim@example.org" in digest.chat.splitlines()[0]


def test_markdown_text_escapes_what_chat_services_would_act_on() -> None:
    assert markdown_text("<!channel> *Mayo* [x](http://evil) a_b `c` ~d~ |e|\n\x1b[31mf") == (
        r"\<!channel> \*Mayo\* \[x\](http://evil) a\_b \`c\` \~d\~ \|e\| f"
    )


def test_the_users_label_names_the_trial_in_the_subject(tmp_path: Path) -> None:
    digest = digest_of(tmp_path, [(load_seed(), completed("NCT05869955"))], label="Lupus CAR-T")
    assert digest.subject == "NCT05869955 Lupus CAR-T: status Recruiting -> Completed"
    assert "NCT05869955  Breakfree-1  [Lupus CAR-T]" in digest.text
    assert '<span class="label"' in digest.html


def test_several_trials_get_a_summary_subject_led_by_the_most_material(tmp_path: Path) -> None:
    digest = digest_of(tmp_path, [(study_with_id(i), completed(i)) for i in (A, B)])
    assert (
        digest.subject
        == "trialwatch: NCT00000001 status Recruiting -> Completed; 2 changes in 2 trials"
    )
    assert digest.text.count("status Recruiting -> Completed") == 2


def test_header_text_is_one_bounded_line() -> None:
    assert header_text("a\r\nb\tc\x00d") == "a b c d"
    assert len(header_text("x" * 500)) == 180


def test_generic_site_names_in_one_city_are_told_apart_by_their_zip(tmp_path: Path) -> None:
    """Real sponsors name sites "Research Site", several to a city: the digest shows the zip."""

    def research_site(zip_code: str, status: str) -> dict[str, Any]:
        return {
            "facility": "Research Site",
            "status": status,
            "city": "Madison",
            "zip": zip_code,
            "country": "United States",
        }

    before = load_seed()
    locations(before).extend(
        [research_site("53705", "RECRUITING"), research_site("53792", "NOT_YET_RECRUITING")]
    )
    after = copy.deepcopy(before)
    locations(after)[-1]["status"] = "RECRUITING"
    digest = digest_of(tmp_path, [(before, after)])
    assert (
        "Research Site (zip 53792), Madison, United States: Not yet recruiting -> Recruiting"
        in (digest.text)
    )
    assert ">Madison 53792, United States</td>" in digest.html


def test_a_net_change_keeps_its_notes_and_the_subject_leads_with_what_matters(
    tmp_path: Path,
) -> None:
    """Recruiting -> Active, not recruiting, then -> Terminated with why: the digest's one net
    change still says why (the note is a field of the event, said again when events join),
    and the subject leads with it although a site changed too."""
    from monitor.store import Store

    first = load_seed()
    active = copy.deepcopy(first)
    active["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    locations(active)[0]["status"] = "COMPLETED"
    stopped = copy.deepcopy(active)
    stopped["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    stopped["protocolSection"]["statusModule"]["whyStopped"] = "Sponsor decision"
    store = Store.open(tmp_path / "t.db")
    try:
        for day, version in enumerate((first, active, stopped), start=1):
            fetched = moment_of(f"2026-01-0{day}T00:00:00Z")
            store_study(store, version, fetched_at=fetched, source="t")
        digest = render_digest(store.events.pending(), store.watches.trials())
    finally:
        store.close()
    assert "Overall status: Recruiting -> Terminated (why stopped: Sponsor decision)" in digest.text
    assert digest.subject == "NCT05869955: status Recruiting -> Terminated; 1 site changed status"


def flood(count: int = 230) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial whose first version lists `count` sites without a status, and whose next one
    gives every site a status (and a principal investigator) at once."""
    before = load_seed()
    sites = [
        {"facility": f"Hospital {n}", "city": f"City {n}", "country": "Germany"}
        for n in range(count)
    ]
    locations(before)[:] = sites
    after = copy.deepcopy(before)
    statuses = ["RECRUITING"] * 177 + ["NOT_YET_RECRUITING"] * 40 + ["COMPLETED"] * 13
    for site, status in zip(locations(after), statuses[:count], strict=True):
        site["status"] = status
        site["contacts"] = [{"name": "Principal Investigator"}]
    return before, after


def test_many_sites_changed_alike_read_as_one_line_with_the_list_a_click_or_command_away(
    tmp_path: Path,
) -> None:
    digest = digest_of(tmp_path, [flood()])
    lines = digest.text.splitlines()
    assert (
        "    - 230 sites now list a status: 177 Recruiting, 40 Not yet recruiting, 13 Completed"
        in lines
    )
    assert "    - Contacts at 230 sites: added Principal Investigator" in lines
    more = [line.strip() for line in lines if line.strip().startswith("and 220 more: ")]
    assert more == [
        "and 220 more: trialwatch changes NCT05869955 --category site_status --since 2026-01-02",
        "and 220 more: trialwatch changes NCT05869955 --category contact --since 2026-01-02",
    ]
    assert len(lines) < 40  # not 460 lines
    assert digest.subject == "NCT05869955: 230 sites changed status; contacts changed"
    assert digest.html.count("<details") == 2 and digest.html.count("<li") == 460
    chat = digest.chat.splitlines()
    assert not any(line.startswith("- and ") for line in chat)  # both lines tell all 460
    assert (
        "- 230 sites now list a status: 177 Recruiting, 40 Not yet recruiting, 13 Completed" in chat
    )
    assert len(chat) < 10


def test_a_few_sites_changed_alike_are_still_named_one_by_one(tmp_path: Path) -> None:
    digest = digest_of(tmp_path, [flood(10)])  # 11 are many; 10 are not
    assert "sites now list a status" not in digest.text
    assert "Hospital 9, City 9, Germany: (none) -> Recruiting" in digest.text
