"""A trial as a search answer gives it: the few fields a `fields=`-limited listing carries,
read from the raw study as carefully as a whole record."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypedDict

from monitor.registry.raw import field_at, printable_text, study_nct_id


class MatchSite(TypedDict):
    """A site as a distance search's answer lists it (`Location*` fields)."""

    facility: str | None
    city: str | None
    state: str | None
    country: str | None
    status: str | None
    point: tuple[float, float] | None


@dataclass(frozen=True)
class Match:
    """A trial as a search answer (`fields=`-limited) gives it."""

    nct_id: str
    title: str
    phase: str | None  # phase codes, comma-separated
    sponsor: str | None
    status: str | None
    sites: tuple[MatchSite, ...] = ()


def search_match(study: dict[str, Any]) -> Match:
    """What a search answer (`fields=`-limited) says of a trial: id, title, phases (codes),
    lead sponsor and overall status. One without a valid NCT id raises RegistryError: an id
    becomes a watch, a subject line and a chat title, so nothing else may pass for one."""
    nct_id = study_nct_id(study)
    section = field_at(study, "protocolSection")
    title = field_at(section, "identificationModule", "briefTitle")
    phases = field_at(section, "designModule", "phases")
    codes = [code for code in phases if isinstance(code, str)] if isinstance(phases, list) else []
    sponsor = field_at(section, "sponsorCollaboratorsModule", "leadSponsor", "name")
    status = field_at(section, "statusModule", "overallStatus")
    locations = field_at(section, "contactsLocationsModule", "locations")
    return Match(
        nct_id=nct_id,
        title=printable_text(title) or nct_id,
        phase=printable_text(", ".join(codes)) or None,
        sponsor=printable_text(sponsor),
        status=printable_text(status),
        sites=tuple(
            _match_site(location)
            for location in (locations if isinstance(locations, list) else [])
            if isinstance(location, dict)
        ),
    )


def _match_site(location: dict[str, Any]) -> MatchSite:
    lat, lon = field_at(location, "geoPoint", "lat"), field_at(location, "geoPoint", "lon")
    numbers = all(type(value) in (int, float) and math.isfinite(value) for value in (lat, lon))
    on_earth = numbers and -90 <= lat <= 90 and -180 <= lon <= 180
    return {
        "facility": printable_text(location.get("facility")),
        "city": printable_text(location.get("city")),
        "state": printable_text(location.get("state")),
        "country": printable_text(location.get("country")),
        "status": printable_text(location.get("status")),
        "point": (float(lat), float(lon)) if on_earth else None,
    }
