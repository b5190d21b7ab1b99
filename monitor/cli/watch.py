"""`watch add/remove/list/query`: what trialwatch watches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import click
from rich import box
from rich.table import Column, Table

from monitor.cli._app import (
    Context,
    SuggestingGroup,
    format_json,
    parse_ids,
    pass_context,
    require_watched,
)
from monitor.cli.options import (
    RULE_OPTIONS,
    destination_options,
    make_search,
    rule_from_options,
    rule_options,
    search_criteria,
    search_options,
)
from monitor.errors import BadInput
from monitor.jobs.adding import unknown_to_the_registry
from monitor.records.categories import SEARCH_CATEGORIES, TRIAL_CATEGORIES
from monitor.records.rules import Rule
from monitor.registry.searches import Search
from monitor.setting_values import parse_address
from monitor.store import Watch
from monitor.store.searches import StoredSearch


@click.group(cls=SuggestingGroup)
def watch() -> None:
    """Add, remove and list watched trials."""


@watch.command("add")
@click.argument("nct_ids", nargs=-1, required=True, metavar="NCT...")
@click.option("--label", help="A name for these trials in lists and digests.")
@destination_options(
    to="Also mail this trial's changes to ADDR (repeatable).",
    notify="Also post this trial's changes to the channel NAME of the config's [channels] "
    "(Slack, Teams, Matrix, a webhook...; repeatable).",
)
@click.option(
    "--no-verify",
    is_flag=True,
    help="Do not ask the registry whether it has the trials (offline use).",
)
@rule_options
@pass_context
def watch_add(
    ctx: Context,
    /,
    nct_ids: tuple[str, ...],
    label: str | None,
    recipients: tuple[str, ...],
    channels: tuple[str, ...],
    no_verify: bool,
    **rule: str | int | None,
) -> None:
    """Start watching trials (ids are case-insensitive: NCT + 8 digits). The rule options
    (--only, --country, --state, --level, --min-slip, --min-enrollment-change) say which of
    their changes are told at all; all of them must hold."""
    rules = rule_from_options(rule, where="watch add", categories=TRIAL_CATEGORIES)
    ids = parse_ids(nct_ids)
    addresses = [_parse_option_address(address) for address in recipients]
    label = _parse_label(label)
    _require_channels(ctx, channels)
    if not no_verify:
        unknown = unknown_to_the_registry(ctx.settings, ctx.store.watches.unwatched(ids))
        if unknown:
            raise BadInput(
                f"no such trial in the registry: {', '.join(unknown)} (nothing was added; "
                "--no-verify adds it anyway)"
            )
    added = ctx.store.watches.add(
        ids,
        label=label,
        recipients=addresses,
        channels=list(channels),
        now=ctx.clock(),
        rules=rules,
    )
    changed = bool(label is not None or addresses or channels or rules)
    for nct_id in ids:
        told = f" (told: {rules.describe()})" if rules else ""
        if nct_id in added:
            ctx.say(f"Watching {nct_id}{told}")
        elif changed:  # never silently: say what the watch now is
            ctx.say(f"Already watching {nct_id}, now with {_watch_line(ctx, nct_id)}")
        else:
            ctx.say(f"Already watching {nct_id}")


LABEL_LIMIT = 100


def _require_channels(ctx: Context, names: Iterable[str]) -> None:
    """Every `--notify` name is one of the config's [channels]; else bad input."""
    known = dict(ctx.settings.channels)
    for name in names:
        if name not in known:
            offered = ", ".join(sorted(known)) or "none is configured"
            raise BadInput(f"--notify: no channel {name!r} in the config's [channels] ({offered})")


def _parse_label(value: str | None) -> str | None:
    """A label goes into mail subjects: one line of printable text, not too long."""
    if value is None:
        return None
    label = value.strip()
    if not label or not label.isprintable() or len(label) > LABEL_LIMIT:
        raise BadInput(
            f"--label: expected one line of printable text, at most {LABEL_LIMIT} characters"
        )
    return label


def _parse_option_address(value: str) -> str:
    try:
        return parse_address(value)
    except ValueError as exc:
        raise BadInput(f"--to: {exc}") from exc


@watch.command("edit")
@click.argument("target", metavar="NCT|SEARCH")
@click.option("--label", help="A new label ('' removes it).")
@destination_options(
    to="The trial's own recipients, replacing the old ones (repeatable; '' for none).",
    notify="The trial's own channels, replacing the old ones (repeatable; '' for none).",
)
@click.option("--clear-rule", is_flag=True, help="Tell every change again (drop the rule).")
@rule_options
@search_options
@click.option(
    "--follow/--no-follow",
    default=None,
    help="A search: start (or stop) watching every trial that enters it.",
)
@pass_context
def watch_edit(
    ctx: Context,
    /,
    target: str,
    label: str | None,
    recipients: tuple[str, ...],
    channels: tuple[str, ...],
    clear_rule: bool,
    follow: bool | None,
    **options: Any,
) -> None:
    """Change a watched trial's label, recipients, channels or rule, or a watched search's
    criteria, following or rule; what is not given stays. A search whose criteria change
    starts again from a baseline (its next check tells nothing)."""
    rule = {key: options.pop(key) for key in RULE_OPTIONS}
    stored = {search.name: search for search in ctx.store.searches.rows()}
    if target in stored:
        for name, value in (("--label", label), ("--to", recipients), ("--notify", channels)):
            if value:
                raise BadInput(
                    f"{name}: a search has no {name[2:]}; its matches are told like any change"
                )
        _edit_search(ctx, stored[target], rule, options, clear_rule=clear_rule, follow=follow)
        return
    if search_criteria(options) or follow is not None:
        raise BadInput(
            f"{target}: no watched search of that name (search options are for searches)"
        )
    rules = (
        Rule()
        if clear_rule
        else rule_from_options(rule, where="watch edit", categories=TRIAL_CATEGORIES)
    )
    [watched] = parse_ids((target,))
    require_watched(ctx.store, [watched])
    addresses = [_parse_option_address(a) for a in recipients if a] if recipients else None
    names = [name for name in channels if name] if channels else None
    _require_channels(ctx, names or [])
    ctx.store.watches.edit(
        watched,
        label=None if label is None else (_parse_label(label) if label else ""),
        recipients=addresses,
        channels=names,
        rules=rules,
    )
    ctx.say(f"{watched}: {_watch_line(ctx, watched)}")


def _edit_search(
    ctx: Context,
    row: StoredSearch,
    rule: dict[str, Any],
    options: dict[str, Any],
    *,
    clear_rule: bool,
    follow: bool | None,
) -> None:
    """A watched search's criteria, following or rule, edited: what is not given stays (a new
    radius alone keeps its point)."""
    search = Search.from_json(row.name, row.params, follow=row.follow)
    criteria = search_criteria(options, near=search.near)
    rules = (
        Rule()
        if clear_rule
        else rule_from_options(rule, where="watch edit", categories=SEARCH_CATEGORIES)
    )
    edited = make_search(
        row.name, **search.criteria() | criteria, follow=row.follow if follow is None else follow
    )
    _store_search(ctx, edited, rules if rules is not None else row.rule, verb="Edited")


def _watch_line(ctx: Context, nct_id: str) -> str:
    """A watch's own settings in a line: label, recipients, channels, rule."""
    trial = ctx.store.watches.trials()[nct_id]
    return (
        f"label {trial.label or '(none)'}; to {', '.join(trial.recipients) or '(none)'}; "
        f"channels {', '.join(trial.channels) or '(none)'}; told {trial.rules.describe()}"
    )


@watch.command("remove")
@click.argument("nct_ids", nargs=-1, required=True, metavar="NCT...|SEARCH...")
@pass_context
def watch_remove(ctx: Context, nct_ids: tuple[str, ...]) -> None:
    """Stop watching trials, or watched searches by name; their stored history stays."""
    searches = {search.name for search in ctx.store.searches.rows()}
    names = [value for value in nct_ids if value in searches]
    ids = parse_ids(tuple(value for value in nct_ids if value not in searches))
    require_watched(ctx.store, ids)
    ctx.store.watches.remove(ids)
    for name in names:
        ctx.store.searches.remove(name)
        ctx.say(f"Stopped watching search {name}")
    for nct_id in ids:
        ctx.say(f"Stopped watching {nct_id}")


@watch.command("query")
@click.argument("name")
@search_options
@click.option("--follow", is_flag=True, help="Start watching every trial that enters the search.")
@rule_options
@pass_context
def watch_query(ctx: Context, /, name: str, follow: bool, **options: Any) -> None:
    """Watch a registry search: report trials entering or leaving it; its first check is a
    baseline. Giving an existing NAME replaces that search."""
    rule = {key: options.pop(key) for key in RULE_OPTIONS}
    rules = rule_from_options(rule, where="watch query", categories=SEARCH_CATEGORIES)
    search = make_search(name, **search_criteria(options), follow=follow)
    _store_search(ctx, search, rules, verb="Updated")


def _store_search(ctx: Context, search: Search, rules: Rule | None, *, verb: str) -> None:
    """Store a search (new, replaced or edited) and say what it now asks."""
    stored = search.to_json() | ({"rule": rules.to_json()} if rules else {})
    is_new = ctx.store.searches.add(search.name, stored, follow=search.follow, now=ctx.clock())
    told = f"; told: {rules.describe()}" if rules and not rules.is_empty else ""
    follows = "; follows new matches" if search.follow else ""
    ctx.say(
        f"{'Watching' if is_new else verb} search {search.name}: {search.describe()}{follows}{told}"
    )


@watch.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option(
    "--searches",
    "list_searches",
    is_flag=True,
    help="With --json: list the watched searches instead of the trials.",
)
@pass_context
def watch_list(ctx: Context, as_json: bool, list_searches: bool) -> None:
    """List watched trials and searches with their last check time and status."""
    watches = ctx.reader.watches.listed()
    searches = ctx.reader.searches.rows()
    if as_json:
        shown = searches if list_searches else watches
        click.echo(format_json([one.to_json() for one in shown]))
        return
    wide = ctx.width() >= WIDE
    if searches:
        _show_searches(ctx, searches, wide=wide)
    if not watches:
        ctx.say(f"No trials watched in {ctx.settings.db}. {OTHER_FOLDER}")
        return
    _show_trials(ctx, watches, wide=wide)


def _show_searches(ctx: Context, searches: list[StoredSearch], *, wide: bool) -> None:
    ctx.show_table(
        Table(
            "search",
            Column("criteria", overflow="ellipsis", no_wrap=True, max_width=room(ctx, 52)),
            *(["follow"] if wide else []),
            "matches",
            "last check (UTC)",
            "status",
            *([Column("error", overflow="fold")] if wide else []),
            box=box.SIMPLE_HEAD,
        ),
        (
            (
                row.name,
                Search.from_json(row.name, row.params, follow=row.follow).describe(),
                *(["yes" if row.follow else "no"] if wide else []),
                row.matches,
                _when(row.last_checked_at),
                _check_status(row.last_error, row.last_checked_at),
                *([row.last_error or ""] if wide else []),
            )
            for row in searches
        ),
        whole=("search", "follow", "matches", "last check (UTC)", "status"),
    )


def _show_trials(ctx: Context, watches: list[Watch], *, wide: bool) -> None:
    ctx.show_table(
        Table(
            "NCT id",
            Column(
                "name", overflow="ellipsis", no_wrap=True, min_width=10, max_width=room(ctx, 48)
            ),
            *([Column("title", overflow="ellipsis", no_wrap=True, max_width=48)] if wide else []),
            "last check (UTC)",
            "status",
            *(["snapshots", "changes"] if wide else []),
            *([Column("error", overflow="fold", min_width=24)] if wide else []),
            box=box.SIMPLE_HEAD,
        ),
        (
            (
                w.nct_id,
                w.label or w.acronym or w.title or "",
                *([w.title or ""] if wide else []),
                _when(w.last_checked_at),
                _check_status(w.last_error, w.last_checked_at),
                *([w.snapshots, w.events, w.last_error or ""] if wide else []),
            )
            for w in watches
        ),
        whole=("NCT id", "last check (UTC)", "status", "snapshots", "changes"),
    )


WIDE = 120  # columns from which `watch list` shows every column


def room(ctx: Context, taken: int) -> int | None:
    """The width a text column may take beside columns `taken` wide in a narrow terminal
    (unbounded in a wide one)."""
    width = ctx.width()
    return None if width >= WIDE else max(10, width - taken)


OTHER_FOLDER = (
    "Your trials in another data folder? Point at it with TRIALWATCH_HOME=DIR (or --db PATH)."
)


def _when(moment: dt.datetime | None) -> str:
    """`2026-06-02 07:00` (UTC): short enough to stay whole."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _check_status(last_error: str | None, last_checked_at: dt.datetime | None) -> str:
    """A watched trial's or search's state after its last check, in a word (the error itself
    is a column of its own in a wide terminal, and in `--json` and `doctor`)."""
    if last_error:
        return "failing"
    return "ok" if last_checked_at else "unchecked"
