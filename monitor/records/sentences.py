"""What each category of change says: its sentence ("Primary completion 2028-08-29 ->
2029-02-28 (+183 days)"), its notes (why stopped, outcomes moved, a search match's details,
other watched trials at a site) and its cell in a digest's site table. `categories` names which of
these each category uses."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, NamedTuple

from monitor.records.events import (
    ChangeEvent,
    Enrollment,
    SiteRef,
    as_date,
    as_enrollment,
    as_posted_results,
    search_named,
)
from monitor.records.results import (
    summarise_documents,
    summarise_outcomes,
    summarise_results_posted,
    why_stopped_note,
)
from monitor.records.wording import (
    date_slip,
    dict_change,
    field_label,
    format_value,
    list_changes,
    readable_code,
    readable_status,
    text_change,
)
from monitor.text import counted


class Told(NamedTuple):
    """What a sentence reads of an event: its values, its site, its notes' fields."""

    field: str
    old: Any
    new: Any
    site: SiteRef | None = None
    extra: Mapping[str, Any] = {}


# --- sentences ------------------------------------------------------------------------------


def overall_status(told: Told) -> str:
    return f"Overall status: {readable_status(told.old)} -> {readable_status(told.new)}"


def why_stopped(told: Told) -> list[str]:
    note = why_stopped_note(told.new, told.extra.get("why_stopped"))
    return [note] if note else []


def results_posted(told: Told) -> str:
    return summarise_results_posted(as_posted_results(told.new))


def results_updated(told: Told) -> str:
    return str(told.new)  # the change in words, made where both modules were at hand (`diff`)


def outcome(told: Told) -> str:
    return summarise_outcomes(told.field, told.old, told.new)


def outcomes_moved(told: Told) -> list[str]:
    """Measures that moved between primary and secondary: "'X' now a secondary outcome"."""
    return [str(moved) for moved in told.extra.get("moved_outcomes") or []]


def document(told: Told) -> str:
    return summarise_documents(told.old, told.new)


def site_status(told: Told) -> str:
    return f"{site_label(told.site)}: {readable_status(told.old)} -> {readable_status(told.new)}"


def site_added(told: Told) -> str:
    status = f" ({readable_status(told.new)})" if told.new else ""
    return f"New site: {site_label(told.site)}{status}"


def site_removed(told: Told) -> str:
    status = f" (was {readable_status(told.old)})" if told.old else ""
    return f"Site removed: {site_label(told.site)}{status}"


def site_renamed(told: Told) -> str:
    site = told.site
    place = ", ".join(part for part in (site.city, site.country) if part) if site else ""
    return f"Site renamed: {told.old} -> {told.new}" + (f", {place}" if place else "")


def enrollment(told: Told) -> str:
    old, new = as_enrollment(told.old), as_enrollment(told.new)
    if old and new and old["type"] == new["type"]:
        count_type = f" ({new['type'].lower()})" if new["type"] else ""
        return f"Enrollment {old['count']} -> {new['count']}{count_type}"
    if old and new and old["count"] == new["count"]:
        return f"Enrollment {new['count']}: {lower(old['type'])} -> {lower(new['type'])}"
    return f"Enrollment {enrollment_text(old)} -> {enrollment_text(new)}"


def enrollment_text(enrollment: Enrollment | None) -> str:
    if not enrollment:
        return "(none)"
    return f"{enrollment['count']} ({lower(enrollment['type'])})"


def date(told: Told) -> str:
    label, old, new = field_label(told.field), as_date(told.old), as_date(told.new)
    if new is None:
        return f"{label} removed (was {old['date']})" if old else f"{label} removed"
    if old is None:
        return f"{label} set: {new['date']} ({lower(new['type'])})"
    text = f"{label} {new['date']}"
    if old["date"] != new["date"]:
        slip = date_slip(old["date"], new["date"])
        text = f"{label} {old['date']} -> {new['date']}" + (f" ({slip})" if slip else "")
    if old["type"] != new["type"]:
        separator = "," if old["date"] != new["date"] else ":"
        text += f"{separator} {lower(old['type'])} -> {lower(new['type'])}"
    return text


def eligibility(told: Told) -> str:
    label, old, new = field_label(told.field), told.old, told.new
    if told.field == "eligibility.criteria":
        old_lines, new_lines = (old or "").splitlines(), (new or "").splitlines()
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        removed = sum(i2 - i1 for tag, i1, i2, _, _ in matcher.get_opcodes() if tag != "equal")
        added = sum(j2 - j1 for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal")
        return f"{label} changed: {added} line{'s'[: added != 1]} added, {removed} removed"
    if isinstance(old, list) or isinstance(new, list):
        return f"{label}: {list_changes(old, new)}"
    return f"{label}: {text_change(old, new)}"


def contact(told: Told) -> str:
    where = f"Contacts at {site_label(told.site)}" if told.site else field_label(told.field)
    return f"{where}: {list_changes(told.old, told.new)}"


def other(told: Told) -> str:
    label, old, new = field_label(told.field), told.old, told.new
    if told.site:
        label = f"{site_label(told.site)}: {label.lower()}"
    if isinstance(old, list) or isinstance(new, list):
        return f"{label}: {list_changes(old, new)}"
    if isinstance(old, dict) or isinstance(new, dict):
        return f"{label}: {dict_change(old or {}, new or {})}"
    if isinstance(old, bool) or isinstance(new, bool):
        return f"{label}: {text_change(old, new)}"
    if old is None:
        return f"{label} set: {format_value(new)}"
    if new is None:
        return f"{label} removed (was {format_value(old)})"
    return f"{label}: {text_change(old, new)}"


def search_entry(told: Told) -> str:
    """ "New in search q: [the nearest site:] title"; "Left search q: title"."""
    search = search_named(told.field)
    if told.new is None:
        return f"Left search {search}: {told.old}"
    nearby = told.extra.get("nearby_site")
    where = f"{describe_nearby(nearby)}: " if isinstance(nearby, dict) else ""
    return f"New in search {search}: {where}{told.new}"


def search_match(told: Told) -> list[str]:
    """What a reader of a new match wants first: its phases, sponsor and status."""
    trial = told.extra.get("trial") or {}
    phases = trial.get("phase")
    parts = (
        ", ".join(readable_code(code) for code in phases.split(", ")) if phases else None,
        trial.get("sponsor"),
        readable_status(trial["status"]) if trial.get("status") else None,
    )
    details = "; ".join(part for part in parts if part)
    return [details] if details else []


def describe_nearby(site: Mapping[str, Any]) -> str:
    """`Massachusetts General Hospital, Boston, 12 miles, Recruiting (and 2 more sites within
    25 miles)`: the site that brought a trial into a distance search."""
    one, many = ("mile", "miles") if site.get("unit") == "mi" else ("km", "km")
    away = round(site.get("distance") or 0)
    distance = f"under 1 {one}" if away < 1 else f"{away} {one if away == 1 else many}"
    status = readable_status(site["status"]) if site.get("status") else None
    text = ", ".join(
        str(part) for part in (site.get("facility"), site.get("city"), distance, status) if part
    )
    others = site.get("others_within")
    if others:
        sites = "site" if others == 1 else "sites"
        text += f" (and {others} more {sites} within {site.get('within', 0):g} {many})"
    return text


def also_here(told: Told) -> list[str]:
    """The other watched trials at the site, so that a competitor's trial opening at yours
    is seen the morning it happens: "also here: NCT... Breakfree-1, Recruiting"."""
    others = told.extra.get("also_here") or []
    named = [
        " ".join(str(part) for part in (other.get("nct_id"), other.get("acronym")) if part)
        + (f", {readable_status(other['status'])}" if other.get("status") else "")
        for other in others
        if isinstance(other, dict)
    ]
    more = told.extra.get("also_here_more")
    more = more if isinstance(more, int) and more > 0 else 0
    if len(named) > ALSO_HERE_NAMED:  # an event stored before the others were counted
        named, more = named[:ALSO_HERE_NAMED], more + len(named) - ALSO_HERE_NAMED
    if more:
        named.append(counted(more, "more watched trial"))
    return [f"also here: {'; '.join(named)}"] if named else []


ALSO_HERE_NAMED = 3  # other trials named at a site; the rest counted


def site_label(site: SiteRef | None) -> str:
    return site.label() if site else "(site)"


def lower(text: str | None) -> str:
    return text.lower() if text else "(no type)"


# --- a site table's cells ------------------------------------------------------------------


def status_change(old: Any, new: Any) -> str:
    return f"{readable_status(old)} -> {readable_status(new)}"


def site_added_change(old: Any, new: Any) -> str:
    return f"New site: {readable_status(new)}" if new else "New site"


def site_removed_change(old: Any, new: Any) -> str:
    return f"Removed (was {readable_status(old)})" if old else "Removed"


def site_renamed_change(old: Any, new: Any) -> str:
    return f"Renamed from {old}"


# --- many sites changed the same way -----------------------------------------------------


def statuses(values: Iterable[Any]) -> str:
    """ "177 Recruiting, 40 Not yet recruiting, 13 Completed", most first."""
    counted = Counter(readable_status(v) if v else "no status listed" for v in values)
    return ", ".join(f"{count} {status}" for status, count in counted.most_common())


def many_statuses(events: list[ChangeEvent]) -> str:
    old = events[0].old
    if old is None:
        return f"{len(events)} sites now list a status: {statuses(e.new for e in events)}"
    return f"{len(events)} sites {readable_status(old)} -> {statuses(e.new for e in events)}"


def many_added(events: list[ChangeEvent]) -> str:
    return f"{len(events)} new sites: {statuses(e.new for e in events)}"


def many_removed(events: list[ChangeEvent]) -> str:
    return f"{len(events)} sites removed (were {statuses(e.old for e in events)})"


def many_renamed(events: list[ChangeEvent]) -> str:
    return f"{len(events)} sites renamed"


def many_contacts(events: list[ChangeEvent]) -> str:
    return f"Contacts at {len(events)} sites: {list_changes(events[0].old, events[0].new)}"


def site_contacts_alike(event: ChangeEvent) -> Hashable | None:
    """Contacts changed the same way at a site ("added Principal Investigator"); the trial's
    central contacts are told on their own."""
    return list_changes(event.old, event.new) if event.site else None
