"""`trialwatch watch add/remove/list`."""

from __future__ import annotations

import re

import pytest

from tests.conftest import study_with_id


def test_add_list_and_remove(trialwatch):
    added = trialwatch(
        "watch", "add", "nct05869955", "NCT00000001", "--label", "CAR-T", "--to", "ops@example.org"
    )
    assert added.code == 0, added.stderr
    assert added.stdout.splitlines() == ["Watching NCT05869955", "Watching NCT00000001"]
    assert trialwatch("watch", "add", "NCT05869955").stdout == "Already watching NCT05869955\n"
    listed = trialwatch("watch", "list", "--json").json()
    assert [(w["nct_id"], w["label"], w["recipients"]) for w in listed] == [
        ("NCT00000001", "CAR-T", ["ops@example.org"]),
        ("NCT05869955", "CAR-T", ["ops@example.org"]),
    ]
    assert trialwatch("watch", "remove", "NCT00000001").code == 0
    assert [w["nct_id"] for w in trialwatch("watch", "list", "--json").json()] == ["NCT05869955"]


def test_list_shows_a_table_with_status(trialwatch):
    trialwatch("watch", "add", "NCT05869955")
    table = trialwatch("watch", "list").stdout
    assert "NCT05869955" in table and "never checked" in table


def test_a_malformed_id_adds_nothing(trialwatch):
    result = trialwatch("watch", "add", "NCT05869955", "NCT123")
    assert result.code == 2
    assert (
        result.stderr == "trialwatch: not an NCT id: 'NCT123' (expected NCT followed by 8 digits)\n"
    )
    assert trialwatch("watch", "list", "--json").json() == []


@pytest.mark.parametrize("text", ["NCT٠٥٨٦٩٩٥٥", "NCT0586995５", "NCT 05869955", "NCT058699550"])
def test_ids_are_ascii_nct_and_eight_digits(trialwatch, text):
    result = trialwatch("watch", "add", text)
    assert result.code == 2 and "not an NCT id" in result.stderr
    assert trialwatch("watch", "list", "--json").json() == []


def test_ids_are_normalised(trialwatch):
    assert trialwatch("watch", "add", " nct05869955 ").code == 0
    assert [w["nct_id"] for w in trialwatch("watch", "list", "--json").json()] == ["NCT05869955"]


def test_a_bad_recipient_adds_nothing(trialwatch):
    result = trialwatch("watch", "add", "NCT05869955", "--to", "ops@example.org\nBcc: x@evil.test")
    assert result.code == 2 and "line breaks are not allowed" in result.stderr
    assert trialwatch("watch", "list", "--json").json() == []


def test_removing_an_unwatched_trial_is_bad_input(trialwatch):
    trialwatch("watch", "add", "NCT05869955")
    result = trialwatch("watch", "remove", "NCT05869955", "NCT00000002")
    assert (result.code, result.stderr) == (
        2,
        "trialwatch: not watched: NCT00000002 (see `trialwatch watch list`)\n",
    )
    assert [w["nct_id"] for w in trialwatch("watch", "list", "--json").json()] == ["NCT05869955"]


def test_bare_commands_print_the_normal_help(trialwatch):
    """`trialwatch` and `trialwatch watch` alone: the usual help, on several lines."""
    for args in ([], ["watch"]):
        result = trialwatch(*args)
        assert result.code == 0 and result.stderr == ""
        assert result.stdout.startswith("Usage: trialwatch")
        assert "\nCommands:\n" in result.stdout and result.stdout.count("\n") > 8


def test_watch_list_never_cuts_ids_or_dates_when_piped_at_80_columns(trialwatch, registry):
    registry.put(study_with_id("NCT05869955"))
    trialwatch("watch", "add", "NCT05869955", "--label", "A label long enough to need cutting")
    trialwatch("check")
    listing = trialwatch("watch", "list", env={"COLUMNS": "80"})
    assert "NCT05869955" in listing.stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", listing.stdout)
    assert max(len(line) for line in listing.stdout.splitlines()) <= 80


def test_changes_with_nothing_to_show_says_so(trialwatch):
    trialwatch("watch", "list")
    assert trialwatch("changes").stdout == "No changes recorded.\n"
    filtered = trialwatch("changes", "--category", "site_status")
    assert filtered.stdout == "No changes recorded matching these filters.\n"
