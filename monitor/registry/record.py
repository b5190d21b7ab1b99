"""The one reader of a raw API v2 study record's identity and bookkeeping: its NCT id (and the
old ids merged into it), when it was last updated and served, and whether it is whole. Every
other stage takes these values from here or the normalised record.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from monitor.errors import BadInput, RegistryError

NCT_ID = re.compile(r"NCT[0-9]{8}")  # ASCII digits only: \d would take "NCT٠٥٨٦٩٩٥٥"


def normalise_nct_id(text: str) -> str:
    """`nct05869955` or ` NCT05869955 ` -> `NCT05869955`; anything else is bad input."""
    candidate = text.strip().upper()
    if not NCT_ID.fullmatch(candidate):
        raise BadInput(f"not an NCT id: {text!r} (expected NCT followed by 8 digits)")
    return candidate


def study_nct_id(study: dict[str, Any]) -> str:
    """The NCT id a study record says it is; a record without one is malformed."""
    try:
        return normalise_nct_id(study["protocolSection"]["identificationModule"]["nctId"])
    except (KeyError, TypeError, BadInput) as exc:
        raise RegistryError("malformed study record (no valid protocolSection nctId)") from exc


# Modules the registry leaves out when they have nothing to say; any other module a record
# had does not go away between versions.
OPTIONAL_MODULES = frozenset({"referencesModule", "ipdSharingStatementModule"})


def missing_modules(previous: dict[str, Any], study: dict[str, Any]) -> list[str]:
    """The modules of `previous` that `study` lacks: a partial record, not a change."""
    had, has = (set(record.get("protocolSection") or {}) for record in (previous, study))
    return sorted(had - has - OPTIONAL_MODULES)


def last_update_posted(study: dict[str, Any]) -> str | None:
    """The record's `lastUpdatePostDateStruct.date`: it moves whenever the record is updated."""
    status = study.get("protocolSection", {}).get("statusModule", {})
    return (status.get("lastUpdatePostDateStruct") or {}).get("date")


def study_ids(study: dict[str, Any]) -> list[str]:
    """The ids a record answers to: its NCT id and the old ids merged into it
    (`nctIdAliases`)."""
    nct_id = study_nct_id(study)  # a record without a valid id is malformed: raises
    aliases = study["protocolSection"]["identificationModule"].get("nctIdAliases")
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
    identification = study["protocolSection"].get("identificationModule", {})
    return identification.get("briefTitle"), identification.get("acronym")


def last_update_submitted(study: dict[str, Any]) -> str | None:
    """`lastUpdateSubmitDate`: when the version a record holds was submitted (the record
    history's version list dates versions by this)."""
    status = study.get("protocolSection", {}).get("statusModule", {})
    submitted = status.get("lastUpdateSubmitDate") if isinstance(status, dict) else None
    return submitted if isinstance(submitted, str) else None


class MatchFields(TypedDict):
    nct_id: str
    title: str
    phase: str | None
    sponsor: str | None
    status: str | None


def search_match_fields(study: dict[str, Any]) -> MatchFields:
    """What a search answer (`fields=`-limited) says of a trial: id, title, phases (codes),
    lead sponsor and overall status. A malformed one raises KeyError or TypeError."""
    section = study["protocolSection"]
    identification = section["identificationModule"]
    return {
        "nct_id": str(identification["nctId"]),
        "title": str(identification.get("briefTitle") or identification["nctId"]),
        "phase": ", ".join(section.get("designModule", {}).get("phases", [])) or None,
        "sponsor": section.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {}).get("name"),
        "status": section.get("statusModule", {}).get("overallStatus"),
    }
