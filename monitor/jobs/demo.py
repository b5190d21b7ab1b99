"""The offline demo: replay the bundled seed story through the real pipeline into a fresh
database under `<data dir>/demo/`, render the digest a reader would get, deliver it to the demo's
outbox (HTML page and `.eml`) and write the history report, without network or configuration.
"""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
from pathlib import Path

from monitor.config import Settings
from monitor.delivery.digests import deliver_pending
from monitor.delivery.mail import OutboxTransport
from monitor.jobs.check import DatedStudy, import_studies, read_study_files
from monitor.jobs.report import write_report
from monitor.store import Store
from monitor.times import midnight

PACKAGE_SEEDS = Path(__file__).parents[1] / "seeds"  # where a wheel install puts them
CHECKOUT_SEEDS = Path(__file__).parents[2] / "seeds"  # a source checkout / editable install


def seed_dir() -> Path:
    return PACKAGE_SEEDS if PACKAGE_SEEDS.is_dir() else CHECKOUT_SEEDS


def seed_versions(root: Path) -> list[tuple[str, Path]]:
    """(date, file) for every `seeds/NCT.../YYYY-MM-DD.json`, oldest first."""
    return sorted((path.stem, path) for path in root.glob("NCT*/*.json"))


def seed_checked_at(date: str) -> dt.datetime:
    """When the demo says a seed version was checked: 07:00 UTC on its day."""
    return midnight(dt.date.fromisoformat(date)) + dt.timedelta(hours=7)


def replay_demo(demo_dir: Path, *, command: str = "trialwatch") -> list[str]:
    """Replay every seed version in date order; returns the lines to print, whose hints name
    the program as `command` (as it was started, where `trialwatch` is not on PATH)."""
    demo_dir.mkdir(parents=True, exist_ok=True)
    for leftover in demo_dir.glob("trialwatch.db*"):
        leftover.unlink()
    shutil.rmtree(demo_dir / "outbox", ignore_errors=True)
    settings = Settings(data_dir=demo_dir, db=demo_dir / "trialwatch.db", config_file=None)
    store = Store.open(settings.db, wait=settings.db_wait)
    lines = []
    try:
        versions = seed_versions(seed_dir())
        for date, path in versions:
            fetched_at = seed_checked_at(date)
            studies = [DatedStudy(*one, fetched_at) for one in read_study_files([path])]
            outcome = import_studies(store, studies)
            verdict = f"{len(outcome.events)} change(s)" if outcome.events else "no changes"
            lines.append(f"{date}  {path.parent.name}  {verdict}")
            lines += [f"    {event.summary}" for event in outcome.events]
        outbox = OutboxTransport(demo_dir / "outbox")
        now = seed_checked_at(versions[-1][0])
        delivered = deliver_pending(store, outbox, settings=settings, now=now)
        [digest] = delivered.digests  # one audience: the demo has no recipients
        (demo_dir / "digest.html").write_text(digest.html, encoding="utf-8")
        lines += ["", f"Subject: {digest.subject}", "", digest.text.rstrip(), ""]
        lines.append(f"HTML digest: {demo_dir / 'digest.html'}")
        lines += [f"Email: {outbox.path_for(delivery)}" for delivery in delivered.sent]
        for nct_id in write_report(store, demo_dir / "report", now=now).nct_ids:
            lines.append(f"History page: {demo_dir / 'report' / (nct_id + '.html')}")
        lines.append(f"Atom feed: {demo_dir / 'report' / 'index.atom'}")
        lines.append(f"Demo database: {settings.db}")
        db = shlex.quote(str(settings.db))
        lines += [
            "",
            "Explore what the demo built (it has a database of its own, hence --db):",
            f"  {command} --db {db} history NCT05869955",
            f"  {command} --db {db} changes --category site_status",
            f"  {command} --db {db} history NCT05869955 --html history.html",
        ]
    finally:
        store.close()
    return lines
