"""Delivery planning and message building: who gets which events, and what the message holds."""

from __future__ import annotations

import email
import email.policy

from monitor.delivery.digests import Audience, build_message, message_id_for, plan_audiences
from monitor.records.events import Category, ChangeEvent
from monitor.reports.render import ChatBlock, Digest
from monitor.times import moment_of

A, B = "NCT00000001", "NCT00000002"


def event(event_id: int, nct_id: str) -> ChangeEvent:
    return ChangeEvent(
        nct_id, "t", Category.OTHER, "x", 1, 2, "X: 1 -> 2", id=event_id, snapshot_id=None
    )


EVENTS = [event(1, A), event(2, B), event(3, A)]


def test_global_recipients_get_everything_and_watch_recipients_their_trials():
    plan = plan_audiences(
        EVENTS,
        routes={A: ["a@example.org", "all@example.org"]},
        everyone=("all@example.org",),
        covered=set(),
    )
    assert plan == [
        Audience(("a@example.org",), (1, 3)),
        Audience(("all@example.org",), (1, 2, 3)),
    ]


def test_without_any_recipient_one_digest_holds_everything():
    assert plan_audiences(EVENTS, routes={}, everyone=(), covered=set()) == [
        Audience((), (1, 2, 3))
    ]


def test_events_already_in_a_delivery_are_not_planned_again():
    covered = {(1, '["a@example.org"]'), (3, '["a@example.org"]')}
    plan = plan_audiences(EVENTS, routes={A: ["a@example.org"]}, everyone=(), covered=covered)
    assert plan == [Audience((), (2,))]


def test_message_id_is_deterministic_per_audience_events_and_database():
    def message_id(recipient: str, events: tuple[int, ...], database: str = "db1") -> str:
        return message_id_for(
            Audience((recipient,), events), domain="example.org", database=database
        )

    one = message_id("a@example.org", (1, 2))
    assert one == message_id("a@example.org", (1, 2))
    assert one != message_id("b@example.org", (1, 2))
    assert one != message_id("a@example.org", (1, 3))
    assert one != message_id("a@example.org", (1, 2), database="db2")  # another home's
    assert one.startswith("<") and one.endswith(".trialwatch@example.org>")


def test_message_is_multipart_alternative_with_clean_headers():
    digest = Digest(
        subject="NCT00000001 X: status Recruiting -> Completed",
        text="plain \u00e9",
        html="<p>html \u00e9</p>",
        chat_blocks=(ChatBlock("NCT00000001", "chat \u00e9"),),
    )
    raw = build_message(
        digest,
        sender="tw@example.org",
        recipients=("a@example.org",),
        message_id="<m@example.org>",
        date=moment_of("2026-11-24T07:00:03Z"),
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "a@example.org" and message["From"] == "tw@example.org"
    assert message["Message-ID"] == "<m@example.org>"
    assert message["Date"] == "Tue, 24 Nov 2026 07:00:03 +0000"
    assert message.get_body(("plain",)).get_content().rstrip() == "plain \u00e9"
    assert message.get_body(("html",)).get_content().rstrip() == "<p>html \u00e9</p>"
