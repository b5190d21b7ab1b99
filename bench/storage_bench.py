"""Bytes per stored snapshot on real records: the 117 versions of 52 real trials of the
real-record corpus (`tests/corpora.py` finds it) imported with `trialwatch import`, against the
same snapshots stored as schema 6 stored them (JSON text), both built in this run. Also what
reading a snapshot back costs next to normalising it, the work a stored normalised form would
save.

    python bench/storage_bench.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlite_utils

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.records.normalise import normalise_study  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.store.schema import MIGRATIONS  # noqa: E402
from tests.corpora import MISSING, tigit_files  # noqa: E402

CORPUS = tigit_files()
SCHEMA_6 = 6


def import_corpus(database: Path) -> None:
    command = [sys.executable, "-m", "monitor", "--db", str(database), "import", *map(str, CORPUS)]
    subprocess.run(command, check=True, capture_output=True)


def as_schema_6(store: Store, path: Path) -> None:
    """The same watches and snapshots as trialwatch stored them before compression."""
    old = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:SCHEMA_6]:
        migration(old)
    old.table("watches").insert_all(store.db.query("select nct_id, added_at from watches"))
    reader = store.snapshot_rows.reader()
    old.table("snapshots").insert_all(
        {**row, "raw": reader.raw(row["id"]).decode()}
        for row in store.db.query(
            "select id, nct_id, fetched_at, last_seen_at, content_hash, source from snapshots"
        )
    )
    old.execute("VACUUM")
    old.close()


def main() -> None:
    if not CORPUS:
        sys.exit(MISSING)
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "trialwatch.db"
        import_corpus(database)
        store = Store.open(database)
        store.db.execute("VACUUM")
        old_path = Path(folder) / "schema6.db"
        as_schema_6(store, old_path)
        rows = list(
            store.db.query(
                "select id, raw_chain, length(raw_zstd) as stored,"
                " length(cast(trialwatch_raw(id) as blob)) as json from snapshots"
            )
        )
        alone = [row for row in rows if row["raw_chain"] == 0]
        deltas = [row for row in rows if row["raw_chain"] > 0]
        for name, group in (("stored alone", alone), ("stored as deltas", deltas), ("all", rows)):
            json_bytes = sum(row["json"] for row in group)
            stored = sum(row["stored"] for row in group)
            print(
                f"{name:17s} {len(group):4d} snapshots: JSON {json_bytes / len(group):8,.0f} B, "
                f"stored {stored / len(group):7,.0f} B, ratio {stored / json_bytes:.3f}"
            )
        print(
            f"database file: {old_path.stat().st_size:,} B as schema 6 (JSON text), "
            f"{database.stat().st_size:,} B now, ratio "
            f"{database.stat().st_size / old_path.stat().st_size:.3f}"
        )
        ids = [row["id"] for row in rows]
        started = time.perf_counter()
        records = [json.loads(store.snapshot_rows.reader().raw(snapshot_id)) for snapshot_id in ids]
        read = (time.perf_counter() - started) / len(ids)
        started = time.perf_counter()
        for record in records:
            normalise_study(record)
        normalise = (time.perf_counter() - started) / len(ids)
        print(
            f"per snapshot: read back and parse {read * 1000:.2f} ms (whole chain, nothing "
            f"cached), normalise {normalise * 1000:.2f} ms"
        )
        store.close()


if __name__ == "__main__":
    main()
