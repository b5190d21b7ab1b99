"""Raw API v2 study JSON -> a comparable record: sites keyed by identity, text folded, lists
sorted, bookkeeping fields dropped. Two records are equal exactly when nothing worth an alert moved.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from monitor.errors import BadInput, RegistryError
from monitor.folding import canonical_json, fold_lines, fold_value
from monitor.sites import key_sites

NCT_ID = re.compile(r"NCT[0-9]{8}")  # ASCII digits only: \d would take "NCT٠٥٨٦٩٩٥٥"

# Fields that move on every registry update; kept in the raw snapshot, never compared.
BOOKKEEPING_STATUS_FIELDS = (
    "statusVerifiedDate",
    "lastUpdateSubmitDate",
    "lastUpdatePostDateStruct",
)
# The record's own ids: a merged trial's new id and aliases are told by `check` itself.
IDENTITY_FIELDS = ("nctId", "nctIdAliases")
DATE_FIELDS = {
    "start_date": "startDateStruct",
    "primary_completion_date": "primaryCompletionDateStruct",
    "completion_date": "completionDateStruct",
}
ELIGIBILITY_FIELDS = {
    "criteria": "eligibilityCriteria",
    "minimum_age": "minimumAge",
    "maximum_age": "maximumAge",
    "sex": "sex",
    "healthy_volunteers": "healthyVolunteers",
    "std_ages": "stdAges",
}


def normalise_nct_id(text: str) -> str:
    """`nct05869955` or ` NCT05869955 ` -> `NCT05869955`; anything else is bad input."""
    candidate = text.strip().upper()
    if not NCT_ID.fullmatch(candidate):
        raise BadInput(f"not an NCT id: {text!r} (expected NCT followed by 8 digits)")
    return candidate


def content_hash(record: dict[str, Any]) -> str:
    """sha256 of the canonical JSON: equal hashes mean no diff is needed."""
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


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


def normalise_study(study: dict[str, Any]) -> dict[str, Any]:
    """The comparable view of one study; `diff.diff_records` compares two of these."""
    protocol = {key: dict(module) for key, module in study.get("protocolSection", {}).items()}
    status = protocol.setdefault("statusModule", {})
    design = protocol.setdefault("designModule", {})
    eligibility = protocol.pop("eligibilityModule", {})
    contacts_locations = protocol.pop("contactsLocationsModule", {})
    for field in BOOKKEEPING_STATUS_FIELDS:
        status.pop(field, None)
    identification = protocol.get("identificationModule")
    if isinstance(identification, dict):  # the id is the record's key; a merge is told apart
        protocol["identificationModule"] = {
            key: value for key, value in identification.items() if key not in IDENTITY_FIELDS
        }
    record: dict[str, Any] = {
        "nct_id": study_nct_id(study),
        "overall_status": status.pop("overallStatus", None),
        "enrollment": _normalise_enrollment(design.pop("enrollmentInfo", None)),
        "eligibility": {
            name: _normalise_eligibility_value(name, eligibility.pop(raw_name, None))
            for name, raw_name in ELIGIBILITY_FIELDS.items()
        },
        "contacts": fold_value(contacts_locations.pop("centralContacts", [])),
        "officials": fold_value(contacts_locations.pop("overallOfficials", [])),
        "sites": key_sites(contacts_locations.pop("locations", [])),
    }
    for name, raw_name in DATE_FIELDS.items():
        record[name] = _normalise_date(status.pop(raw_name, None))
    if eligibility:
        protocol["eligibilityModule"] = eligibility
    if contacts_locations:
        protocol["contactsLocationsModule"] = contacts_locations
    record["protocol"] = without_defaults(fold_value(protocol))
    record["has_results"] = bool(study.get("hasResults", False))
    record["results"] = without_defaults(fold_value(study.get("resultsSection", {})))
    return record


def without_defaults(value: Any) -> Any:
    """`value` without the fields that hold a default (false, "", [], {}): the registry drops
    them between versions (`hasExpandedAccess: false`), and a default vanishing is no change."""
    if isinstance(value, dict):
        pruned = {key: without_defaults(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if not _is_default(item)}
    if isinstance(value, list):
        return [without_defaults(item) for item in value]
    return value


def _is_default(value: Any) -> bool:
    return value is None or value is False or value == "" or value == [] or value == {}


def _normalise_date(struct: dict[str, Any] | None) -> dict[str, str | None] | None:
    if not struct or not struct.get("date"):
        return None
    return {"date": struct["date"].strip(), "type": struct.get("type")}


def _normalise_enrollment(info: dict[str, Any] | None) -> dict[str, Any] | None:
    if not info or info.get("count") is None:
        return None
    return {"count": info["count"], "type": info.get("type")}


def _normalise_eligibility_value(name: str, value: Any) -> Any:
    if name == "criteria" and isinstance(value, str):
        return fold_lines(value)
    return None if _is_default(value) else fold_value(value)
