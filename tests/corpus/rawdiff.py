"""A reading aid for writing `expected-events.txt` by hand: the raw differences between
consecutive versions in this corpus, one line each, in that file's format.

It uses no trialwatch code on purpose: the expectations must not come from the differ they
judge. Location rows are paired only when facility, city, zip and country are all equal;
rows it cannot pair are listed as removed and added, and a person decides from the record
whether they are one renamed site. Usage: python tests/corpus/rawdiff.py [NCT...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from tests.corpora import tigit_records  # noqa: E402  (where the records are, not trialwatch)

RECORDS = tigit_records()
BOOKKEEPING = {"statusVerifiedDate", "lastUpdateSubmitDate", "lastUpdatePostDateStruct"}
ROW_ID = ("facility", "city", "zip", "country")
ABSENT = "<absent>"


def show(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


def site(row: dict[str, Any]) -> str:
    return " | ".join(str(row.get(name) or "") for name in ("facility", "city", "zip"))


def compare_locations(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    def by_id(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
        grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in rows:
            grouped.setdefault(tuple(row.get(name) for name in ROW_ID), []).append(row)
        return grouped

    old_rows, new_rows = by_id(old), by_id(new)
    for row_id in dict.fromkeys([*old_rows, *new_rows]):
        before, after = old_rows.get(row_id, []), new_rows.get(row_id, [])
        for a, b in zip(before, after, strict=False):
            for name in dict.fromkeys([*a, *b]):
                if a.get(name) != b.get(name):
                    print(f"  ~ {site(b)} :: {name}: {show(a.get(name))} -> {show(b.get(name))}")
        for a in before[len(after) :]:
            print(f"  - {site(a)} :: {a.get('status')} {show(a.get('geoPoint'))}")
        for b in after[len(before) :]:
            print(f"  + {site(b)} :: {b.get('status')} {show(b.get('geoPoint'))}")


def walk(old: Any, new: Any, path: list[str]) -> None:
    if old == new or (path and path[-1] in BOOKKEEPING):
        return
    if path[-1:] == ["locations"]:
        old, new = (rows if isinstance(rows, list) else [] for rows in (old, new))
        print(f"  locations: {len(old)} -> {len(new)} rows")
        compare_locations(old, new)
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in dict.fromkeys([*old, *new]):
            walk(old.get(key, ABSENT), new.get(key, ABSENT), [*path, key])
    else:
        print(f"  {'.'.join(path)}: {show(old)} -> {show(new)}")


def main(ids: list[str]) -> None:
    for trial in sorted(RECORDS.iterdir()):
        if ids and trial.name not in ids:
            continue
        versions = sorted(trial.glob("*.json"))
        for before, after in zip(versions, versions[1:], strict=False):
            print(f"== {trial.name} {before.stem} {after.stem}")
            old, new = (json.loads(p.read_text()) for p in (before, after))
            for key in ("protocolSection", "hasResults", "resultsSection"):
                walk(old.get(key, ABSENT), new.get(key, ABSENT), [key])


if __name__ == "__main__":
    main(sys.argv[1:])
