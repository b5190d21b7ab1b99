"""Dates as the registry writes them (`2028-08-29`, or a month, `2027-08`): read once here,
because registry text is untrusted and a date becomes a file name, a sort key and a day
count in the stages after the fetch."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

REGISTRY_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")


def parse_registry_date(text: Any) -> tuple[int, int, int | None] | None:
    """`2028-08-29` -> (2028, 8, 29); a partial `2027-08` -> (2027, 8, None); anything that is
    not a real date (registry text is untrusted) -> None."""
    match = REGISTRY_DATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2] or 1), int(match[3]) if match[3] else None
    try:
        dt.date(year, month, day or 1)
    except ValueError:
        return None
    return year, month, day


def first_day(text: str) -> dt.date:
    """The first day a registry date names (`2027-08` -> 2027-08-01); `text` is one
    `iso_date` let through."""
    parsed = parse_registry_date(text)
    assert parsed is not None, f"not a registry date: {text!r}"
    year, month, day = parsed
    return dt.date(year, month, day or 1)


def iso_date(value: Any) -> str | None:
    """`value` if it is a real date as the registry writes them (`2028-08-29`, `2027-08`),
    else None: dates become file names, sort keys and day counts, nothing else may pass."""
    return value if parse_registry_date(value) else None
