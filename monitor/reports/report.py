"""History pages on disk: load a trial's history from the store, render it, write the files."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from monitor.errors import BadInput
from monitor.records.materiality import Materiality
from monitor.reports.history import TrialHistory, build_history, trial_name
from monitor.reports.render import render_history_page, render_report_index
from monitor.store import Store
from monitor.whole_files import write_whole


def load_history(store: Store, nct_id: str) -> TrialHistory:
    """Everything stored about one trial; a trial never recorded is bad input."""
    trial = store.trials().get(nct_id)
    snapshots = store.snapshots_of(nct_id)
    if trial is None or not snapshots:
        raise no_history(nct_id)
    return build_history(
        nct_id,
        snapshots,
        store.list_events(nct_id=nct_id),
        title=trial.title,
        acronym=trial.acronym,
    )


def no_history(nct_id: str) -> BadInput:
    return BadInput(f"no history for {nct_id}: watch it and run `trialwatch check` first")


SNAPSHOT_NAME_UNSAFE = re.compile(r"[^0-9A-Za-z_.+-]|^\.")  # a time is all it may hold


def write_snapshot_files(store: Store, nct_id: str, folder: Path) -> list[Path]:
    """Every stored version of a trial's record as `folder/<fetched time>.json`, the registry's
    JSON as it came, in files `trialwatch import` reads back (into another database, say)."""
    snapshots = store.snapshots_of(nct_id)
    if not snapshots:
        raise no_history(nct_id)
    paths = []
    for _, fetched_at, raw in snapshots:
        paths.append(folder / f"{SNAPSHOT_NAME_UNSAFE.sub('_', fetched_at.replace(':', ''))}.json")
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


def write_report(
    store: Store,
    folder: Path,
    *,
    now: str,
    materiality: Mapping[str, Materiality] | None = None,
) -> list[TrialHistory]:
    """`index.html` for every watched trial with history, plus one `NCT....html` page each,
    and their Atom feeds: `index.atom` (every change recorded, watched searches' included) and
    one `NCT....atom` each, the most material changes first (`materiality`: the config's
    levels)."""
    from monitor.reports.feeds import atom_feed

    histories = [
        load_history(store, nct_id)
        for nct_id in store.watched_ids()
        if store.latest_hash(nct_id) is not None
    ]
    trials = store.trials()
    for trial in histories:
        feed = f"{trial.nct_id}.atom"
        title = f"trialwatch: {trial_name(trial.nct_id, trial.acronym)}"
        entries = atom_feed(
            trial.nct_id, title, trial.events, trials, now=now, materiality=materiality
        )
        _write(folder / feed, entries)
        page = render_history_page(trial, generated_at=now, feed=feed)
        write_page(folder / f"{trial.nct_id}.html", page)
    # Everything recorded: the watched trials' changes and the watched searches' new matches.
    title = "trialwatch: every change"
    everything = atom_feed(
        "index", title, store.list_events(), trials, now=now, materiality=materiality
    )
    _write(folder / "index.atom", everything)
    write_page(
        folder / "index.html", render_report_index(histories, generated_at=now, feed="index.atom")
    )
    return histories
