"""Which digests are owed, to whom, and their messages: each audience (the global
recipients, or one per-watch address) gets one message for the events meant for it, rendered,
recorded and handed to `exactly_once`; so does each chat or webhook channel, with a short
Markdown digest. Changes that only reached the outbox while SMTP was not
configured are mailed in one catch-up once it is.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from email.message import EmailMessage
from functools import cached_property

from monitor.config import Settings, parse_timezone
from monitor.delivery.cadence import due_destinations
from monitor.delivery.exactly_once import (
    DeliveryOutcome,
    Sending,
    finish_interrupted,
    send_once,
)
from monitor.delivery.transports import DEFAULT_SENDER, MissingTransport, Transport
from monitor.records.events import Category, ChangeEvent
from monitor.records.materiality import levels_by_kind
from monitor.records.rules import Change, Rule
from monitor.reports.render import Digest, render_digest
from monitor.store import (
    DELIVERED_STATES,
    Delivery,
    DeliveryState,
    Destination,
    Store,
    Trial,
    audience_key,
)

HANDED_OVER = (DeliveryState.DATA_SENT, *DELIVERED_STATES)  # a catch-up in these states went out


@dataclass(frozen=True)
class Audience:
    """Who gets one message, and which events it carries: mail recipients, or one chat or
    webhook channel (by name)."""

    recipients: tuple[str, ...]
    event_ids: tuple[int, ...]
    channel: str | None = None
    catch_up: bool = False  # the mail of digests that only reached the outbox

    @cached_property
    def key(self) -> str:
        return Destination(self.recipients, self.channel).key


def plan_audiences(
    events: list[ChangeEvent],
    *,
    routes: dict[str, list[str]],
    everyone: tuple[str, ...],
    covered: set[tuple[int, str]],
    channel_routes: dict[str, list[str]] | None = None,
    everywhere: tuple[str, ...] = (),
    allows: Callable[[ChangeEvent, str], bool] = lambda event, destination: True,
) -> list[Audience]:
    """Messages still owed: `everyone` gets every event, a per-watch address its trials' events;
    likewise each channel in `everywhere`, and a watch's own channels its trial's events.

    With no recipient and no channel at all (the offline default) there is one audience
    without addresses. Pairs in `covered` (already in a delivery) are left out; mail counts
    address by address, so a recipient the server refused is owed the events on its own.
    An event `allows` keeps from a destination (a mail address, a channel's name, "" for the
    outbox) is never owed to it.
    """
    owed: dict[Audience, list[int]] = {}
    for event in events:
        mail = [everyone] if everyone else []
        mail += [(address,) for address in routes.get(event.nct_id, []) if address not in everyone]
        chats = dict.fromkeys([*everywhere, *(channel_routes or {}).get(event.nct_id, [])])
        targets = [Audience(recipients, ()) for recipients in mail]
        targets += [Audience((), (), channel) for channel in chats]
        for target in targets or [Audience((), ())]:
            if target.recipients:
                target = Audience(
                    tuple(
                        a
                        for a in target.recipients
                        if (event.stored_id, audience_key([a])) not in covered and allows(event, a)
                    ),
                    (),
                )
                if not target.recipients:
                    continue
            elif (event.stored_id, target.key) in covered or not allows(
                event, target.channel or ""
            ):
                continue
            owed.setdefault(target, []).append(event.stored_id)
    return [
        Audience(target.recipients, tuple(ids), target.channel)
        for target, ids in sorted(owed.items(), key=lambda item: item[0].key)
    ]


def rules_of(
    settings: Settings, trials: Mapping[str, Trial], searches: Mapping[str, Rule]
) -> Callable[[ChangeEvent, str], bool]:
    """Whether an event may go to a destination: its watch's rule (or, for a search's new or
    leaving match, its search's) and the destination's own (the config's `rules`, by mail
    address or channel name) must both let it through, each judging materiality with the
    config's levels."""
    levels = levels_by_kind(settings.materiality)
    by_destination = {name: replace(rule, levels=levels) for name, rule in settings.rules}
    by_trial = {nct_id: replace(trial.rules, levels=levels) for nct_id, trial in trials.items()}
    by_search = {name: replace(rule, levels=levels) for name, rule in searches.items()}

    def allows(event: ChangeEvent, destination: str) -> bool:
        change = Change(Category(event.category), event.field, event.old, event.new, event.site)
        search = event.field.removeprefix("query:") if event.field.startswith("query:") else None
        own = by_search.get(search) if search is not None else by_trial.get(event.nct_id)
        rules = [own, by_destination.get(destination)]
        return all(rule.allows(change) for rule in rules if rule is not None)

    return allows


def split_between_trials(digest: Digest, limit: int) -> list[set[str]]:
    """The NCT ids of each part of a chat post split to fit `limit` characters: runs of whole
    trials in the digest's order (a trial longer than a post is a part of its own, cut to fit
    by its channel)."""
    parts: list[set[str]] = []
    length = limit + 1  # so that the first trial opens a part
    for block in digest.chat_blocks:
        if length + 1 + len(block.text) > limit:
            parts.append(set())
            length = -1  # no blank line before a part's first trial
        parts[-1].add(block.nct_id)
        length += 1 + len(block.text)
    return parts


def message_id_for(audience: Audience, *, domain: str, database: str) -> str:
    """The same audience and events always give the same Message-ID in one database (a resend
    is recognisable); `database`, its own random token, keeps another database's apart. A
    catch-up mail has its own: it may carry exactly what one outbox digest did, to the same
    people from the same sender, and must not be taken for that digest."""
    seed = f"{database}:{audience.key}:{audience.event_ids}" + ":catch-up" * audience.catch_up
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}.trialwatch@{domain}>"


def build_message(
    digest: Digest, *, sender: str, recipients: tuple[str, ...], message_id: str, date: dt.datetime
) -> bytes:
    """A multipart/alternative message; only validated addresses and cleaned text in headers."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = digest.subject
    message["From"] = sender
    if recipients:
        message["To"] = ", ".join(recipients)
    message["Date"] = email.utils.format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(digest.text)
    message.add_alternative(digest.html, subtype="html")
    return message.as_bytes()


def deliver_pending(
    store: Store,
    transport: Transport,
    *,
    settings: Settings,
    now: dt.datetime,
    chats: Mapping[str, Transport] | None = None,
) -> DeliveryOutcome:
    """Finish interrupted attempts, then send every owed digest, mail through `transport` and
    the rest through the chat or webhook channel it names (`chats`, by name); events are
    marked delivered only once every audience's message for them was accepted."""
    sending = Sending(store, now, DeliveryOutcome(transport=transport, chats=chats or {}))
    trials = store.watches.trials()
    digests = DigestWriter(sending, settings, trials)
    if transport.mails:
        _mail_what_only_reached_the_outbox(digests, transport)

    def transport_for(name: str | None) -> Transport:
        if name is None:
            return transport
        return (chats or {}).get(name) or MissingTransport(name)

    finish_interrupted(sending, transport_for)
    events = store.events.pending()
    allows = rules_of(settings, trials, store.searches.rules())

    def plan(covered: set[tuple[int, str]]) -> list[Audience]:
        return plan_audiences(
            events,
            routes={nct_id: trial.recipients for nct_id, trial in trials.items()},
            everyone=settings.mail_to,
            covered=covered,
            channel_routes={
                nct_id: [settings.channel_name(name) for name in trial.channels]
                for nct_id, trial in trials.items()
            },
            everywhere=settings.notified_everywhere(),
            allows=allows,
        )

    for planned in plan(store.deliveries.covered()):
        audience = digests.due_part(planned)
        if audience is None:
            continue  # a weekly audience's changes stay owed to it until its day
        chosen = [event for event in events if event.stored_id in audience.event_ids]
        target = transport_for(audience.channel)
        for part, digest in digests.parts(target, audience, chosen):
            digests.send(target, digests.record(target, part, digest))
    # Which pending events every audience now has (this run's and earlier runs' sent mail):
    still_owed = plan(store.deliveries.covered(states=DELIVERED_STATES))
    owed_ids = {event_id for audience in still_owed for event_id in audience.event_ids}
    store.events.mark_delivered(
        [e.stored_id for e in events if e.stored_id not in owed_ids], now=now
    )
    return sending.outcome


@dataclass(frozen=True)
class DigestWriter:
    """What every digest of one delivery pass is written with, read once for the pass."""

    sending: Sending
    settings: Settings
    trials: dict[str, Trial]

    @cached_property
    def domain(self) -> str:
        """Of the sender's address: the Message-IDs' domain."""
        return (self.settings.mail_from or DEFAULT_SENDER).rpartition("@")[2]

    @cached_property
    def database_token(self) -> str:
        """The database's own token, which its Message-IDs carry (read once a pass)."""
        return self.sending.store.deliveries.message_id_token()

    def message_id(self, audience: Audience) -> str:
        return message_id_for(audience, domain=self.domain, database=self.database_token)

    def due_part(self, audience: Audience) -> Audience | None:
        """The part of `audience` whose cadence lets it hear now (see `cadence`); None if
        none."""
        settings, now = self.settings, self.sending.now
        if not settings.cadence or (not audience.recipients and audience.channel is None):
            return audience
        named = [*audience.recipients, *([audience.channel] if audience.channel else [])]
        zone = parse_timezone(settings.timezone)
        start_of_day = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        due = due_destinations(
            named,
            cadences=dict(settings.cadence),
            zone=zone,
            now=now,
            heard_today=self.sending.store.deliveries.heard_since(start_of_day),
        )
        if audience.channel is not None:
            return audience if audience.channel in due else None
        recipients = tuple(address for address in audience.recipients if address in due)
        return Audience(recipients, audience.event_ids) if recipients else None

    def render(self, events: list[ChangeEvent]) -> Digest:
        return render_digest(
            events, self.trials, materiality=levels_by_kind(self.settings.materiality)
        )

    def parts(
        self, transport: Transport, audience: Audience, events: list[ChangeEvent]
    ) -> list[tuple[Audience, Digest]]:
        """The audience's digest; for a channel that takes a long one in parts
        (`?overflow=split`), one per run of whole trials that fits a post. Each part is a
        delivery of its own, so a part the service refused is the only one sent again."""
        digest = self.render(events)
        if transport.split_at is None or len(digest.chat) <= transport.split_at:
            return [(audience, digest)]
        parts = []
        for trials in split_between_trials(digest, transport.split_at):
            chosen = [event for event in events if event.nct_id in trials]
            ids = tuple(event.stored_id for event in chosen)
            parts.append((replace(audience, event_ids=ids), self.render(chosen)))
        return parts

    def record(self, transport: Transport, audience: Audience, digest: Digest) -> Delivery:
        """Record the attempt to send the audience's digest (final bytes, Message-ID)."""
        settings = self.settings
        self.sending.outcome.digests.append(digest)
        message_id = self.message_id(audience)
        if audience.channel is not None:
            message = json.dumps({"title": digest.subject, "body": digest.chat}).encode()
        else:
            message = build_message(
                digest,
                sender=settings.mail_from or DEFAULT_SENDER,
                recipients=audience.recipients,
                message_id=message_id,
                date=self.sending.now,
            )
        return self.sending.store.deliveries.create(
            message_id=message_id,
            audience=audience.key,
            transport=transport.name,
            subject=digest.subject,
            message=message,
            event_ids=audience.event_ids,
            now=self.sending.now,
        )

    def send(self, transport: Transport, delivery: Delivery) -> None:
        """Send the digest just recorded, unless everything in it was changed back (its net
        change is nothing): then it is settled as delivered without a message."""
        digests = self.sending.outcome.digests
        if digests and digests[-1].changes == 0:
            self.sending.store.deliveries.set_state(
                delivery.id, DeliveryState.SENT, now=self.sending.now
            )
            return
        send_once(self.sending, transport, delivery)


def _mail_what_only_reached_the_outbox(digests: DigestWriter, transport: Transport) -> None:
    """Digests for addressed recipients written to the outbox while SMTP was not configured:
    their changes go out now, in one catch-up mail per audience (not one per missed run).
    The catch-up is an ordinary delivery (exactly once); the outbox ones are `mailed` once it
    has been handed over, so a crash in between mails nothing twice."""
    store = digests.sending.store
    for stored_audience, unmailed in store.deliveries.unmailed().items():
        event_ids = tuple(sorted({i for _, ids in unmailed for i in ids}))
        recipients = Destination.from_key(stored_audience).recipients
        audience = Audience(recipients, event_ids, catch_up=True)
        state = store.deliveries.state_of(digests.message_id(audience))
        if state not in HANDED_OVER:
            digest = digests.render(store.events.by_id(event_ids))
            delivery = digests.record(transport, audience, digest)
            digests.send(transport, delivery)
            state = store.deliveries.state_of(delivery.message_id)
        if state in HANDED_OVER:
            store.deliveries.mark_mailed(
                [delivery_id for delivery_id, _ in unmailed], now=digests.sending.now
            )
