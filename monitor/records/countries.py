"""A country's identity: its ISO 3166 code, whatever spelling the registry used. The registry
renames countries for every trial at once ("Czech Republic" -> "Czechia", "Turkey" -> "Turkey
(Türkiye)"); a site is in the same country before and after, so no event may come of it.
"""

from __future__ import annotations

import difflib
import functools
import re

from monitor.records.folding import fold_name

# Spellings the registry has used that ISO 3166 (pycountry) does not know by that name.
REGISTRY_SPELLINGS = {
    "turkey": "TR",
    "swaziland": "SZ",
    "burma": "MM",
    "macedonia the former yugoslav republic of": "MK",
    "the former yugoslav republic of macedonia": "MK",
    "macedonia": "MK",
    "libyan arab jamahiriya": "LY",
    "palestinian territory occupied": "PS",
    "palestinian territories occupied": "PS",
    "palestinian territories": "PS",
    "reunion": "RE",
    "cape verde": "CV",
    "virgin islands u s": "VI",
    "us virgin islands": "VI",
    "kosovo": "XK",  # not in ISO 3166; the code Europe uses
    "former serbia and montenegro": "CS",
    "serbia and montenegro": "CS",
    "netherlands antilles": "AN",
    "zaire": "CD",
    "east timor": "TL",
    "korea republic of": "KR",
    "republic of korea": "KR",
    "korea south": "KR",
    "ivory coast": "CI",
    "russia": "RU",
    "north korea": "KP",
    "palestine": "PS",
    "palestinian territory": "PS",
    "micronesia": "FM",
    "macau": "MO",
    "brunei": "BN",
    "vatican": "VA",
    "vatican city": "VA",
    "holy see": "VA",
    "saint martin": "MF",
}
PARENTHESES = re.compile(r"\s*\(([^)]*)\)\s*")


def country_identity(name: str | None) -> str:
    """The ISO 3166 alpha-2 code of a country name in any spelling the registry used ("Czech
    Republic", "Czechia", "Turkey (Türkiye)" -> "CZ", "CZ", "TR"); a name no table knows is its
    own identity, folded ("name:atlantis"), so it still equals itself however it is spaced."""
    if not name:
        return ""
    return _identity(name)


def same_country(old: str | None, new: str | None) -> bool:
    return country_identity(old) == country_identity(new)


@functools.lru_cache(maxsize=4096)
def _identity(name: str) -> str:
    whole = PARENTHESES.sub(" ", name)
    inside = PARENTHESES.findall(name)
    head, comma, tail = whole.partition(",")
    turned = [f"{tail} {head}"] if comma else []  # "Moldova, Republic of": Republic of Moldova
    for candidate in (name, whole, *inside, *turned):
        code = _codes_by_name().get(fold_name(candidate))
        if code:
            return code
    return f"name:{fold_name(name)}"


@functools.cache
def _codes_by_name() -> dict[str, str]:
    """Every name ISO 3166 gives a country (short, official, common; current and withdrawn)
    folded as `fold_name` folds, then the registry's own old spellings."""
    import pycountry  # loaded only once a site is compared

    codes: dict[str, str] = {}
    for country in pycountry.countries:
        for field in ("name", "official_name", "common_name", "alpha_2", "alpha_3"):
            value = getattr(country, field, None)
            if value:
                codes.setdefault(fold_name(value), country.alpha_2)
    for gone in pycountry.historic_countries:
        codes.setdefault(fold_name(gone.name), gone.alpha_2)
    codes.update(REGISTRY_SPELLINGS)
    return codes


def state_identity(name: str | None, country: str | None) -> str:
    """A site's state or province as its ISO 3166-2 code ("Massachusetts", "MA" in the United
    States -> "US-MA"); a name no subdivision of its country has is its own identity, folded."""
    if not name:
        return ""
    within = country_identity(country)
    found = {code for code in _states_by_name().get(fold_name(name), ()) if code[:2] == within}
    return found.pop() if len(found) == 1 else f"name:{fold_name(name)}"


def rule_state(name: str, countries: frozenset[str]) -> str | None:
    """The ISO 3166-2 code a rule's state means: a code ("US-MA"), or a name or a short code
    among the rule's countries; without countries, the United States' (the registry names a
    state for every US site, seldom elsewhere), else the one subdivision anywhere so called.
    None when it names none, or several."""
    found = set(_states_by_name().get(fold_name(name), ()))
    if countries:
        found = {code for code in found if code[:2] in countries}
    elif len(found) > 1:
        found = {code for code in found if code.startswith("US-")} or found
    return found.pop() if len(found) == 1 else None


def us_state_like(name: str) -> str | None:
    """The US state a name spelled as none is likely meant to be ("Massachusets"): ISO
    3166-2 has every US state's name as the registry writes it (elsewhere the registry's names
    are its own: "Bavaria", not ISO's "Bayern")."""
    import pycountry

    us = {
        fold_name(state.name): state.name
        for state in pycountry.subdivisions
        if state.country_code == "US"
    }
    close = difflib.get_close_matches(fold_name(name), list(us), n=1, cutoff=0.85)
    return us[close[0]] if close else None


@functools.cache
def _states_by_name() -> dict[str, frozenset[str]]:
    """Every ISO 3166-2 subdivision's codes by its name, its whole code and its own part of
    it ("massachusetts", "us ma", "ma"), folded as `fold_name` folds."""
    import pycountry

    codes: dict[str, set[str]] = {}
    for state in pycountry.subdivisions:
        own = state.code.partition("-")[2]
        for key in (state.name, state.code, own):
            codes.setdefault(fold_name(key), set()).add(state.code)
    return {key: frozenset(found) for key, found in codes.items()}
