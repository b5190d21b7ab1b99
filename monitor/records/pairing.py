"""How the sites of two versions of a record are paired one to one, strongest evidence first,
so that a change at one site never shows up as a change at another.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable

from rapidfuzz import fuzz

from monitor.records.countries import country_identity
from monitor.records.folding import canonical_json, fold_name
from monitor.records.places import (
    SAME_CITY_KM,
    km,
    point,
    spellings_alike,
    zip_identity,
)
from monitor.records.sites import PLACEHOLDER_FACILITY, Site

Clue = Callable[[Site], Hashable | None]
SIMILAR_NAME = 85  # rapidfuzz score (0-100) above which two names in one city are one site


def reconcile_site_keys(old_sites: dict[str, Site], new_sites: dict[str, Site]) -> dict[str, Site]:
    """`new_sites` re-keyed: a site paired with an old one takes the old key; an unpaired new
    site keeps its own key unless an old site holds it, then gets a fresh one."""
    pairs = pair_sites(old_sites, new_sites)
    taken = set(old_sites)
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
    if not old_sites or not new_sites:  # a first version: nothing to pair (and nothing to do)
        return {}
    old_left, new_left = dict(old_sites), _with_old_city_spellings(old_sites, new_sites)
    pairs: dict[str, str] = {}

    def pair(new_key: str, old_key: str) -> None:
        pairs[new_key] = old_key
        del new_left[new_key], old_left[old_key]

    for key in _unchanged_lone_sites(old_left, new_left):
        pair(key, key)
    for row in (canonical_json, _row_as_identity_sees_it):
        for new_key, old_key in _pair_identical(old_left, new_left, row):
            pair(new_key, old_key)
    for clue in SAME_SITE_CLUES:
        for new_key, old_key in _pair_unique(old_left, new_left, clue, clue):
            pair(new_key, old_key)
    for new_key, old_key in _pair_similar(old_left, new_left):
        pair(new_key, old_key)
    for new_key, old_key in _pair_unique(old_left, new_left, _country_name, _country_name):
        if _same_place_respelled(old_left[old_key], new_left[new_key]):
            pair(new_key, old_key)
    for new_key, old_key in _pair_unique(old_left, new_left, _all_but_country, _all_but_country):
        if _unknown_country(old_left[old_key]) or _unknown_country(new_left[new_key]):
            pair(new_key, old_key)
    for new_key, old_key in _pair_unique(
        old_left, new_left, _place_of_placeholder, _place_of_unnumbered
    ):
        pair(new_key, old_key)
    return pairs


def _with_old_city_spellings(old: dict[str, Site], new: dict[str, Site]) -> dict[str, Site]:
    """`new`, for pairing only, with each city re-spelled as a whole (every row of Seoul now
    in Seoul-si, a sponsor's list corrected) given its old spelling back, so its rows pair as
    they did before, generic names included. A city counts as re-spelled when it vanished and
    another appeared in the same country with exactly the same facility names, nearby (or
    alike), with no other zips, and no other city fits either of them as well."""
    old_cities, new_cities = _names_by_city(old), _names_by_city(new)
    spelling = {_place(site): site["city"] for sites in (old, new) for site in sites.values()}
    gone = {place: names for place, names in old_cities.items() if place not in new_cities}
    came = {place: names for place, names in new_cities.items() if place not in old_cities}

    def fits(old_place: tuple[str, str], new_place: tuple[str, str]) -> bool:
        if old_place[0] != new_place[0] or gone[old_place] != came[new_place]:
            return False
        zips = (_zips_in(old, old_place), _zips_in(new, new_place))
        if all(zips) and zips[0] != zips[1]:  # other zips: other sites
            return False
        return _cities_alike(spelling[old_place], spelling[new_place], old, new)

    fitting = {new_place: [p for p in gone if fits(p, new_place)] for new_place in came}
    taken = Counter(match for matches in fitting.values() for match in matches)
    spelled = {
        new_place: spelling[matches[0]]
        for new_place, matches in fitting.items()
        if len(matches) == 1 and taken[matches[0]] == 1
    }
    return {
        key: {**site, "city": spelled[_place(site)]} if _place(site) in spelled else site
        for key, site in new.items()
    }


def _zips_in(sites: dict[str, Site], place: tuple[str, str]) -> set[str]:
    return {code for site in sites.values() if _place(site) == place and (code := _zip(site))}


def _names_by_city(sites: dict[str, Site]) -> dict[tuple[str, str], tuple[str, ...]]:
    names: dict[tuple[str, str], list[str]] = defaultdict(list)
    for site in sites.values():
        names[_place(site)].append(_name(site))
    return {place: tuple(sorted(found)) for place, found in names.items()}


def _same_place_respelled(old: Site, new: Site) -> bool:
    """One facility, unique in its country on both sides, whose city changed spelling only:
    zips that do not contradict, and a point nearby (or, without points, a similar spelling).
    Generic names in cities far apart, or with different zips, stay different sites."""
    if _zip(old) and _zip(new) and _zip(old) != _zip(new):
        return False
    return _cities_alike(old["city"], new["city"], {"": old}, {"": new})


def _cities_alike(
    old_city: str | None, new_city: str | None, old: dict[str, Site], new: dict[str, Site]
) -> bool:
    """Whether two spellings name one city: the sites there lie within `SAME_CITY_KM` of each
    other, or, where the record has no points, the spellings are alike."""
    old_points = [point(s["geo"]) for s in old.values() if s["city"] == old_city and s["geo"]]
    new_points = [point(s["geo"]) for s in new.values() if s["city"] == new_city and s["geo"]]
    if old_points and new_points:
        return km(old_points[0], new_points[0]) <= SAME_CITY_KM
    return spellings_alike(old_city, new_city)


def _unchanged_lone_sites(old: dict[str, Site], new: dict[str, Site]) -> list[str]:
    """The keys of sites alone with their identity in both versions and equal in every field:
    the pairs `_pair_identical` would make of them, found without writing out each row (most
    of a changed trial's sites are these)."""
    twinned = {key.split("~")[0] for sites in (old, new) for key in sites if "~" in key}
    return [
        key
        for key, site in new.items()
        if key not in twinned and "~" not in key and old.get(key) == site
    ]


def _pair_identical(
    old: dict[str, Site], new: dict[str, Site], row: Callable[[Site], str]
) -> list[tuple[str, str]]:
    """Rows equal in every field (as `row` writes them) pair in order: identical twins are
    interchangeable."""
    old_by_row: dict[str, list[str]] = defaultdict(list)
    for key, site in sorted(old.items()):
        old_by_row[row(site)].append(key)
    found = []
    for key, site in sorted(new.items()):
        candidates = old_by_row.get(row(site))
        if candidates:
            found.append((key, candidates.pop(0)))
    return found


def _row_as_identity_sees_it(site: Site) -> str:
    """A row with its spellings folded (names re-cased, re-accented, re-punctuated or
    mis-encoded; a country renamed; a zip re-written) and its geoPoint left out (re-geocoded):
    twins told apart only by status or contacts still pair after such housekeeping."""
    return canonical_json(
        {
            "facility": _name(site),
            "city": fold_name(site["city"]),
            "state": fold_name(site["state"]),
            "country": _country(site),
            "zip": _zip(site),
            "status": site["status"],
            "site_number": site["site_number"],
            "contacts": site["contacts"],
        }
    )


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
    return (country_identity(site["country"]), fold_name(site["city"]))


def _zip(site: Site) -> str | None:
    return zip_identity(site["zip"])


def _with(*parts: Callable[[Site], Hashable | None]) -> Clue:
    """A clue made of parts; None (no clue) when any part is missing."""

    def clue(site: Site) -> Hashable | None:
        values = tuple(part(site) for part in parts)
        return None if any(value is None or value == "" for value in values) else values

    return clue


def _name(site: Site) -> str:
    return fold_name(site["facility"])


def _country(site: Site) -> str:
    return country_identity(site["country"])


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


def _city(site: Site) -> str:
    return fold_name(site["city"])


def _zip_or_none(site: Site) -> str:
    return _zip(site) or "(no zip)"


def _unknown_country(site: Site) -> bool:
    """A country spelled as neither ISO 3166 nor the registry's known spellings have it."""
    return _country(site).startswith("name:")


_country_name = _with(_country, _name)
# the same name, city and zip: one site whose country the registry spelled in a way no table
# knows (paired only where one side's country is such a spelling)
_all_but_country = _with(_name, _city, _zip_or_none)
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
