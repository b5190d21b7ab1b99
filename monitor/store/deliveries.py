"""Digest deliveries: what is owed, what was attempted, what was accepted (exactly once)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

from monitor.store._base import Family
from monitor.times import moment_of, optional_utc_text, utc_text


@dataclass(frozen=True)
class StoredAudience:
    """Who one message is for: mail recipients (none at all: the outbox), or one chat or
    webhook channel by name. Stored as its `key`: a JSON list of addresses, or
    `{"channel": name}`; this is the one place that writes or reads that form."""

    recipients: tuple[str, ...] = ()
    channel: str | None = None

    @cached_property
    def key(self) -> str:
        if self.channel is not None:
            return json.dumps({"channel": self.channel})
        return json.dumps(list(self.recipients))

    @classmethod
    def from_key(cls, key: str) -> StoredAudience:
        stored = json.loads(key)
        if isinstance(stored, dict):
            return cls(channel=str(stored["channel"]))
        return cls(tuple(str(address) for address in stored) if isinstance(stored, list) else ())


@dataclass(frozen=True)
class Delivery:
    """One digest message to one audience, as recorded before it is sent."""

    id: int
    message_id: str
    audience: str  # its `StoredAudience.key`
    transport: str  # the name of what carries it (`delivery.transports`)
    subject: str
    message: bytes
    state: DeliveryState
    created_at: dt.datetime
    refused: tuple[str, ...] = ()  # recipients the mail server refused: owed it again

    @cached_property
    def stored_audience(self) -> StoredAudience:
        return StoredAudience.from_key(self.audience)

    @property
    def recipients(self) -> list[str]:
        """Mail addresses (none for a chat or webhook channel's delivery)."""
        return list(self.stored_audience.recipients)

    @property
    def accepted(self) -> list[str]:
        """The recipients the mail server took the message for."""
        return [address for address in self.recipients if address not in self.refused]

    @property
    def chat_channel(self) -> str | None:
        """The chat or webhook channel's name, for a delivery that goes to one."""
        return self.stored_audience.channel


class DeliveryState(StrEnum):
    """Where a delivery stands; stored as its text."""

    PREPARED = "prepared"  # recorded, not yet handed over
    DATA_SENT = "data_sent"  # its last bytes are on their way: an ending without answer counts
    SENT = "sent"  # accepted
    UNCONFIRMED = "unconfirmed"  # handed over whole, no answer came: counted as sent (`doctor`)
    FAILED = "failed"  # refused: its events are sent again
    # a digest for addressed recipients written to the outbox because SMTP was not configured:
    # delivered for now, owed a catch-up mail, once SMTP is set up, that carries its changes
    UNMAILED = "unmailed"
    MAILED = "mailed"  # an unmailed digest whose changes that catch-up mail carried


# Recipients refused one by one are `refused` on a delivery otherwise sent, and owed it again.
DELIVERED_STATES = (DeliveryState.SENT, DeliveryState.UNCONFIRMED, DeliveryState.UNMAILED)
UNFAILED_STATES = (DeliveryState.PREPARED, DeliveryState.DATA_SENT, *DELIVERED_STATES)


def audience_key(recipients: Iterable[str]) -> str:
    """A mail audience as stored (its `StoredAudience.key`)."""
    return StoredAudience(tuple(recipients)).key


class Deliveries(Family):
    """Digest deliveries (`store.deliveries`): the `deliveries` and `delivery_events` tables."""

    def covered(self, event_ids: Iterable[int], states: Iterable[str]) -> set[tuple[int, str]]:
        """(event id, audience) pairs of `event_ids` already in a delivery in `states`; a
        mail audience counts address by address (`audience_key` of each one the server did
        not refuse), so a recipient refused is still owed what the others got."""
        wanted = list(states)
        marks = ", ".join("?" for _ in wanted)
        sql = f"""
            select de.event_id, d.audience, d.refused from delivery_events de
            join deliveries d on d.id = de.delivery_id
            where de.event_id in (select value from json_each(?)) and d.state in ({marks})
        """
        covered = set()
        for row in self.db.query(sql, [json.dumps(list(event_ids)), *wanted]):
            addresses = StoredAudience.from_key(row["audience"]).recipients
            if not addresses:  # a channel, or the outbox
                covered.add((row["event_id"], row["audience"]))
                continue
            refused = json.loads(row["refused"] or "[]")
            covered |= {
                (row["event_id"], audience_key([address]))
                for address in addresses
                if address not in refused
            }
        return covered

    def create(
        self,
        *,
        message_id: str,
        audience: str,
        transport: str,
        subject: str,
        message: bytes,
        event_ids: Iterable[int],
        now: dt.datetime,
    ) -> Delivery:
        """Record a delivery attempt before sending; a failed one for the same events is reused."""
        with self._writing():
            existing = self._delivery_rows("message_id = ?", [message_id])
            if existing:
                self.db.table("deliveries").update(
                    existing[0].id, {"state": DeliveryState.PREPARED, "error": None}
                )
            else:
                row = {
                    "message_id": message_id,
                    "audience": audience,
                    "transport": transport,
                    "subject": subject,
                    "message": message,
                    "state": DeliveryState.PREPARED,
                    "created_at": utc_text(now),
                }
                delivery_id = self.db.table("deliveries").insert(row).last_pk
                self.db.table("delivery_events").insert_all(
                    {"delivery_id": delivery_id, "event_id": event_id} for event_id in event_ids
                )
        return self._delivery_rows("message_id = ?", [message_id])[0]

    def set_state(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        now: dt.datetime | None = None,
        error: str | None = None,
        refused: Iterable[str] = (),
    ) -> None:
        refusals = list(refused)
        with self._writing():
            self.db.table("deliveries").update(
                delivery_id,
                {
                    "state": state,
                    "finished_at": optional_utc_text(now),
                    "error": error,
                    "refused": json.dumps(refusals) if refusals else None,
                },
            )

    def message_id_token(self) -> str:
        """This database's own random token, which its Message-IDs carry."""
        return str(self.db.table("meta").get("message_id_token")["value"])

    def heard_since(self, since: dt.datetime) -> set[str]:
        """Mail addresses (those not refused) and channel names with a delivery recorded at
        or after `since`, failed ones aside."""
        marks = ", ".join("?" for _ in UNFAILED_STATES)
        found = self._delivery_rows(
            f"created_at >= ? and state in ({marks})", [utc_text(since), *UNFAILED_STATES]
        )
        heard = {delivery.chat_channel for delivery in found if delivery.chat_channel}
        return heard | {address for delivery in found for address in delivery.accepted}

    def refused_since(self, since: dt.datetime) -> set[str]:
        """Mail addresses and channel names a delivery failed for, or the server refused,
        at or after `since`."""
        found = self._delivery_rows(
            "finished_at >= ? and (state = ? or refused is not null)",
            [utc_text(since), DeliveryState.FAILED],
        )
        refused = {delivery.chat_channel for delivery in found if delivery.chat_channel}
        for delivery in found:
            failed = delivery.state == DeliveryState.FAILED
            refused |= set(delivery.recipients if failed else delivery.refused)
        return refused

    def unconfirmed(self) -> list[Delivery]:
        """Messages handed over whole that no answer confirmed (counted as sent)."""
        return self._delivery_rows("state = ?", [DeliveryState.UNCONFIRMED])

    def unmailed(self) -> dict[int, list[int]]:
        """{delivery id: event ids} of digests for addressed recipients that only reached the
        outbox (SMTP was not configured then), oldest first."""
        sql = """
            select d.id, group_concat(de.event_id) as event_ids from deliveries d
            join delivery_events de on de.delivery_id = d.id
            where d.state = ? group by d.id order by d.id
        """
        return {
            row["id"]: sorted(int(event_id) for event_id in row["event_ids"].split(","))
            for row in self.db.query(sql, [DeliveryState.UNMAILED])
        }

    def state_of(self, message_id: str) -> DeliveryState | None:
        found = self._delivery_rows("message_id = ?", [message_id])
        return found[0].state if found else None

    def mark_mailed(self, delivery_ids: Iterable[int], *, now: dt.datetime) -> None:
        """Outbox-only digests whose changes a catch-up mail has now carried."""
        with self._writing():
            for delivery_id in delivery_ids:
                self.db.table("deliveries").update(
                    delivery_id, {"state": DeliveryState.MAILED, "finished_at": utc_text(now)}
                )

    def unfinished(self) -> list[Delivery]:
        """Attempts a crash interrupted: recorded, but neither sent nor failed."""
        return self._delivery_rows(
            "state in (?, ?)", [DeliveryState.PREPARED, DeliveryState.DATA_SENT]
        )

    def _delivery_rows(self, where: str, params: list[Any]) -> list[Delivery]:
        rows = self.db.query(f"select * from deliveries where {where} order by id", params)
        return [
            Delivery(
                id=row["id"],
                message_id=row["message_id"],
                audience=row["audience"],
                transport=row["transport"],
                subject=row["subject"],
                message=row["message"],
                state=DeliveryState(row["state"]),
                created_at=moment_of(row["created_at"]),
                refused=tuple(json.loads(row["refused"] or "[]")),
            )
            for row in rows
        ]
