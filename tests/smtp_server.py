"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts, with scripted trouble,
optionally behind STARTTLS or implicit TLS with a certificate from a throwaway CA (trustme)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no {subtype} part"
        return str(body.get_content())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@functools.cache
def test_ca() -> tuple[trustme.CA, Path]:
    """One throwaway certificate authority per test session, and its certificate as a PEM file
    (clients trust it through SSL_CERT_FILE, as they would a company CA)."""
    ca = trustme.CA()
    pem = Path(tempfile.mkdtemp()) / "test-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return ca, pem


class SmtpServer:
    """Collects messages; `reject_data` refuses content; hooks run inside the SMTP dialogue.

    `tls`: "none", "starttls" (required before MAIL and AUTH) or "ssl" (implicit TLS), with a
    certificate for `certified_host` signed by `test_ca()`.
    """

    def __init__(
        self,
        *,
        login: tuple[str, str] | None = None,
        tls: str = "none",
        certified_host: str = "127.0.0.1",
    ) -> None:
        self.tls = tls
        self.certified_host = certified_host
        self.port = free_port()
        self.received: list[Received] = []
        self.reject_data: str | None = None
        self.refused_recipients: set[str] = set()  # answered 550 at RCPT
        # after taking the whole message: close the connection without answering, or answer
        # only after this many seconds
        self.drop_after_data = False
        self.answer_delay = 0.0
        self.on_rcpt: Callable[[], None] | None = None
        self.on_data: Callable[[], None] | None = None
        self.login = login
        self.login_attempts = 0
        self.arrived = threading.Event()
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        extra: dict[str, Any] = {}
        if self.login:
            # AUTH only after STARTTLS when there is one; aiosmtpd cannot see implicit TLS.
            extra = {"authenticator": self._authenticate, "auth_require_tls": self.tls != "none"}
        if self.tls != "none":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            test_ca()[0].issue_cert(self.certified_host).configure_cert(context)
            if self.tls == "starttls":
                extra.update(tls_context=context, require_starttls=True)
            else:
                extra.update(ssl_context=context, auth_require_tls=False)
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, ready_timeout=10, **extra
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        self.login_attempts += 1
        ok = (
            isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self.login
        )
        return AuthResult(success=ok, handled=False)

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.on_rcpt:
            self.on_rcpt()
        if address in self.refused_recipients:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.reject_data:
            return self.reject_data
        # DATA comes after MAIL FROM, and aiosmtpd reads the content before calling this
        assert envelope.mail_from is not None and envelope.original_content is not None
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        if self.on_data:
            self.on_data()
        self.arrived.set()
        if self.drop_after_data and server.transport is not None:
            server.transport.close()
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        return "250 OK"

    def env(self) -> dict[str, str]:
        """Environment pointing trialwatch at this server."""
        return {
            "TRIALWATCH_SMTP_HOST": "127.0.0.1",
            "TRIALWATCH_SMTP_PORT": str(self.port),
            "TRIALWATCH_SMTP_TLS": self.tls,
            "TRIALWATCH_MAIL_FROM": "trialwatch@example.org",
            "SSL_CERT_FILE": str(test_ca()[1]),
        }
