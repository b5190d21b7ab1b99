r"""Exactly once: the small state machine every delivery goes through, with its state in the
store so that a crash at any point neither loses a digest nor sends it twice.

    prepared --(its last bytes are about to leave)--> data_sent --(accepted)--> sent
        |                                                 \--(no answer)--> unconfirmed
        \--(refused, or the transport is down)--> failed (its events are planned again)

An addressed digest the outbox took because SMTP was not configured is `unmailed`, and
`mailed` once a catch-up mail (a delivery of its own) has carried its changes.

A delivery is recorded `prepared`, with its final bytes and Message-ID, before anything is
sent. One rule for every ending whose outcome is unknown, a crash or the network alike: once
the whole message was handed over and only the answer is missing, it counts as sent
(`unconfirmed`, which `doctor` lists), because sending it again could deliver it twice; what
was not wholly handed over goes again with the same bytes (after a crash, unless the transport
can tell it arrived: an outbox file is there). Recipients the server refused while it took the
message for the others are kept on the delivery and owed it again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.delivery.chat import channel_transport
from monitor.delivery.transports import Transport
from monitor.errors import DeliveryError, UnconfirmedDelivery
from monitor.reports.render import Digest
from monitor.store import Delivery, DeliveryState, Store, audience_key

logger = logging.getLogger(__name__)

NO_RECIPIENTS = (
    "set mail_to in trialwatch.toml (or TRIALWATCH_MAIL_TO), or use `watch add --to`; "
    "until then digests wait, kept for the next run"
)


@dataclass
class DeliveryOutcome:
    sent: list[Delivery] = field(default_factory=list)
    failures: list[tuple[Delivery, str]] = field(default_factory=list)
    transport: Transport | None = None
    chats: Mapping[str, Transport] = field(default_factory=dict)
    digests: list[Digest] = field(default_factory=list)  # the ones rendered this time

    def audience_of(self, delivery: Delivery) -> str:
        """Who a digest is for, in words: its channel (masked), its addresses, or the outbox."""
        if delivery.chat_channel is not None:
            return str(self.chats.get(delivery.chat_channel, f"channel {delivery.chat_channel}"))
        return ", ".join(delivery.recipients) or "the outbox"

    def describe(self, delivery: Delivery) -> str:
        """What happened to a delivered digest, as its transport tells it."""
        return self.transport_of(delivery).tell(delivery)

    def transport_of(self, delivery: Delivery) -> Transport:
        if delivery.chat_channel is None:
            assert self.transport is not None, "a mail delivery is carried by the mail transport"
            return self.transport
        return channel_transport(self.chats, delivery.chat_channel)


@dataclass(frozen=True)
class Sending:
    """One delivery pass: the store each delivery's state is kept in, the pass's time, and
    what it has sent and failed so far."""

    store: Store
    now: dt.datetime
    outcome: DeliveryOutcome

    def sent(
        self,
        delivery: Delivery,
        state: DeliveryState,
        *,
        error: str | None = None,
        refused: tuple[str, ...] = (),
    ) -> None:
        """Settled as delivered: `sent`, `unmailed` (the outbox standing in for mail), or
        `unconfirmed` (handed over whole, no answer)."""
        self.store.deliveries.set_state(
            delivery.id, state, now=self.now, error=error, refused=refused
        )
        self.outcome.sent.append(dataclasses.replace(delivery, state=state, refused=refused))

    def failed(self, delivery: Delivery, error: str) -> None:
        """Refused, or the transport is down: its events are planned again."""
        self.store.deliveries.set_state(
            delivery.id, DeliveryState.FAILED, now=self.now, error=error
        )
        self.outcome.failures.append((delivery, error))


def finish_interrupted(sending: Sending) -> None:
    """Deliveries a crash left `prepared` or `data_sent`: settled before anything new, each
    through what carries it (mail, or its chat or webhook channel)."""
    for delivery in sending.store.deliveries.unfinished():
        transport = sending.outcome.transport_of(delivery)
        if delivery.state == DeliveryState.DATA_SENT:
            logger.warning("counting interrupted delivery %s as sent", delivery.message_id)
            sending.sent(delivery, DeliveryState.UNCONFIRMED)
        elif transport.already_delivered(delivery):
            sending.sent(delivery, _delivered_state(transport, delivery))
        else:
            send_once(sending, transport, delivery)


def _delivered_state(transport: Transport, delivery: Delivery) -> DeliveryState:
    """How a message its transport took is left: `sent`, or `unmailed` when the outbox stood
    in for mail for addressed recipients (owed a catch-up mail)."""
    if transport.stands_in_for_mail and delivery.recipients:
        return DeliveryState.UNMAILED
    return DeliveryState.SENT


def send_once(sending: Sending, transport: Transport, delivery: Delivery) -> None:
    if transport.mails and not delivery.recipients:
        sending.failed(delivery, f"no recipients: {NO_RECIPIENTS}")
        return
    deliveries = sending.store.deliveries
    try:
        refused = transport.send(
            delivery,
            handing_over=lambda: deliveries.set_state(delivery.id, DeliveryState.DATA_SENT),
        )
    except UnconfirmedDelivery as exc:
        logger.warning("%s: counted as sent", exc)
        sending.sent(delivery, DeliveryState.UNCONFIRMED, error=str(exc))
        return
    except DeliveryError as exc:
        sending.failed(delivery, str(exc))
        return
    sending.sent(delivery, _delivered_state(transport, delivery), refused=tuple(refused))
    if refused:
        reason = f"{transport} refused {', '.join(refused)}"
        sending.outcome.failures.append(
            (dataclasses.replace(delivery, audience=audience_key(refused)), reason)
        )
