"""The registry's own housekeeping, as transformations of a real record (issue 23): each one
re-spells, re-formats or re-orders what the registry rewrites for every trial at once, and no
site may come out added, removed or with a new status because of it. Pure functions of a
record and a random generator; `tests/test_metamorphic.py` runs them over the real corpus."""

from __future__ import annotations

import copy
import random
import unicodedata
from collections.abc import Callable
from typing import Any

from anyascii import anyascii

Study = dict[str, Any]
Transformation = Callable[[Study, random.Random], Study]

# Spellings the registry used before its renames (real captures from 2016-2018 and later).
HISTORICAL_COUNTRIES = {
    "Czechia": ["Czech Republic"],
    "Turkey (Türkiye)": ["Turkey", "Türkiye"],
    "South Korea": ["Korea, Republic of"],
    "Vietnam": ["Viet Nam"],
    "Moldova": ["Moldova, Republic of"],
    "Russia": ["Russian Federation"],
    "Iran": ["Iran, Islamic Republic of"],
    "North Macedonia": ["Macedonia, The Former Yugoslav Republic of"],
    "Eswatini": ["Swaziland"],
    "Syria": ["Syrian Arab Republic"],
    "Laos": ["Lao People's Democratic Republic"],
}
# Cities the registry (or a sponsor's corrected list) spells two ways.
CITY_SPELLINGS = {
    "Naples": "Napoli",
    "Padova": "Padua",
    "Milano": "Milan",
    "Roma": "Rome",
    "Torino": "Turin",
    "Firenze": "Florence",
    "Seoul": "Seoul-si",
    "Taoyuan": "Taoyuan District",
    "Warszawa": "Warsaw",
    "Kraków": "Cracow",
    "München": "Munich",
    "Köln": "Cologne",
    "Wien": "Vienna",
    "Praha": "Prague",
    "Lisboa": "Lisbon",
    "Sevilla": "Seville",
    "Göteborg": "Gothenburg",
}


def locations(study: Study) -> list[dict[str, Any]]:
    module = study["protocolSection"].get("contactsLocationsModule") or {}
    found = module.get("locations") or []
    return found if isinstance(found, list) else []


def _each_site(study: Study, change: Callable[[dict[str, Any]], None]) -> Study:
    changed = copy.deepcopy(study)
    for site in locations(changed):
        change(site)
    return changed


def rename_countries(study: Study, rng: random.Random) -> Study:
    """Every country that had another spelling back then, as it was spelled back then."""
    old_names = {now: rng.choice(before) for now, before in HISTORICAL_COUNTRIES.items()}

    def change(site: dict[str, Any]) -> None:
        site["country"] = old_names.get(str(site.get("country")), site.get("country"))

    return _each_site(study, change)


def respell_one_city(study: Study, rng: random.Random) -> Study:
    """Every row of one city re-spelled at once (a known translation, or a suffix the registry
    adds: "-si", " District")."""
    changed = copy.deepcopy(study)
    cities = sorted({str(site["city"]) for site in locations(changed) if site.get("city")})
    if not cities:
        return changed
    city = rng.choice(cities)
    spelled = CITY_SPELLINGS.get(city) or rng.choice([f"{city}-si", f"{city} District"])
    for site in locations(changed):
        if site.get("city") == city:
            site["city"] = spelled
    return changed


def respell_one_city_without_zips(study: Study, rng: random.Random) -> Study:
    """The same, in a record whose sites have no zips (on both sides: see `housekeeping_pair`)."""
    return respell_one_city(without_zips(study), rng)


def without_zips(study: Study) -> Study:
    return _each_site(study, lambda site: site.pop("zip", None))


def reformat_zips(study: Study, rng: random.Random) -> Study:
    """Zips written another way: a leading zero lost or added, ZIP+4 in the United States."""

    def change(site: dict[str, Any]) -> None:
        code = site.get("zip")
        if not isinstance(code, str) or not code.isdigit():
            return
        if site.get("country") == "United States" and len(code) == 5:
            site["zip"] = f"{code}-{rng.randrange(10000):04d}"
        elif code.startswith("0"):
            site["zip"] = code.lstrip("0") or "0"
        elif len(code) == 4:
            site["zip"] = "0" + code

    return _each_site(study, change)


def recase_facilities(study: Study, rng: random.Random) -> Study:
    casing = rng.choice([str.upper, str.lower, str.title])
    return _each_site(study, lambda site: site.update(facility=casing(site.get("facility", ""))))


def strip_accents(study: Study, rng: random.Random) -> Study:
    """Facility and city written without accents (the registry's older, ASCII-only captures)."""

    def change(site: dict[str, Any]) -> None:
        for field in ("facility", "city"):
            if isinstance(site.get(field), str):
                site[field] = anyascii(site[field])

    return _each_site(study, change)


def repunctuate(study: Study, rng: random.Random) -> Study:
    """Commas, periods and hyphens in facility names dropped or turned into spaces."""
    table = str.maketrans({",": "", ".": "", "-": " "})
    return _each_site(
        study, lambda site: site.update(facility=site.get("facility", "").translate(table))
    )


def mojibake(study: Study, rng: random.Random) -> Study:
    """UTF-8 facility and city names read as Windows-1252, as a browser reads it (the five
    bytes it leaves undefined as C1 controls): "Hôpital" -> "HÃ´pital"."""

    def misread(text: str) -> str:
        return "".join(
            chr(byte) if byte in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([byte]).decode("cp1252")
            for byte in unicodedata.normalize("NFC", text).encode()
        )

    def change(site: dict[str, Any]) -> None:
        for field in ("facility", "city"):
            if isinstance(site.get(field), str):
                site[field] = misread(site[field])

    return _each_site(study, change)


def reorder(study: Study, rng: random.Random) -> Study:
    """Locations and each site's contacts in another order."""
    changed = copy.deepcopy(study)
    rows = locations(changed)
    rng.shuffle(rows)
    for site in rows:
        if isinstance(site.get("contacts"), list):
            rng.shuffle(site["contacts"])
    return changed


def regeocode(study: Study, rng: random.Random) -> Study:
    """geoPoints moved by up to about 5 km (the registry geocodes cities again)."""

    def change(site: dict[str, Any]) -> None:
        point = site.get("geoPoint")
        if isinstance(point, dict) and {"lat", "lon"} <= set(point):
            point["lat"] = round(point["lat"] + rng.uniform(-0.04, 0.04), 5)
            point["lon"] = round(point["lon"] + rng.uniform(-0.04, 0.04), 5)

    return _each_site(study, change)


# (name, transformation, whether the before side is the transformed one): a repair is the
# transformation run backwards, from the broken record to the real one.
HOUSEKEEPING: list[tuple[str, Transformation, bool]] = [
    ("country renamed to its historical spelling", rename_countries, False),
    ("country renamed to today's spelling", rename_countries, True),
    ("a whole city re-spelled, with zips", respell_one_city, False),
    ("a whole city re-spelled, without zips", respell_one_city_without_zips, False),
    ("zips re-formatted (leading zero, ZIP+4)", reformat_zips, False),
    ("facility names re-cased", recase_facilities, False),
    ("accents dropped", strip_accents, False),
    ("accents restored", strip_accents, True),
    ("punctuation dropped", repunctuate, False),
    ("mojibake", mojibake, False),
    ("mojibake repaired", mojibake, True),
    ("locations and contacts re-ordered", reorder, False),
    ("geoPoints re-geocoded", regeocode, False),
]


def housekeeping_pair(
    study: Study, transformation: Transformation, *, backwards: bool, seed: int
) -> tuple[Study, Study]:
    """(before, after) for one transformation of a real record. A transformation that drops
    zips on its changed side drops them on the other side too: "without zips" is about the
    record, not a change of it."""
    changed = transformation(study, random.Random(seed))
    if transformation is respell_one_city_without_zips:
        study = without_zips(study)
    return (changed, study) if backwards else (study, changed)
