"""The offline demo: replay the bundled seed story through the real pipeline into a fresh
database under `<data dir>/demo/`, then show the changes and the digest a reader would get.
"""

from __future__ import annotations

from pathlib import Path

from monitor.check import import_studies, read_study_files
from monitor.render import render_text_digest
from monitor.store import Store

PACKAGE_SEEDS = Path(__file__).parent / "seeds"  # where a wheel install puts them
CHECKOUT_SEEDS = Path(__file__).parent.parent / "seeds"  # a source checkout / editable install


def seed_dir() -> Path:
    return PACKAGE_SEEDS if PACKAGE_SEEDS.is_dir() else CHECKOUT_SEEDS


def seed_versions(root: Path) -> list[tuple[str, Path]]:
    """(date, file) for every `seeds/NCT.../YYYY-MM-DD.json`, oldest first."""
    return sorted((path.stem, path) for path in root.glob("NCT*/*.json"))


def run_demo(demo_dir: Path) -> list[str]:
    """Replay every seed version in date order; returns the lines to print."""
    demo_dir.mkdir(parents=True, exist_ok=True)
    for leftover in demo_dir.glob("trialwatch.db*"):
        leftover.unlink()
    store = Store.open(demo_dir / "trialwatch.db")
    lines = []
    try:
        for date, path in seed_versions(seed_dir()):
            outcome = import_studies(
                store, read_study_files([path]), fetched_at=f"{date}T07:00:00Z"
            )
            verdict = f"{len(outcome.events)} change(s)" if outcome.events else "no changes"
            lines.append(f"{date}  {path.parent.name}  {verdict}")
            lines += [f"    {event.summary}" for event in outcome.events]
        trials = {watch.nct_id: watch.to_json() for watch in store.list_watches()}
        lines += ["", render_text_digest(store.list_events(), trials).rstrip()]
        lines += ["", f"Demo database: {demo_dir / 'trialwatch.db'}"]
    finally:
        store.close()
    return lines
