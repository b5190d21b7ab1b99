"""Change events -> digests people read, from jinja2 templates (autoescape on for HTML).

A digest groups events by trial, then by section in importance order; sites get a compact
table. The HTML's CSS is inlined by css-inline so mail clients that drop `<style>` still show it.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import css_inline

from monitor.records.categories import CATEGORIES, SITE_CATEGORIES, rating_of
from monitor.records.events import Category, ChangeEvent, SiteRef
from monitor.records.materiality import LEVEL_ORDER, Materiality
from monitor.records.sentences import Told
from monitor.records.wording import status_css
from monitor.reports.briefing import BriefingLine, briefing
from monitor.reports.mass_changes import SHOWN, MassChange, fold_mass_changes
from monitor.reports.net_changes import net_changes
from monitor.reports.templating import template
from monitor.store import Trial
from monitor.text import counted, one_line

STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"
SECTIONS: dict[str, tuple[Category, ...]] = {
    section: tuple(c for c, row in CATEGORIES.items() if row.section == section)
    for section in dict.fromkeys(row.section for row in CATEGORIES.values())
}
MOST = "Most material"  # the section that leads a trial's digest
HEADER_LIMIT = 180
SUBJECT_PARTS = 3

inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class SiteRow:
    """One line of a trial's site table: which site, where, and what happened to it."""

    site: str
    previous_name: str | None
    site_number: str | None
    place: str
    change: str
    status_class: str
    notes: tuple[str, ...] = ()  # "also here: NCT... Breakfree-1, Recruiting"


@dataclass(frozen=True)
class TrialDigest:
    """One trial's part of a digest."""

    nct_id: str
    title: str | None
    acronym: str | None
    label: str | None  # the user's own name for the trial (`watch add --label`)
    url: str
    headline_parts: list[str]
    sites: list[SiteRow]  # site changes told one by one (not in `masses`)
    sections: list[tuple[str, list[ChangeEvent]]]
    count: int
    masses: list[MassChange] = dataclasses.field(default_factory=list)  # many alike, in a line
    changes: list[ChangeEvent] = dataclasses.field(default_factory=list)  # its net changes
    rank: int = 0  # its most material change's `LEVEL_ORDER`

    @property
    def headline(self) -> str:
        return "; ".join(self.headline_parts)

    def masses_in(self, section: str) -> list[MassChange]:
        return [mass for mass in self.masses if mass.section == section]


@dataclass(frozen=True)
class ChatBlock:
    """One trial's part of a chat post: a post too long for its service is split between
    trials, never inside one."""

    nct_id: str
    text: str


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str
    chat_blocks: tuple[ChatBlock, ...]  # short Markdown for chat and webhook channels
    changes: int = 1  # net changes told: none when everything was changed back

    @property
    def chat(self) -> str:
        """The chat post: each trial's block, a blank line between them."""
        return "\n".join(block.text for block in self.chat_blocks)


CHAT_LINES = 12  # per trial: a chat message is read at a glance; the rest is a link away


def chat_lines(trial: TrialDigest) -> tuple[list[str], int]:
    """A trial's lines in a chat digest, and how many of its changes they leave untold: the
    most material changes with why, then many sites changed alike (a line each), then site
    changes, then the others."""
    most = [event.summary for title, events in trial.sections if title == MOST for event in events]
    sites = [
        row.site
        + (f" (site {row.site_number})" if row.site_number else "")
        + (f" (was {row.previous_name})" if row.previous_name else "")
        + f", {row.place}: {row.change}"
        + "".join(f" ({note})" for note in row.notes)
        for row in trial.sites
    ]
    others = [
        event.summary
        for title, events in trial.sections
        for event in events
        if event.category not in SITE_CATEGORIES and title != MOST
    ]
    told = [(line, 1) for line in most]
    told += [(mass.sentence, len(mass.events)) for mass in trial.masses]
    told += [(line, 1) for line in [*sites, *others]]
    shown = told[:CHAT_LINES]
    return [line for line, _ in shown], max(0, trial.count - sum(n for _, n in shown))


def header_text(text: str) -> str:
    """Registry text made safe for a mail header: no control characters, one line, bounded."""
    folded = one_line(text)
    return folded if len(folded) <= HEADER_LIMIT else folded[: HEADER_LIMIT - 1] + "\u2026"


def render_digest(
    events: list[ChangeEvent],
    trials: dict[str, Trial],
    *,
    materiality: Mapping[str, Materiality] | None = None,
    brief: bool = False,
) -> Digest:
    """Text, HTML and subject for `events`; `trials` maps NCT id to title and acronym;
    `materiality` the config's levels for categories of change (see `records.materiality`). A
    digest of two or more trials, or one asked to `brief` (a weekly one), opens with a
    briefing over them all."""
    grouped = group_events(events, trials, materiality=materiality)
    subject = digest_subject(grouped)
    total = sum(trial.count for trial in grouped)
    lines = briefing_of(grouped) if brief or len(grouped) > 1 else []
    values = {
        "trials": grouped,
        "total": total,
        "subject": subject,
        "shown": SHOWN,
        "briefing": lines,
    }
    html = template("digest.html").render(**values)
    chat = template("digest.md")
    opening = template("briefing.md").render(briefing=lines)
    return Digest(
        subject=subject,
        text=template("digest.txt").render(**values),
        html=inliner.inline(html),
        chat_blocks=tuple([ChatBlock("", opening)] * bool(lines))
        + tuple(
            ChatBlock(trial.nct_id, chat.render(trial=trial, chat_lines=chat_lines))
            for trial in grouped
        ),
        changes=total,
    )


def briefing_of(grouped: list[TrialDigest]) -> list[BriefingLine]:
    names = {trial.nct_id: trial.label or trial.acronym or "" for trial in grouped}
    return briefing({trial.nct_id: trial.changes for trial in grouped}, names)


def group_events(
    events: list[ChangeEvent],
    trials: dict[str, Trial],
    *,
    materiality: Mapping[str, Materiality] | None = None,
) -> list[TrialDigest]:
    """Events grouped by trial, each thing's net change once, the most material first (with
    why), then by section in importance order."""
    by_trial: dict[str, list[ChangeEvent]] = defaultdict(list)
    for event in events:
        by_trial[event.nct_id].append(event)
    digests = []
    for nct_id, all_events in sorted(by_trial.items()):
        trial_events = net_changes(all_events)
        if not trial_events:
            continue
        trial = trials.get(nct_id)
        most = most_material(trial_events, materiality)
        told = {event.stored_id for event in most}
        masses, one_by_one = fold_mass_changes(trial_events)
        sections = [(MOST, most)] + [
            (
                title,
                [
                    event
                    for event in one_by_one
                    if event.category in categories
                    and (event.stored_id not in told or event.category in SITE_CATEGORIES)
                ],
            )
            for title, categories in SECTIONS.items()
        ]
        massed = {mass.section for mass in masses}
        digests.append(
            TrialDigest(
                nct_id=nct_id,
                title=(trial and trial.title) or _searched_title(trial_events),
                acronym=trial.acronym if trial else None,
                label=trial.label if trial else None,
                url=STUDY_URL.format(nct_id=nct_id),
                headline_parts=headline(trial_events, materiality),
                sites=[site_row(e) for e in one_by_one if e.category in SITE_CATEGORIES],
                sections=[(title, found) for title, found in sections if found or title in massed],
                count=len(trial_events),
                masses=masses,
                changes=trial_events,
                rank=max(LEVEL_ORDER[rating_of(e, materiality).level] for e in trial_events),
            )
        )
    return digests


def most_material(
    events: list[ChangeEvent], overrides: Mapping[str, Materiality] | None
) -> list[ChangeEvent]:
    """The high-materiality changes, each with its reason beside it ("... (high: primary
    completion slipped 183 days)")."""
    most = []
    for event in events:
        rating = rating_of(event, overrides)
        if rating.level == Materiality.HIGH:
            most.append(dataclasses.replace(event, summary=f"{event.summary} ({rating})"))
    return sorted(most, key=lambda event: list(CATEGORIES).index(Category(event.category)))


def _searched_title(events: list[ChangeEvent]) -> str | None:
    """A trial known only from a watched search is titled by the search's match."""
    return next((e.new for e in events if e.category == Category.NEW_TRIAL), None)


def site_row(event: ChangeEvent) -> SiteRow:
    site = event.site or SiteRef(None, None, None, None, key="")
    number = site.site_number
    names = f"{site.facility} {site.previous_facility}"
    # The zip tells apart the sites sponsors give one generic name ("Research Site") in a city.
    city = " ".join(part for part in (site.city, site.zip) if part)
    place = ", ".join(part for part in (city, site.country) if part)
    old, new = event.old, event.new
    row = CATEGORIES[Category(event.category)]
    change_of = row.site_change
    assert change_of is not None, "site_row takes site events only"
    change = change_of(old, new)
    status = new if event.category in (Category.SITE_STATUS, Category.SITE_ADDED) else None
    return SiteRow(
        site=site.facility or "(unnamed site)",
        previous_name=site.previous_facility,
        site_number=None if number is None or number in names else number,
        place=place,
        change=change,
        status_class=f"status-{status_css(status)}",
        notes=tuple(row.notes(Told(event.field, old, new, event.site, event.extra))),
    )


def headline(events: list[ChangeEvent], materiality: Mapping[str, Materiality] | None) -> list[str]:
    """What happened to a trial in a few short phrases, the most material first (results
    posted before others as material), then in the categories' order; the site categories'
    phrases are one ("3 sites changed status, 1 added"). The phrases make the mail's Subject,
    so they hold our words, known statuses and numbers, never registry text."""
    ranked: list[tuple[int, bool, int, str]] = []
    sites: list[str] = []
    site_level = 0
    for order, (category, row) in enumerate(CATEGORIES.items()):
        found = [event for event in events if event.category == category]
        for phrase, told in row.headline(found):
            level = max(LEVEL_ORDER[rating_of(event, materiality).level] for event in told)
            if row.site_change:
                sites.append(phrase)
                site_level = max(site_level, level)
            else:
                leads = category == Category.RESULTS_POSTED
                ranked.append((level, leads, -order, phrase))
    if sites:
        count, _, verb = sites[0].partition(" ")
        sites[0] = f"{counted(int(count), 'site')} {verb}"
        first_site = list(CATEGORIES).index(SITE_CATEGORIES[0])
        ranked.append((site_level, False, -first_site, ", ".join(sites)))
    ordered = sorted(ranked, key=lambda part: part[:3], reverse=True)
    return [phrase for *_, phrase in ordered]


def digest_subject(trials: list[TrialDigest]) -> str:
    """ "NCT05869955: 3 sites changed status; ..."; for several trials, the most material
    trial's lead and the count ("trialwatch: NCT... status Recruiting -> Terminated; 9 changes in
    5 trials"). Registry text (even the acronym) never goes into a header; the user's own
    label does."""
    if len(trials) == 1:
        trial = trials[0]
        name = f" {trial.label}" if trial.label else ""
        parts = trial.headline_parts[:SUBJECT_PARTS]
        more = " and more" if len(trial.headline_parts) > SUBJECT_PARTS else ""
        return header_text(f"{trial.nct_id}{name}: {'; '.join(parts)}{more}")
    if not trials:
        return "trialwatch: no net change (what changed was changed back)"
    total = sum(trial.count for trial in trials)
    top = max(trials, key=lambda trial: trial.rank)  # the first of the most material
    name = f" {top.label}" if top.label else ""
    return header_text(
        f"trialwatch: {top.nct_id}{name} {top.headline_parts[0]}; "
        f"{counted(total, 'change')} in {len(trials)} trials"
    )
