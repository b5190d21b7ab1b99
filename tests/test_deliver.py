"""Delivery planning and message building: who gets which events, and what the message holds."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable

from monitor.delivery.destinations import (
    Audience,
    Destination,
    Mailbox,
    Outbox,
    Owed,
    plan_messages,
)
from monitor.delivery.digests import message_id_for
from monitor.delivery.mail import mail_message
from monitor.delivery.transports import Envelope
from monitor.records.events import Category, ChangeEvent
from monitor.reports.render import ChatBlock, Digest
from monitor.times import moment_of

A, B = "NCT00000001", "NCT00000002"


def event(event_id: int, nct_id: str) -> ChangeEvent:
    return ChangeEvent(
        nct_id,
        moment_of("2026-11-24T07:00:00Z"),
        Category.OTHER,
        "x",
        1,
        2,
        "X: 1 -> 2",
        id=event_id,
        snapshot_id=None,
    )


EVENTS = [event(1, A), event(2, B), event(3, A)]
ALL, WATCHER = Mailbox("all@example.org", True), Mailbox("a@example.org", False, frozenset({A}))


def plan(
    destinations: list[Destination],
    *,
    covered: frozenset[tuple[int, str]] = frozenset(),
    allows: Callable[[ChangeEvent, str | None], bool] = lambda event, name: True,
) -> list[Audience]:
    owed = Owed(EVENTS, set(covered), allows)
    return plan_messages(destinations, owed, due=lambda destination: True)


def test_global_recipients_get_everything_and_watch_recipients_their_trials() -> None:
    assert plan([ALL, WATCHER]) == [Audience((WATCHER,), (1, 3)), Audience((ALL,), (1, 2, 3))]


def test_without_any_recipient_the_outbox_holds_everything() -> None:
    assert plan([Outbox()]) == [Audience((Outbox(),), (1, 2, 3))]
    assert plan([WATCHER, Outbox((WATCHER,))]) == [
        Audience((WATCHER,), (1, 3)),
        Audience((Outbox((WATCHER,)),), (2,)),  # nobody is named for B's change
    ]


def test_events_already_in_a_delivery_are_not_planned_again() -> None:
    covered = frozenset({(1, '["a@example.org"]'), (3, '["a@example.org"]')})
    assert plan([WATCHER, ALL], covered=covered) == [Audience((ALL,), (1, 2, 3))]


def test_each_address_gets_one_message_and_shares_it_only_when_it_is_the_same() -> None:
    """A rule narrowing one address (A only) splits it off; the others still share one."""
    other = Mailbox("ops@example.org", True)
    narrow = Mailbox("de@example.org", True)
    messages = plan(
        [ALL, other, narrow], allows=lambda event, name: name != narrow.address or event.nct_id == A
    )
    assert messages == [Audience((ALL, other), (1, 2, 3)), Audience((narrow,), (1, 3))]
    addressed = [address for message in messages for address in message.recipients]
    assert sorted(addressed) == sorted({*addressed})  # nobody in two messages


def test_message_id_is_deterministic_per_audience_events_carrier_and_database() -> None:
    def message_id(
        recipient: str, events: tuple[int, ...], database: str = "db1", transport: str = "smtp"
    ) -> str:
        audience = Audience((Mailbox(recipient, True),), events)
        return message_id_for(
            audience, transport=transport, domain="example.org", database=database
        )

    one = message_id("a@example.org", (1, 2))
    assert one == message_id("a@example.org", (1, 2))
    assert one != message_id("b@example.org", (1, 2))
    assert one != message_id("a@example.org", (1, 3))
    assert one != message_id("a@example.org", (1, 2), database="db2")  # another home's
    assert one != message_id("a@example.org", (1, 2), transport="outbox")  # its catch-up's
    assert one.startswith("<") and one.endswith(".trialwatch@example.org>")


def test_message_is_multipart_alternative_with_clean_headers() -> None:
    digest = Digest(
        subject="NCT00000001 X: status Recruiting -> Completed",
        text="plain \u00e9",
        html="<p>html \u00e9</p>",
        chat_blocks=(ChatBlock("NCT00000001", "chat \u00e9"),),
    )
    raw = mail_message(
        digest,
        Envelope(
            sender="tw@example.org",
            recipients=("a@example.org",),
            message_id="<m@example.org>",
            date=moment_of("2026-11-24T07:00:03Z"),
        ),
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "a@example.org" and message["From"] == "tw@example.org"
    assert message["Message-ID"] == "<m@example.org>"
    assert message["Date"] == "Tue, 24 Nov 2026 07:00:03 +0000"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and plain.get_content().rstrip() == "plain \u00e9"
    assert html is not None and html.get_content().rstrip() == "<p>html \u00e9</p>"
