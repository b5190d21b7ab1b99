"""`trialwatch changes`: stored events, filtered, as text or the spec's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SEED_FILES, SPEC_EVENT_KEYS, Trialwatch, load_seed


@pytest.fixture
def story(trialwatch: Trialwatch) -> Trialwatch:
    assert trialwatch("import", *map(str, SEED_FILES)).code == 0
    return trialwatch


def test_json_lists_every_event_with_the_spec_keys(story: Trialwatch) -> None:
    events = story("changes", "--json").json()
    assert len(events) == 17
    for event in events:
        assert SPEC_EVENT_KEYS <= set(event)
    assert [e["detected_at"] for e in events] == sorted(e["detected_at"] for e in events)


def test_filter_by_category_and_trial(story: Trialwatch) -> None:
    dates = story("changes", "nct05869955", "--category", "date", "--json").json()
    assert [e["field"] for e in dates] == ["primary_completion_date", "completion_date"]
    assert story("changes", "NCT00000001", "--json").json() == []


def test_filter_by_since(story: Trialwatch) -> None:
    # every import in one run shares its detection time: nothing is older than today
    assert len(story("changes", "--since", "2026-01-01", "--json").json()) == 17
    assert story("changes", "--since", "2999-01-01", "--json").json() == []


def test_text_output_is_one_line_per_event(story: Trialwatch) -> None:
    lines = story("changes", "--category", "enrollment").stdout.splitlines()
    assert len(lines) == 1 and lines[0].endswith("enrollment     Enrollment 270 -> 300 (estimated)")


def test_an_unknown_category_is_bad_input(story: Trialwatch) -> None:
    result = story("changes", "--category", "gossip")
    assert result.code == 2 and len(result.stderr.splitlines()) == 1
    assert "gossip" in result.stderr


def test_registry_text_cannot_drive_the_terminal(trialwatch: Trialwatch, tmp_path: Path) -> None:
    before, after = load_seed(), load_seed()
    site = after["protocolSection"]["contactsLocationsModule"]["locations"][0]
    site["facility"] = "Evil \x1b[2J\x1b]0;pwned\x07Clinic\x9b"
    for name, study in (("a.json", before), ("b.json", after)):
        (tmp_path / name).write_text(json.dumps(study))
    trialwatch("import", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    shown = trialwatch("changes").stdout
    assert "Evil Clinic" in shown
    assert not any(char in shown for char in "\x1b\x07\x9b")
