"""How each setting's value is read, from the config file or the environment: one small
parser a key (`PARSERS`); a value it cannot use is `ValueError` or `BadInput`, which
`config.load_settings` words with where the value came from."""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from monitor.delivery.cadence import parse_cadence
from monitor.errors import BadInput
from monitor.names import is_plain_name
from monitor.records.events import Category
from monitor.records.materiality import Materiality
from monitor.records.rules import Rule, parse_rule

TLS_MODES = ("none", "starttls", "ssl")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    if any(char in value for char in "\r\n"):
        raise ValueError("line breaks are not allowed")
    return value.strip()


def _url(value: Any) -> str:
    url = _text(value).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return url


def _number(minimum: float, maximum: float = float("inf")) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, not {value!r}") from None
        return _within(number, minimum, maximum)

    return parse


def _whole(minimum: int, maximum: float = float("inf")) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, float) or isinstance(value, bool):
            raise ValueError("expected a whole number")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a whole number, not {value!r}") from None
        return int(_within(number, minimum, maximum))

    return parse


def _within(number: float, minimum: float, maximum: float) -> float:
    if number != number or number < minimum or number > maximum:  # NaN is out of every range
        bounds = (
            f"at least {minimum:g}" if maximum == float("inf") else f"{minimum:g} to {maximum:g}"
        )
        raise ValueError(f"must be {bounds}, not {number:g}")
    return number


def _tls(value: Any) -> str:
    mode = _text(value).lower()
    if mode not in TLS_MODES:
        raise ValueError(f"expected one of {', '.join(TLS_MODES)}")
    return mode


def parse_address(value: Any) -> str:
    """A bare e-mail address; anything that could smuggle a header or a second recipient fails."""
    address = _text(value)
    local, at, domain = address.partition("@")
    if not at or not local or "." not in domain or any(c in address for c in " ,;<>\"'"):
        raise ValueError(f"not an e-mail address: {address!r}")
    return address


def parse_timezone(name: str | None) -> dt.tzinfo:
    """An IANA zone such as `Europe/Paris`; None means this machine's local zone."""
    if name is None:
        return dt.datetime.now().astimezone().tzinfo or dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise BadInput(f"unknown timezone: {name!r} (expected a name like Europe/Paris)") from exc


def _timezone(value: Any) -> str:
    name = _text(value)
    try:
        parse_timezone(name)
    except BadInput as exc:
        raise ValueError(str(exc)) from exc
    return name


def _cron(value: Any) -> str:
    """A crontab line, checked by the scheduler's own parser (imported only for this key)."""
    from monitor.jobs.schedule import cron_trigger

    expression = _text(value)
    try:
        cron_trigger(expression, timezone=dt.UTC)
    except BadInput as exc:
        raise ValueError(str(exc)) from exc
    return expression


def _addresses(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of addresses")
    return tuple(parse_address(item) for item in items if str(item).strip())


def _channel_url(value: Any) -> str:
    url = _text(value)
    if not re.match(r"[a-z][a-z0-9+.-]*://\S", url):
        raise ValueError("expected an Apprise URL such as slack://... or json://host/path")
    return url


def _channel_name(value: Any) -> str:
    name = _text(value)
    if re.search(r"[:/@?]", name):  # a mistyped URL: it may hold a token, so it is not shown
        raise ValueError(
            "an Apprise URL must start with scheme:// (such as slack:// or json://); "
            "the value is not shown, as it may hold a token"
        )
    if not is_plain_name(name):
        raise ValueError(f"{name!r} is not a channel name (letters, digits, '_', '.', '-')")
    return name


def _notify(value: Any) -> tuple[str, ...]:
    """Apprise URLs or channel names; from the environment, separated by spaces."""
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of Apprise URLs or channel names")
    return tuple(
        _channel_url(item) if "://" in str(item) else _channel_name(item) for item in items
    )


def _table(value: Any, *, shape: str) -> list[tuple[Any, Any]]:
    """A TOML table's (key, value) pairs; from the environment, `key=value` pairs separated by
    spaces. `shape` says what the table holds, for the error."""
    if isinstance(value, str):
        return [(key, text) for key, _, text in (item.partition("=") for item in value.split())]
    if isinstance(value, Mapping):
        return list(value.items())
    raise ValueError(f"expected a table of {shape}")


def _channels(value: Any) -> tuple[tuple[str, str], ...]:
    """A table of name = Apprise URL."""
    pairs = _table(value, shape="name = Apprise URL")
    return tuple((_channel_name(name), _channel_url(url)) for name, url in pairs)


def _materiality(value: Any) -> tuple[tuple[str, str], ...]:
    """A table of category = level ("contact" = "medium"). An unknown category or level is
    refused: a rule that can never apply is a mistake."""

    pairs = _table(value, shape="category = level")
    categories, levels = [str(c) for c in Category], [str(m) for m in Materiality]
    for category, level in pairs:
        if category not in categories:
            raise ValueError(f"unknown category {category!r} (one of {', '.join(categories)})")
        if level not in levels:
            raise ValueError(f"unknown level {level!r} for {category} (high, medium or low)")
    return tuple((str(category), str(level)) for category, level in pairs)


def _rules(value: Any) -> tuple[tuple[str, Rule], ...]:
    """A table of destination = rule (`[rules."ops@example.org"]` with `only`, `country`,
    `state`, `level`, `min_slip`, `min_enrollment_change`); from the environment, the same as
    JSON."""

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(
                f'expected JSON like {{"ops@example.org": {{"only": "date"}}}}: {exc}'
            ) from exc
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise ValueError("expected a table of destination = { only = [...], level = ... }")
    try:
        return tuple(
            (str(name), parse_rule(spec, where=f"rules for {name}")) for name, spec in value.items()
        )
    except BadInput as exc:
        raise ValueError(str(exc)) from exc


def _cadence(value: Any) -> tuple[tuple[str, str], ...]:
    """A table of destination = "daily" | "weekly" | "weekly:friday"."""

    pairs = _table(value, shape="destination = cadence")
    return tuple((str(name), parse_cadence(str(cadence))) for name, cadence in pairs)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "db": lambda value: Path(_text(value)).expanduser(),
    "api_url": _url,
    "history_url": _url,
    "request_interval": _number(0, 3600),
    "timeout": _number(0.1, 3600),
    "max_attempts": _whole(1, 20),
    "backoff_base": _number(0, 3600),
    "throttle_wait": _number(0, 3600),
    "batch_size": _whole(1, 1000),  # the registry's largest page
    "smtp_host": _text,
    "smtp_port": _whole(1, 65535),
    "smtp_user": _text,
    "smtp_password": _text,
    "smtp_tls": _tls,
    "mail_from": parse_address,
    "mail_to": _addresses,
    "notify": _notify,
    "channels": _channels,
    "materiality": _materiality,
    "rules": _rules,
    "cadence": _cadence,
    "schedule": _cron,
    "timezone": _timezone,
    "lock_wait": _number(0, 86400),
    "db_wait": _number(0, 86400),
    "full_check_days": _number(0, 3650),
}
