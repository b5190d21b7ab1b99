"""Text folding: which spellings of registry text are the same. Whitespace and Unicode forms
never matter; letter case and accents matter in values but not in a site's identity.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from typing import Any

from anyascii import anyascii

from monitor.text import printable

NOT_A_LETTER_OR_DIGIT = re.compile(r"[^a-z0-9]+")


SHORT_TEXT = 256  # names, places, statuses: folded once, remembered (see `fold_text`)


def fold_text(text: str) -> str:
    """Unicode NFC and runs of whitespace folded to one space, so re-spacing is not a change;
    control characters are whitespace; mis-encoded text ("HÃ´pital") is read as it was meant,
    so the registry breaking or repairing an encoding is not a change either. Short texts are
    remembered: a check folds a trial's previous version and its new one, mostly the same
    names and places."""
    return _fold_short(text) if len(text) < SHORT_TEXT else _fold(text)


def _fold(text: str) -> str:
    return " ".join(printable(unicodedata.normalize("NFC", repair_mojibake(text))).split())


_fold_short = functools.lru_cache(maxsize=16384)(_fold)


def fold_lines(text: str) -> str:
    """Like `fold_text` but keeps line structure (for eligibility criteria); blank lines dropped."""
    lines = (fold_text(line) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fold_value(value: Any) -> Any:
    """Fold strings and sort lists, recursively: re-ordered or re-spaced values compare equal.
    Keys are folded too when they are not printable: a hostile record's control characters
    never reach a field name."""
    if isinstance(value, str):
        return fold_text(value)
    if isinstance(value, dict):
        return {
            key if key.isprintable() else fold_text(key): fold_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        folded = [fold_value(item) for item in value]
        return sorted(folded, key=canonical_json) if len(folded) > 1 else folded
    return value


@functools.lru_cache(maxsize=16384)
def fold_name(text: str | None) -> str:
    """A name as identity sees it: transliterated to ASCII (anyascii: "Kraków", "Łódź" ->
    "krakow", "lodz"), case-folded, punctuation and mis-encoding marks as spaces. Remembered:
    pairing a trial's sites compares the same names many times."""
    if not text:
        return ""
    return " ".join(NOT_A_LETTER_OR_DIGIT.split(anyascii(text).casefold())).strip()


# What UTF-8 looks like read as Windows-1252 or Latin-1: a lead byte (Â..ï) before a
# continuation byte (\x80..\xbf, or a Windows-1252 letter standing for one).
MOJIBAKE_SIGNS = re.compile("[\u00c2-\u00ef][\u0080-\u00bf\u0152-\u2122]")


def repair_mojibake(text: str) -> str:
    """UTF-8 read as Windows-1252 ("HÃ´pital", "Universitâ€™s"; the five bytes it leaves
    undefined as C1 controls, as browsers read them) read back as UTF-8 ("Hôpital"); text
    without the signs of it, or that does not read back, unchanged."""
    if not MOJIBAKE_SIGNS.search(text):
        return text
    try:
        raw = bytes(_windows_1252_byte(char) for char in text)
        return raw.decode("utf-8")
    except (ValueError, UnicodeError):
        return text


def _windows_1252_byte(char: str) -> int:
    """The byte Windows-1252 (as browsers read it) shows as `char`; ValueError for none."""
    code = ord(char)
    if code in UNDEFINED_1252 or (code < 0x100 and not 0x80 <= code <= 0x9F):
        return code
    encoded = char.encode("cp1252")  # UnicodeEncodeError (a ValueError) when it has none
    return encoded[0]


UNDEFINED_1252 = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})


def same_name(old: str | None, new: str | None) -> bool:
    """Names that differ only in letter case, accents, punctuation, spacing or mis-encoded
    letters ("Hôpital Saint-Louis", "HOPITAL SAINT LOUIS"; "St. Mary's", "St Marys";
    "Hă"Pital", "Hăpital", the registry breaking and repairing an encoding back and forth):
    not a rename, and not news."""
    return fold_name(old).replace(" ", "") == fold_name(new).replace(" ", "")


def same_place_name(old: str | None, new: str | None) -> bool:
    """City spellings that differ only in accents, case or punctuation ("Kraków", "Krakow")."""
    return fold_name(old) == fold_name(new)
