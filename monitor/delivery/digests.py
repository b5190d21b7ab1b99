"""Which digests are owed, to whom, and their messages: each destination (`destinations`)
that is due gets one message a run with every change owed to it, rendered, recorded and
handed to `exactly_once`: a mail, or for a chat or webhook channel a short Markdown post.
Changes that only reached the outbox while SMTP was not configured are mailed, once it is, to
the addresses the config names then, in their next digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property

from monitor.config import Settings
from monitor.delivery.cadence import is_due, latest_day
from monitor.delivery.destinations import (
    Audience,
    Destination,
    Owed,
    destinations_of,
    plan_messages,
)
from monitor.delivery.exactly_once import (
    DeliveryOutcome,
    Sending,
    finish_interrupted,
    send_once,
)
from monitor.delivery.transports import DEFAULT_SENDER, Envelope, Transport
from monitor.records.events import Category, ChangeEvent, search_named
from monitor.records.materiality import levels_by_category
from monitor.records.rules import Change, Rule
from monitor.reports.render import Digest, render_digest
from monitor.setting_values import parse_timezone
from monitor.store import (
    DELIVERED_STATES,
    UNFAILED_STATES,
    Delivery,
    DeliveryState,
    Store,
    Trial,
)


def rules_of(
    settings: Settings, trials: Mapping[str, Trial], searches: Mapping[str, Rule]
) -> Callable[[ChangeEvent, str | None], bool]:
    """Whether an event may go to a destination: its watch's rule (or, for a search's new or
    leaving match, its search's) and the destination's own (the config's `rules`, by mail
    address or channel name; the outbox has none) must both let it through, each judging
    materiality with the config's levels."""
    levels = levels_by_category(settings.materiality)
    by_destination = {name: replace(rule, levels=levels) for name, rule in settings.rules}
    by_trial = {nct_id: replace(trial.rules, levels=levels) for nct_id, trial in trials.items()}
    by_search = {name: replace(rule, levels=levels) for name, rule in searches.items()}

    def allows(event: ChangeEvent, destination: str | None) -> bool:
        change = Change(Category(event.category), event.field, event.old, event.new, event.site)
        search = search_named(event.field)
        own = by_search.get(search) if search is not None else by_trial.get(event.nct_id)
        rules = [own, by_destination.get(destination) if destination else None]
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


def message_id_for(audience: Audience, *, transport: str, domain: str, database: str) -> str:
    """The same audience and events through the same transport always give the same
    Message-ID in one database (a resend is recognisable); `database`, its own random token,
    keeps another database's apart. A mail carrying exactly what one outbox digest did (its
    catch-up), to the same people from the same sender, has its own."""
    seed = f"{database}:{transport}:{audience.key}:{audience.event_ids}"
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}.trialwatch@{domain}>"


def deliver_pending(
    store: Store,
    transport: Transport,
    *,
    settings: Settings,
    now: dt.datetime,
    chats: Mapping[str, Transport] | None = None,
) -> DeliveryOutcome:
    """Finish interrupted attempts, then send each destination that is due its one message
    with every change owed to it: mail through `transport`, the rest through the chat or
    webhook channel it names (`chats`, by name). Events are marked delivered once every
    destination meant for them has them; once mail can be sent, the digests that only reached
    the outbox for addressed recipients count for nothing, and their changes go to the
    addresses the config names now."""
    sending = Sending(store, now, DeliveryOutcome(transport=transport, chats=chats or {}))
    finish_interrupted(sending)
    DeliveryPass(sending, settings).send_what_is_owed()
    return sending.outcome


@dataclass
class DeliveryPass:
    """One pass over what is owed: the events pending (and, once mail can be sent, those that
    only reached the outbox), who is owed which, and what is left owed after sending."""

    sending: Sending
    settings: Settings

    @property
    def mail(self) -> Transport:
        mail = self.sending.outcome.transport
        assert mail is not None, "deliver_pending gives the pass its mail transport"
        return mail

    @property
    def chats(self) -> Mapping[str, Transport]:
        return self.sending.outcome.chats

    @cached_property
    def trials(self) -> dict[str, Trial]:
        return self.sending.store.watches.trials()

    @cached_property
    def unmailed(self) -> dict[int, list[int]]:
        """Digests for addresses that only reached the outbox: owed to mail once it can be
        sent (none before)."""
        return self.sending.store.deliveries.unmailed() if self.mail.mails else {}

    @cached_property
    def pending(self) -> list[ChangeEvent]:
        return self.sending.store.events.pending()

    @cached_property
    def mail_only(self) -> frozenset[int]:
        """Events only mail is still owed: delivered elsewhere, they reached mail's outbox."""
        waiting = {event.stored_id for event in self.pending}
        return frozenset({i for ids in self.unmailed.values() for i in ids} - waiting)

    @cached_property
    def events(self) -> list[ChangeEvent]:
        found = [*self.pending, *self.sending.store.events.by_id(self.mail_only)]
        return sorted(found, key=lambda event: (event.detected_at, event.stored_id))

    def owed(self, states: tuple[str, ...]) -> Owed:
        """What each destination is owed, counting what deliveries in `states` carried."""
        if self.mail.mails:  # what only reached the outbox is owed to the addresses now
            states = tuple(state for state in states if state != DeliveryState.UNMAILED)
        covered = self.sending.store.deliveries.covered([e.stored_id for e in self.events], states)
        return Owed(self.events, covered, self.allows, mail_only=self.mail_only)

    @cached_property
    def allows(self) -> Callable[[ChangeEvent, str | None], bool]:
        return rules_of(self.settings, self.trials, self.sending.store.searches.rules())

    def send_what_is_owed(self) -> None:
        """Each due destination its one message; then what every destination has is
        delivered, and what only reached the outbox is mailed."""
        digests = DigestWriter(self.sending, self.settings, self.trials)
        destinations = destinations_of(self.settings, self.trials)
        before = self.owed(UNFAILED_STATES)
        for audience in plan_messages(destinations, before, due=lambda d: digests.due(d, before)):
            target = audience.first.transport(self.mail, self.chats)
            wanted = set(audience.event_ids)
            chosen = [event for event in self.events if event.stored_id in wanted]
            for part, digest in digests.parts(target, audience, chosen):
                digests.send(target, digests.record(target, part, digest))
        still_owed = self.owed(DELIVERED_STATES).ids(destinations)
        store, now = self.sending.store, self.sending.now
        waiting = [event.stored_id for event in self.pending]
        store.events.mark_delivered([i for i in waiting if i not in still_owed], now=now)
        store.deliveries.mark_mailed(
            [delivery for delivery, ids in self.unmailed.items() if not set(ids) & still_owed],
            now=now,
        )


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

    def message_id(self, audience: Audience, transport: Transport) -> str:
        return message_id_for(
            audience, transport=transport.name, domain=self.domain, database=self.database_token
        )

    def due(self, destination: Destination, owed: Owed) -> bool:
        """Whether `destination` hears now, by its cadence (see `cadence`)."""
        settings, now = self.settings, self.sending.now
        cadence = dict(settings.cadence).get(destination.name or "", "daily")
        day = latest_day(cadence, zone=parse_timezone(settings.timezone), now=now)
        if day is None:
            return True
        heard, refused = self.since(day)
        ids = set(owed.to(destination))
        return is_due(
            day,
            now=now,
            heard_since_day=destination.name in heard,
            refused_since_day=destination.name in refused,
            oldest_owed=min(e.detected_at for e in owed.events if e.stored_id in ids),
        )

    def since(self, day: dt.datetime) -> tuple[set[str], set[str]]:
        """Who heard, and who was refused, since `day`: read once a pass for each day (every
        weekly destination on one weekday asks of the same day)."""
        if day not in self.heard_and_refused:
            deliveries = self.sending.store.deliveries
            self.heard_and_refused[day] = (
                deliveries.heard_since(day),
                deliveries.refused_since(day),
            )
        return self.heard_and_refused[day]

    @cached_property
    def heard_and_refused(self) -> dict[dt.datetime, tuple[set[str], set[str]]]:
        return {}

    def render(self, events: list[ChangeEvent], *, brief: bool = False) -> Digest:
        return render_digest(
            events,
            self.trials,
            materiality=levels_by_category(self.settings.materiality),
            brief=brief,
        )

    def weekly(self, audience: Audience) -> bool:
        """A weekly audience's digest opens with a briefing over its week."""
        cadences = dict(self.settings.cadence)
        return any(cadences.get(d.name or "", "daily") != "daily" for d in audience.destinations)

    def parts(
        self, transport: Transport, audience: Audience, events: list[ChangeEvent]
    ) -> list[tuple[Audience, Digest]]:
        """The audience's digest; for a channel that takes a long one in parts
        (`?overflow=split`), one per run of whole trials that fits a post. Each part is a
        delivery of its own, so a part the service refused is the only one sent again."""
        brief = self.weekly(audience)
        digest = self.render(events, brief=brief)
        if transport.split_at is None or len(digest.chat) <= transport.split_at:
            return [(audience, digest)]
        parts = []
        for trials in split_between_trials(digest, transport.split_at):
            chosen = [event for event in events if event.nct_id in trials]
            ids = tuple(event.stored_id for event in chosen)
            parts.append((replace(audience, event_ids=ids), self.render(chosen, brief=brief)))
        return parts

    def record(self, transport: Transport, audience: Audience, digest: Digest) -> Delivery:
        """Record the attempt to send the audience's digest (final bytes, Message-ID)."""
        settings = self.settings
        self.sending.outcome.digests.append(digest)
        message_id = self.message_id(audience, transport)
        sender = settings.mail_from or DEFAULT_SENDER
        envelope = Envelope(sender, audience.recipients, message_id, self.sending.now)
        message = transport.message(digest, envelope)
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
