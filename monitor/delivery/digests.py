"""Which digests are owed, to whom, and their messages: each audience (the global
recipients, or one per-watch address) gets one message for the events meant for it, rendered,
recorded and handed to `exactly_once`. Changes that only reached the outbox while SMTP was not
configured are mailed in one catch-up once it is.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import json
from dataclasses import dataclass
from email.message import EmailMessage

from monitor.config import Settings
from monitor.delivery.channels import DEFAULT_SENDER, Channel
from monitor.delivery.exactly_once import DeliveryReport, finish_interrupted, send_once
from monitor.reports.render import Digest, render_digest
from monitor.store import Delivery, Store, StoredEvent, Trial


@dataclass(frozen=True)
class Audience:
    """Who gets one message, and which events it carries."""

    recipients: tuple[str, ...]
    event_ids: tuple[int, ...]

    @property
    def key(self) -> str:
        return json.dumps(list(self.recipients))


def plan_audiences(
    events: list[StoredEvent],
    *,
    routes: dict[str, list[str]],
    everyone: tuple[str, ...],
    covered: set[tuple[int, str]],
) -> list[Audience]:
    """Messages still owed: `everyone` gets every event, a per-watch address its trials' events.

    With no recipient at all (the offline default) there is one audience without addresses.
    Pairs in `covered` (already in a delivery) are left out.
    """
    owed: dict[tuple[str, ...], list[int]] = {}
    for event in events:
        audiences = [everyone] if everyone else []
        audiences += [
            (address,) for address in routes.get(event.nct_id, []) if address not in everyone
        ]
        for recipients in audiences or [()]:
            if (event.id, json.dumps(list(recipients))) not in covered:
                owed.setdefault(recipients, []).append(event.id)
    return [Audience(recipients, tuple(ids)) for recipients, ids in sorted(owed.items())]


def message_id_for(audience: Audience, *, domain: str) -> str:
    """The same audience and events always give the same Message-ID: a resend is recognisable."""
    token = hashlib.sha256(f"{audience.key}:{audience.event_ids}".encode()).hexdigest()[:32]
    return f"<{token}.trialwatch@{domain}>"


def build_message(
    digest: Digest, *, sender: str, recipients: tuple[str, ...], message_id: str, date: str
) -> bytes:
    """A multipart/alternative message; only validated addresses and cleaned text in headers."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = digest.subject
    message["From"] = sender
    if recipients:
        message["To"] = ", ".join(recipients)
    message["Date"] = email.utils.format_datetime(dt.datetime.fromisoformat(date))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(digest.text)
    message.add_alternative(digest.html, subtype="html")
    return message.as_bytes()


def deliver_pending(
    store: Store, channel: Channel, *, settings: Settings, now: str
) -> DeliveryReport:
    """Finish interrupted attempts, then send every owed digest; events are marked delivered
    only once every audience's message for them was accepted."""
    report = DeliveryReport(channel=channel)
    if channel.mails:
        _mail_what_only_reached_the_outbox(
            store, channel, settings=settings, report=report, now=now
        )
    finish_interrupted(store, channel, report, now=now)
    events = store.pending_events()
    trials = store.trials()
    routes = {nct_id: trial.recipients for nct_id, trial in trials.items()}
    domain = (settings.mail_from or DEFAULT_SENDER).rpartition("@")[2]
    for audience in plan_audiences(
        events, routes=routes, everyone=settings.mail_to, covered=store.covered()
    ):
        chosen = [event for event in events if event.id in audience.event_ids]
        delivery = _record_digest(
            store, channel, audience, chosen, trials, domain, settings, now, report
        )
        send_once(store, channel, delivery, report, now=now)
    # Which pending events every audience now has (this run's and earlier runs' sent mail):
    still_owed = plan_audiences(
        events, routes=routes, everyone=settings.mail_to, covered=store.covered(states=("sent",))
    )
    owed_ids = {event_id for audience in still_owed for event_id in audience.event_ids}
    store.mark_delivered([e.id for e in events if e.id not in owed_ids], now=now)
    return report


def _record_digest(
    store: Store,
    channel: Channel,
    audience: Audience,
    events: list[StoredEvent],
    trials: dict[str, Trial],
    domain: str,
    settings: Settings,
    now: str,
    report: DeliveryReport,
) -> Delivery:
    """Render the audience's digest and record the attempt (final bytes, Message-ID)."""
    digest = render_digest(events, trials)
    report.digests.append(digest)
    message_id = message_id_for(audience, domain=domain)
    message = build_message(
        digest,
        sender=settings.mail_from or DEFAULT_SENDER,
        recipients=audience.recipients,
        message_id=message_id,
        date=now,
    )
    return store.create_delivery(
        message_id=message_id,
        audience=audience.key,
        channel=channel.name,
        subject=digest.subject,
        message=message,
        event_ids=audience.event_ids,
        now=now,
    )


def _mail_what_only_reached_the_outbox(
    store: Store, channel: Channel, *, settings: Settings, report: DeliveryReport, now: str
) -> None:
    """Digests for addressed recipients written to the outbox while SMTP was not configured:
    their changes go out now, in one catch-up mail per audience (not one per missed run).
    The catch-up is an ordinary delivery (exactly once); the outbox ones are `mailed` once it
    has been handed over, so a crash in between mails nothing twice."""
    domain = (settings.mail_from or DEFAULT_SENDER).rpartition("@")[2]
    trials = store.trials()
    for audience_key, unmailed in store.unmailed_deliveries().items():
        event_ids = tuple(sorted({i for _, ids in unmailed for i in ids}))
        audience = Audience(tuple(json.loads(audience_key)), event_ids)
        state = store.delivery_state(message_id_for(audience, domain=domain))
        if state not in ("sent", "data_sent"):
            events = store.events_by_id(event_ids)
            delivery = _record_digest(
                store, channel, audience, events, trials, domain, settings, now, report
            )
            send_once(store, channel, delivery, report, now=now)
            state = store.delivery_state(delivery.message_id)
        if state in ("sent", "data_sent"):
            store.mark_mailed([delivery_id for delivery_id, _ in unmailed], now=now)
