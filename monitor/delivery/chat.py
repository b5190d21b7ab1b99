"""Chat and webhook transports through Apprise (Slack, Teams, Matrix, `json://` for any
webhook: one library, no per-service client). A channel's URL holds its token: only its
masked form is ever shown."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitor.config import Settings
from monitor.delivery.transports import Envelope, Transport, unconfirmed_note
from monitor.errors import BadInput, DeliveryError, UnconfirmedDelivery
from monitor.masking import mask_url, unnamed_channel
from monitor.reports.render import HEADER_LIMIT, Digest
from monitor.store import Delivery


def chat_message(digest: Digest) -> bytes:
    """A chat or webhook post as recorded: its title and Markdown body."""
    return json.dumps({"title": digest.subject, "body": digest.chat}).encode()


class ChatTransport:
    """What every chat or webhook channel does alike: a Markdown post, told as "Posted"."""

    name = "apprise"
    mails = False
    stands_in_for_mail = False
    split_at: int | None = None

    def message(self, digest: Digest, envelope: Envelope) -> bytes:
        return chat_message(digest)

    def tell(self, delivery: Delivery) -> str:
        return f"Posted {delivery.subject} to {self}{unconfirmed_note(delivery)}"

    def already_delivered(self, delivery: Delivery) -> bool:
        return False


class AppriseTransport(ChatTransport):
    """Posts a digest's title and Markdown body to one Apprise URL. The URL holds the
    service's token: only its masked form is ever shown."""

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
        with capture as log, once_connected(handing_over):
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
def once_connected(handing_over: Callable[[], None]) -> Iterator[None]:
    """Call `handing_over` each time an HTTP request is about to be written to an open
    connection (its name resolved, the connection made, TLS done), while the block runs.
    urllib3 (under Apprise's requests) has no hook there, so its `HTTPConnection.request` is
    wrapped for the block and restored after it; a request from any other thread meanwhile
    goes through untouched."""
    import urllib3.connection

    connection = urllib3.connection.HTTPConnection
    original = connection.request
    posting = threading.get_ident()

    def request(self: urllib3.connection.HTTPConnection, *args: Any, **kwargs: Any) -> None:
        if threading.get_ident() == posting:
            if self.sock is None:
                self.connect()
            handing_over()
        original(self, *args, **kwargs)

    connection.request = request  # type: ignore[method-assign]
    try:
        yield
    finally:
        connection.request = original  # type: ignore[method-assign]


class MissingTransport(ChatTransport):
    """A channel a watch names that the config no longer has: its digests fail (and are kept
    for a later run) until the channel is configured again."""

    def __init__(self, label: str):
        self.label = label

    def __str__(self) -> str:
        return f"channel {self.label}"

    def send(self, delivery: Delivery, *, handing_over: Callable[[], None]) -> list[str]:
        raise DeliveryError(f"no channel {self.label!r} in the config's [channels]")


def channel_transport(chats: Mapping[str, Transport], name: str) -> Transport:
    """What carries a digest to the channel `name`: its transport, or one that fails (kept
    for a later run) where the config no longer has it."""
    return chats.get(name) or MissingTransport(name)


def open_chat_transports(settings: Settings) -> dict[str, Transport]:
    """Every configured chat or webhook channel by name; a URL Apprise cannot use is bad input,
    found before anything is checked or sent."""
    return {name: AppriseTransport(name, url) for name, url in settings.chat_channels().items()}
