"""`check`, `import` and `backfill`: getting records in and change events out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from monitor.cli._app import (
    Context,
    format_json,
    parse_ids,
    pass_context,
    require_watched,
    say_events,
    tell_problems,
)
from monitor.jobs.backfill import backfill_trials
from monitor.jobs.check import CheckOutcome, date_studies, read_study_files, refuse_unfit_imports
from monitor.jobs.check_run import recorded_check, recorded_import, registry_client


@click.command()
@click.argument("nct_ids", nargs=-1, metavar="[NCT...]")
@click.option(
    "--full",
    "--force",
    "force",
    is_flag=True,
    help="Fetch every trial even if the registry's data has not moved since the last "
    "complete check.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as one JSON object (checked, fetched, changes, errors).",
)
@pass_context
def check(ctx: Context, nct_ids: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Fetch watched trials (or the named ones), store snapshots and change events."""

    ids = parse_ids(nct_ids)
    if not ids and ctx.warn_if_nothing_watched():
        return  # no database here: nothing to do, and none created
    require_watched(ctx.store, ids)
    ctx.require_known_destinations()
    total = len(ids) or ctx.store.watches.count()
    with ctx.locked(), ctx.progress(total, "Checking trials") as advance:
        outcome = recorded_check(
            ctx.store,
            ctx.settings,
            command="check",
            nct_ids=ids or None,
            clock=ctx.clock,
            force=force,
            on_progress=advance,
        )
    _print_outcome(ctx, outcome, as_json=as_json)


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result as one JSON object (checked, fetched, changes, errors).",
)
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Date the records as of this day (YYYY-MM-DD); default: each record's last update.",
)
@pass_context
def import_files(
    ctx: Context, files: tuple[Path, ...], as_json: bool, as_of: dt.datetime | None
) -> None:
    """Like check, but the study JSON comes from local files (API v2 study JSON). Records are
    dated by their last-update post date and imported oldest first; a partial record (a
    search answer) or one older than its trial's latest snapshot is refused."""

    studies = date_studies(
        read_study_files(files), as_of=as_of.date() if as_of else None, now=ctx.clock()
    )
    with ctx.locked():
        refuse_unfit_imports(ctx.store, studies)
        outcome = recorded_import(ctx.store, studies, clock=ctx.clock)
    _print_outcome(ctx, outcome, as_json=as_json)


def _print_outcome(ctx: Context, outcome: CheckOutcome, *, as_json: bool) -> None:
    if as_json:
        click.echo(format_json(outcome.to_json()))
    else:
        say_events(ctx, outcome)
        ctx.say(
            f"Checked {outcome.checked} trial(s) ({outcome.fetched} downloaded): "
            f"{len(outcome.events)} change(s), "
            f"{len(outcome.errors)} error(s)"
        )
    tell_problems(outcome.errors, outcome.moved)
    if outcome.errors:
        raise SystemExit(1)


@click.command()
@click.argument("nct_ids", nargs=-1, required=True, metavar="NCT...")
@click.option(
    "--as-news",
    is_flag=True,
    help="Deliver the backfilled changes in the next digest (default: history only).",
)
# the old spelling, kept working: `--notify` elsewhere names a channel
@click.option("--notify", "as_news_old_spelling", is_flag=True, hidden=True)
@pass_context
def backfill(
    ctx: Context, nct_ids: tuple[str, ...], as_news: bool, as_news_old_spelling: bool
) -> None:
    """Import every past version of the trials from the registry's record history, oldest first."""
    as_news = as_news or as_news_old_spelling

    ids = parse_ids(nct_ids)
    history_url = ctx.settings.history_url
    with ctx.locked(), registry_client(ctx.settings, base_url=history_url) as client:
        outcomes, errors = backfill_trials(ctx.store, client, ids, as_news=as_news, clock=ctx.clock)
    for outcome in outcomes:
        span = f" ({outcome.first_date} to {outcome.last_date})" if outcome.stored else ""
        ctx.say(
            f"{outcome.nct_id}: {outcome.stored} version(s) stored{span}, "
            f"{outcome.skipped} already covered, {len(outcome.events)} change(s)"
        )
    tell_problems(errors)
    if errors:
        raise SystemExit(1)
