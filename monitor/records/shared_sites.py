"""Where trials meet: a site's identity across trials, given only where it is sure. Two
trials' sites are one place when their facility names, cities and countries are the same as
identity sees them (`folding`, `countries`), and no zips disagree. A name that says "a site of
a study" rather than naming a place ("Research Site", "GSK Investigational Site", "Local
Institution - 0043"), or that one trial gives to sites in two or more cities (a sponsor's
label), never identifies a place by itself: such sites are left out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.records.countries import country_identity
from monitor.records.folding import fold_name
from monitor.records.places import zip_identity
from monitor.records.sites import Site

# Names of a study's site rather than of a place: "Research Site", "Novartis Investigative
# Site", "Clinical Trial Site", "Site 0043", "Local Institution - 0043", "Investigational Site
# Number 1234" (as `fold_name` writes them).
GENERIC_NAME = re.compile(
    r"\b(research|investigational|investigative|investigator|clinical|study|trial|"
    r"sponsor|recruiting|local)\s+(site|sites|institution)\b"
    r"|^(site|sites)(\s|$)"
)
# A sponsor's site number after a place's name: "A. C. Camargo Cancer Center ( Site 0258)"
SITE_NUMBER_SUFFIX = re.compile(r"\s*\bsite\s*(number|no|n)?\s*\d+$")


@dataclass(frozen=True)
class SitePlace:
    """A site of one trial with a sure identity across trials."""

    identity: str  # "DE|koln|universitaetsklinikum koln"
    facility: str
    city: str
    country: str
    zip: str | None
    status: str | None


def site_places(sites: Mapping[str, Site]) -> dict[str, SitePlace]:
    """{site key: its place} for the sites of one version of a trial that identify a place
    (twins of one name in one city are one place)."""
    cities_by_name: dict[str, set[str]] = defaultdict(set)
    for site in sites.values():
        cities_by_name[place_name(site["facility"])].add(fold_name(site["city"]))
    places: dict[str, SitePlace] = {}
    for key, site in sites.items():
        name, city = place_name(site["facility"]), fold_name(site["city"])
        country = country_identity(site["country"])
        if not (name and city and country) or is_generic(name):
            continue
        if len(cities_by_name[name]) > 1:
            continue  # one trial's label for sites in several cities
        places[key] = SitePlace(
            f"{country}|{city}|{name.replace(' ', '')}",
            str(site["facility"]),
            str(site["city"]),
            str(site["country"]),
            zip_identity(site["zip"]),
            site["status"],
        )
    return places


def place_name(facility: str | None) -> str:
    """A facility's name as identity across trials sees it: folded, the sponsor's site
    number after it left out."""
    return SITE_NUMBER_SUFFIX.sub("", fold_name(facility))


def is_generic(folded_name: str) -> bool:
    """A name (as `fold_name` writes it) that names a study's site, not a place."""
    return bool(GENERIC_NAME.search(folded_name))


def same_place(places: Iterable[SitePlace]) -> bool:
    """Several trials' sites of one identity are one place unless their zips disagree."""
    return len({place.zip for place in places if place.zip}) <= 1
