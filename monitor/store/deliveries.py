"""Digest deliveries: what is owed, what was attempted, what was accepted (exactly once)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor.store._base import StoreBase


@dataclass(frozen=True)
class Delivery:
    """One digest message to one audience, as recorded before it is sent."""

    id: int
    message_id: str
    audience: str
    channel: str
    subject: str
    message: bytes
    state: str
    created_at: str

    @property
    def recipients(self) -> list[str]:
        return json.loads(self.audience)


# A delivery is `prepared` (recorded, not yet handed over), `data_sent` (the mail server was
# given the whole message), `sent` (accepted) or `failed` (refused; its events are sent again).
UNFAILED_STATES = ("prepared", "data_sent", "sent")


class DeliveryQueries(StoreBase):
    """Queries about digest deliveries."""

    def pending_events(self) -> list[dict[str, Any]]:
        """Events not yet delivered to everyone they are meant for, oldest first."""
        sql = "select * from events where delivered_at is null order by detected_at, id"
        return [self._event_json(row) for row in self.db.query(sql)]

    def covered(self, states: tuple[str, ...] = UNFAILED_STATES) -> set[tuple[int, str]]:
        """(event id, audience) pairs of pending events already in a delivery in `states`."""
        marks = ", ".join("?" for _ in states)
        sql = f"""
            select de.event_id, d.audience from delivery_events de
            join deliveries d on d.id = de.delivery_id
            join events e on e.id = de.event_id
            where e.delivered_at is null and d.state in ({marks})
        """
        return {(row["event_id"], row["audience"]) for row in self.db.query(sql, states)}

    def create_delivery(
        self,
        *,
        message_id: str,
        audience: str,
        channel: str,
        subject: str,
        message: bytes,
        event_ids: Iterable[int],
        now: str,
    ) -> Delivery:
        """Record a delivery attempt before sending; a failed one for the same events is reused."""
        with self._writing():
            existing = self._delivery_rows("message_id = ?", [message_id])
            if existing:
                self.db["deliveries"].update(existing[0].id, {"state": "prepared", "error": None})
            else:
                row = {
                    "message_id": message_id,
                    "audience": audience,
                    "channel": channel,
                    "subject": subject,
                    "message": message,
                    "state": "prepared",
                    "created_at": now,
                }
                delivery_id = self.db["deliveries"].insert(row).last_pk
                self.db["delivery_events"].insert_all(
                    {"delivery_id": delivery_id, "event_id": event_id} for event_id in event_ids
                )
        return self._delivery_rows("message_id = ?", [message_id])[0]

    def set_delivery_state(
        self, delivery_id: int, state: str, *, now: str | None = None, error: str | None = None
    ) -> None:
        with self._writing():
            self.db["deliveries"].update(
                delivery_id, {"state": state, "finished_at": now, "error": error}
            )

    def unfinished_deliveries(self) -> list[Delivery]:
        """Attempts a crash interrupted: recorded, but neither sent nor failed."""
        return self._delivery_rows("state in ('prepared', 'data_sent')", [])

    def mark_delivered(self, event_ids: Iterable[int], *, now: str) -> None:
        with self._writing():
            for event_id in event_ids:
                self.db["events"].update(event_id, {"delivered_at": now})

    def _delivery_rows(self, where: str, params: list[Any]) -> list[Delivery]:
        rows = self.db.query(f"select * from deliveries where {where} order by id", params)
        return [
            Delivery(
                id=row["id"],
                message_id=row["message_id"],
                audience=row["audience"],
                channel=row["channel"],
                subject=row["subject"],
                message=row["message"],
                state=row["state"],
                created_at=row["created_at"],
            )
            for row in rows
        ]
