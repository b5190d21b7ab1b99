"""Option sets more than one command shares: a watch's alert rule, a search's criteria."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from monitor.errors import BadInput
from monitor.names import is_plain_name
from monitor.nct_ids import NCT_ID
from monitor.records.events import Category
from monitor.records.rules import Rule, parse_rule
from monitor.records.wording import STATUSES
from monitor.registry.searches import (
    PHASES,
    STUDY_TYPES,
    TEXT_AREAS,
    Near,
    Search,
    SearchError,
)

Command = Callable[..., None]


def rule_options(command: Command) -> Command:
    """The alert-rule options, one set for watches and searches (see `records.rules`)."""
    options = [
        click.option(
            "--only",
            metavar="CATEGORIES",
            help="Tell only these categories of change, comma-separated (site_status,date,...).",
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
    return with_options(command, options)


RULE_OPTIONS = ("only", "country", "state", "level", "min_slip", "min_enrollment_change")


def rule_from_options(
    given: dict[str, Any], *, where: str, categories: Iterable[Category]
) -> Rule | None:
    """The rule the options wrote for a trial's or a search's watch (`categories`: those it can
    produce), or None when none was given."""
    written = {key: value for key, value in given.items() if value is not None}
    return parse_rule(written, where=where, categories=categories) if written else None


# A search's text areas: what each option searches (see `registry.searches.TEXT_AREAS`).
TEXT_AREA_HELP = {
    "term": "Free-text search",
    "condition": "Condition or disease",
    "intervention": "Intervention or treatment",
    "sponsor": "Sponsor or collaborator",
    "location": "A site's country, state, city or facility",
}


def _choice(
    name: str, values: tuple[str, ...], what: str, *, dest: str | None = None
) -> Callable[[Command], Command]:
    """An option taking one of the registry's codes, in any case; repeatable with `dest`."""
    return click.option(
        name,
        *([dest] if dest else []),
        multiple=dest is not None,
        type=click.Choice(values, case_sensitive=False),
        help=f"Only {what}{' (repeatable)' if dest else ''}.",
    )


def search_options(command: Command) -> Command:
    """A search's criteria (see `registry.searches`), for `watch query` and `watch edit`."""
    options: list[Callable[[Any], Any]] = [
        *(
            click.option(f"--{option}", help=f"{TEXT_AREA_HELP[option]} ({area}).")
            for option, area in TEXT_AREAS.items()
        ),
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
        _choice("--status", STATUSES, "trials with this overall status", dest="statuses"),
        _choice("--phase", PHASES, "trials in this phase (NA: not applicable)", dest="phases"),
        _choice("--study-type", STUDY_TYPES, "interventional, observational or expanded access"),
        click.option(
            "--advanced",
            metavar="EXPR",
            help="The registry's own Essie expression (filter.advanced), e.g. "
            "'AREA[EnrollmentCount]RANGE[100,MAX]'.",
        ),
    ]
    return with_options(command, options)


def destination_options(*, to: str, notify: str) -> Callable[[Command], Command]:
    """A watch's own recipients (`--to`) and channels (`--notify`), with each command's help."""

    def decorate(command: Command) -> Command:
        options = [
            click.option("--to", "recipients", multiple=True, metavar="ADDR", help=to),
            click.option("--notify", "channels", multiple=True, metavar="NAME", help=notify),
        ]
        return with_options(command, options)

    return decorate


def folder_option(name: str, dest: str, what: str) -> Callable[[Command], Command]:
    """An option naming a folder (DIR) to write into."""
    folder = click.Path(path_type=Path, file_okay=False)
    return click.option(name, dest, type=folder, metavar="DIR", help=what)


def file_option(name: str, dest: str, what: str) -> Callable[[Command], Command]:
    """An option naming a file (FILE) to write."""
    file = click.Path(path_type=Path, dir_okay=False)
    return click.option(name, dest, type=file, metavar="FILE", help=what)


def with_options(command: Command, options: Sequence[Callable[[Any], Any]]) -> Command:
    """`command` with `options`, shown in --help in the order given."""
    for option in reversed(options):
        command = option(command)
    return command


def search_criteria(given: dict[str, Any], *, near: Near | None = None) -> dict[str, Any]:
    """The criteria the search options gave (absent ones left out; '' clears a text); `near`:
    the point the search being edited has, which a new radius alone keeps."""
    criteria: dict[str, Any] = {
        option: given[option] or None
        for option in (*TEXT_AREAS, "advanced")
        if given[option] is not None
    }
    try:
        if given["within"] is not None and given["near"] is None:
            if near is None:
                raise BadInput("--within needs --near LAT,LON (the search has no point yet)")
            criteria["near"] = Near.parse(f"{near.lat},{near.lon}", given["within"])
        if given["near"] is not None:
            criteria["near"] = (
                Near.parse(given["near"], given["within"] or "50mi") if given["near"] else None
            )
    except SearchError as exc:
        raise BadInput(f"--{exc.criterion}: {exc}") from exc
    if given["statuses"]:
        criteria["statuses"] = tuple(status.upper() for status in given["statuses"])
    if given["phases"]:
        criteria["phases"] = tuple(phase.upper() for phase in given["phases"])
    if given["study_type"] is not None:
        criteria["study_type"] = given["study_type"].upper()
    return criteria


def make_search(name: str, **criteria: Any) -> Search:
    """A search from the command line: a plain name (not an NCT id) and at least one
    criterion, each text one printable line."""
    if not is_plain_name(name):
        raise BadInput(f"bad search name {name!r}: use letters, digits, '.', '_' or '-'")
    if NCT_ID.fullmatch(name.upper()):  # `watch remove NCT…` would find the search, not the trial
        raise BadInput(f"bad search name {name!r}: it is a trial's id; name the search otherwise")
    search = Search(name, **criteria)
    for option in (*TEXT_AREAS, "advanced"):
        text = getattr(search, option)
        if text is not None and (not text.strip() or not text.isprintable()):
            raise BadInput(f"--{option}: expected one line of printable text")
    if not search.params():
        raise BadInput(
            "a search needs at least one of --term, --condition, --intervention, --sponsor, "
            "--location, --near, --status, --phase, --study-type or --advanced"
        )
    return search
