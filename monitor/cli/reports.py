"""`changes`, `history`, `report` and `demo`: reading what was recorded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from rich.table import Table

from monitor.cli._app import (
    Context,
    format_json,
    invoked_as,
    pass_context,
)
from monitor.cli.options import file_option, folder_option
from monitor.errors import BadInput
from monitor.jobs.demo import replay_demo
from monitor.jobs.report import load_history, write_page, write_report, write_snapshot_files
from monitor.nct_ids import normalise_nct_id
from monitor.records.events import Category, ChangeEvent
from monitor.records.materiality import levels_by_category
from monitor.reports.export import events_csv
from monitor.reports.history import TrialHistory, trial_name
from monitor.reports.history_page import render_history_page

CSV_HELP = (
    "Print CSV instead: one row per event, fixed columns, ISO dates, formula-like text quoted."
)
BOM_HELP = "With --csv: start with a UTF-8 byte order mark (for Excel)."


def _one_format(*, as_json: bool, as_csv: bool, bom: bool) -> None:
    if as_json and as_csv:
        raise BadInput("give --json or --csv, not both")
    if bom and not as_csv:
        raise BadInput("--bom goes with --csv")


def _echo_csv(ctx: Context, events: list[ChangeEvent], *, bom: bool) -> None:

    click.echo(events_csv(events, ctx.reader.watches.trials(), byte_order_mark=bom), nl=False)


@click.command()
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
@click.option("--csv", "as_csv", is_flag=True, help=CSV_HELP)
@click.option("--bom", is_flag=True, help=BOM_HELP)
@pass_context
def changes(
    ctx: Context,
    nct_id: str | None,
    since: dt.datetime | None,
    category: str | None,
    as_json: bool,
    as_csv: bool,
    bom: bool,
) -> None:
    """List stored change events, oldest first."""
    _one_format(as_json=as_json, as_csv=as_csv, bom=bom)
    events = ctx.reader.events.listed(
        nct_id=normalise_nct_id(nct_id) if nct_id else None,
        since=since.replace(tzinfo=dt.UTC) if since else None,  # given in UTC
        category=category,
    )
    if as_json:
        click.echo(format_json([event.to_json() for event in events]))
        return
    if as_csv:
        _echo_csv(ctx, events, bom=bom)
        return
    if not events:
        ctx.say(
            "No changes recorded"
            + (" matching these filters." if nct_id or since or category else ".")
        )
    for event in events:
        ctx.say_wrapped(
            f"{event.detected_at.date()}  {event.nct_id}  {event.category:<14} ", event.summary
        )


@click.command()
@click.argument("nct_id", metavar="NCT")
@click.option("--json", "as_json", is_flag=True, help="Every snapshot and every event, as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help=CSV_HELP + " Oldest first.")
@click.option("--bom", is_flag=True, help=BOM_HELP)
@file_option("--html", "html_file", "Write a self-contained HTML history page to FILE.")
@folder_option(
    "--snapshots",
    "snapshot_dir",
    "Write every stored version of the record to DIR as JSON files (`import` reads them).",
)
@pass_context
def history(
    ctx: Context,
    nct_id: str,
    as_json: bool,
    as_csv: bool,
    bom: bool,
    html_file: Path | None,
    snapshot_dir: Path | None,
) -> None:
    """The change history of one trial: newest first, as text, JSON, CSV or an HTML page, or
    the stored versions of its record as files."""

    _one_format(as_json=as_json, as_csv=as_csv, bom=bom)
    nct_id = normalise_nct_id(nct_id)
    if snapshot_dir is not None:
        written = write_snapshot_files(ctx.reader, nct_id, snapshot_dir)
        ctx.say(f"Wrote {len(written)} version(s) of {nct_id} to {snapshot_dir}")
        return
    trial = load_history(ctx.reader, nct_id)
    if as_csv:
        _echo_csv(ctx, trial.events, bom=bom)
    elif html_file is not None:
        write_page(html_file, render_history_page(trial, generated_at=ctx.clock()))
        ctx.say(f"Wrote {html_file}")
    elif as_json:
        click.echo(format_json(trial.to_json()))
    else:
        _print_history(ctx, trial)


def _print_history(ctx: Context, trial: TrialHistory) -> None:

    name = trial_name(trial.nct_id, trial.acronym)
    ctx.say(f"{name}: {len(trial.events)} change(s) in {len(trial.snapshots)} snapshot(s)")
    for day, events in trial.events_by_day():
        ctx.show_table(
            Table(title=day.isoformat(), title_justify="left", show_header=False, box=None),
            ((event.category, event.summary) for event in events),
        )


@click.command()
@folder_option("--out", "out_dir", "Where to write the pages (default: <data dir>/report).")
@pass_context
def report(ctx: Context, out_dir: Path | None) -> None:
    """An index page of every watched trial and one history page per trial."""

    folder = out_dir or ctx.settings.data_dir / "report"
    levels = levels_by_category(ctx.settings.materiality)
    written = write_report(ctx.reader, folder, now=ctx.clock(), materiality=levels)
    kept = len(written.nct_ids) - written.written
    ctx.say(
        f"Wrote {folder / 'index.html'} for {len(written.nct_ids)} trial(s): "
        f"{written.written} trial page(s) written"
        + (f", {kept} up to date already" if kept else "")
    )


@click.command()
@pass_context
def demo(ctx: Context) -> None:
    """Replay the bundled seed story offline and print what changed (no network, no SMTP)."""

    for line in replay_demo(ctx.settings.data_dir / "demo", command=invoked_as()):
        ctx.say(line)
