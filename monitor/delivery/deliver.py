"""Deliver digests through the outbox or SMTP, exactly once, with the bookkeeping kept in `store`.

Each audience (the global recipients, or one per-watch address) gets one message for the events
meant for it. An attempt is recorded with its final bytes and a Message-ID derived from its
audience and events before anything is sent; after a crash the next run resends an attempt that
never reached the server and counts one that did (`data_sent`) as delivered, so nothing is lost
and nothing arrives twice.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import hashlib
import json
import logging
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from monitor.config import Settings
from monitor.errors import DeliveryError
from monitor.reports.render import Digest, render_digest
from monitor.store import UNMAILED, Delivery, Store, StoredEvent, Trial
from monitor.whole_files import write_whole

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "trialwatch@localhost"


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


class Channel(Protocol):
    name: str
    mails: bool  # it reaches people (SMTP): it needs recipients, and it can catch up on
    # digests that only reached the outbox before it was configured

    def already_delivered(self, delivery: Delivery) -> bool:
        """After a crash: can this channel tell that the message arrived?"""

    def send(self, delivery: Delivery, *, before_data: Callable[[], None]) -> None:
        """Hand the message over. A channel that cannot check afterwards (SMTP) calls
        `before_data` just before the server gets the content."""


class OutboxChannel:
    """Writes each digest as an `.eml` file. The write is atomic (temporary file, then rename),
    so after a crash the file's presence says exactly whether the digest was delivered."""

    def __init__(self, folder: Path, *, instead_of_mail: bool = False):
        """`instead_of_mail`: SMTP is not configured, so digests for addressed recipients
        land here unmailed, and are mailed in one catch-up once SMTP is set up."""
        self.folder = folder
        self.name = UNMAILED if instead_of_mail else "outbox"
        self.mails = False

    def path_for(self, delivery: Delivery) -> Path:
        token = delivery.message_id.strip("<>").split(".", 1)[0][:16]
        return self.folder / f"{delivery.created_at[:10]}-{token}.eml"

    def __str__(self) -> str:
        return str(self.folder)

    def already_delivered(self, delivery: Delivery) -> bool:
        return self.path_for(delivery).exists()

    def send(self, delivery: Delivery, *, before_data: Callable[[], None]) -> None:
        try:
            write_whole(self.path_for(delivery), delivery.message)
        except OSError as exc:
            raise DeliveryError(f"cannot write to outbox {self.folder}: {exc.strerror}") from exc


class SmtpChannel:
    """Sends through an SMTP server (none/starttls/ssl, optional login) over one connection."""

    name = "smtp"
    mails = True

    def __init__(self, settings: Settings):
        self.host = settings.smtp_host or "localhost"
        self.tls = settings.smtp_tls or {587: "starttls", 465: "ssl"}.get(settings.smtp_port or 0)
        self.tls = self.tls or "none"
        self.port = settings.smtp_port or {"ssl": 465, "starttls": 587}.get(self.tls, 25)
        self.user, self.password = settings.smtp_user, settings.smtp_password
        self.timeout = settings.timeout
        self.sender = settings.mail_from or DEFAULT_SENDER
        self._connection: smtplib.SMTP | None = None

    def already_delivered(self, delivery: Delivery) -> bool:
        return False

    def __str__(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def verify(self) -> None:
        """Connect and log in, nothing more (for `doctor`)."""
        try:
            self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {_smtp_reason(exc)}") from exc
        finally:
            self.close()

    def send(self, delivery: Delivery, *, before_data: Callable[[], None]) -> None:
        self._transmit(delivery.message, delivery.recipients, before_data=before_data)

    def send_test(self, recipients: list[str], *, now: str) -> None:
        """A short test message (`doctor --send-test`): does mail from trialwatch arrive?"""
        message = EmailMessage(policy=email.policy.SMTP)
        message["Subject"] = "trialwatch test message"
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Date"] = email.utils.format_datetime(dt.datetime.fromisoformat(now))
        message["Message-ID"] = email.utils.make_msgid(domain=self.sender.rpartition("@")[2])
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(
            "This is a test message from trialwatch doctor --send-test.\n"
            f"Digests of changes to your watched trials will come from {self.sender}.\n"
        )
        self._transmit(message.as_bytes(), recipients, before_data=lambda: None)

    def _transmit(
        self, message: bytes, recipients: list[str], *, before_data: Callable[[], None]
    ) -> None:
        where = f"SMTP {self.host}:{self.port}"
        try:
            smtp = self._connect()
            self._expect(smtp.mail(self.sender), "MAIL FROM")
            refused = [r for r in recipients if smtp.rcpt(r)[0] not in (250, 251)]
            if len(refused) == len(recipients):
                smtp.rset()
                raise DeliveryError(f"{where} refused every recipient: {', '.join(refused)}")
            before_data()
            self._expect(smtp.data(message), "DATA")
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(f"{where}: {_smtp_reason(exc)}") from exc
        if refused:
            logger.warning("%s refused %s", where, ", ".join(refused))

    @staticmethod
    def _expect(reply: tuple[int, bytes], step: str) -> None:
        code, text = reply
        if code != 250:
            raise smtplib.SMTPResponseException(code, f"{step}: {text.decode(errors='replace')}")

    def _connect(self) -> smtplib.SMTP:
        if self._connection is None:
            context = ssl.create_default_context()
            smtp: smtplib.SMTP
            if self.tls == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                if self.tls == "starttls":
                    smtp.starttls(context=context)
                smtp.ehlo()  # MAIL FROM needs a greeting first (again after STARTTLS)
                if self.user:
                    smtp.login(self.user, self.password or "")
            except (smtplib.SMTPException, OSError):
                smtp.close()  # a refused login or TLS must not leave the socket open
                raise
            self._connection = smtp
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._connection = None


def _smtp_reason(exc: BaseException) -> str:
    """What went wrong, without anything the server echoed back of our credentials."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"login refused (SMTP {exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"refused (SMTP {exc.smtp_code})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted: {exc.verify_message} (a private CA? set SSL_CERT_FILE)"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{exc} (nothing sent, not even the login)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@contextmanager
def open_channel(settings: Settings, *, outbox: Path | None = None) -> Iterator[Channel]:
    """SMTP when a host is configured (and no outbox forced), else the outbox folder."""
    if settings.smtp_host and outbox is None:
        channel = SmtpChannel(settings)
        try:
            yield channel
        finally:
            channel.close()
    else:
        folder = outbox or settings.data_dir / "outbox"
        yield OutboxChannel(folder, instead_of_mail=outbox is None)


@dataclass
class DeliveryReport:
    sent: list[Delivery] = field(default_factory=list)
    failures: list[tuple[Delivery, str]] = field(default_factory=list)
    channel: Channel | None = None

    def describe(self, delivery: Delivery) -> str:
        """What happened to a delivered digest, in words that never claim a mail that was not
        sent."""
        who = ", ".join(delivery.recipients)
        if not isinstance(self.channel, OutboxChannel):
            return f"Mailed {delivery.subject} -> {who}"
        path = self.channel.path_for(delivery)
        if not who:
            return f"Wrote {delivery.subject} to {path}"
        if self.channel.name == UNMAILED:
            return (
                f"Wrote the digest for {who} to {path}: SMTP is not configured, nothing was "
                "mailed (it will be, in one catch-up mail, once SMTP is set up)"
            )
        return f"Wrote the digest for {who} to {path} (--outbox: not mailed)"


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
    for delivery in store.unfinished_deliveries():
        if delivery.state == "data_sent" or channel.already_delivered(delivery):
            logger.warning("counting interrupted delivery %s as sent", delivery.message_id)
            store.set_delivery_state(delivery.id, "sent", now=now)
            report.sent.append(delivery)
        else:
            _send(store, channel, delivery, report, now=now)
    events = store.pending_events()
    trials = store.trials()
    routes = {nct_id: trial.recipients for nct_id, trial in trials.items()}
    domain = (settings.mail_from or DEFAULT_SENDER).rpartition("@")[2]
    for audience in plan_audiences(
        events, routes=routes, everyone=settings.mail_to, covered=store.covered()
    ):
        chosen = [event for event in events if event.id in audience.event_ids]
        delivery = _record_digest(store, channel, audience, chosen, trials, domain, settings, now)
        _send(store, channel, delivery, report, now=now)
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
) -> Delivery:
    """Render the audience's digest and record the attempt (final bytes, Message-ID)."""
    digest = render_digest(events, trials)
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
                store, channel, audience, events, trials, domain, settings, now
            )
            _send(store, channel, delivery, report, now=now)
            state = store.delivery_state(delivery.message_id)
        if state in ("sent", "data_sent"):
            store.mark_mailed([delivery_id for delivery_id, _ in unmailed], now=now)


def _send(
    store: Store, channel: Channel, delivery: Delivery, report: DeliveryReport, *, now: str
) -> None:
    if channel.mails and not delivery.recipients:
        error = "no recipients: set TRIALWATCH_MAIL_TO or use `watch add --to`"
        store.set_delivery_state(delivery.id, "failed", now=now, error=error)
        report.failures.append((delivery, error))
        return
    try:
        channel.send(
            delivery, before_data=lambda: store.set_delivery_state(delivery.id, "data_sent")
        )
    except DeliveryError as exc:
        store.set_delivery_state(delivery.id, "failed", now=now, error=str(exc))
        report.failures.append((delivery, str(exc)))
        return
    store.set_delivery_state(delivery.id, "sent", now=now)
    report.sent.append(delivery)
