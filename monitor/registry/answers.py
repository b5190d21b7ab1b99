"""Reading the registry's answers: a body no larger than a record can be, strict JSON, the
wait a 429 asks for, and why a connection failed, in a user's words."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from monitor.errors import MalformedResponse
from monitor.registry.raw import (
    REGISTRY_JSON,
    loads_registry_json,
    spells_a_surrogate,
    without_lone_surrogates,
)

MAX_ANSWER_BYTES = 128 * 1024 * 1024  # a full page of 1,000 records is well under 100 MB


def connection_failure(exc: httpx.TransportError) -> str:
    """Why a connection failed, in a user's words (the cause, not the exception's class)."""
    text = str(exc)
    causes = (
        (
            (
                "Name or service not known",
                "name resolution",
                "nodename nor servname",
                "getaddrinfo",
            ),
            "its name could not be resolved (no network, or no DNS?)",
        ),
        (("Connection refused",), "connection refused"),
        (("SSL", "CERTIFICATE", "certificate"), f"TLS failed: {text}"),
        (("Network is unreachable", "No route to host"), "no route to it (no network?)"),
    )
    for signs, cause in causes:
        if any(sign in text for sign in signs):
            return cause
    if isinstance(exc, httpx.ConnectTimeout):
        return "connecting timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the answer broke off halfway"
    if isinstance(exc, httpx.ReadError):
        return "the connection was reset"
    return type(exc).__name__


def capped_chunks(response: httpx.Response) -> Iterator[bytes]:
    """The body as it arrives, refused once it grows past `MAX_ANSWER_BYTES` (an endless
    answer)."""
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise MalformedResponse(f"answer larger than {MAX_ANSWER_BYTES >> 20} MB", status=200)
        yield chunk


def read_capped(response: httpx.Response) -> bytes:
    """The whole body, as `capped_chunks` lets it through."""
    return b"".join(capped_chunks(response))


def malformed() -> MalformedResponse:
    """What an answer that is not the registry's strict JSON is."""
    return MalformedResponse("malformed JSON from the registry", status=200)


def parse_json(content: bytes) -> Any:
    try:
        return loads_registry_json(content)
    except ValueError as exc:
        raise malformed() from exc


def parse_retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class StudiesStream:
    """A `/studies` page read as it arrives: `feed` each piece of text, and get back the
    studies of its `studies` list completed so far; `close` at the end gives the rest of the
    page (`nextPageToken`, `totalCount`). The whole page is the same strict JSON
    `parse_json` reads, or MalformedResponse."""

    def __init__(self) -> None:
        self._text = ""
        self._at = 0
        self._state = "start"  # where in the page: see `_step` and `_after`
        self._rest: dict[str, Any] = {}
        self._studies_seen = False
        self._pieces: list[str] = []  # fed, not read yet
        self._waiting = 0  # their length
        self._read_again_at = 0  # the length of text worth reading again at

    def _read(self) -> list[Any]:
        self._text = self._text[self._at :] + "".join(self._pieces)
        self._at, self._pieces, self._waiting = 0, [], 0
        studies: list[Any] = []
        while self._step(studies):
            pass
        self._read_again_at = self._at + 2 * (len(self._text) - self._at)
        return studies

    def feed(self, text: str, *, last: bool = False) -> list[Any]:
        """The studies `text` completes (`last`: the page's last piece). A value cut short is
        read again only once the text from its start has doubled: a record arriving in small
        pieces is parsed a few times, not once a piece (a 10 MB record over a slow link)."""
        self._pieces.append(text)
        self._waiting += len(text)
        if not last and len(self._text) + self._waiting < self._read_again_at:
            return []
        return self._read()

    def close(self) -> dict[str, Any]:
        """The rest of the page, after its last piece; MalformedResponse if it is not one."""
        if self._state != "done" or self._text[self._at :].strip():
            raise malformed()
        if not self._studies_seen:
            raise MalformedResponse("malformed JSON: no 'studies' list", status=200)
        return self._rest

    def _step(self, studies: list[Any]) -> bool:
        """Read one token's worth; False when more text is needed (or the page is over)."""
        at = self._skip_space()
        if at >= len(self._text) or self._state == "done":
            return False
        char, state = self._text[at], self._state
        if state in ("start", "after_member", "after_item"):
            self._at, self._state = at + 1, self._after(state, char)
            return True
        if state in ("key_first", "items_first") and char == "}]"[state == "items_first"]:
            self._at, self._state = at + 1, "done" if char == "}" else "after_member"
            return True
        if state in ("key_first", "key"):
            return self._read_member(at)
        study, end = self._value(at)  # items_first, item
        if study is _MORE:
            return False
        self._at, self._state = end, "after_item"
        studies.append(study)
        return True

    @staticmethod
    def _after(state: str, char: str) -> str:
        """The state a punctuation mark leads to; anything else there is not the page."""
        moves = {
            ("start", "{"): "key_first",
            ("after_member", ","): "key",
            ("after_member", "}"): "done",
            ("after_item", ","): "item",
            ("after_item", "]"): "after_member",
        }
        if (state, char) not in moves:
            raise malformed()
        return moves[state, char]

    def _read_member(self, at: int) -> bool:
        """`"key": value` at `at`, read whole or not at all; the `studies` list is entered,
        any other value kept in the rest of the page."""
        key, end = self._value(at)
        colon = self._skip_space(end)
        if key is _MORE or colon >= len(self._text):
            return False
        if self._text[colon] != ":":
            raise malformed()
        start = self._skip_space(colon + 1)
        if start >= len(self._text):
            return False
        if key == "studies" and self._text[start] == "[":
            self._at, self._state, self._studies_seen = start + 1, "items_first", True
            return True
        value, end = self._value(start)
        if value is _MORE:
            return False
        self._at, self._state, self._rest[str(key)] = end, "after_member", value
        return True

    def _value(self, at: int) -> tuple[Any, int]:
        """The JSON value at `at` and where it ends, or `_MORE` when its text is incomplete."""
        try:
            value, end = REGISTRY_JSON.raw_decode(self._text, at)
            if spells_a_surrogate(self._text, at, end):
                value = without_lone_surrogates(value)
        except json.JSONDecodeError:
            return _MORE, at  # cut short, or malformed: the end of the page tells (`close`)
        except (ValueError, RecursionError) as exc:  # NaN, Infinity; nested too deeply
            raise malformed() from exc
        if not isinstance(value, (dict, list, str)) and (
            end >= len(self._text) or self._text[end] not in ",]} \t\r\n"
        ):
            return _MORE, at  # a number may go on in the next piece ("2" of "2.5")
        return value, end

    def _skip_space(self, at: int | None = None) -> int:
        at = self._at if at is None else at
        while at < len(self._text) and self._text[at] in " \t\r\n":
            at += 1
        return at


_MORE = object()  # a value not complete yet
