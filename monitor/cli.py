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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from monitor import __version__
from monitor.check import CheckOutcome, check_trials, import_studies, read_study_files
from monitor.config import Settings, load_settings, parse_address
from monitor.deliver import DeliveryReport, deliver_pending, open_channel
from monitor.errors import BadInput, TrialwatchError
from monitor.events import Category
from monitor.normalise import normalise_nct_id
from monitor.registry import RegistryClient
from monitor.render import render_digest
from monitor.store import Delivery, Store

logger = logging.getLogger("monitor")

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
        if self._store is None:
            if self.settings.db == self.settings.data_dir / "trialwatch.db":
                self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._store = Store.open(self.settings.db)
        return self._store

    def registry(self) -> RegistryClient:
        return RegistryClient(
            self.settings.api_url,
            request_interval=self.settings.request_interval,
            timeout=self.settings.timeout,
            max_attempts=self.settings.max_attempts,
            backoff_base=self.settings.backoff_base,
        )

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


@watch.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_context
def watch_list(ctx: Context, as_json: bool) -> None:
    """List watched trials with their last check time and status."""
    watches = ctx.store.list_watches()
    if as_json:
        click.echo(format_json([w.to_json() for w in watches]))
        return
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
@click.option("--json", "as_json", is_flag=True, help="Print the spec's JSON object.")
@pass_context
def check(ctx: Context, nct_ids: tuple[str, ...], as_json: bool) -> None:
    """Fetch watched trials (or the named ones), store snapshots and change events."""
    ids = parse_ids(nct_ids)
    _require_watched(ctx.store, ids)
    run_id = ctx.store.start_run("check", now=utc_now())
    outcome = _check_watched(ctx, ids or ctx.store.watched_ids())
    _finish(ctx, run_id, outcome, as_json=as_json)


def _check_watched(ctx: Context, ids: list[str]) -> CheckOutcome:
    with ctx.registry() as client, ctx.progress(len(ids), "Checking trials") as advance:
        return check_trials(
            ctx.store,
            ids,
            client=client,
            clock=utc_now,
            batch_size=ctx.settings.batch_size,
            on_progress=advance,
        )


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the spec's JSON object.")
@pass_context
def import_files(ctx: Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Like check, but the study JSON comes from local files (API v2 study JSON)."""
    studies = read_study_files(files)
    run_id = ctx.store.start_run("import", now=utc_now())
    outcome = import_studies(ctx.store, studies, fetched_at=utc_now())
    _finish(ctx, run_id, outcome, as_json=as_json)


def _finish(ctx: Context, run_id: int, outcome: CheckOutcome, *, as_json: bool) -> None:
    _record_run(ctx, run_id, outcome)
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


def _record_run(ctx: Context, run_id: int, outcome: CheckOutcome) -> None:
    ctx.store.finish_run(
        run_id,
        now=utc_now(),
        checked=outcome.checked,
        changes=len(outcome.events),
        errors=outcome.to_json()["errors"],
    )


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
    report = _deliver(ctx, outbox=outbox)
    if report.failures:
        raise SystemExit(1)
    if not report.sent:
        ctx.say("No undelivered changes.")


def _deliver(ctx: Context, *, outbox: Path | None = None) -> DeliveryReport:
    """Deliver owed digests and say what went where."""
    with open_channel(ctx.settings, outbox=outbox) as channel:
        report = deliver_pending(ctx.store, channel, settings=ctx.settings, now=utc_now())
    for delivery in report.sent:
        ctx.say(f"Delivered {delivery.subject} -> {_audience(delivery, channel.name)}")
    for delivery, error in report.failures:
        click.echo(
            terminal_safe(
                f"trialwatch: digest for {_audience(delivery, channel.name)} not delivered "
                f"(kept for the next run): {error}"
            ),
            err=True,
        )
    return report


def _audience(delivery: Delivery, channel_name: str) -> str:
    return ", ".join(delivery.recipients) or channel_name


@cli.command()
@pass_context
def run(ctx: Context) -> None:
    """Check, then deliver the digest: the cron entry point. Silent when nothing happened."""
    run_id = ctx.store.start_run("run", now=utc_now())
    outcome = _check_watched(ctx, ctx.store.watched_ids())
    _record_run(ctx, run_id, outcome)
    _say_events(ctx, outcome)
    _report_errors(outcome)
    report = _deliver(ctx)
    if outcome.errors or report.failures:
        raise SystemExit(1)


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
