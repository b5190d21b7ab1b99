"""The one reader of a raw API v2 study record: its JSON (strictly), its identity and
bookkeeping (its NCT id and the old ids merged into it, when it was last updated and served,
whether it is whole) and its titles. Every other stage takes these values from here or the
normalised record.
"""

from __future__ import annotations

import json
import re
from typing import Any

from monitor.errors import BadInput, RegistryError
from monitor.nct_ids import NCT_ID, normalise_nct_id
from monitor.registry_dates import iso_date
from monitor.text import one_line


def printable_text(value: Any) -> str | None:
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
    return printable_text(title), printable_text(acronym)


def last_update_submitted(study: dict[str, Any]) -> str | None:
    """`lastUpdateSubmitDate`: when the version a record holds was submitted (the record
    history's version list dates versions by this)."""
    return iso_date(field_at(study, "protocolSection", "statusModule", "lastUpdateSubmitDate"))
