"""TOML config file + environment + command-line options -> one frozen `Settings`.

Every setting has a key in the config file and a `TRIALWATCH_<KEY>` environment variable; the
environment overrides the file and options override both. Bad values are `BadInput`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import re
import stat
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from monitor.delivery.cadence import parse_cadence
from monitor.errors import BadInput
from monitor.masking import unnamed_channel
from monitor.names import is_plain_name
from monitor.records.events import Category
from monitor.records.materiality import Materiality
from monitor.records.rules import Rule, parse_rule

logger = logging.getLogger(__name__)

SECRET_KEYS = ("channels", "notify", "smtp_password")  # a password, or URLs with tokens
DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_HISTORY_URL = "https://clinicaltrials.gov/api/int"
TLS_MODES = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where things are and how to behave."""

    data_dir: Path
    db: Path
    config_file: Path | None
    config_secrets: tuple[str, ...] = ()  # the keys holding secrets set in the config file
    api_url: str = DEFAULT_API_URL
    history_url: str = DEFAULT_HISTORY_URL
    request_interval: float = 1.2  # 50 requests a minute, the figure real clients keep to
    timeout: float = 30.0
    max_attempts: int = 4
    backoff_base: float = 1.0
    throttle_wait: float = 30.0
    batch_size: int = 1000  # as many as the 8 KB URL allows (about 570 ids)
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: str | None = None
    mail_from: str | None = None
    mail_to: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()  # Apprise URLs, or names in `channels`: every change
    channels: tuple[tuple[str, str], ...] = ()  # (name, Apprise URL): for `watch add --notify`
    materiality: tuple[tuple[str, str], ...] = ()  # (kind, level): overrides of the defaults
    # (mail address or channel name, rule): what each destination wants to hear
    rules: tuple[tuple[str, Rule], ...] = ()
    # (mail address or channel name, "daily" | "weekly:<weekday>"): when each destination hears
    cadence: tuple[tuple[str, str], ...] = ()
    schedule: str | None = None
    timezone: str | None = None
    lock_wait: float = 5.0
    db_wait: float = 10.0
    full_check_days: float = 7.0

    def __repr__(self) -> str:
        """Like the default, but the SMTP password and channel URLs (which hold tokens) never
        show (logs, tracebacks)."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["smtp_password"]:
            shown["smtp_password"] = "***"
        shown["notify"] = tuple(item if "://" not in item else "***" for item in self.notify)
        shown["channels"] = tuple((name, "***") for name, _ in self.channels)
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def chat_channels(self) -> dict[str, str]:
        """{name: Apprise URL} of every channel, one name per URL: the first name `channels`
        gives it, else (a URL given directly in `notify`) a name made from it, so that its
        deliveries stay recognisable across runs."""
        urls = {url: None for _, url in self.channels} | {
            item: None for item in self.notify if "://" in item
        }
        return {self.channel_name(url): url for url in urls}

    def channel_name(self, name_or_url: str) -> str:
        """The one name trialwatch knows a channel by (two names or a name and a URL for the
        same address must not post the same change there twice)."""
        if "://" not in name_or_url:
            name_or_url = dict(self.channels).get(name_or_url, name_or_url)
            if "://" not in name_or_url:
                return name_or_url  # a name the config does not have (any more)
        first = next((name for name, url in self.channels if url == name_or_url), None)
        return first or unnamed_channel(name_or_url)

    def notified_everywhere(self) -> tuple[str, ...]:
        """Names of the channels that get every change."""
        return tuple(self.channel_name(item) for item in self.notify)


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
    """A table of kind = level ("contact" = "medium"). An unknown kind or level is refused:
    a rule that can never apply is a mistake."""

    pairs = _table(value, shape="kind = level")
    kinds, levels = [str(c) for c in Category], [str(m) for m in Materiality]
    for kind, level in pairs:
        if kind not in kinds:
            raise ValueError(f"unknown kind {kind!r} (one of {', '.join(kinds)})")
        if level not in levels:
            raise ValueError(f"unknown level {level!r} for {kind} (high, medium or low)")
    return tuple((str(kind), str(level)) for kind, level in pairs)


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


def load_settings(
    *,
    environ: Mapping[str, str],
    cwd: Path,
    db_option: str | None = None,
    config_option: str | None = None,
) -> Settings:
    """Resolve every setting: option > environment > config file > default."""
    data_dir = Path(environ.get("TRIALWATCH_HOME") or cwd / "snapshots").expanduser()
    config_file = Path(config_option).expanduser() if config_option else None
    if config_file is None and (data_dir / "trialwatch.toml").exists():
        config_file = data_dir / "trialwatch.toml"
    values: dict[str, Any] = {}
    secrets: tuple[str, ...] = ()
    if config_file is not None:
        from_file = read_config_file(config_file)
        values.update(_parse_all(from_file, source=f"config {config_file}"))
        secrets = tuple(key for key in SECRET_KEYS if from_file.get(key))
        if secrets and readable_by_others(config_file):
            logger.warning(
                "config %s holds secrets (%s) and other users can read it: chmod 600 %s",
                config_file,
                ", ".join(secrets),
                config_file,
            )
    warn_of_unknown_variables(environ)
    from_env = {
        key: environ[f"TRIALWATCH_{key.upper()}"]
        for key in PARSERS
        if environ.get(f"TRIALWATCH_{key.upper()}")
    }
    values.update(_parse_all(from_env, source="environment", prefix="TRIALWATCH_"))
    if db_option:
        values["db"] = Path(db_option).expanduser()
    values.setdefault("db", data_dir / "trialwatch.db")
    names = {name for name, _ in values.get("channels", ())}
    for item in values.get("notify", ()):
        if "://" not in item and item not in names:
            raise BadInput(f"notify: {item!r} is neither a URL nor a channel named in [channels]")
    return Settings(data_dir=data_dir, config_file=config_file, config_secrets=secrets, **values)


def warn_of_unknown_variables(environ: Mapping[str, str]) -> None:
    """A `TRIALWATCH_*` variable that is no setting (`TRIALWATCH_SMTP_HSOT`), named with the
    nearest setting's; only said, never fatal: another program may share the prefix."""
    known = ["TRIALWATCH_HOME", *(f"TRIALWATCH_{key.upper()}" for key in PARSERS)]
    for name in sorted(environ):
        if name.startswith("TRIALWATCH_") and name not in known:
            nearest = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {nearest[0]}?)" if nearest else ""
            logger.warning("%s is not a trialwatch setting%s; ignored", name, hint)


def readable_by_others(path: Path) -> bool:
    """Whether users other than the owner may read the file (it may hold the SMTP password)."""
    return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        if path.exists() and not path.is_file():  # a FIFO or a device would block reading
            raise BadInput(f"cannot read config {path}: not a regular file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(
            f"cannot read config {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"config {path} is not valid TOML: {exc}") from exc


def _parse_all(raw: Mapping[str, Any], *, source: str, prefix: str = "") -> dict[str, Any]:
    parsed = {}
    for key, value in raw.items():
        name = f"{prefix}{key.upper()}" if prefix else key
        if key not in PARSERS:
            raise BadInput(f"{source}: unknown setting {name!r}")
        try:
            parsed[key] = PARSERS[key](value)
        except (TypeError, ValueError) as exc:
            raise BadInput(f"{source}: bad value for {name}: {exc}") from exc
    return parsed
