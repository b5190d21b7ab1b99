"""A name a user gives a thing (a watched search, a chat channel): letters, digits, '.', '_'
and '-', starting with a letter or digit, at most 64 characters. Such a name goes into mail
headers, file names, feed titles and chat messages, so nothing else may pass for one."""

from __future__ import annotations

import re

PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_plain_name(name: str) -> bool:
    return PLAIN_NAME.fullmatch(name) is not None
