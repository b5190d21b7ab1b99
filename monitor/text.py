"""Text any stage shows (a terminal, a page, a mail, a feed, a CSV cell): printable, on one
line where it must be. Registry text is untrusted: escape sequences and control characters
never reach a reader."""

from __future__ import annotations

import re

# Terminal escape sequences (CSI: colours, cursor moves; OSC: window titles, hyperlinks; other
# two-byte escapes), then control characters (NUL, C1) and lone surrogates: never text a
# person wrote, and neither a terminal, XML, mail nor UTF-8 should carry them.
ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]"
)
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` without escape sequences, each other control character or lone surrogate
    turned into a space."""
    return UNPRINTABLE.sub(" ", ESCAPE_SEQUENCE.sub("", text))


def one_line(text: str) -> str:
    """Registry text on one printable line: runs of whitespace and controls as one space."""
    return " ".join(printable(text).split())


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """ "1 trial", "3 trials", "2 searches" (`plural` where an added s is wrong)."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
