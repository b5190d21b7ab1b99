"""Mail transports: the outbox folder (each digest an `.eml` file, written whole) and an SMTP
server (none, STARTTLS or SSL, optional login), with errors told in a person's words."""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

from monitor.config import Settings
from monitor.delivery.transports import DEFAULT_SENDER, Envelope, Transport, unconfirmed_note
from monitor.errors import DeliveryError, UnconfirmedDelivery
from monitor.reports.render import Digest
from monitor.store import Delivery, DeliveryState
from monitor.whole_files import write_whole


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
        return f"Mailed {delivery.subject} -> {who}{unconfirmed_note(delivery)}"

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
    if isinstance(exc, ssl.SSLError) and exc.reason == "WRONG_VERSION_NUMBER":
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


@contextmanager
def open_transport(settings: Settings, *, outbox: Path | None = None) -> Iterator[Transport]:
    """SMTP when a host is configured (and no outbox forced), else the outbox folder."""
    if settings.smtp_host and outbox is None:
        smtp = SmtpTransport(settings)
        try:
            yield smtp
        finally:
            smtp.close()
    else:
        folder = outbox or settings.data_dir / "outbox"
        yield OutboxTransport(folder, instead_of_mail=outbox is None)
