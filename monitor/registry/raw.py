"""The one reader of a raw API v2 study record's identity and bookkeeping: its NCT id (and the
old ids merged into it), when it was last updated and served, and whether it is whole. Every
other stage takes these values from here or the normalised record.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any, TypedDict

from monitor.errors import BadInput, RegistryError
from monitor.nct_ids import NCT_ID, normalise_nct_id
from monitor.text import one_line


def _text(value: Any) -> str | None:
    """A registry string as text that can be shown anywhere; None if it is not a string."""
    return one_line(value) if isinstance(value, str) else None


def loads_registry_json(text: str | bytes) -> Any:
    """The registry's JSON, strictly: NaN and Infinity (which Python's json takes) are not
    JSON; nesting too deep to read raises ValueError too. Lone surrogates are dropped."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
        return without_lone_surrogates(value) if spells_a_surrogate(text) else value
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


# A surrogate's escape: a JSON string may spell half of a pair (a cut emoji, "\ud83d"), which
# Python reads as a lone surrogate that no UTF-8 file, database or mail can hold.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def spells_a_surrogate(text: str | bytes, start: int = 0, end: int | None = None) -> bool:
    """Whether the JSON `text` (from `start` to `end`) has a surrogate's escape: only then
    can a value read from it hold a lone one (a pair reads as one character)."""
    end = len(text) if end is None else end
    if isinstance(text, bytes):
        return SURROGATE_ESCAPE_BYTES.search(text, start, end) is not None
    return SURROGATE_ESCAPE.search(text, start, end) is not None


def without_lone_surrogates(value: Any) -> Any:
    """`value` without lone surrogates in its keys and strings: dropped where a record
    enters, so that everywhere its text goes (storage included) holds only what UTF-8 can."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("", value)
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            without_lone_surrogates(key): without_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


REGISTRY_JSON = json.JSONDecoder(parse_constant=_refuse_constant)  # for text read in pieces


def field_at(study: Any, *path: str) -> Any:
    """The value at `path` of a record of any shape; None where a level is missing or is
    not an object (the registry's JSON is untrusted: a string where an object belongs)."""
    value = study
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


REGISTRY_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")


def parse_registry_date(text: Any) -> tuple[int, int, int | None] | None:
    """`2028-08-29` -> (2028, 8, 29); a partial `2027-08` -> (2027, 8, None); anything that is
    not a real date (registry text is untrusted) -> None."""
    match = REGISTRY_DATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2] or 1), int(match[3]) if match[3] else None
    try:
        dt.date(year, month, day or 1)
    except ValueError:
        return None
    return year, month, day


def first_day(text: str) -> dt.date:
    """The first day a registry date names (`2027-08` -> 2027-08-01); `text` is one
    `iso_date` let through."""
    parsed = parse_registry_date(text)
    assert parsed is not None, f"not a registry date: {text!r}"
    year, month, day = parsed
    return dt.date(year, month, day or 1)


def iso_date(value: Any) -> str | None:
    """`value` if it is a real date as the registry writes them (`2028-08-29`, `2027-08`),
    else None: dates become file names, sort keys and day counts, nothing else may pass."""
    return value if parse_registry_date(value) else None


def study_nct_id(study: dict[str, Any]) -> str:
    """The NCT id a study record says it is; a record without one is malformed."""
    nct_id = field_at(study, "protocolSection", "identificationModule", "nctId")
    try:
        return normalise_nct_id(nct_id if isinstance(nct_id, str) else "")
    except BadInput as exc:
        raise RegistryError("malformed study record (no valid protocolSection nctId)") from exc


# Modules the registry leaves out when they have nothing to say; any other module a record
# had does not go away between versions.
OPTIONAL_MODULES = frozenset({"referencesModule", "ipdSharingStatementModule"})


def protocol_modules(study: dict[str, Any]) -> frozenset[str]:
    """The names of a record's protocol modules."""
    section = field_at(study, "protocolSection")
    return frozenset(section) if isinstance(section, dict) else frozenset()


def missing_modules(had: frozenset[str], study: dict[str, Any]) -> list[str]:
    """The modules a record `had` that `study` lacks: a partial record, not a change."""
    return sorted(had - protocol_modules(study) - OPTIONAL_MODULES)


def last_update_posted(study: dict[str, Any]) -> str | None:
    """The record's `lastUpdatePostDateStruct.date`: it moves whenever the record is updated.
    None when it is missing or not a date."""
    path = ("protocolSection", "statusModule", "lastUpdatePostDateStruct", "date")
    return iso_date(field_at(study, *path))


def study_ids(study: dict[str, Any]) -> list[str]:
    """The ids a record answers to: its NCT id and the old ids merged into it
    (`nctIdAliases`)."""
    nct_id = study_nct_id(study)  # a record without a valid id is malformed: raises
    aliases = field_at(study, "protocolSection", "identificationModule", "nctIdAliases")
    listed = aliases if isinstance(aliases, list) else []
    valid = [alias for alias in listed if isinstance(alias, str) and NCT_ID.fullmatch(alias)]
    return [nct_id, *valid]


def data_version(study: dict[str, Any]) -> str:
    """The registry's `versionHolder`: the day of the data refresh a record was served from.
    It orders two captures of one record whose last-update dates are equal (the registry
    itself adds auto-linked references, or turns an overdue trial's status to UNKNOWN, without
    a new update date)."""
    derived = study.get("derivedSection")
    info = derived.get("miscInfoModule") if isinstance(derived, dict) else None
    holder = info.get("versionHolder") if isinstance(info, dict) else None
    return holder if isinstance(holder, str) else ""


def study_titles(study: dict[str, Any]) -> tuple[str | None, str | None]:
    """(brief title, acronym): what lists and digests call a trial."""
    identification = field_at(study, "protocolSection", "identificationModule")
    title, acronym = (field_at(identification, key) for key in ("briefTitle", "acronym"))
    return _text(title), _text(acronym)


def last_update_submitted(study: dict[str, Any]) -> str | None:
    """`lastUpdateSubmitDate`: when the version a record holds was submitted (the record
    history's version list dates versions by this)."""
    return iso_date(field_at(study, "protocolSection", "statusModule", "lastUpdateSubmitDate"))


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
        title=_text(title) or nct_id,
        phase=_text(", ".join(codes)) or None,
        sponsor=_text(sponsor),
        status=_text(status),
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
        "facility": _text(location.get("facility")),
        "city": _text(location.get("city")),
        "state": _text(location.get("state")),
        "country": _text(location.get("country")),
        "status": _text(location.get("status")),
        "point": (float(lat), float(lon)) if on_earth else None,
    }
