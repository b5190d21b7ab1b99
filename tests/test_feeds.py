"""Atom feeds written by `report`, parsed back by a feed parser (feedparser): valid Atom, one
entry per trial per check, entry ids that stay the same when the feed is written again."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import feedparser

from monitor.jobs.check import store_study
from monitor.jobs.report import write_report
from monitor.store import Store
from monitor.times import moment_of
from tests.conftest import ANY_TIME, locations, stored_record

NCT = "NCT05869955"


ATOM = "{http://www.w3.org/2005/Atom}"


def parse(path: Path) -> Any:
    """The feed as a reader gets it, after checking what RFC 4287 requires of it."""
    assert_rfc_4287(ElementTree.fromstring(path.read_bytes()))
    feed = feedparser.parse(path.read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def assert_rfc_4287(root: ElementTree.Element) -> None:
    """atom:feed has exactly one id, title and updated, and an author (or every entry has);
    each atom:entry exactly one id, title and updated, and content or an alternate link; times
    are RFC 3339."""
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    for element in (root, *entries):
        for child in ("id", "title", "updated"):
            assert len(element.findall(f"{ATOM}{child}")) == 1, (element.tag, child)
        updated = element.findtext(f"{ATOM}updated")
        assert updated is not None and re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)", updated
        )
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    for entry in entries:
        alternate = [
            link
            for link in entry.findall(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        assert entry.find(f"{ATOM}content") is not None or alternate


def test_report_writes_an_atom_feed_per_trial_and_one_for_everything(
    story_store: Store, tmp_path: Path
) -> None:
    story_store.watches.add([NCT], label=None, recipients=[], now=ANY_TIME)
    write_report(story_store, tmp_path / "report", now=moment_of("2026-06-02T08:00:00Z"))
    trial = parse(tmp_path / "report" / f"{NCT}.atom")
    everything = parse(tmp_path / "report" / "index.atom")
    assert trial.feed.title == f"trialwatch: {NCT} Breakfree-1"
    # the seed story: four later versions, each a check with changes, newest first
    assert [entry.updated[:10] for entry in trial.entries] == [
        "2026-06-02",
        "2026-04-21",
        "2026-03-17",
        "2026-02-10",
    ]
    newest = trial.entries[0]
    assert (
        newest.title
        == f"{NCT} Breakfree-1: 1 site changed status; 1 other change; contacts changed"
    )
    assert newest.link == f"https://clinicaltrials.gov/study/{NCT}"
    assert "<li>Conditions: added ANCA-Associated Vasculitis</li>" in newest.content[0].value
    assert [e.id for e in everything.entries] == [e.id for e in trial.entries]
    assert len({entry.id for entry in trial.entries}) == 4
    assert all(re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", entry.id) for entry in trial.entries)
    page = (tmp_path / "report" / f"{NCT}.html").read_text()
    assert (
        '<link rel="alternate" type="application/atom+xml" title="Changes (Atom)" '
        f'href="{NCT}.atom">' in page
    )


def test_a_feed_written_again_is_the_same_and_a_new_check_only_adds_an_entry(
    story_store: Store, tmp_path: Path
) -> None:
    story_store.watches.add([NCT], label=None, recipients=[], now=ANY_TIME)
    folder = tmp_path / "report"
    write_report(story_store, folder, now=moment_of("2026-06-02T08:00:00Z"))
    before = (folder / f"{NCT}.atom").read_bytes()
    write_report(story_store, folder, now=moment_of("2026-06-03T08:00:00Z"))
    assert (folder / f"{NCT}.atom").read_bytes() == before  # readers see nothing new
    latest = stored_record(story_store, NCT)
    locations(latest)[0]["status"] = "COMPLETED"
    store_study(story_store, latest, fetched_at=moment_of("2026-06-09T07:00:00Z"), source="t")
    write_report(story_store, folder, now=moment_of("2026-06-09T08:00:00Z"))
    old_ids = [entry.id for entry in feedparser.parse(before).entries]
    new_ids = [entry.id for entry in parse(folder / f"{NCT}.atom").entries]
    assert new_ids[1:] == old_ids and new_ids[0] not in old_ids


def test_registry_text_in_a_feed_is_escaped(story_store: Store, tmp_path: Path) -> None:
    story_store.watches.add([NCT], label=None, recipients=[], now=ANY_TIME)
    hostile = stored_record(story_store, NCT)
    locations(hostile)[0]["facility"] = "<script>alert(1)</script>"
    store_study(story_store, hostile, fetched_at=moment_of("2026-06-09T07:00:00Z"), source="t")
    write_report(story_store, tmp_path / "report", now=moment_of("2026-06-09T08:00:00Z"))
    raw = (tmp_path / "report" / f"{NCT}.atom").read_bytes()
    # html content is escaped text: the tag itself must arrive escaped once more
    assert b"&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;" in raw
    assert b"&lt;script&gt;" not in raw and b"<script" not in raw


def test_a_feed_entrys_title_leads_with_what_the_config_rates_most(
    story_store: Store, tmp_path: Path
) -> None:
    """`materiality`: contacts rated high lead the title, as they lead the digest."""
    from monitor.records.materiality import Materiality

    levels = {"contact": Materiality.HIGH}
    write_report(
        story_store, tmp_path / "report", now=moment_of("2026-06-02T08:00:00Z"), materiality=levels
    )
    newest = parse(tmp_path / "report" / f"{NCT}.atom").entries[0]
    assert newest.title.startswith(f"{NCT} Breakfree-1: contacts changed; ")
