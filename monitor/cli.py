"""The command line: parse input, call one stage function, print, set the exit code.

Errors are caught here and only here: `BadInput` and usage errors exit 2 with one line on
stderr, run-time failures exit 1; a traceback is shown only with `-v`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from monitor import __version__
from monitor.backfill import backfill_trials
from monitor.check import CheckOutcome, read_study_files
from monitor.config import Settings, load_settings, parse_address
from monitor.deliver import DeliveryReport, deliver_pending, open_channel
from monitor.errors import BadInput, RunInProgress, TrialwatchError
from monitor.events import Category
from monitor.history import TrialHistory
from monitor.lock import run_lock
from monitor.normalise import normalise_nct_id
from monitor.render import render_digest, render_history_page
from monitor.report import load_history, write_page, write_report
from monitor.run import RunSummary, recorded_check, recorded_import, registry_client, run_once
from monitor.schedule import (
    DEFAULT_CRON,
    cron_trigger,
    interval_trigger,
    parse_timezone,
    run_forever,
)
from monitor.searches import make_search
from monitor.store import Delivery, Store

logger = logging.getLogger("monitor")
STUDY_STATUSES = [
    "NOT_YET_RECRUITING",
    "RECRUITING",
    "ENROLLING_BY_INVITATION",
    "ACTIVE_NOT_RECRUITING",
    "SUSPENDED",
    "TERMINATED",
    "COMPLETED",
    "WITHDRAWN",
    "UNKNOWN",
    "AVAILABLE",
    "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE",
    "APPROVED_FOR_MARKETING",
    "WITHHELD",
]

# ANSI escape sequences (CSI, OSC, and two-byte escapes), then any other control character.
TERMINAL_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[@-_]"  # other two-byte escapes
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # remaining C0 and C1 controls
)


def terminal_safe(text: str) -> str:
    """Registry text with escape sequences and control characters removed (newlines, tabs kept)."""
    return TERMINAL_ESCAPES.sub("", text)


def format_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Context:
    """What every command gets: settings, an output console and the database on demand."""

    def __init__(self, settings: Settings, *, quiet: bool):
        self.settings = settings
        self.quiet = quiet
        self.stderr = Console(stderr=True, highlight=False)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """The database, opened once on first use."""
        if self._store is None:
            self._store = self.open_store()
        return self._store

    def open_store(self) -> Store:
        """A new connection; the default data directory is created on first use."""
        if self.settings.db == self.settings.data_dir / "trialwatch.db":
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return Store.open(self.settings.db)

    def locked(self) -> AbstractContextManager[None]:
        """The run lock beside the database (opening the database first, so its folder exists)."""
        return run_lock(self.store.path, wait=self.settings.lock_wait)

    def say(self, text: str = "") -> None:
        """Human output on stdout, unless `-q`."""
        if not self.quiet:
            click.echo(terminal_safe(text))

    @contextmanager
    def progress(self, total: int, description: str) -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr when it is a terminal; silent when piped or quiet."""
        with Progress(
            console=self.stderr, disable=self.quiet or not self.stderr.is_terminal, transient=True
        ) as progress:
            task = progress.add_task(description, total=total)
            yield lambda done: progress.advance(task, done)


pass_context = click.make_pass_decorator(Context)


def parse_ids(values: tuple[str, ...]) -> list[str]:
    """Validate every id before anything is done; duplicates collapse."""
    return list(dict.fromkeys(normalise_nct_id(value) for value in values))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trialwatch")
@click.option(
    "--db", "db_path", metavar="PATH", help="SQLite database (default: <data dir>/trialwatch.db)."
)
@click.option("--config", "config_path", metavar="FILE", help="TOML config file.")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(
    ctx: click.Context, db_path: str | None, config_path: str | None, verbose: int, quiet: bool
) -> None:
    """trialwatch: watch ClinicalTrials.gov records and report what changed."""
    level = (
        logging.ERROR if quiet else [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    )
    logging.basicConfig(level=level, format="trialwatch: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(level)
    settings = load_settings(
        environ=os.environ, cwd=Path.cwd(), db_option=db_path, config_option=config_path
    )
    ctx.obj = Context(settings, quiet=quiet)
    ctx.call_on_close(lambda: ctx.obj._store and ctx.obj._store.close())


@cli.group()
def watch() -> None:
    """Add, remove and list watched trials."""


@watch.command("add")
@click.argument("nct_ids", nargs=-1, required=True, metavar="NCT...")
@click.option("--label", help="A name for these trials in lists and digests.")
@click.option(
    "--to",
    "recipients",
    multiple=True,
    metavar="ADDR",
    help="Also mail this trial's changes to ADDR (repeatable).",
)
@pass_context
def watch_add(
    ctx: Context, nct_ids: tuple[str, ...], label: str | None, recipients: tuple[str, ...]
) -> None:
    """Start watching trials (ids are case-insensitive: NCT + 8 digits)."""
    ids = parse_ids(nct_ids)
    addresses = [_parse_option_address(address) for address in recipients]
    added = ctx.store.add_watches(ids, label=label, recipients=addresses, now=utc_now())
    for nct_id in ids:
        ctx.say(f"{'Watching' if nct_id in added else 'Already watching'} {nct_id}")


def _parse_option_address(value: str) -> str:
    try:
        return parse_address(value)
    except ValueError as exc:
        raise BadInput(f"--to: {exc}") from exc


@watch.command("remove")
@click.argument("nct_ids", nargs=-1, required=True, metavar="NCT...")
@pass_context
def watch_remove(ctx: Context, nct_ids: tuple[str, ...]) -> None:
    """Stop watching trials; their stored history stays."""
    ids = parse_ids(nct_ids)
    _require_watched(ctx.store, ids)
    ctx.store.remove_watches(ids)
    for nct_id in ids:
        ctx.say(f"Stopped watching {nct_id}")


def _require_watched(store: Store, ids: list[str]) -> None:
    missing = store.unwatched(ids)
    if missing:
        raise BadInput(f"not watched: {', '.join(missing)} (see `trialwatch watch list`)")


@watch.command("query")
@click.argument("name")
@click.option("--term", help="Free-text search (query.term).")
@click.option("--condition", help="Condition or disease (query.cond).")
@click.option("--intervention", help="Intervention or treatment (query.intr).")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STUDY_STATUSES, case_sensitive=False),
    help="Only trials with this overall status (repeatable).",
)
@click.option("--follow", is_flag=True, help="Start watching every trial that enters the search.")
@pass_context
def watch_query(
    ctx: Context,
    name: str,
    term: str | None,
    condition: str | None,
    intervention: str | None,
    statuses: tuple[str, ...],
    follow: bool,
) -> None:
    """Watch a registry search: report trials entering or leaving it; its first check is a
    baseline."""
    search = make_search(
        name,
        term=term,
        condition=condition,
        intervention=intervention,
        statuses=tuple(status.upper() for status in statuses),
        follow=follow,
    )
    is_new = ctx.store.add_search(search.name, search.to_json(), follow=follow, now=utc_now())
    ctx.say(f"{'Watching' if is_new else 'Updated'} search {search.name}")


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
    watches = ctx.store.list_watches()
    searches = ctx.store.search_rows()
    if as_json:
        click.echo(format_json(searches if list_searches else [w.to_json() for w in watches]))
        return
    if searches:
        table = Table("search", "criteria", "follow", "matches", "last check", "status")
        for row in searches:
            criteria = ", ".join(f"{key}={value}" for key, value in row["params"].items() if value)
            status = (
                f"error: {row['last_error']}"
                if row["last_error"]
                else ("ok" if row["last_checked_at"] else "never checked")
            )
            table.add_row(
                *(
                    terminal_safe(str(cell))
                    for cell in (
                        row["name"],
                        criteria,
                        "yes" if row["follow"] else "no",
                        row["matches"],
                        row["last_checked_at"] or "-",
                        status,
                    )
                )
            )
        if not ctx.quiet:
            Console(highlight=False).print(table)
    if not watches:
        ctx.say("No trials watched. Add one with: trialwatch watch add NCT05869955")
        return
    table = Table("NCT id", "label", "title", "last check", "status", "snapshots", "changes")
    for w in watches:
        status = (
            f"error: {w.last_error}"
            if w.last_error
            else ("ok" if w.last_checked_at else "never checked")
        )
        table.add_row(
            *(
                terminal_safe(str(cell))
                for cell in (
                    w.nct_id,
                    w.label or "",
                    w.acronym or w.title or "",
                    w.last_checked_at or "-",
                    status,
                    w.snapshots,
                    w.events,
                )
            )
        )
    if not ctx.quiet:
        Console(highlight=False).print(table)


@cli.command()
@click.argument("nct_ids", nargs=-1, metavar="[NCT...]")
@click.option(
    "--force",
    is_flag=True,
    help="Fetch every trial even if the registry's data has not moved since the last "
    "complete check.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the spec's JSON object.")
@pass_context
def check(ctx: Context, nct_ids: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Fetch watched trials (or the named ones), store snapshots and change events."""
    ids = parse_ids(nct_ids)
    _require_watched(ctx.store, ids)
    total = len(ids) or len(ctx.store.watched_ids())
    with ctx.locked(), ctx.progress(total, "Checking trials") as advance:
        outcome = recorded_check(
            ctx.store,
            ctx.settings,
            command="check",
            nct_ids=ids or None,
            clock=utc_now,
            force=force,
            on_progress=advance,
        )
    _print_outcome(ctx, outcome, as_json=as_json)


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the spec's JSON object.")
@pass_context
def import_files(ctx: Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Like check, but the study JSON comes from local files (API v2 study JSON)."""
    studies = read_study_files(files)
    with ctx.locked():
        outcome = recorded_import(ctx.store, studies, clock=utc_now)
    _print_outcome(ctx, outcome, as_json=as_json)


def _print_outcome(ctx: Context, outcome: CheckOutcome, *, as_json: bool) -> None:
    if as_json:
        click.echo(format_json(outcome.to_json()))
    else:
        _say_events(ctx, outcome)
        ctx.say(
            f"Checked {outcome.checked} trial(s): {len(outcome.events)} change(s), "
            f"{len(outcome.errors)} error(s)"
        )
    _report_errors(outcome)
    if outcome.errors:
        raise SystemExit(1)


def _say_events(ctx: Context, outcome: CheckOutcome) -> None:
    for event in outcome.events:
        ctx.say(f"{event.nct_id}  {event.summary}")


def _report_errors(outcome: CheckOutcome) -> None:
    for error in outcome.errors:
        click.echo(terminal_safe(f"trialwatch: {error.nct_id}: {error.error}"), err=True)


@cli.command()
@click.option(
    "--stdout",
    "to_stdout",
    is_flag=True,
    help="Print the text digest of undelivered changes; deliver nothing.",
)
@click.option(
    "--outbox",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Write the digest as .eml files to DIR even if SMTP is configured.",
)
@pass_context
def digest(ctx: Context, to_stdout: bool, outbox: Path | None) -> None:
    """Render every undelivered change into a digest and deliver it (SMTP, else the outbox)."""
    if to_stdout:
        click.echo(render_digest(ctx.store.pending_events(), ctx.store.trials()).text, nl=False)
        return
    with ctx.locked(), open_channel(ctx.settings, outbox=outbox) as channel:
        report = deliver_pending(ctx.store, channel, settings=ctx.settings, now=utc_now())
    _say_report(ctx, report, channel_name=channel.name)
    if report.failures:
        raise SystemExit(1)
    if not report.sent:
        ctx.say("No undelivered changes.")


def _say_report(ctx: Context, report: DeliveryReport, *, channel_name: str) -> None:
    for delivery in report.sent:
        ctx.say(f"Delivered {delivery.subject} -> {_audience(delivery, channel_name)}")
    for delivery, error in report.failures:
        click.echo(
            terminal_safe(
                f"trialwatch: digest for {_audience(delivery, channel_name)} not delivered "
                f"(kept for the next run): {error}"
            ),
            err=True,
        )


def _audience(delivery: Delivery, channel_name: str) -> str:
    return ", ".join(delivery.recipients) or channel_name


@cli.command()
@pass_context
def run(ctx: Context) -> None:
    """Check, then deliver the digest: the cron entry point. Silent when nothing happened."""
    with ctx.locked():
        summary = run_once(ctx.store, ctx.settings, clock=utc_now)
    _say_summary(ctx, summary)
    if summary.outcome.errors or summary.report.failures:
        raise SystemExit(1)


def _say_summary(ctx: Context, summary: RunSummary) -> None:
    _say_events(ctx, summary.outcome)
    _report_errors(summary.outcome)
    _say_report(ctx, summary.report, channel_name="outbox")


@cli.command()
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

    def job(stop: threading.Event) -> None:
        """One scheduled run, in the scheduler's thread: its own connection, the shared lock."""
        try:
            store = ctx.open_store()
        except TrialwatchError as exc:
            click.echo(terminal_safe(f"trialwatch: run not started: {exc}"), err=True)
            return
        try:
            with run_lock(store.path, wait=ctx.settings.lock_wait):
                summary = run_once(store, ctx.settings, clock=utc_now, should_stop=stop.is_set)
            _say_summary(ctx, summary)
            ctx.say(f"{utc_now()} {summary.log_line()}")
        except TrialwatchError as exc:
            click.echo(terminal_safe(f"trialwatch: run not completed: {exc}"), err=True)
        finally:
            store.close()

    run_forever(
        job,
        trigger,
        timezone=timezone,
        run_now=bool(every),
        on_started=lambda next_run: ctx.say(f"Scheduled: next run at {next_run}"),
    )


@cli.command()
@click.argument("nct_id", required=False, metavar="[NCT]")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only events detected on or after this date (YYYY-MM-DD).",
)
@click.option(
    "--category",
    type=click.Choice([str(c) for c in Category]),
    help="Only events of this category.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of events.")
@pass_context
def changes(
    ctx: Context, nct_id: str | None, since: dt.datetime | None, category: str | None, as_json: bool
) -> None:
    """List stored change events, oldest first."""
    events = ctx.store.list_events(
        nct_id=normalise_nct_id(nct_id) if nct_id else None,
        since=since.strftime("%Y-%m-%dT%H:%M:%S") if since else None,
        category=category,
    )
    if as_json:
        click.echo(format_json(events))
        return
    for event in events:
        ctx.say(
            f"{event['detected_at'][:10]}  {event['nct_id']}  {event['category']:<14} "
            f"{event['summary']}"
        )


@cli.command()
@click.argument("nct_ids", nargs=-1, required=True, metavar="NCT...")
@click.option(
    "--notify",
    is_flag=True,
    help="Deliver the backfilled changes in the next digest (default: history only).",
)
@pass_context
def backfill(ctx: Context, nct_ids: tuple[str, ...], notify: bool) -> None:
    """Import every past version of the trials from the registry's record history, oldest first."""
    ids = parse_ids(nct_ids)
    history_url = ctx.settings.history_url
    with ctx.locked(), registry_client(ctx.settings, base_url=history_url) as client:
        outcomes, errors = backfill_trials(ctx.store, client, ids, notify=notify, clock=utc_now)
    for outcome in outcomes:
        span = f" ({outcome.first_date} to {outcome.last_date})" if outcome.stored else ""
        ctx.say(
            f"{outcome.nct_id}: {outcome.stored} version(s) stored{span}, "
            f"{outcome.skipped} already covered, {len(outcome.events)} change(s)"
        )
    for error in errors:
        click.echo(terminal_safe(f"trialwatch: {error.nct_id}: {error.error}"), err=True)
    if errors:
        raise SystemExit(1)


@cli.command()
@click.argument("nct_id", metavar="NCT")
@click.option("--json", "as_json", is_flag=True, help="Every snapshot and every event, as JSON.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Write a self-contained HTML history page to FILE.",
)
@pass_context
def history(ctx: Context, nct_id: str, as_json: bool, html_file: Path | None) -> None:
    """The change history of one trial: newest first, as text, JSON or an HTML page."""
    trial = load_history(ctx.store, normalise_nct_id(nct_id))
    if html_file is not None:
        write_page(html_file, render_history_page(trial, generated_at=utc_now()))
        ctx.say(f"Wrote {html_file}")
    elif as_json:
        click.echo(format_json(trial.to_json()))
    else:
        _print_history(ctx, trial)


def _print_history(ctx: Context, trial: TrialHistory) -> None:
    name = " ".join(part for part in (trial.nct_id, trial.acronym) if part)
    ctx.say(f"{name}: {len(trial.events)} change(s) in {len(trial.snapshots)} snapshot(s)")
    console = Console(highlight=False, markup=False)
    for day, events in trial.events_by_day():
        table = Table(title=day, title_justify="left", show_header=False, box=None)
        for event in events:
            table.add_row(event["category"], terminal_safe(event["summary"]))
        if not ctx.quiet:
            console.print(table)


@cli.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Where to write the pages (default: <data dir>/report).",
)
@pass_context
def report(ctx: Context, out_dir: Path | None) -> None:
    """An index page of every watched trial and one history page per trial."""
    folder = out_dir or ctx.settings.data_dir / "report"
    histories = write_report(ctx.store, folder, now=utc_now())
    ctx.say(f"Wrote {folder / 'index.html'} and {len(histories)} trial page(s)")


@cli.command()
@pass_context
def demo(ctx: Context) -> None:
    """Replay the bundled seed story offline and print what changed (no network, no SMTP)."""
    from monitor.demo import run_demo

    for line in run_demo(ctx.settings.data_dir / "demo"):
        ctx.say(line)


def main() -> NoReturn:
    """Console entry point: run the CLI and turn every failure into an exit code."""
    try:
        code = cli.main(prog_name="trialwatch", standalone_mode=False)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except click.exceptions.Abort:
        _fail("interrupted", 130)
    except RunInProgress as exc:
        _fail(str(exc), 0)
    except BadInput as exc:
        _fail(str(exc), 2)
    except TrialwatchError as exc:
        _fail(str(exc), 1)
    except Exception as exc:  # the edge: anything unexpected is one line, traceback with -v
        _fail(f"internal error: {type(exc).__name__}: {exc}", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr; the traceback too when -v made the log level INFO or lower."""
    if logging.getLogger().isEnabledFor(logging.INFO):
        logger.exception("details")
    click.echo(terminal_safe(f"trialwatch: {message}").replace("\n", " "), err=True)
    sys.exit(code)
