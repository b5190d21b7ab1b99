"""Where a digest goes: the outbox folder (files written whole), an SMTP server (none,
STARTTLS or SSL, optional login), or chat and webhook services through Apprise (Slack, Teams,
Matrix, `json://` for any webhook: one library, no per-service client). A channel says whether
it mails people; the bookkeeping that makes a delivery happen exactly once is `exactly_once`'s.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import json
import logging
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from monitor.config import Settings, unnamed_channel
from monitor.errors import BadInput, DeliveryError
from monitor.store import UNMAILED, Delivery
from monitor.whole_files import write_whole

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "trialwatch@localhost"


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


class AppriseChannel:
    """Posts a digest's title and Markdown body to one Apprise URL. The URL holds the
    service's token: only its masked form is ever shown."""

    name = "apprise"
    mails = False

    def __init__(self, label: str, url: str):
        import apprise  # only installations with channels pay for it

        # Apprise's own log lines may name a service's URL, token and all (Slack's at debug
        # level): they stay out of trialwatch's log; a failure's reason comes back scrubbed.
        logging.getLogger("apprise").propagate = False
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            scheme = url.partition("://")[0]
            raise BadInput(f"channel {label}: Apprise cannot use this {scheme}:// URL")
        if "overflow=" not in url.partition("?")[2]:
            # A digest longer than the service takes (Discord: 2,000 characters, Slack: 35,000)
            # is cut to fit, most important first, rather than refused on every run forever.
            plugin.overflow_mode = apprise.OverflowMode.TRUNCATE
        self.plugin = plugin
        self.label = label
        self.url = url
        self.masked = str(plugin.url(privacy=True)).partition("?")[0]  # type: ignore[no-untyped-call]

    @property
    def unnamed(self) -> bool:
        """Given as a URL in `notify`, not by a name in `channels`."""
        return self.label == unnamed_channel(self.url)

    def __str__(self) -> str:
        return f"channel {self.masked if self.unnamed else self.label}"

    def already_delivered(self, delivery: Delivery) -> bool:
        return False

    def send(self, delivery: Delivery, *, before_data: Callable[[], None]) -> None:
        content = json.loads(delivery.message)
        self._post(content["title"], content["body"], before_data=before_data)

    def send_test(self) -> None:
        """A short test message (`doctor --send-test`): does a post from trialwatch arrive?"""
        body = "This is a test message from `trialwatch doctor --send-test`."
        self._post("trialwatch test message", body, before_data=lambda: None)

    def _post(self, title: str, body: str, *, before_data: Callable[[], None]) -> None:
        import apprise

        sender = apprise.Apprise()
        sender.add(self.plugin)
        before_data()
        capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
        with capture as log:
            posted = sender.notify(
                title=title, body=body, body_format=apprise.NotifyFormat.MARKDOWN
            )
        if not posted:
            said = [line for line in log.getvalue().splitlines() if line.strip()]
            reason = said[-1].replace(self.url, self.masked) if said else "not accepted"
            raise DeliveryError(reason)


class MissingChannel:
    """A channel a watch names that the config no longer has: its digests fail (and are kept
    for a later run) until the channel is configured again."""

    name = "apprise"
    mails = False

    def __init__(self, label: str):
        self.label = label

    def __str__(self) -> str:
        return f"channel {self.label}"

    def already_delivered(self, delivery: Delivery) -> bool:
        return False

    def send(self, delivery: Delivery, *, before_data: Callable[[], None]) -> None:
        raise DeliveryError(f"no channel {self.label!r} in the config's [channels]")


def open_chat_channels(settings: Settings) -> dict[str, Channel]:
    """Every configured chat or webhook channel by name; a URL Apprise cannot use is bad input,
    found before anything is checked or sent."""
    return {name: AppriseChannel(name, url) for name, url in settings.chat_channels().items()}
