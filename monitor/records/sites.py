"""A site's identity: how a location row is keyed, and how the sites of two versions of a
record are paired one to one, strongest evidence first, so that a change at one site never
shows up as a change at another.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

from rapidfuzz import fuzz

from monitor.records.folding import canonical_json, fold_name, fold_text, fold_value

Site = dict[str, Any]
Clue = Callable[[Site], Hashable | None]

PLACEHOLDER_FACILITY = re.compile(r"^local institution\s*-\s*(\d+)$", re.IGNORECASE)
SITE_NUMBER_IN_CONTACT = re.compile(r"\bsite\s*(?:#|no\.?|number)?\s*(\d{2,})\b", re.IGNORECASE)
SITE_FIELDS = ("facility", "status", "city", "state", "zip", "country")
# Identity clues, never reported as changes: derived from other fields, or the registry's
# geocoding of the city and zip.
CLUE_FIELDS = ("site_number", "geo")
SIMILAR_NAME = 85  # rapidfuzz score (0-100) above which two names in one city are one site


def normalise_site(location: dict[str, Any]) -> Site:
    """One location row as the differ compares it."""
    site = {field: _fold_optional(location.get(field)) for field in SITE_FIELDS}
    site["site_number"] = site_number(location)
    site["contacts"] = fold_value(location.get("contacts") or [])
    site["geo"] = _geo(location.get("geoPoint"))
    return site


def site_number(location: dict[str, Any]) -> str | None:
    """The sponsor's site number, from "Local Institution - 0043" or a "Site 0043" contact."""
    placeholder = PLACEHOLDER_FACILITY.match(fold_text(location.get("facility") or ""))
    if placeholder:
        return placeholder.group(1)
    for contact in location.get("contacts") or []:
        found = SITE_NUMBER_IN_CONTACT.search(contact.get("name") or "")
        if found:
            return found.group(1)
    return None


def site_identity(site: Site) -> str:
    """Country, city and the site number when the record gives one, else the facility name."""
    place = f"{site['country'] or ''}|{site['city'] or ''}".casefold()
    if site["site_number"]:
        return f"{place}|#{site['site_number']}"
    return f"{place}|{(site['facility'] or '').casefold()}"


def key_sites(locations: list[dict[str, Any]]) -> dict[str, Site]:
    """Sites keyed by identity; rows sharing an identity get `~2`, `~3` in content order.
    Keys name sites within one version; `reconcile_site_keys` pairs them across versions."""
    by_identity: dict[str, list[Site]] = defaultdict(list)
    for location in locations:
        site = normalise_site(location)
        by_identity[site_identity(site)].append(site)
    keyed: dict[str, Site] = {}
    for identity, twins in sorted(by_identity.items()):
        if len(twins) > 1:  # only twins need their content to fix an order
            twins.sort(key=canonical_json)
        for repeat, site in enumerate(twins, start=1):
            keyed[identity if repeat == 1 else f"{identity}~{repeat}"] = site
    return keyed


def same_name(old: str | None, new: str | None) -> bool:
    """Names that differ only in letter case or whitespace: not a rename."""
    return (old or "").casefold() == (new or "").casefold()


def same_place_name(old: str | None, new: str | None) -> bool:
    """City spellings that differ only in accents, case or punctuation ("Kraków", "Krakow")."""
    return fold_name(old) == fold_name(new)


def reconcile_site_keys(
    old_sites: dict[str, Site], new_sites: dict[str, Site], *, retired: frozenset[str] = frozenset()
) -> dict[str, Site]:
    """`new_sites` re-keyed: a site paired with an old one takes the old key; an unpaired new
    site keeps its own key unless an old or `retired` site holds it, then gets a fresh one."""
    pairs = pair_sites(old_sites, new_sites)
    taken = set(old_sites) | retired
    keyed: dict[str, Site] = {}
    for key, site in new_sites.items():
        if key in pairs:
            keyed[pairs[key]] = site
    for key, site in new_sites.items():
        if key not in pairs:
            fresh, repeat = key, 1
            while fresh in taken or fresh in keyed:
                repeat += 1
                fresh = f"{key.split('~')[0]}~{repeat}"
            keyed[fresh] = site
    return keyed


def pair_sites(old_sites: dict[str, Site], new_sites: dict[str, Site]) -> dict[str, str]:
    """{new key: old key} for the sites that are one site in both versions.

    Each stage pairs what its clue shows one to one (exactly one old and one new site share the
    clue's value), from the strongest evidence to the weakest, and only among sites no
    stronger stage paired: the same row; the sponsor's site number; the same name in the same
    city with the same zip or geoPoint, or (without a zip) the same status or contacts; the
    same name in the city (its zip corrected); the same
    name and zip (city re-spelled); the same zip in the city (renamed); a similar name in the
    city (re-spelled, repaired); a numbered placeholder and the one unnumbered new name there.
    """
    old_left, new_left = dict(old_sites), dict(new_sites)
    pairs: dict[str, str] = {}

    def pair(new_key: str, old_key: str) -> None:
        pairs[new_key] = old_key
        del new_left[new_key], old_left[old_key]

    for new_key, old_key in _pair_identical(old_left, new_left):
        pair(new_key, old_key)
    for clue in SAME_SITE_CLUES:
        for new_key, old_key in _pair_unique(old_left, new_left, clue, clue):
            pair(new_key, old_key)
    for new_key, old_key in _pair_similar(old_left, new_left):
        pair(new_key, old_key)
    for new_key, old_key in _pair_unique(
        old_left, new_left, _place_of_placeholder, _place_of_unnumbered
    ):
        pair(new_key, old_key)
    return pairs


def _pair_identical(old: dict[str, Site], new: dict[str, Site]) -> list[tuple[str, str]]:
    """Rows equal in every field pair in order: identical twins are interchangeable."""
    old_by_row: dict[str, list[str]] = defaultdict(list)
    for key, site in sorted(old.items()):
        old_by_row[canonical_json(site)].append(key)
    found = []
    for key, site in sorted(new.items()):
        candidates = old_by_row.get(canonical_json(site))
        if candidates:
            found.append((key, candidates.pop(0)))
    return found


def _pair_unique(
    old: dict[str, Site], new: dict[str, Site], old_clue: Clue, new_clue: Clue
) -> list[tuple[str, str]]:
    old_by_value, new_by_value = _keys_by(old, old_clue), _keys_by(new, new_clue)
    return [
        (new_keys[0], old_by_value[value][0])
        for value, new_keys in new_by_value.items()
        if len(new_keys) == 1 and len(old_by_value.get(value, ())) == 1
    ]


def _pair_similar(old: dict[str, Site], new: dict[str, Site]) -> list[tuple[str, str]]:
    """In each city, pairs whose names are each other's single best match above SIMILAR_NAME."""
    old_by_place, new_by_place = _keys_by(old, _place), _keys_by(new, _place)
    found = []
    for place, new_keys in new_by_place.items():
        old_keys = old_by_place.get(place, [])
        scores = {
            (n, o): _name_score(old[o]["facility"], new[n]["facility"])
            for n in new_keys
            for o in old_keys
        }
        for (n, o), score in scores.items():
            if score < SIMILAR_NAME:
                continue
            rivals = [s for (n2, o2), s in scores.items() if (n2 == n) != (o2 == o)]
            if all(rival < score for rival in rivals if rival >= SIMILAR_NAME):
                found.append((n, o))
    return found


def _name_score(old: str | None, new: str | None) -> float:
    """0-100: how alike two facility names are once accents, case and punctuation are gone;
    a name that is the other with words left out scores high ("X University Hospital", "X
    University")."""
    a, b = fold_name(old), fold_name(new)
    if not a or not b:
        return 0.0
    return max(fuzz.ratio(a, b), fuzz.token_set_ratio(a, b))


def _keys_by(sites: dict[str, Site], clue: Clue) -> dict[Hashable, list[str]]:
    keys_by_value: dict[Hashable, list[str]] = defaultdict(list)
    for key, site in sorted(sites.items()):
        value = clue(site)
        if value is not None:
            keys_by_value[value].append(key)
    return keys_by_value


def _place(site: Site) -> tuple[str, str]:
    return (fold_name(site["country"]), fold_name(site["city"]))


def _zip(site: Site) -> str | None:
    return fold_name(site["zip"]).replace(" ", "") or None


def _with(*parts: Callable[[Site], Hashable | None]) -> Clue:
    """A clue made of parts; None (no clue) when any part is missing."""

    def clue(site: Site) -> Hashable | None:
        values = tuple(part(site) for part in parts)
        return None if any(value is None or value == "" for value in values) else values

    return clue


def _name(site: Site) -> str:
    return fold_name(site["facility"])


def _country(site: Site) -> str:
    return fold_name(site["country"])


def _number(site: Site) -> str | None:
    return str(site["site_number"]) if site["site_number"] else None


def _zipless(site: Site) -> str | None:
    """Status and contacts tell apart same-name sites that have no zip; sites with zips that
    differ are different sites, however alike their status."""
    return None if _zip(site) else "no zip"


def _geo_of(site: Site) -> str | None:
    return str(site["geo"]) if site["geo"] else None


def _status(site: Site) -> str:
    return site["status"] or "(none)"


def _contacts(site: Site) -> str:
    return canonical_json(site["contacts"])


def _place_of_placeholder(site: Site) -> Hashable | None:
    if not PLACEHOLDER_FACILITY.match(site["facility"] or ""):
        return None
    return _place(site)


def _place_of_unnumbered(site: Site) -> Hashable | None:
    if site["site_number"] or PLACEHOLDER_FACILITY.match(site["facility"] or ""):
        return None
    return _place(site)


# Strongest first; `pair_sites` tells them in words.
SAME_SITE_CLUES: list[Clue] = [
    _with(_country, _number),
    _with(_place, _name, _zip),
    _with(_place, _name, _geo_of),
    _with(_place, _name, _zipless, _status, _contacts),
    _with(_place, _name, _zipless, _status),
    _with(_place, _name, _zipless, _contacts),
    _with(_place, _name),
    _with(_country, _name, _zip),
    _with(_place, _zip),
]


def _geo(point: Any) -> str | None:
    if not isinstance(point, dict):
        return None
    lat, lon = point.get("lat"), point.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    return f"{lat:.4f},{lon:.4f}"


def _fold_optional(value: Any) -> Any:
    return fold_text(value) if isinstance(value, str) else value
