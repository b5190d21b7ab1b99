"""Who hears of a change: a mail address, a chat or webhook channel, or, for changes nobody
is named for, the outbox. Each is a small type holding what differs between them: which
changes it is owed, what its rules and cadence call it, what carries its digest, how its
deliveries are stored. `plan_messages` gives each destination one message a run with every
change owed to it; addresses whose messages would be identical share one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from monitor.config import Settings
from monitor.delivery.chat import channel_transport
from monitor.delivery.transports import Transport
from monitor.records.events import ChangeEvent
from monitor.store import StoredAudience, Trial, audience_key


@dataclass(frozen=True)
class Mailbox:
    """A mail address: every change if it is in `mail_to`, else its watches' (`--to`)."""

    address: str
    everything: bool
    trials: frozenset[str] = frozenset()
    catches_up = True  # owed what only reached the outbox for it while SMTP was not set up

    @property
    def name(self) -> str | None:
        """What the config's `rules` and `cadence` call it."""
        return self.address

    @property
    def key(self) -> str:
        """How deliveries to it are stored and found (`store.StoredAudience`)."""
        return audience_key([self.address])

    def wants(self, event: ChangeEvent) -> bool:
        return self.everything or event.nct_id in self.trials

    def transport(self, mail: Transport, chats: Mapping[str, Transport]) -> Transport:
        return mail


@dataclass(frozen=True)
class Channel:
    """A chat or webhook channel by its one name: every change if it is in `notify`, else its
    watches' (`--notify`)."""

    channel: str
    everything: bool
    trials: frozenset[str] = frozenset()
    catches_up = False

    @property
    def name(self) -> str | None:
        return self.channel

    @property
    def key(self) -> str:
        return StoredAudience(channel=self.channel).key

    def wants(self, event: ChangeEvent) -> bool:
        return self.everything or event.nct_id in self.trials

    def transport(self, mail: Transport, chats: Mapping[str, Transport]) -> Transport:
        return channel_transport(chats, self.channel)


@dataclass(frozen=True)
class Outbox:
    """Changes no address or channel is named for: with no SMTP, the outbox's digest; with
    SMTP, a delivery that fails, saying that nobody receives them, until somebody does."""

    others: tuple[Mailbox | Channel, ...] = ()
    catches_up = False

    @property
    def name(self) -> str | None:
        return None  # no rule or cadence names it

    @property
    def key(self) -> str:
        return StoredAudience().key

    def wants(self, event: ChangeEvent) -> bool:
        return not any(other.wants(event) for other in self.others)

    def transport(self, mail: Transport, chats: Mapping[str, Transport]) -> Transport:
        return mail


Destination = Mailbox | Channel | Outbox


def destinations_of(settings: Settings, trials: Mapping[str, Trial]) -> list[Destination]:
    """Every destination the config and the watches name, and the outbox for the rest."""
    watched_by: dict[str, set[str]] = {}
    for nct_id, trial in trials.items():
        for address in trial.recipients:
            watched_by.setdefault(address, set()).add(nct_id)
    mailboxes = [Mailbox(address, True) for address in settings.mail_to]
    mailboxes += [
        Mailbox(address, False, frozenset(ids))
        for address, ids in sorted(watched_by.items())
        if address not in settings.mail_to
    ]
    everywhere = settings.notified_everywhere()
    channel_trials: dict[str, set[str]] = {}
    for nct_id, trial in trials.items():
        for name in trial.channels:
            channel_trials.setdefault(settings.channel_name(name), set()).add(nct_id)
    channels = [Channel(name, True) for name in dict.fromkeys(everywhere)]
    channels += [
        Channel(name, False, frozenset(ids))
        for name, ids in sorted(channel_trials.items())
        if name not in everywhere
    ]
    named: tuple[Mailbox | Channel, ...] = (*mailboxes, *channels)
    return [*named, Outbox(named)]


def unknown_destinations(
    settings: Settings, trials: Mapping[str, Trial]
) -> list[tuple[str, str | None]]:
    """Names the config's `rules` or `cadence` give that no mail address or channel has (a
    rule that could never match), each with the known name nearest to it, if any."""
    known = {d.name for d in destinations_of(settings, trials) if d.name}
    known |= {*settings.chat_channels(), *(name for name, _ in settings.channels)}
    named = {name for name, _ in settings.rules} | {name for name, _ in settings.cadence}
    return [
        (name, next(iter(difflib.get_close_matches(name, sorted(known), n=1)), None))
        for name in sorted(named - known)
    ]


@dataclass(frozen=True)
class Audience:
    """One message: the destinations it goes to (several mail addresses, or one channel, or
    the outbox) and the events it carries."""

    destinations: tuple[Destination, ...]
    event_ids: tuple[int, ...]

    @cached_property
    def key(self) -> str:
        """As stored with its delivery."""
        return StoredAudience(self.recipients, self.channel).key

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(d.address for d in self.destinations if isinstance(d, Mailbox))

    @property
    def channel(self) -> str | None:
        return next((d.channel for d in self.destinations if isinstance(d, Channel)), None)

    @property
    def first(self) -> Destination:
        return self.destinations[0]


@dataclass
class Owed:
    """What each destination is owed now: routed to it, let through by the rules, not yet
    in a delivery to it."""

    events: list[ChangeEvent]
    covered: set[tuple[int, str]]
    allows: Callable[[ChangeEvent, str | None], bool]
    mail_only: frozenset[int] = frozenset()  # events only mail is still owed (see `catches_up`)
    by_destination: dict[Destination, tuple[int, ...]] = field(default_factory=dict)

    def to(self, destination: Destination) -> tuple[int, ...]:
        if destination not in self.by_destination:
            self.by_destination[destination] = tuple(
                event.stored_id
                for event in self.events
                if destination.wants(event)
                and (destination.catches_up or event.stored_id not in self.mail_only)
                and (event.stored_id, destination.key) not in self.covered
                and self.allows(event, destination.name)
            )
        return self.by_destination[destination]

    def ids(self, destinations: Iterable[Destination]) -> set[int]:
        return {event_id for destination in destinations for event_id in self.to(destination)}


def plan_messages(
    destinations: Iterable[Destination], owed: Owed, *, due: Callable[[Destination], bool]
) -> list[Audience]:
    """One message per destination that is owed something and `due` now; mail addresses
    owed exactly the same events share one message (and only then see each other's
    address)."""
    shared: dict[tuple[int, ...], list[Destination]] = {}
    messages = []
    for destination in destinations:
        event_ids = owed.to(destination)
        if not event_ids or not due(destination):
            continue
        if isinstance(destination, Mailbox):
            shared.setdefault(event_ids, []).append(destination)
        else:
            messages.append(Audience((destination,), event_ids))
    messages += [Audience(tuple(group), ids) for ids, group in shared.items()]
    return sorted(messages, key=lambda audience: audience.key)
