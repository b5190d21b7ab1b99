"""TOML config file + environment + command-line options -> one frozen `Settings`.

Every setting has a key in the config file and a `TRIALWATCH_<KEY>` environment variable; the
environment overrides the file and options override both. Bad values are `BadInput`.
"""

from __future__ import annotations

import difflib
import logging
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from monitor.errors import BadInput
from monitor.masking import unnamed_channel
from monitor.records.rules import Rule
from monitor.setting_values import PARSERS

logger = logging.getLogger(__name__)

SECRET_KEYS = ("channels", "notify", "smtp_password")  # a password, or URLs with tokens
DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_HISTORY_URL = "https://clinicaltrials.gov/api/int"


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
    materiality: tuple[tuple[str, str], ...] = ()  # (category, level): overrides of the defaults
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
