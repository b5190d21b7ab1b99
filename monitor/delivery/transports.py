"""How a digest travels: what every transport does (`Transport`), what a mail's headers say
(`Envelope`), and opening the transports a configuration names: the outbox folder or an SMTP
server (`mail`), chat and webhook services through Apprise (`chat`). Where a message goes is
its destination's (`destinations`); the bookkeeping that makes a delivery happen exactly once
is `exactly_once`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from monitor.reports.render import Digest
from monitor.store import Delivery, DeliveryState

DEFAULT_SENDER = "trialwatch@localhost"


class Transport(Protocol):
    """What carries a digest; its `name` is stored with each delivery ("outbox", "smtp",
    "apprise")."""

    name: str
    mails: bool  # it reaches people (SMTP): it needs recipients, and it can catch up on
    # digests that only reached the outbox before it was configured
    stands_in_for_mail: bool  # the outbox when SMTP is not configured: what it carries for
    # addressed recipients is left `unmailed`, owed a catch-up mail
    split_at: int | None  # a channel asked to post a long digest in parts: the longest part

    def message(self, digest: Digest, envelope: Envelope) -> bytes:
        """The digest's bytes as this transport sends them (recorded before sending)."""

    def tell(self, delivery: Delivery) -> str:
        """What happened to a delivered digest, in words that never claim a mail that was
        not sent (nor one the server refused, nor an answer that never came)."""

    def already_delivered(self, delivery: Delivery) -> bool:
        """After a crash: can this channel tell that the message arrived?"""

    def send(self, delivery: Delivery, *, handing_over: Callable[[], None]) -> list[str]:
        """Hand the message over; the recipients the server refused (mail only). A channel
        that cannot check afterwards calls `handing_over` just before the message's last bytes
        leave: from then on an ending without an answer raises `UnconfirmedDelivery`."""


@dataclass(frozen=True)
class Envelope:
    """What a mail's headers say beside its subject: from, to, Message-ID and date."""

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    date: dt.datetime


def unconfirmed_note(delivery: Delivery) -> str:
    if delivery.state == DeliveryState.UNCONFIRMED:
        return " (unconfirmed: handed over whole, no answer came)"
    return ""
