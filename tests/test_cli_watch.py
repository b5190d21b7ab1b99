"""`trialwatch watch add/remove/list`."""

from __future__ import annotations

import pytest


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
