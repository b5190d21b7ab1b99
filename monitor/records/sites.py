"""A site as the differ sees it: a location row folded, its identity clues derived, and keyed
by identity within one version (`pairing` pairs the sites of two versions).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, TypedDict

from monitor.records.folding import canonical_json, fold_text, fold_value


class Site(TypedDict):
    """One location row as the differ compares it: text folded, identity clues derived."""

    facility: str | None
    status: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None
    site_number: str | None  # the sponsor's number ("Local Institution - 0043"): a clue
    contacts: list[Any]
    geo: str | None  # "lat,lon" to 4 places: the registry's geocoding, a clue


PLACEHOLDER_FACILITY = re.compile(r"^local institution\s*-\s*(\d+)$", re.IGNORECASE)
SITE_NUMBER_IN_CONTACT = re.compile(r"\bsite\s*(?:#|no\.?|number)?\s*(\d{2,})\b", re.IGNORECASE)
# Identity clues, never reported as changes: derived from other fields, or the registry's
# geocoding of the city and zip.
CLUE_FIELDS = ("site_number", "geo")


def normalise_site(location: dict[str, Any]) -> Site:
    """One location row as the differ compares it."""
    return Site(
        facility=_fold_optional(location.get("facility")),
        status=_fold_optional(location.get("status")),
        city=_fold_optional(location.get("city")),
        state=_fold_optional(location.get("state")),
        zip=_fold_optional(location.get("zip")),
        country=_fold_optional(location.get("country")),
        site_number=site_number(location),
        contacts=fold_value(location.get("contacts") or []),
        geo=_geo(location.get("geoPoint")),
    )


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


def name_and_place(site: Site) -> tuple[str | None, str | None, str | None]:
    """What a reader tells a site by: two sites sharing it need their number (or zip)."""
    return (site["facility"], site["city"], site["country"])


def site_identity(site: Site) -> str:
    """Country, city and the site number when the record gives one, else the facility name:
    a site's name within one version (across versions, `pair_sites` decides, by identity)."""
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


def _geo(point: Any) -> str | None:
    if not isinstance(point, dict):
        return None
    lat, lon = point.get("lat"), point.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    return f"{lat:.4f},{lon:.4f}"


def _fold_optional(value: Any) -> Any:
    return fold_text(value) if isinstance(value, str) else value
