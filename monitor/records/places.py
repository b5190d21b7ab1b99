"""A place's identity apart from its country (see `countries`): postal codes however they are
written, how far apart two geoPoints are, and whether two spellings could name one city."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from rapidfuzz import fuzz

from monitor.records.folding import fold_name

SAME_CITY_KM = 30.0  # a city re-spelled or re-geocoded stays within this of its old point
SIMILAR_CITY = 60  # without geoPoints: how alike two spellings of one city are (Napoli, Naples)


ZIP_PLUS_FOUR = re.compile(r"(\d{5})[- ]\d{4}")


def zip_identity(text: Any) -> str | None:
    """A postal code as identity sees it: "08035" and "8035" (a leading zero lost), "02115"
    and ZIP+4 "02115-1234", "SW1A 1AA" and "sw1a1aa" are each one code; stray marks go."""
    return _postal_code(text, fold=fold_name)


def same_zip(old: Any, new: Any) -> bool:
    """Two zips a reader would call one value: spacing, case, a lost leading zero and ZIP+4
    aside, every character counts (a stray mark removed is a correction worth telling)."""
    as_written = _postal_code(old, fold=str.upper), _postal_code(new, fold=str.upper)
    return as_written[0] == as_written[1]


def _postal_code(text: Any, *, fold: Callable[[str], str]) -> str | None:
    if not isinstance(text, str):
        return None
    plus_four = ZIP_PLUS_FOUR.fullmatch(text.strip())
    folded = plus_four.group(1) if plus_four else "".join(fold(text).split())
    return (folded.lstrip("0") or "0" if folded.isdigit() else folded) or None


def point(geo: str) -> tuple[float, float]:
    """A site's `geo` clue ("lat,lon") as numbers."""
    lat, lon = geo.split(",")
    return float(lat), float(lon)


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in kilometres (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def spellings_alike(old: str | None, new: str | None) -> bool:
    """Whether two city spellings are alike enough to be one city (used only without points:
    string likeness cannot tell Boston from Houston, a distance can)."""
    a, b = fold_name(old), fold_name(new)
    return bool(a and b) and max(fuzz.ratio(a, b), fuzz.token_set_ratio(a, b)) >= SIMILAR_CITY
