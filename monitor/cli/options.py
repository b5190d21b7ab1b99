"""Option sets more than one command shares: a watch's alert rule, a search's criteria."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from monitor.errors import BadInput
from monitor.records.rules import Rule, parse_rule
from monitor.records.wording import STATUSES
from monitor.registry.searches import PHASES, STUDY_TYPES, TEXT_AREAS, Near

Command = Callable[..., None]


def rule_options(command: Command) -> Command:
    """The alert-rule options, one set for watches and searches (see `records.rules`)."""
    options = [
        click.option(
            "--only",
            metavar="KINDS",
            help="Tell only these kinds of change, comma-separated (site_status,date,...).",
        ),
        click.option(
            "--country",
            metavar="COUNTRIES",
            help="Tell a site's changes only in these countries (ISO codes or names).",
        ),
        click.option("--state", metavar="STATES", help="Likewise for states or provinces."),
        click.option(
            "--level",
            type=click.Choice(["high", "medium", "low"]),
            help="Tell only changes at least this material (see the materiality table).",
        ),
        click.option(
            "--min-slip",
            type=click.IntRange(min=0),
            metavar="DAYS",
            help="Tell dates moved this far.",
        ),
        click.option(
            "--min-enrollment-change",
            type=click.IntRange(min=0),
            metavar="PERCENT",
            help="Tell enrollment moved by this share.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


RULE_OPTIONS = ("only", "country", "state", "level", "min_slip", "min_enrollment_change")


def rule_from_options(given: dict[str, Any], *, where: str) -> Rule | None:
    """The rule the options wrote, or None when none was given."""
    written = {key: value for key, value in given.items() if value is not None}
    return parse_rule(written, where=where) if written else None


def search_options(command: Command) -> Command:
    """A search's criteria (see `registry.searches`), for `watch query` and `watch edit`."""
    options = [
        click.option("--term", help="Free-text search (query.term)."),
        click.option("--condition", help="Condition or disease (query.cond)."),
        click.option("--intervention", help="Intervention or treatment (query.intr)."),
        click.option("--sponsor", help="Sponsor or collaborator (query.spons)."),
        click.option("--location", help="A site's country, state, city or facility (query.locn)."),
        click.option(
            "--near",
            metavar="LAT,LON",
            help="Only trials with a site near this point, in degrees (filter.geo).",
        ),
        click.option(
            "--within",
            metavar="DISTANCE",
            help="With --near: how near, in miles or km (50mi, 80km; default 50mi).",
        ),
        click.option(
            "--status",
            "statuses",
            multiple=True,
            type=click.Choice(STATUSES, case_sensitive=False),
            help="Only trials with this overall status (repeatable).",
        ),
        click.option(
            "--phase",
            "phases",
            multiple=True,
            type=click.Choice(PHASES, case_sensitive=False),
            help="Only trials in this phase (repeatable; NA: not applicable).",
        ),
        click.option(
            "--study-type",
            type=click.Choice(STUDY_TYPES, case_sensitive=False),
            help="Only interventional, observational or expanded-access studies.",
        ),
        click.option(
            "--advanced",
            metavar="EXPR",
            help="The registry's own Essie expression (filter.advanced), e.g. "
            "'AREA[EnrollmentCount]RANGE[100,MAX]'.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def search_criteria(given: dict[str, Any]) -> dict[str, Any]:
    """The criteria the search options gave (absent ones left out; '' clears a text)."""
    criteria: dict[str, Any] = {
        option: given[option] or None
        for option in (*TEXT_AREAS, "advanced")
        if given[option] is not None
    }
    if given["within"] is not None and given["near"] is None:
        raise BadInput("--within needs --near LAT,LON")
    if given["near"] is not None:
        criteria["near"] = (
            Near.parse(given["near"], given["within"] or "50mi") if given["near"] else None
        )
    if given["statuses"]:
        criteria["statuses"] = tuple(status.upper() for status in given["statuses"])
    if given["phases"]:
        criteria["phases"] = tuple(phase.upper() for phase in given["phases"])
    if given["study_type"] is not None:
        criteria["study_type"] = given["study_type"].upper()
    return criteria
