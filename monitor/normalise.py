"""Raw API v2 study JSON -> a comparable record: sites keyed by identity, text folded, lists
sorted, bookkeeping fields dropped. Two records are equal exactly when nothing worth an alert moved.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

from monitor.errors import BadInput, RegistryError

NCT_ID = re.compile(r"NCT[0-9]{8}")  # ASCII digits only: \d would take "NCT٠٥٨٦٩٩٥٥"
PLACEHOLDER_FACILITY = re.compile(r"^local institution\s*-\s*(\d+)$", re.IGNORECASE)
SITE_NUMBER_IN_CONTACT = re.compile(r"\bsite\s*(?:#|no\.?|number)?\s*(\d{2,})\b", re.IGNORECASE)

# Fields that move on every registry update; kept in the raw snapshot, never compared.
BOOKKEEPING_STATUS_FIELDS = (
    "statusVerifiedDate",
    "lastUpdateSubmitDate",
    "lastUpdatePostDateStruct",
)
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
SITE_FIELDS = ("facility", "status", "city", "state", "zip", "country")


def normalise_nct_id(text: str) -> str:
    """`nct05869955` or ` NCT05869955 ` -> `NCT05869955`; anything else is bad input."""
    candidate = text.strip().upper()
    if not NCT_ID.fullmatch(candidate):
        raise BadInput(f"not an NCT id: {text!r} (expected NCT followed by 8 digits)")
    return candidate


def fold_text(text: str) -> str:
    """Unicode NFC and runs of whitespace folded to one space, so re-spacing is not a change."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def fold_lines(text: str) -> str:
    """Like `fold_text` but keeps line structure (for eligibility criteria); blank lines dropped."""
    lines = (fold_text(line) for line in unicodedata.normalize("NFC", text).splitlines())
    return "\n".join(line for line in lines if line)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(record: dict[str, Any]) -> str:
    """sha256 of the canonical JSON: equal hashes mean no diff is needed."""
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


def fold_value(value: Any) -> Any:
    """Fold strings and sort lists, recursively: re-ordered or re-spaced values compare equal."""
    if isinstance(value, str):
        return fold_text(value)
    if isinstance(value, dict):
        return {key: fold_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((fold_value(item) for item in value), key=canonical_json)
    return value


def study_nct_id(study: dict[str, Any]) -> str:
    """The NCT id a study record says it is; a record without one is malformed."""
    try:
        return normalise_nct_id(study["protocolSection"]["identificationModule"]["nctId"])
    except (KeyError, TypeError, BadInput) as exc:
        raise RegistryError("malformed study record (no valid protocolSection nctId)") from exc


def normalise_study(study: dict[str, Any]) -> dict[str, Any]:
    """The comparable view of one study; `diff.diff_records` compares two of these."""
    protocol = {key: dict(module) for key, module in study.get("protocolSection", {}).items()}
    status = protocol.setdefault("statusModule", {})
    design = protocol.setdefault("designModule", {})
    eligibility = protocol.pop("eligibilityModule", {})
    contacts_locations = protocol.pop("contactsLocationsModule", {})
    for field in BOOKKEEPING_STATUS_FIELDS:
        status.pop(field, None)
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
    record["protocol"] = fold_value({key: module for key, module in protocol.items() if module})
    record["has_results"] = bool(study.get("hasResults", False))
    record["results"] = fold_value(study.get("resultsSection", {}))
    return record


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
    return fold_value(value)


def site_number(site: dict[str, Any]) -> str | None:
    """The sponsor's site number, from "Local Institution - 0043" or a "Site 0043" contact."""
    placeholder = PLACEHOLDER_FACILITY.match(fold_text(site.get("facility") or ""))
    if placeholder:
        return placeholder.group(1)
    for contact in site.get("contacts") or []:
        found = SITE_NUMBER_IN_CONTACT.search(contact.get("name") or "")
        if found:
            return found.group(1)
    return None


def site_identity(site: dict[str, Any]) -> str:
    """Country, city and the site number when the record gives one, else the facility name."""
    place = f"{site['country'] or ''}|{site['city'] or ''}".casefold()
    if site["site_number"]:
        return f"{place}|#{site['site_number']}"
    return f"{place}|{(site['facility'] or '').casefold()}"


def key_sites(locations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sites keyed by identity; rows sharing an identity get `~2`, `~3` in content order."""
    sites = []
    for location in locations:
        site = {field: _fold_optional(location.get(field)) for field in SITE_FIELDS}
        site["site_number"] = site_number(location)
        site["contacts"] = fold_value(location.get("contacts") or [])
        sites.append(site)
    by_identity: dict[str, list[dict[str, Any]]] = {}
    for site in sites:
        by_identity.setdefault(site_identity(site), []).append(site)
    keyed: dict[str, dict[str, Any]] = {}
    for identity, twins in sorted(by_identity.items()):
        if len(twins) > 1:  # only twins need their content to fix an order
            twins.sort(key=canonical_json)
        for repeat, site in enumerate(twins, start=1):
            keyed[identity if repeat == 1 else f"{identity}~{repeat}"] = site
    return keyed


def _fold_optional(value: str | None) -> str | None:
    return fold_text(value) if isinstance(value, str) else value
