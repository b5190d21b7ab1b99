"""How a digest travels: the outbox folder (files written whole), an SMTP server (none,
STARTTLS or SSL, optional login), or chat and webhook services through Apprise (Slack, Teams,
Matrix, `json://` for any webhook: one library, no per-service client). A transport says
whether it mails people; where a message goes is its `store.Destination` (mail recipients,
the outbox, a chat channel by name); the bookkeeping that makes a delivery happen exactly
once is `exactly_once`'s.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import json
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from monitor.config import Settings
from monitor.errors import BadInput, DeliveryError, UnconfirmedDelivery
from monitor.masking import mask_url, unnamed_channel
from monitor.reports.render import HEADER_LIMIT, Digest
from monitor.store import Delivery, DeliveryState
from monitor.whole_files import write_whole

logger = logging.getLogger(__name__)

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
        """The digest's bytes as this carrier sends them (recorded before sending)."""

    def tell(self, delivery: Delivery) -> str:
        """What happened to a delivered digest, in words that never claim a mail that was
        not sent (nor one the server refused, nor an answer that never came)."""

    def already_delivered(self, delivery: Delivery) -> bool:
        """After a crash: can this channel tell that the message arrived?"""

    def send(self, delivery: Delivery, *, handing_over: Callable[[], None]) -> list[str]:
        """Hand the message over; the recipients the server refused (mail only). A channel
        that cannot check afterwards calls `handing_over` just before the message's last bytes
        leave: from then on an ending without an answer raises `UnconfirmedDelivery`."""


class OutboxTransport:
    """Writes each digest as an `.eml` file. The write is atomic (temporary file, then rename),
    so after a crash the file's presence says exactly whether the digest was delivered."""

    def __init__(self, folder: Path, *, instead_of_mail: bool = False):
        """`instead_of_mail`: SMTP is not configured, so digests for addressed recipients
        land here unmailed, and are mailed in one catch-up once SMTP is set up."""
        self.folder = folder
        self.name = "outbox"
        self.mails = False
        self.stands_in_for_mail = instead_of_mail
        self.split_at: int | None = None

    def path_for(self, delivery: Delivery) -> Path:
        token = delivery.message_id.strip("<>").split(".", 1)[0][:16]
        return self.folder / f"{delivery.created_at.date()}-{token}.eml"

    def __str__(self) -> str:
        return str(self.folder)

    def message(self, digest: Digest, envelope: Envelope) -> bytes:
        return mail_message(digest, envelope)

    def tell(self, delivery: Delivery) -> str:
        path, who = self.path_for(delivery), ", ".join(delivery.accepted)
        if not who:
            return f"Wrote {delivery.subject} to {path}"
        if delivery.state == DeliveryState.UNMAILED:
            return (
                f"Wrote the digest for {who} to {path}: SMTP is not configured, nothing was "
                "mailed (it will be, in one catch-up mail, once SMTP is set up)"
            )
        return f"Wrote the digest for {who} to {path} (--outbox: not mailed)"

    def already_delivered(self, delivery: Delivery) -> bool:
        return self.path_for(delivery).exists()

    def send(self, delivery: Delivery, *, handing_over: Callable[[], None]) -> list[str]:
        try:
            write_whole(self.path_for(delivery), delivery.message)
        except OSError as exc:
            raise DeliveryError(f"cannot write to outbox {self.folder}: {exc.strerror}") from exc
        return []


class SmtpTransport:
    """Sends through an SMTP server (none/starttls/ssl, optional login) over one connection."""

    name = "smtp"
    mails = True
    stands_in_for_mail = False
    split_at: int | None = None

    def __init__(self, settings: Settings):
        self.host = settings.smtp_host or "localhost"
        by_port = {587: "starttls", 465: "ssl"}.get(settings.smtp_port or 0)
        self.tls: str = settings.smtp_tls or by_port or "none"
        self.port = settings.smtp_port or {"ssl": 465, "starttls": 587}.get(self.tls, 25)
        self.user, self.password = settings.smtp_user, settings.smtp_password
        self.timeout = settings.timeout
        self.sender = settings.mail_from or DEFAULT_SENDER
        self._connection: smtplib.SMTP | None = None

    def message(self, digest: Digest, envelope: Envelope) -> bytes:
        return mail_message(digest, envelope)

    def tell(self, delivery: Delivery) -> str:
        who = ", ".join(delivery.accepted)
        return f"Mailed {delivery.subject} -> {who}{_unconfirmed(delivery)}"

    def already_delivered(self, delivery: Delivery) -> bool:
        return False

    def __str__(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def verify(self) -> None:
        """Connect and log in, nothing more (for `doctor`)."""
        try:
            self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{self}: {_smtp_reason(exc, tls=self.tls)}") from exc
        finally:
            self.close()

    def send(self, delivery: Delivery, *, handing_over: Callable[[], None]) -> list[str]:
        return self._transmit(delivery.message, delivery.recipients, handing_over=handing_over)

    def send_test(self, recipients: list[str], *, now: dt.datetime) -> None:
        """A short test message (`doctor --send-test`): does mail from trialwatch arrive?"""
        message = EmailMessage(policy=email.policy.SMTP)
        message["Subject"] = "trialwatch test message"
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Date"] = email.utils.format_datetime(now)
        message["Message-ID"] = email.utils.make_msgid(domain=self.sender.rpartition("@")[2])
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(
            "This is a test message from trialwatch doctor --send-test.\n"
            f"Digests of changes to your watched trials will come from {self.sender}.\n"
        )
        refused = self._transmit(message.as_bytes(), recipients, handing_over=lambda: None)
        if refused:
            raise DeliveryError(f"{self} refused {', '.join(refused)}")

    def _transmit(
        self, message: bytes, recipients: list[str], *, handing_over: Callable[[], None]
    ) -> list[str]:
        """Send to `recipients`; those the server refused (the others got it)."""
        try:
            smtp = self._connect()
            self._expect(smtp.mail(self.sender), "MAIL FROM")
            refused = [r for r in recipients if smtp.rcpt(r)[0] not in (250, 251)]
            if len(refused) == len(recipients):
                smtp.rset()
                raise DeliveryError(f"{self} refused every recipient: {', '.join(refused)}")
            self._send_data(smtp, message, handing_over=handing_over)
        except UnconfirmedDelivery:
            self.close()
            raise
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(f"{self}: {_smtp_reason(exc, tls=self.tls)}") from exc
        return refused

    def _send_data(
        self, smtp: smtplib.SMTP, message: bytes, *, handing_over: Callable[[], None]
    ) -> None:
        """DATA, as `smtplib.SMTP.data` does it, with the moment the message is whole at the
        server told apart: `handing_over` just before the final "." leaves, and no answer after
        it is an unconfirmed delivery, not a failed one."""
        code, reply = smtp.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        content = re.sub(rb"(?m)^\.", b"..", message)
        smtp.send(content if content.endswith(b"\r\n") else content + b"\r\n")
        handing_over()
        smtp.send(b".\r\n")
        try:
            code, reply = smtp.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            raise UnconfirmedDelivery(
                f"{self}: the whole message was handed over but no answer came "
                f"({_smtp_reason(exc, tls=self.tls)})"
            ) from exc
        self._expect((code, reply), "DATA")

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


def _smtp_reason(exc: BaseException, *, tls: str = "none") -> str:
    """What went wrong and what to try, in a person's words, without anything the server
    echoed back of our credentials; `tls`: the `smtp_tls` in use."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (
            f"the server refused the login (SMTP {exc.smtp_code}): check smtp_user and "
            "smtp_password (many providers want an app password, not your own)"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"refused (SMTP {exc.smtp_code})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted: {exc.verify_message} (a private CA? set SSL_CERT_FILE)"
    if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc):
        if tls == "ssl":
            return (
                'this port does not speak TLS from the first byte: set smtp_tls = "starttls" '
                "(port 587), or use the server's TLS port (465)"
            )
        return 'this port speaks TLS from the first byte: set smtp_tls = "ssl" (port 465)'
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{exc} (nothing sent, not even the login)"
    if isinstance(exc, ConnectionRefusedError):
        return "nothing listens on that port (is the server running, and is this its port?)"
    if isinstance(exc, socket.gaierror):
        return "no such host (check smtp_host)"
    if isinstance(exc, TimeoutError | smtplib.SMTPServerDisconnected) and tls != "ssl":
        return (
            f"no greeting came ({type(exc).__name__}): if this port speaks TLS from the first "
            'byte (465), set smtp_tls = "ssl"'
        )
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class Envelope:
    """What a mail's headers say beside its subject: from, to, Message-ID and date."""

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    date: dt.datetime


def mail_message(digest: Digest, envelope: Envelope) -> bytes:
    """A multipart/alternative message; only validated addresses and cleaned text in headers."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = digest.subject
    message["From"] = envelope.sender
    if envelope.recipients:
        message["To"] = ", ".join(envelope.recipients)
    message["Date"] = email.utils.format_datetime(envelope.date)
    message["Message-ID"] = envelope.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(digest.text)
    message.add_alternative(digest.html, subtype="html")
    return message.as_bytes()


def chat_message(digest: Digest) -> bytes:
    """A chat or webhook post as recorded: its title and Markdown body."""
    return json.dumps({"title": digest.subject, "body": digest.chat}).encode()


def _unconfirmed(delivery: Delivery) -> str:
    if delivery.state == DeliveryState.UNCONFIRMED:
        return " (unconfirmed: handed over whole, no answer came)"
    return ""


@contextmanager
def open_transport(settings: Settings, *, outbox: Path | None = None) -> Iterator[Transport]:
    """SMTP when a host is configured (and no outbox forced), else the outbox folder."""
    if settings.smtp_host and outbox is None:
        channel = SmtpTransport(settings)
        try:
            yield channel
        finally:
            channel.close()
    else:
        folder = outbox or settings.data_dir / "outbox"
        yield OutboxTransport(folder, instead_of_mail=outbox is None)


class AppriseTransport:
    """Posts a digest's title and Markdown body to one Apprise URL. The URL holds the
    service's token: only its masked form is ever shown."""

    name = "apprise"
    mails = False
    stands_in_for_mail = False

    def __init__(self, label: str, url: str):
        import apprise  # only installations with channels pay for it

        # posted in this thread (not Apprise's pool), so that the hand-over is recorded on the
        # database connection of the thread that sends
        asset = apprise.AppriseAsset(async_mode=False, service_timeout=0)  # requests has its own
        plugin = apprise.Apprise.instantiate(url, asset=asset)
        if plugin is None:
            scheme = url.partition("://")[0]
            raise BadInput(f"channel {label}: Apprise cannot use this {scheme}:// URL")
        overflow = parse_qs(urlsplit(url).query).get("overflow", [])
        self.split_at: int | None = None
        if overflow == ["split"]:
            # Split between whole trials by trialwatch (`delivery.digests`), each part a
            # delivery of its own: Apprise's own parts are one post to trialwatch, so a part
            # refused would send the parts taken before it again. A title the service does
            # not take apart goes into the body.
            self.split_at = plugin.body_maxlen - (0 if plugin.title_maxlen else HEADER_LIMIT + 2)
        if not overflow or self.split_at is not None:
            # A digest longer than the service takes (Discord: 2,000 characters, Slack: 35,000)
            # is cut to fit, most important first, rather than refused on every run forever.
            plugin.overflow_mode = apprise.OverflowMode.TRUNCATE
        self.plugin = plugin
        self.label = label
        self.url = url
        # Apprise's own privacy form first: for Slack or Discord the "host" is a token too
        privacy = str(plugin.url(privacy=True)).partition("?")[0]  # type: ignore[no-untyped-call]
        self.masked = mask_url(privacy)

    @property
    def unnamed(self) -> bool:
        """Given as a URL in `notify`, not by a name in `channels`."""
        return self.label == unnamed_channel(self.url)

    def __str__(self) -> str:
        return f"channel {self.masked if self.unnamed else self.label}"

    def message(self, digest: Digest, envelope: Envelope) -> bytes:
        return chat_message(digest)

    def tell(self, delivery: Delivery) -> str:
        return f"Posted {delivery.subject} to {self}{_unconfirmed(delivery)}"

    def already_delivered(self, delivery: Delivery) -> bool:
        return False

    def send(self, delivery: Delivery, *, handing_over: Callable[[], None]) -> list[str]:
        content = json.loads(delivery.message)
        self._post(content["title"], content["body"], handing_over=handing_over)
        return []

    def send_test(self) -> None:
        """A short test message (`doctor --send-test`): does a post from trialwatch arrive?"""
        body = "This is a test message from `trialwatch doctor --send-test`."
        self._post("trialwatch test message", body, handing_over=lambda: None)

    def _post(self, title: str, body: str, *, handing_over: Callable[[], None]) -> None:
        """Post through Apprise. Its requests send the whole body before reading the answer,
        so a read timeout means the service has the post: unconfirmed, not failed. The post
        counts as handed over once the connection is open and the request about to leave,
        never before: while the name is resolved or the connection opens (a service that does
        not answer), a crash means "send again"."""
        import apprise

        sender = apprise.Apprise()
        sender.add(self.plugin)
        capture = apprise.LogCapture(level=logging.DEBUG, fmt="%(levelname)s %(message)s")  # type: ignore[no-untyped-call]
        with capture as log, _once_connected(handing_over):
            posted = sender.notify(
                title=title, body=body, body_format=apprise.NotifyFormat.MARKDOWN
            )
        if posted:
            return
        said = log.getvalue().splitlines()
        warned = [line.partition(" ")[2] for line in said if line.startswith(("WARNING", "ERROR"))]
        reason = (warned[-1] if warned else "not accepted").replace(self.url, self.masked)
        if any("Read timed out" in line for line in said):
            raise UnconfirmedDelivery(f"{reason} (the post was sent whole; no answer came)")
        raise DeliveryError(reason)


@contextmanager
def _once_connected(handing_over: Callable[[], None]) -> Iterator[None]:
    """Call `handing_over` each time an HTTP request is about to be written to an open
    connection (its name resolved, the connection made, TLS done), while the block runs.
    urllib3 (under Apprise's requests) has no hook there, so its `HTTPConnection.request` is
    wrapped for the block and restored after it."""
    import urllib3.connection

    connection = urllib3.connection.HTTPConnection
    original = connection.request

    def request(self: urllib3.connection.HTTPConnection, *args: Any, **kwargs: Any) -> None:
        if self.sock is None:
            self.connect()
        handing_over()
        original(self, *args, **kwargs)

    connection.request = request  # type: ignore[method-assign]
    try:
        yield
    finally:
        connection.request = original  # type: ignore[method-assign]


class MissingTransport:
    """A channel a watch names that the config no longer has: its digests fail (and are kept
    for a later run) until the channel is configured again."""

    name = "apprise"
    mails = False
    stands_in_for_mail = False
    split_at: int | None = None

    def __init__(self, label: str):
        self.label = label

    def __str__(self) -> str:
        return f"channel {self.label}"

    def message(self, digest: Digest, envelope: Envelope) -> bytes:
        return chat_message(digest)

    def tell(self, delivery: Delivery) -> str:
        return f"Posted {delivery.subject} to {self}{_unconfirmed(delivery)}"

    def already_delivered(self, delivery: Delivery) -> bool:
        return False

    def send(self, delivery: Delivery, *, handing_over: Callable[[], None]) -> list[str]:
        raise DeliveryError(f"no channel {self.label!r} in the config's [channels]")


def open_chat_transports(settings: Settings) -> dict[str, Transport]:
    """Every configured chat or webhook channel by name; a URL Apprise cannot use is bad input,
    found before anything is checked or sent."""
    return {name: AppriseTransport(name, url) for name, url in settings.chat_channels().items()}
