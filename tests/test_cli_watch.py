"""`trialwatch watch add/remove/list`."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Trialwatch, load_seed, study_with_id
from tests.registry_server import RegistryServer


def test_add_list_and_remove(trialwatch: Trialwatch, registry: RegistryServer) -> None:
    registry.put(load_seed(), study_with_id("NCT00000001"))
    added = trialwatch(
        "watch", "add", "nct05869955", "NCT00000001", "--label", "CAR-T", "--to", "ops@example.org"
    )
    assert added.code == 0, added.stderr
    assert added.stdout.splitlines() == ["Watching NCT05869955", "Watching NCT00000001"]
    assert trialwatch("watch", "add", "NCT05869955").stdout == "Already watching NCT05869955\n"
    # options given again change the watch, and it says so (never silently)
    relabelled = trialwatch("watch", "add", "NCT00000001", "--label", "CAR-T lupus")
    assert relabelled.stdout == (
        "Already watching NCT00000001, now with label CAR-T lupus; to ops@example.org; "
        "channels (none); told everything\n"
    )
    trialwatch("watch", "edit", "NCT00000001", "--label", "CAR-T")
    listed = trialwatch("watch", "list", "--json").json()
    assert [(w["nct_id"], w["label"], w["recipients"]) for w in listed] == [
        ("NCT00000001", "CAR-T", ["ops@example.org"]),
        ("NCT05869955", "CAR-T", ["ops@example.org"]),
    ]
    assert trialwatch("watch", "remove", "NCT00000001").code == 0
    assert [w["nct_id"] for w in trialwatch("watch", "list", "--json").json()] == ["NCT05869955"]


def test_list_shows_a_table_with_status(trialwatch: Trialwatch) -> None:
    trialwatch("watch", "add", "--no-verify", "NCT05869955")
    table = trialwatch("watch", "list").stdout
    assert "NCT05869955" in table and "unchecked" in table


def test_a_malformed_id_adds_nothing(trialwatch: Trialwatch) -> None:
    result = trialwatch("watch", "add", "NCT05869955", "NCT123")
    assert result.code == 2
    assert (
        result.stderr == "trialwatch: not an NCT id: 'NCT123' (expected NCT followed by 8 digits)\n"
    )
    assert trialwatch("watch", "list", "--json").json() == []


@pytest.mark.parametrize("text", ["NCT٠٥٨٦٩٩٥٥", "NCT0586995５", "NCT 05869955", "NCT058699550"])
def test_ids_are_ascii_nct_and_eight_digits(trialwatch: Trialwatch, text: str) -> None:
    result = trialwatch("watch", "add", text)
    assert result.code == 2 and "not an NCT id" in result.stderr
    assert trialwatch("watch", "list", "--json").json() == []


def test_ids_are_normalised(trialwatch: Trialwatch) -> None:
    assert trialwatch("watch", "add", "--no-verify", " nct05869955 ").code == 0
    assert [w["nct_id"] for w in trialwatch("watch", "list", "--json").json()] == ["NCT05869955"]


def test_a_bad_recipient_adds_nothing(trialwatch: Trialwatch) -> None:
    result = trialwatch("watch", "add", "NCT05869955", "--to", "ops@example.org\nBcc: x@evil.test")
    assert result.code == 2 and "line breaks are not allowed" in result.stderr
    assert trialwatch("watch", "list", "--json").json() == []


def test_removing_an_unwatched_trial_is_bad_input(trialwatch: Trialwatch) -> None:
    trialwatch("watch", "add", "--no-verify", "NCT05869955")
    result = trialwatch("watch", "remove", "NCT05869955", "NCT00000002")
    assert (result.code, result.stderr) == (
        2,
        "trialwatch: not watched: NCT00000002 (see `trialwatch watch list`)\n",
    )
    assert [w["nct_id"] for w in trialwatch("watch", "list", "--json").json()] == ["NCT05869955"]


def test_bare_commands_print_the_normal_help(trialwatch: Trialwatch) -> None:
    """`trialwatch` and `trialwatch watch` alone: the usual help, on several lines."""
    for args in ([], ["watch"]):
        result = trialwatch(*args)
        assert result.code == 0 and result.stderr == ""
        assert result.stdout.startswith("Usage: trialwatch")
        assert "\nCommands:\n" in result.stdout and result.stdout.count("\n") > 8


def test_watch_list_never_cuts_ids_or_dates_when_piped_at_80_columns(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id("NCT05869955"))
    trialwatch("watch", "add", "NCT05869955", "--label", "A label long enough to need cutting")
    trialwatch("check")
    listing = trialwatch("watch", "list", env={"COLUMNS": "80"})
    assert "NCT05869955" in listing.stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", listing.stdout)
    assert max(len(line) for line in listing.stdout.splitlines()) <= 80


def test_changes_with_nothing_to_show_says_so(trialwatch: Trialwatch) -> None:
    trialwatch("watch", "list")
    assert trialwatch("changes").stdout == "No changes recorded.\n"
    filtered = trialwatch("changes", "--category", "site_status")
    assert filtered.stdout == "No changes recorded matching these filters.\n"


def test_a_trial_the_registry_does_not_have_is_refused_unless_told_not_to_ask(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id("NCT00000001"))
    refused = trialwatch("watch", "add", "NCT00000001", "NCT99999999")
    assert refused.code == 2
    assert "no such trial in the registry: NCT99999999" in refused.stderr
    assert trialwatch("watch", "list", "--json").json() == []  # nothing was added
    offline = trialwatch("watch", "add", "--no-verify", "NCT99999999")
    assert offline.code == 0 and offline.stdout == "Watching NCT99999999\n"


def test_a_merged_id_is_known_to_the_registry(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(study_with_id("NCT00000001"), study_with_id("NCT00000003"))
    registry.merge("NCT00000001", "NCT00000003")
    assert trialwatch("watch", "add", "NCT00000001").code == 0


def test_an_unreachable_registry_adds_nothing_and_names_no_verify(trialwatch: Trialwatch) -> None:
    result = trialwatch(
        "watch", "add", "NCT00000001", env={"TRIALWATCH_API_URL": "http://127.0.0.1:9"}
    )
    assert result.code == 2 and "--no-verify" in result.stderr
    assert "could not reach the registry at 127.0.0.1" in result.stderr


def test_pasted_study_urls_and_comma_separated_ids_are_read(
    trialwatch: Trialwatch, registry: RegistryServer
) -> None:
    registry.put(*(study_with_id(f"NCT0000000{n}") for n in range(1, 5)))
    added = trialwatch(
        "watch",
        "add",
        "https://clinicaltrials.gov/study/NCT00000001?tab=history",
        "NCT00000002,nct00000003",
        "clinicaltrials.gov/ct2/show/NCT00000004",
    )
    assert added.code == 0, added.stderr
    assert [line.split()[-1] for line in added.stdout.splitlines()] == [
        f"NCT0000000{n}" for n in range(1, 5)
    ]
    other = trialwatch("watch", "add", "https://evil.example/study/NCT00000001")
    assert other.code == 2 and "not a ClinicalTrials.gov study URL" in other.stderr


def test_edit_changes_only_what_is_given(trialwatch: Trialwatch, registry: RegistryServer) -> None:
    registry.put(study_with_id("NCT00000001"))
    trialwatch("watch", "add", "NCT00000001", "--label", "old", "--to", "a@example.org")
    edited = trialwatch("watch", "edit", "NCT00000001", "--label", "new", "--only", "date")
    assert edited.code == 0, edited.stderr
    assert edited.stdout == (
        "NCT00000001: label new; to a@example.org; channels (none); told date\n"
    )
    again = trialwatch("watch", "edit", "NCT00000001", "--to", "b@example.org", "--clear-rule")
    assert again.stdout == (
        "NCT00000001: label new; to b@example.org; channels (none); told everything\n"
    )
    cleared = trialwatch("watch", "edit", "NCT00000001", "--label", "", "--to", "")
    assert cleared.stdout.startswith("NCT00000001: label (none); to (none);")
    unknown = trialwatch("watch", "edit", "NCT00000002", "--label", "x")
    assert unknown.code == 2 and "not watched: NCT00000002" in unknown.stderr
    bad = trialwatch("watch", "edit", "NCT00000001", "--country", "Atlantis")
    assert bad.code == 2 and "no country is called 'Atlantis'" in bad.stderr
