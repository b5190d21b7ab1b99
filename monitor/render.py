"""Change events -> digests people read, from jinja2 templates (autoescape on for HTML)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor.events import Category

STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
SECTIONS: dict[str, tuple[Category, ...]] = {
    "Overall status": (Category.OVERALL_STATUS,),
    "Searches": (Category.NEW_TRIAL, Category.LEFT_QUERY),
    "Sites": (
        Category.SITE_STATUS,
        Category.SITE_ADDED,
        Category.SITE_REMOVED,
        Category.SITE_RENAMED,
    ),
    "Enrollment": (Category.ENROLLMENT,),
    "Dates": (Category.DATE,),
    "Eligibility": (Category.ELIGIBILITY,),
    "Contacts": (Category.CONTACT,),
    "Other changes": (Category.OTHER,),
}

environment = Environment(
    loader=PackageLoader("monitor"),
    autoescape=select_autoescape(["html", "xml"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class TrialDigest:
    """One trial's part of a digest: who it is and its events by section, most important first."""

    nct_id: str
    title: str | None
    acronym: str | None
    url: str
    sections: list[tuple[str, list[dict[str, Any]]]]
    count: int


def group_events(
    events: list[dict[str, Any]], trials: dict[str, dict[str, Any]]
) -> list[TrialDigest]:
    """Events (the spec's JSON objects) grouped by trial, then by section in importance order."""
    by_trial: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_trial[event["nct_id"]].append(event)
    digests = []
    for nct_id, trial_events in sorted(by_trial.items()):
        sections = [
            (title, [event for event in trial_events if event["category"] in categories])
            for title, categories in SECTIONS.items()
        ]
        trial = trials.get(nct_id, {})
        digests.append(
            TrialDigest(
                nct_id=nct_id,
                title=trial.get("title"),
                acronym=trial.get("acronym"),
                url=STUDY_URL.format(nct_id=nct_id),
                sections=[(title, found) for title, found in sections if found],
                count=len(trial_events),
            )
        )
    return digests


def render_text_digest(events: list[dict[str, Any]], trials: dict[str, dict[str, Any]]) -> str:
    """The plain-text digest of `events`; `trials` maps NCT id to its title and acronym."""
    return environment.get_template("digest.txt").render(
        trials=group_events(events, trials), total=len(events)
    )
