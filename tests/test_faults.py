"""Faults from issue 9 that earlier tests did not cover: hostile text everywhere, a huge record,
a watched trial that vanishes from the registry."""

from __future__ import annotations

import copy
import email
import email.policy
import json
import re
import sqlite3

from tests.conftest import load_seed, study_with_id

A, B = "NCT00000001", "NCT00000002"
HOSTILE = '<b onmouseover="x()">\x1b[31m\x1b]0;owned\x07\x00\r\nBcc: evil@example.org</b>'


def poisoned(value):
    """Every string in a record with hostile markup and control sequences appended."""
    if isinstance(value, str):
        return value + HOSTILE
    if isinstance(value, dict):
        return {key: poisoned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [poisoned(item) for item in value]
    return value


def test_hostile_text_in_every_field_stays_inert(trialwatch, tmp_path, home):
    before = load_seed()
    after = copy.deepcopy(before)
    for module in (
        "descriptionModule",
        "conditionsModule",
        "contactsLocationsModule",
        "eligibilityModule",
        "armsInterventionsModule",
    ):
        after["protocolSection"][module] = poisoned(after["protocolSection"][module])
    after["protocolSection"]["identificationModule"]["acronym"] += HOSTILE
    for name, study in (("a.json", before), ("b.json", after)):
        (tmp_path / name).write_text(json.dumps(study))
    assert trialwatch("import", str(tmp_path / "a.json"), str(tmp_path / "b.json")).code == 0
    shown = trialwatch("changes").stdout + trialwatch("history", "NCT05869955").stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", shown)
    assert trialwatch("digest").code == 0
    [eml] = (home / "outbox").glob("*.eml")
    raw = eml.read_bytes()
    headers = raw.split(b"\r\n\r\n", 1)[0]
    # the hostile text may appear inside the (folded) Subject value, never as a header line
    assert not re.search(rb"(^|\r\n)Bcc:", headers) and b"\x1b" not in headers
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert "Bcc" not in message
    page = tmp_path / "history.html"
    trialwatch("history", "NCT05869955", "--html", str(page))
    for html in (page.read_text(), message.get_body(("html",)).get_content()):
        assert "<b onmouseover" not in html and "&lt;b onmouseover" in html


def test_a_ten_megabyte_record_is_checked(trialwatch, registry, home):
    huge = study_with_id(A)
    huge["protocolSection"]["descriptionModule"]["detailedDescription"] = "word " * 2_000_000
    registry.put(huge, study_with_id(B))
    trialwatch("watch", "add", A, B)
    result = trialwatch("check", "--json", env={"TRIALWATCH_TIMEOUT": "30"})
    assert result.code == 0 and result.json()["checked"] == 2
    with sqlite3.connect(home / "trialwatch.db") as conn:
        [(size,)] = conn.execute("select length(raw) from snapshots where nct_id = ?", [A])
    assert size > 10_000_000


def test_a_watched_trial_removed_from_the_registry_keeps_its_history(trialwatch, registry, home):
    registry.put(study_with_id(A), study_with_id(B))
    trialwatch("watch", "add", A, B)
    trialwatch("check")
    del registry.studies[A]
    registry.put(study_with_id(B))  # the registry publishes: data timestamp moves
    result = trialwatch("check", "--json", "--full")
    assert result.code == 1
    assert result.json()["errors"] == [{"nct_id": A, "error": "not found in the registry"}]
    assert result.json()["checked"] == 1
    listed = {
        w["nct_id"]: (w["snapshots"], w["last_error"])
        for w in trialwatch("watch", "list", "--json").json()
    }
    assert listed == {A: (1, "not found in the registry"), B: (1, None)}
    history = trialwatch("history", A, "--json")
    assert history.code == 0 and len(history.json()["snapshots"]) == 1


def test_registry_text_is_never_read_as_terminal_markup(trialwatch, registry):
    marked_up = study_with_id(A)
    identification = marked_up["protocolSection"]["identificationModule"]
    identification["acronym"] = "[link=http://evil.example]Click[/link] [bold]me[/bold]"
    registry.put(marked_up)
    trialwatch("watch", "add", A)
    trialwatch("check")
    listed = trialwatch("watch", "list").stdout
    assert "[link=http://evil.example]Click[/link]" in listed
    changed = study_with_id(A, marked_up)
    changed["protocolSection"]["statusModule"]["overallStatus"] = "[red]COMPLETED[/red]"
    registry.put(changed)
    trialwatch("check")
    assert "Recruiting -> [red]completed[/red]" in trialwatch("history", A).stdout
