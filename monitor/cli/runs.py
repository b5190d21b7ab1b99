"""`digest`, `run` and `schedule`: delivering digests, once or on a schedule."""

from __future__ import annotations

import functools
import sys
import threading
from pathlib import Path

import click

from monitor.cli._app import (
    Context,
    pass_context,
    say_events,
    tell_problems,
    terminal_safe,
)
from monitor.cli.options import folder_option
from monitor.delivery.chat import open_chat_transports
from monitor.delivery.digests import deliver_pending
from monitor.delivery.exactly_once import DeliveryOutcome
from monitor.delivery.mail import open_transport
from monitor.errors import BadInput, TrialwatchError
from monitor.jobs.check import CheckError, CheckOutcome
from monitor.jobs.run import RunSummary, run_once
from monitor.jobs.schedule import DEFAULT_CRON, cron_trigger, interval_trigger, run_forever
from monitor.lock import run_lock
from monitor.records.materiality import levels_by_category
from monitor.reports.render import render_digest
from monitor.setting_values import parse_timezone
from monitor.text import counted
from monitor.times import utc_text


@click.command()
@click.option(
    "--stdout",
    "to_stdout",
    is_flag=True,
    help="Print the text digest of undelivered changes; deliver nothing.",
)
@folder_option(
    "--outbox", "outbox", "Write the digest as .eml files to DIR even if SMTP is configured."
)
@pass_context
def digest(ctx: Context, to_stdout: bool, outbox: Path | None) -> None:
    """Render every undelivered change into a digest and deliver it (SMTP, else the outbox)."""

    if to_stdout:
        levels = levels_by_category(ctx.settings.materiality)
        preview = render_digest(
            ctx.store.events.pending(), ctx.store.watches.trials(), materiality=levels
        )
        click.echo(preview.text, nl=False)
        return
    ctx.require_known_destinations()
    if not ctx.settings.db.exists():
        ctx.say(f"No undelivered changes (no database at {ctx.settings.db}).")
        return
    chats = open_chat_transports(ctx.settings)  # --outbox stands in for SMTP only
    with ctx.locked(), open_transport(ctx.settings, outbox=outbox) as transport:
        delivered = deliver_pending(
            ctx.store, transport, settings=ctx.settings, now=ctx.clock(), chats=chats
        )
    _say_deliveries(ctx, delivered)
    if delivered.failures:
        raise SystemExit(1)
    if not delivered.sent:
        ctx.say("No undelivered changes.")


def _say_deliveries(ctx: Context, delivered: DeliveryOutcome) -> None:
    for delivery in delivered.sent:
        ctx.say(terminal_safe(delivered.describe(delivery)))
    for delivery, error in delivered.failures:
        who = delivered.audience_of(delivery)
        click.echo(
            terminal_safe(
                f"trialwatch: digest for {who} not delivered (kept for the next run): {error}"
            ),
            err=True,
        )


@click.command()
@click.option(
    "--changes/--summary",
    "every_change",
    default=None,
    help="Print every change, or one line that counts them (default: every change in a "
    "terminal, the count under cron or when piped).",
)
@pass_context
def run(ctx: Context, every_change: bool | None) -> None:
    """Check, then deliver the digest: the cron entry point. Silent when nothing happened;
    under cron, a few lines: what changed in a count, what was sent where, what failed."""

    if ctx.warn_if_nothing_watched():
        return  # no database here: nothing to do, and none created
    ctx.require_known_destinations()
    with ctx.locked():
        failing_before = ctx.store.watches.failing()
        summary = run_once(ctx.store, ctx.settings, clock=ctx.clock)
    news = news_of_failures(summary.outcome, failing_before)
    told = sys.stdout.isatty() if every_change is None else every_change
    _say_summary(ctx, summary, errors=news, every_change=told)
    if news or summary.delivered.failures:
        raise SystemExit(1)


def news_of_failures(outcome: CheckOutcome, failing_before: dict[str, str]) -> list[CheckError]:
    """The failures worth telling cron: a watch failing as it already did last time was told
    then, and is quiet now (doctor and watch list still show it) until it recovers and fails
    anew. When nothing at all could be checked (the registry down for everyone), every
    failure is told: that is no watch that keeps failing. A loud failure (a record we could
    not read) is told every time."""
    if outcome.errors and outcome.checked == 0:
        return outcome.errors
    return [e for e in outcome.errors if e.loud or failing_before.get(e.item) != e.error]


def _say_summary(
    ctx: Context,
    summary: RunSummary,
    *,
    errors: list[CheckError] | None = None,
    every_change: bool = True,
) -> None:
    if every_change:
        say_events(ctx, summary.outcome)
    else:
        _count_events(ctx, summary.outcome)
    told = summary.outcome.errors if errors is None else errors
    tell_problems(told, summary.outcome.moved)
    for failure in told:
        if failure.gone:
            click.echo(
                f"trialwatch: {failure.item} is not in the registry now (withdrawn from public "
                f"view?): `trialwatch watch remove {failure.item}` stops watching it; until it "
                "comes back, runs will not mention it again (doctor and watch list do)",
                err=True,
            )
    _say_deliveries(ctx, summary.delivered)


def _count_events(ctx: Context, outcome: CheckOutcome) -> None:
    """What changed, in one line, with the command that lists it (cron mails what `run`
    prints: a busy day's hundreds of changes are in the digest already)."""
    events = outcome.events
    if not events:
        return
    trials = len({event.nct_id for event in events})
    since = min(event.detected_at for event in events).date()
    ctx.say(
        f"{counted(len(events), 'change')} in {counted(trials, 'trial')} "
        f"(each: trialwatch changes --since {since})"
    )


@click.command()
@click.option(
    "--cron",
    "cron_expression",
    metavar="EXPR",
    help="Five-field crontab schedule (default: the config's, else '0 7 * * *').",
)
@click.option(
    "--every",
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help="Run every SECONDS instead, starting now.",
)
@click.option(
    "--timezone",
    "timezone_name",
    metavar="TZ",
    help="IANA timezone for --cron, e.g. Europe/Paris (default: local time).",
)
@pass_context
def schedule(
    ctx: Context, cron_expression: str | None, every: int | None, timezone_name: str | None
) -> None:
    """Stay in the foreground and call `run` on a schedule; exit cleanly on SIGTERM/SIGINT."""
    if cron_expression and every:
        raise BadInput("give --cron or --every, not both")
    timezone = parse_timezone(timezone_name or ctx.settings.timezone)
    if every:
        trigger = interval_trigger(every, timezone=timezone)
    else:
        expression = cron_expression or ctx.settings.schedule or DEFAULT_CRON
        trigger = cron_trigger(expression, timezone=timezone)
    ctx.open_store().close()  # a bad database path fails now, not at the first run

    open_chat_transports(ctx.settings)  # and so does a channel Apprise cannot use

    run_forever(
        functools.partial(scheduled_run, ctx),
        trigger,
        timezone=timezone,
        run_now=bool(every),
        on_started=lambda next_run: ctx.say(f"Scheduled: next run at {next_run}"),
    )


def scheduled_run(ctx: Context, stop: threading.Event) -> None:
    """One scheduled run, in the scheduler's thread: its own connection, the shared lock. A
    fault is told and the daemon waits for the next run."""
    try:
        store = ctx.open_store()
    except TrialwatchError as exc:
        click.echo(terminal_safe(f"trialwatch: run not started: {exc}"), err=True)
        return
    try:
        with run_lock(store.path, wait=ctx.settings.lock_wait, now=ctx.clock()):
            summary = run_once(store, ctx.settings, clock=ctx.clock, should_stop=stop.is_set)
        _say_summary(ctx, summary)
        ctx.say(f"{utc_text(ctx.clock())} {summary.log_line()}")
    except TrialwatchError as exc:
        click.echo(terminal_safe(f"trialwatch: run not completed: {exc}"), err=True)
    finally:
        store.close()
