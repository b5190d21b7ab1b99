"""Reading the registry's answers: a body no larger than a record can be, strict JSON, the
wait a 429 asks for, and why a connection failed, in a user's words."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from monitor.errors import MalformedResponse
from monitor.registry.raw import loads_registry_json

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


def read_capped(response: httpx.Response) -> bytes:
    """The body, refused once it grows past `MAX_ANSWER_BYTES` (an endless answer)."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise MalformedResponse(f"answer larger than {MAX_ANSWER_BYTES >> 20} MB", status=200)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(content: bytes) -> Any:
    try:
        return loads_registry_json(content)
    except ValueError as exc:
        raise MalformedResponse("malformed JSON from the registry", status=200) from exc


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
