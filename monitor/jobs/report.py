"""History pages on disk: load a trial's history from the store, render it, write the files."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import BadInput
from monitor.records.events import search_field
from monitor.records.materiality import Materiality
from monitor.reports.feeds import FEED_ENTRIES, atom_feed
from monitor.reports.history import TrialHistory, build_history, trial_name
from monitor.reports.history_page import render_history_page
from monitor.reports.portfolio import (
    RECENT_DAYS,
    WEEK_DAYS,
    IndexRow,
    index_row,
    render_index,
    render_sites,
    render_week,
)
from monitor.store import Store, Trial
from monitor.times import midnight, utc_text
from monitor.whole_files import write_whole


def load_history(store: Store, nct_id: str, *, trial: Trial | None = None) -> TrialHistory:
    """Everything stored about one trial (`trial`: its watch, when the caller has it); a
    trial never recorded is bad input."""
    trial = trial or store.watches.trials().get(nct_id)
    snapshots = store.snapshots.of(nct_id)
    if trial is None or not snapshots:
        raise no_history(nct_id)
    return build_history(
        nct_id,
        snapshots,
        store.events.listed(nct_id=nct_id),
        title=trial.title,
        acronym=trial.acronym,
    )


def no_history(nct_id: str) -> BadInput:
    return BadInput(f"no history for {nct_id}: watch it and run `trialwatch check` first")


def write_snapshot_files(store: Store, nct_id: str, folder: Path) -> list[Path]:
    """Every stored version of a trial's record as `folder/<fetched time>.json`, the registry's
    JSON as it came, in files `trialwatch import` reads back (into another database, say)."""
    snapshots = store.snapshots.of(nct_id)
    if not snapshots:
        raise no_history(nct_id)
    paths = []
    for _, fetched_at, raw in snapshots:
        paths.append(folder / f"{utc_text(fetched_at).replace(':', '')}.json")
        _write(paths[-1], json.dumps(raw, ensure_ascii=False, indent=2).encode() + b"\n")
    return paths


def write_page(path: Path, html: str) -> None:
    _write(path, html.encode())


def _write(path: Path, content: bytes) -> None:
    """Write atomically (a reader never sees half a page); an unwritable path is bad input."""
    try:
        write_whole(path, content)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from exc


# Bumped whenever what a trial's page or feed shows changes: every page is then written again.
PAGE_FORMAT = 3
STATE = "report-state.json"  # which history each page was built from, and its index row


@dataclass(frozen=True)
class WrittenReport:
    nct_ids: tuple[str, ...]  # the trials in the index, each with a page
    written: int  # trial pages (and feeds) written this time; the rest were up to date


def write_report(
    store: Store,
    folder: Path,
    *,
    now: dt.datetime,
    materiality: Mapping[str, Materiality] | None = None,
) -> WrittenReport:
    """`index.html` (the portfolio's dashboard), `week.html` (the last week's changes), one
    `NCT....html` page per watched trial with history, and the Atom feeds: `index.atom` (every
    change recorded, watched searches' included) and one `NCT....atom` per trial, the most
    material changes first (`materiality`: the config's levels).

    A trial's page and feed are written again only when its history changed since they were
    written (a new event or snapshot) or the page format did; one trial's history is in memory
    at a time.
    """
    trials = store.watches.trials()
    today = now.date()
    state = _read_state(folder)
    rows: list[IndexRow] = []
    written = 0
    for nct_id, stamp in store.snapshots.history_stamps().items():
        kept = state.get(nct_id)
        pages = (folder / f"{nct_id}.html", folder / f"{nct_id}.atom")
        if kept is not None and kept.stamp == stamp and all(page.exists() for page in pages):
            rows.append(kept)
            continue
        trial = load_history(store, nct_id, trial=trials[nct_id])
        title = f"trialwatch: {trial_name(trial.nct_id, trial.acronym)}"
        entries = atom_feed(
            trial.nct_id, title, trial.events, trials, now=now, materiality=materiality
        )
        _write(pages[1], entries)
        page = render_history_page(trial, generated_at=now, feed=pages[1].name, index="index.html")
        write_page(pages[0], page)
        rows.append(index_row(trial, stamp=stamp, today=today, materiality=materiality))
        written += 1
    # Everything recorded: the watched trials' changes and the watched searches' new matches.
    everything = atom_feed(
        "index",
        "trialwatch: every change",
        store.events.of_latest_checks(FEED_ENTRIES),
        trials,
        now=now,
        materiality=materiality,
    )
    _write(folder / "index.atom", everything)
    week = store.events.listed(since=midnight(today - dt.timedelta(days=WEEK_DAYS - 1)))
    with_page = {row.nct_id for row in rows}
    write_page(folder / "week.html", render_week(week, with_page, trials, generated_at=now))
    shared = store.sites.shared()
    write_page(folder / "sites.html", render_sites(shared, with_page, generated_at=now))
    month = midnight(today - dt.timedelta(days=RECENT_DAYS - 1))
    searches = [
        (search, store.events.listed(since=month, field=search_field(search.name)))
        for search in store.searches.rows()
    ]
    write_page(folder / "index.html", render_index(rows, trials, searches, generated_at=now))
    _write_state(folder, rows)
    return WrittenReport(tuple(row.nct_id for row in rows), written)


def _read_state(folder: Path) -> dict[str, IndexRow]:
    """The rows of the pages already in `folder`; none if it holds no report of this format
    (or a state file that cannot be read: every page is then written again). The file is
    JSON lines, a row each after the format's, so a big portfolio's is read a row at a time."""
    try:
        with (folder / STATE).open(encoding="utf-8") as lines:
            if json.loads(next(lines, "{}")).get("format") != PAGE_FORMAT:
                return {}
            rows = (IndexRow.from_json(json.loads(line)) for line in lines)
            return {row.nct_id: row for row in rows}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_state(folder: Path, rows: list[IndexRow]) -> None:
    """Written last: a report cut short leaves the old state, and its pages are written again."""
    lines = [json.dumps({"format": PAGE_FORMAT})]
    lines += (json.dumps(row.to_json(), ensure_ascii=False) for row in rows)
    _write(folder / STATE, "\n".join(lines).encode() + b"\n")
