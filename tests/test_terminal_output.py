"""What a person reads in a terminal and in cron mail (issue 38): every table and list a
command prints holds its layout at 80 columns (as when piped, under cron) and at 200, with a
long title and label: nothing past the width, no cell squeezed under 10 characters, a watch
on one or two lines."""

from __future__ import annotations

import re

import pytest

from tests.conftest import SEED_FILES, Trialwatch

NCT = "NCT05869955"
LABEL = "Lupus CAR-T, the competitor's lead programme in Europe"
DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


@pytest.fixture
def busy(trialwatch: Trialwatch) -> Trialwatch:
    """The seed story imported, a long label, and a search with long criteria."""
    assert trialwatch("import", *map(str, SEED_FILES)).code == 0
    assert trialwatch("watch", "edit", NCT, "--label", LABEL).code == 0
    criteria = ["--term", "lupus nephritis refractory", "--condition", "systemic lupus"]
    assert trialwatch("watch", "query", "lupus", *criteria, "--intervention", "CAR T").code == 0
    return trialwatch


@pytest.mark.parametrize("columns", [80, 200])
def test_watch_list_holds_its_layout(busy: Trialwatch, columns: int) -> None:
    shown = busy("watch", "list", env={"COLUMNS": str(columns)}).stdout.splitlines()
    assert max(len(line) for line in shown) <= columns
    rows = [line for line in shown if NCT in line]
    assert len(rows) == 1 and DATE.search(rows[0]) and " ok " in f"{rows[0]} "
    name = rows[0].split(NCT, 1)[1].split(DATE.search(rows[0])[0])[0].strip()  # type: ignore[index]
    assert len(name) >= 10 and name.startswith("Lupus CAR-T")
    [search] = [line for line in shown if line.strip().startswith("lupus ")]
    assert "unchecked" in search and "last check (UTC)" in "\n".join(shown)
    if columns == 200:
        assert "A Study of CC-97540" in rows[0] and "snapshots" in "\n".join(shown)


@pytest.mark.parametrize("command", [("changes",), ("doctor",), ("history", NCT)])
def test_lists_wrap_under_themselves_within_80_columns(
    busy: Trialwatch, command: tuple[str, ...]
) -> None:
    shown = busy(*command, env={"COLUMNS": "80"}).stdout.splitlines()
    assert shown and max(len(line) for line in shown) <= 80
    if command == ("changes",):
        continuation = [line for line in shown if line.startswith(" ")]
        assert continuation and all(line.startswith(" " * 40) for line in continuation)
