"""Raw API v2 study JSON -> a comparable record: sites keyed by identity, text folded, lists
sorted, bookkeeping fields dropped. Two records are equal exactly when nothing worth an alert moved.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypedDict

from monitor.records.events import Enrollment, RegistryDate
from monitor.records.folding import canonical_json, fold_lines, fold_text, fold_value
from monitor.records.results import RESULTS_DATE_FIELDS, normalise_documents
from monitor.records.sites import Site, key_sites
from monitor.registry.raw import study_nct_id

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


def content_hash(record: Record) -> str:
    """sha256 of the canonical JSON: equal hashes mean no diff is needed."""
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


class Record(TypedDict):
    """A study as the differ compares it (`normalise_study`); `DATE_FIELDS` name its dates."""

    nct_id: str
    overall_status: str | None
    enrollment: Enrollment | None
    eligibility: dict[str, Any]
    contacts: Any
    officials: Any
    sites: dict[str, Site]
    start_date: RegistryDate | None
    primary_completion_date: RegistryDate | None
    completion_date: RegistryDate | None
    protocol: Any
    results: Any
    results_dates: Any  # when results were submitted and posted: told with the results
    documents: Any


def normalise_study(study: dict[str, Any]) -> Record:
    """The comparable view of one study; `diff.diff_records` compares two of these."""
    protocol = {key: dict(module) for key, module in study.get("protocolSection", {}).items()}
    status = protocol.setdefault("statusModule", {})
    design = protocol.setdefault("designModule", {})
    eligibility = protocol.pop("eligibilityModule", {})
    contacts_locations = protocol.pop("contactsLocationsModule", {})
    for field in BOOKKEEPING_STATUS_FIELDS:
        status.pop(field, None)
    results_dates = {field: status.pop(field, None) for field in RESULTS_DATE_FIELDS}
    identification = protocol.get("identificationModule")
    if isinstance(identification, dict):  # the id is the record's key; a merge is told apart
        protocol["identificationModule"] = {
            key: value for key, value in identification.items() if key not in IDENTITY_FIELDS
        }
    overall_status = fold_value(status.pop("overallStatus", None))
    enrollment = _normalise_enrollment(design.pop("enrollmentInfo", None))
    dates = {name: _normalise_date(status.pop(raw, None)) for name, raw in DATE_FIELDS.items()}
    kept_eligibility = {
        name: _normalise_eligibility_value(name, eligibility.pop(raw_name, None))
        for name, raw_name in ELIGIBILITY_FIELDS.items()
    }
    contacts = fold_value(contacts_locations.pop("centralContacts", []))
    officials = fold_value(contacts_locations.pop("overallOfficials", []))
    sites = key_sites(contacts_locations.pop("locations", []))
    if eligibility:
        protocol["eligibilityModule"] = eligibility
    if contacts_locations:
        protocol["contactsLocationsModule"] = contacts_locations
    return Record(
        nct_id=study_nct_id(study),
        overall_status=overall_status,
        enrollment=enrollment,
        eligibility=kept_eligibility,
        contacts=contacts,
        officials=officials,
        sites=sites,
        start_date=dates["start_date"],
        primary_completion_date=dates["primary_completion_date"],
        completion_date=dates["completion_date"],
        protocol=without_defaults(fold_value(protocol)),
        results=without_defaults(fold_value(study.get("resultsSection") or {})),
        results_dates=fold_value(results_dates),
        documents=fold_value(normalise_documents(study.get("documentSection"))),
    )


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


def _normalise_date(struct: dict[str, Any] | None) -> RegistryDate | None:
    """A date struct. A date that is not a date ("2028-02-30", "soon") is kept as written:
    shown as the registry wrote it, never counted in days (see `wording.date_slip`)."""
    if not struct or not struct.get("date"):
        return None
    registry_type = struct.get("type")
    return RegistryDate(
        date=fold_text(str(struct["date"])),
        type=fold_text(registry_type) if isinstance(registry_type, str) else None,
    )


def _normalise_enrollment(info: dict[str, Any] | None) -> Enrollment | None:
    if not info or info.get("count") is None:
        return None
    registry_type = fold_value(info.get("type"))
    return Enrollment(
        count=fold_value(info["count"]),
        type=registry_type if isinstance(registry_type, str) else None,
    )


def _normalise_eligibility_value(name: str, value: Any) -> Any:
    if name == "criteria" and isinstance(value, str):
        return fold_lines(value)
    return None if _is_default(value) else fold_value(value)
