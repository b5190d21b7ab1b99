"""Atom feeds of change events (feedgen): one per watched trial and one for everything. An
entry is one trial's changes found by one check; its id is derived from the trial and that
check's time, so re-writing a feed never makes a reader show a change twice."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

from feedgen.feed import FeedGenerator
from markupsafe import escape

from monitor.records.events import ChangeEvent
from monitor.records.materiality import Materiality
from monitor.reports.history import trial_name
from monitor.reports.render import STUDY_URL, headline, most_material
from monitor.store import Trial
from monitor.times import utc_text

FEED_ENTRIES = 200  # the newest; a feed reader polls, it does not page back through years
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://clinicaltrials.gov/#trialwatch")


def atom_feed(
    name: str,
    title: str,
    events: list[ChangeEvent],
    trials: dict[str, Trial],
    *,
    now: dt.datetime,
    materiality: Mapping[str, Materiality] | None = None,
) -> bytes:
    """The Atom document for `events` (oldest first, as the store lists them)."""
    feed = FeedGenerator()
    feed.id(_urn(f"feed:{name}"))
    feed.title(title)
    feed.author({"name": "trialwatch"})
    feed.link(href="https://clinicaltrials.gov/", rel="related")
    feed.generator("trialwatch")
    by_check: dict[tuple[dt.datetime, str], list[ChangeEvent]] = {}
    for event in events:  # one entry per trial per check, wherever its events stand
        by_check.setdefault((event.detected_at, event.nct_id), []).append(event)
    latest = [by_check[key] for key in sorted(by_check)][-FEED_ENTRIES:]
    # A feed's time is its newest entry's, so an unchanged feed stays byte for byte the same.
    feed.updated(latest[-1][0].detected_at if latest else now)
    for group in latest:
        _add_entry(feed, group, trials.get(group[0].nct_id), materiality)
    return bytes(feed.atom_str(pretty=True))


def _add_entry(
    feed: FeedGenerator,
    events: list[ChangeEvent],
    trial: Trial | None,
    materiality: Mapping[str, Materiality] | None,
) -> None:
    first = events[0]
    name = trial_name(first.nct_id, trial.acronym if trial else None)
    entry = feed.add_entry(order="prepend")  # newest first in the document
    entry.id(_urn(f"changes:{first.nct_id}:{utc_text(first.detected_at)}"))
    entry.title(f"{name}: {'; '.join(headline(events, materiality))}")
    entry.link(href=STUDY_URL.format(nct_id=first.nct_id), rel="alternate")
    entry.updated(first.detected_at)
    most = most_material(events, materiality)  # the most material first, with why
    told = {event.stored_id for event in most}
    shown = [*most, *(event for event in events if event.stored_id not in told)]
    items = "".join(f"<li>{escape(event.summary)}</li>" for event in shown)
    entry.content(f"<ul>{items}</ul>", type="html")


def _urn(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, key)}"
