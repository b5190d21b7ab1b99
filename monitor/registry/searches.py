"""A watched search as the registry reads it: its search areas (`query.*`) and filters
(`filter.*`), checked when the user gives them and stored as JSON.

Phase and study type have no filter of their own in API v2; they travel in
`filter.advanced` as Essie `AREA[...]` expressions, joined by AND with the user's own
expression and, on a day that asks only for what changed, the update-date range.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

PHASES = ("EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA")
STUDY_TYPES = ("INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS")
MILES_IN_KM = 1.609344
DISTANCE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(mi|km)?\s*", re.IGNORECASE)
NUMBER = r"-?\d+(?:\.\d+)?"
POINT = re.compile(rf"\s*({NUMBER})\s*,\s*({NUMBER})\s*")
# What a match needs: the list of a big search stays small. A distance search adds the
# sites, so a new match can say which one is near.
MATCH_FIELDS = ("NCTId", "BriefTitle", "Acronym", "OverallStatus", "Phase", "LeadSponsorName")
SITE_MATCH_FIELDS = (
    "LocationFacility",
    "LocationCity",
    "LocationState",
    "LocationCountry",
    "LocationStatus",
    "LocationGeoPoint",
)
# The text areas a search can use: the option's name and the registry's parameter.
TEXT_AREAS = {
    "term": "query.term",
    "condition": "query.cond",
    "intervention": "query.intr",
    "sponsor": "query.spons",
    "location": "query.locn",
}


class SearchError(ValueError):
    """A search's criterion that cannot be asked of the registry; `criterion` names it (the
    command line words it with its option's name)."""

    def __init__(self, criterion: str, message: str):
        super().__init__(message)
        self.criterion = criterion


@dataclass(frozen=True)
class Near:
    """The registry's distance filter: trials with a site within `distance` `unit` of a
    point (`filter.geo=distance(lat,lon,50mi)`)."""

    lat: float
    lon: float
    distance: float
    unit: str = "mi"

    @classmethod
    def parse(cls, point: str, within: str) -> Near:
        """`--near 42.3601,-71.0589 --within 50mi` (miles unless `km` is said)."""
        at = POINT.fullmatch(point)
        if at is None:
            raise SearchError("near", f"expected LATITUDE,LONGITUDE in degrees, got {point!r}")
        lat, lon = float(at.group(1)), float(at.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise SearchError("near", f"{point!r} is not a place on Earth")
        far = DISTANCE.fullmatch(within)
        if far is None or not 0 < float(far.group(1)) <= 20_000:
            raise SearchError("within", f"expected a distance such as 50mi or 80km, got {within!r}")
        return cls(lat, lon, float(far.group(1)), (far.group(2) or "mi").lower())

    def expression(self) -> str:
        """`distance(42.3601,-71.0589,50mi)`, in the form the API document allows."""
        point = f"{_decimal(self.lat)},{_decimal(self.lon)}"
        return f"distance({point},{_decimal(self.distance)}{self.unit})"

    def away(self, km: float) -> float:
        """A distance in kilometres in this search's unit."""
        return km / MILES_IN_KM if self.unit == "mi" else km

    def describe(self) -> str:
        unit = "miles" if self.unit == "mi" else "km"
        return (
            f"within {_decimal(self.distance)} {unit} of {_decimal(self.lat)},{_decimal(self.lon)}"
        )

    def to_json(self) -> dict[str, Any]:
        return {"lat": self.lat, "lon": self.lon, "distance": self.distance, "unit": self.unit}


@dataclass(frozen=True)
class Search:
    """What a watched search asks the registry; every criterion optional, one required."""

    name: str
    term: str | None = None
    condition: str | None = None
    intervention: str | None = None
    sponsor: str | None = None
    location: str | None = None
    near: Near | None = None
    statuses: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    study_type: str | None = None
    advanced: str | None = None
    follow: bool = False

    def params(self, *, updated_since: str | None = None) -> dict[str, str]:
        """The registry's query parameters; `updated_since` (a date) narrows the search to
        the trials updated since then."""
        params = {area: getattr(self, option) for option, area in TEXT_AREAS.items()}
        params["filter.overallStatus"] = ",".join(self.statuses) or None
        params["filter.geo"] = self.near.expression() if self.near else None
        params["filter.advanced"] = " AND ".join(self._advanced(updated_since)) or None
        return {key: value for key, value in params.items() if value}

    def _advanced(self, updated_since: str | None) -> list[str]:
        parts = []
        if self.phases:
            phases = " OR ".join(f"AREA[Phase]{phase}" for phase in self.phases)
            parts.append(f"({phases})" if len(self.phases) > 1 else phases)
        if self.study_type:
            parts.append(f"AREA[StudyType]{self.study_type}")
        if self.advanced:
            parts.append(f"({self.advanced})")
        if updated_since:
            parts.append(f"AREA[LastUpdatePostDate]RANGE[{updated_since},MAX]")
        return parts

    def fields(self) -> str:
        """The `fields` a match is read from: a distance search's sites too."""
        return "|".join(MATCH_FIELDS + (SITE_MATCH_FIELDS if self.near else ()))

    def criteria(self) -> dict[str, Any]:
        """Every criterion by its option name: what `cli.options.make_search` takes back."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in ("name", "follow")
        }

    def to_json(self) -> dict[str, Any]:
        return {option: getattr(self, option) for option in TEXT_AREAS} | {
            "statuses": list(self.statuses),
            "near": self.near.to_json() if self.near else None,
            "phases": list(self.phases),
            "study_type": self.study_type,
            "advanced": self.advanced,
        }

    @classmethod
    def from_json(cls, name: str, stored: dict[str, Any], *, follow: bool) -> Search:
        """A stored search; those stored before an area existed simply lack it."""
        near = stored.get("near")
        return cls(
            name,
            **{option: stored.get(option) for option in TEXT_AREAS},
            near=Near(**near) if near else None,
            statuses=tuple(stored.get("statuses") or ()),
            phases=tuple(stored.get("phases") or ()),
            study_type=stored.get("study_type"),
            advanced=stored.get("advanced"),
            follow=follow,
        )

    def describe(self) -> str:
        """The criteria in a line, as `watch list` shows them."""
        parts = [
            f"{option}={getattr(self, option)}" for option in TEXT_AREAS if getattr(self, option)
        ]
        if self.near:
            parts.append(self.near.describe())
        if self.statuses:
            parts.append(f"status={'|'.join(self.statuses)}")
        if self.phases:
            parts.append(f"phase={'|'.join(self.phases)}")
        if self.study_type:
            parts.append(f"type={self.study_type}")
        if self.advanced:
            parts.append(f"advanced={self.advanced}")
        return ", ".join(parts)


def _decimal(number: float) -> str:
    """A number as the API's patterns take it: plain decimals, no exponent, no trailing 0s."""
    text = f"{number:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
