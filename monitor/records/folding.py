"""Text folding: which spellings of registry text are the same. Whitespace and Unicode forms
never matter; letter case and accents matter in values but not in a site's identity.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from anyascii import anyascii

from monitor.registry.record import printable

NOT_A_LETTER_OR_DIGIT = re.compile(r"[^a-z0-9]+")


def fold_text(text: str) -> str:
    """Unicode NFC and runs of whitespace folded to one space, so re-spacing is not a change;
    control characters are whitespace."""
    return " ".join(printable(unicodedata.normalize("NFC", text)).split())


def fold_lines(text: str) -> str:
    """Like `fold_text` but keeps line structure (for eligibility criteria); blank lines dropped."""
    lines = (fold_text(line) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fold_value(value: Any) -> Any:
    """Fold strings and sort lists, recursively: re-ordered or re-spaced values compare equal."""
    if isinstance(value, str):
        return fold_text(value)
    if isinstance(value, dict):
        return {key: fold_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((fold_value(item) for item in value), key=canonical_json)
    return value


def fold_name(text: str | None) -> str:
    """A name as identity sees it: transliterated to ASCII (anyascii: "Kraków", "Łódź" ->
    "krakow", "lodz"), case-folded, punctuation and mis-encoding marks as spaces."""
    if not text:
        return ""
    return " ".join(NOT_A_LETTER_OR_DIGIT.split(anyascii(text).casefold())).strip()
