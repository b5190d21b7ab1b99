"""Results, documents and outcome measures as a reader hears of them. Results posted is one
piece of news (when, the primary outcome, how many took part), not a line per denominator,
group or row; later updates are one line per results module ("outcome measures: 2 added");
a primary outcome replaced says so. Pure functions of normalised values: `diff` makes the
events, `events` words them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.records.events import PostedResults
from monitor.records.wording import field_label

RESULTS_TAB = "https://clinicaltrials.gov/study/{nct_id}?tab=results"
# statusModule fields that only say when results were submitted, checked and posted: part of
# the news of results posted, never told on their own
RESULTS_DATE_FIELDS = (
    "resultsFirstSubmitDate",
    "resultsFirstSubmitQcDate",
    "resultsFirstPostDateStruct",
)
OUTCOME_TYPES = {
    "outcomesModule.primaryOutcomes": "primary",
    "outcomesModule.secondaryOutcomes": "secondary",
    "outcomesModule.otherOutcomes": "other",
}
STOPPED_STATUSES = frozenset({"TERMINATED", "SUSPENDED", "WITHDRAWN"})


def results_posted(results: dict[str, Any], *, nct_id: str, first_posted: Any) -> PostedResults:
    """What a reader wants to know of newly posted results: when, the primary outcome's title,
    how many took part, and where to read them."""
    measures = _listed(results.get("outcomeMeasuresModule"), "outcomeMeasures")
    primary = next(
        (m for m in measures if m.get("type") == "PRIMARY"), measures[0] if measures else {}
    )
    return PostedResults(
        first_posted=first_posted if isinstance(first_posted, str) else None,
        primary_outcome=primary.get("title") if isinstance(primary.get("title"), str) else None,
        participants=_participants(results.get("baselineCharacteristicsModule")),
        url=RESULTS_TAB.format(nct_id=nct_id),
    )


def summarise_results_posted(posted: PostedResults) -> str:
    when = f" (first posted {posted['first_posted']})" if posted["first_posted"] else ""
    parts = [f"Results posted{when}"]
    if posted["primary_outcome"]:
        parts.append(f"primary outcome '{posted['primary_outcome']}'")
    if posted["participants"]:
        parts.append(f"{posted['participants']} participants")
    return ": ".join(parts[:2]) + "".join(f"; {part}" for part in parts[2:])


def changed_results_modules(old: dict[str, Any], new: dict[str, Any]) -> Iterable[str]:
    """The results modules that differ, in the registry's order."""
    for module in dict.fromkeys([*old, *new]):
        if old.get(module) != new.get(module):
            yield module


def summarise_results_module(module: str, old: Any, new: Any) -> str:
    """ "Results, outcome measures: 2 added, 1 changed": each list the module holds, its items
    matched by title, term or id, counted; other fields named."""
    label = field_label(module.removesuffix("Module"))
    if not isinstance(new, dict):
        return f"Results, {label.lower()}: removed"
    if not isinstance(old, dict):
        return f"Results, {label.lower()}: added"
    phrases = []
    for key in dict.fromkeys([*old, *new]):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, list) or isinstance(after, list):
            counts = _item_counts(before or [], after or [])
            what = field_label(key).lower()
            phrases.append(counts if what == label.lower() else f"{what} {counts}")
        else:
            phrases.append(f"{field_label(key).lower()} changed")
    return f"Results, {label.lower()}: " + ("; ".join(p for p in phrases if p) or "changed")


def summarise_outcomes(field_name: str, old: Any, new: Any) -> str:
    """ "Primary outcome replaced: 'Overall survival at 24 months' -> 'Progression-free
    survival'"; "Secondary outcome added: 'X'"; "Primary outcome 'X': time frame 12 months ->
    24 months"."""
    outcome_type = OUTCOME_TYPES.get(field_name, "other").capitalize()
    before, after = _by_measure(old), _by_measure(new)
    added = [m for m in after if m not in before]
    removed = [m for m in before if m not in after]
    changed = [m for m in after if m in before and after[m] != before[m]]
    if len(added) == 1 and len(removed) == 1 and not changed:
        return f"{outcome_type} outcome replaced: '{removed[0]}' -> '{added[0]}'"
    phrases = [
        _listed_measures(outcome_type, "added", added),
        _listed_measures(outcome_type, "removed", removed),
    ]
    phrases += [_outcome_detail(outcome_type, m, before[m], after[m]) for m in changed]
    phrases = [phrase for phrase in phrases if phrase]
    return "; ".join(phrases) or f"{outcome_type} outcomes re-worded"


def outcome_measures(value: Any) -> set[str]:
    return set(_by_measure(value))


def why_stopped_note(status: Any, why: Any) -> str | None:
    """ "why stopped: Sponsor decision" for a trial that has just stopped and says why."""
    if status in STOPPED_STATUSES and isinstance(why, str) and why.strip():
        return f"why stopped: {why.strip()}"
    return None


def normalise_documents(section: Any) -> list[dict[str, Any]]:
    """The documents posted with a record (protocol, statistical analysis plan, consent form),
    each as its label and date: the upload's file name and size are the registry's own."""
    docs = _listed(
        (section or {}).get("largeDocumentModule") if isinstance(section, dict) else None,
        "largeDocs",
    )
    return sorted(
        (
            {"label": doc.get("label") or doc.get("typeAbbrev"), "date": doc.get("date")}
            for doc in docs
        ),
        key=lambda doc: (str(doc["label"]), str(doc["date"])),
    )


def summarise_documents(old: Any, new: Any) -> str:
    before = {str(doc.get("label")): doc for doc in old or [] if isinstance(doc, dict)}
    after = {str(doc.get("label")): doc for doc in new or [] if isinstance(doc, dict)}
    phrases = [
        f"Document posted: {label}" + (f" ({doc['date']})" if doc.get("date") else "")
        for label, doc in after.items()
        if label not in before
    ]
    phrases += [f"Document removed: {label}" for label in before if label not in after]
    phrases += [
        f"Document updated: {label} ({before[label].get('date')} -> {doc.get('date')})"
        for label, doc in after.items()
        if label in before and before[label] != doc
    ]
    return "; ".join(phrases) or "Documents changed"


def _listed_measures(outcome_type: str, what: str, measures: list[str]) -> str:
    if not measures:
        return ""
    plural = "s" if len(measures) > 1 else ""
    return f"{outcome_type} outcome{plural} {what}: " + ", ".join(f"'{m}'" for m in measures)


def _outcome_detail(
    outcome_type: str, measure: str, old: dict[str, Any], new: dict[str, Any]
) -> str:
    moved = [
        f"{field_label(key).lower()} {old.get(key) or '(none)'} -> {new.get(key) or '(none)'}"
        if key == "timeFrame"
        else f"{field_label(key).lower()} changed"
        for key in dict.fromkeys([*old, *new])
        if old.get(key) != new.get(key)
    ]
    return f"{outcome_type} outcome '{measure}': {', '.join(moved)}"


def _by_measure(value: Any) -> dict[str, dict[str, Any]]:
    items = value if isinstance(value, list) else []
    return {
        str(item.get("measure")): {k: v for k, v in item.items() if k != "measure"}
        for item in items
        if isinstance(item, dict)
    }


def _item_counts(old: list[Any], new: list[Any]) -> str:
    before, after = _by_identity(old), _by_identity(new)
    added = sum(1 for key in after if key not in before)
    removed = sum(1 for key in before if key not in after)
    changed = sum(1 for key in after if key in before and after[key] != before[key])
    counts = [(added, "added"), (removed, "removed"), (changed, "changed")]
    return ", ".join(f"{number} {what}" for number, what in counts if number)


def _by_identity(items: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for number, item in enumerate(items):
        if isinstance(item, dict):
            key = next((str(item[k]) for k in ("title", "term", "id") if item.get(k)), str(number))
        else:
            key = str(item)
        found.setdefault(key, item)
    return found


def _participants(baseline: Any) -> int | None:
    """Participants in the baseline: the "Total" group's count, else the groups' sum."""
    groups = _listed(baseline, "groups")
    denoms = _listed(baseline, "denoms")
    counts = [c for denom in denoms[:1] for c in denom.get("counts", []) if isinstance(c, dict)]
    total_ids = {g.get("id") for g in groups if str(g.get("title", "")).strip().lower() == "total"}
    values = {c.get("groupId"): c.get("value") for c in counts}
    try:
        if total_ids & set(values):
            return int(str(values[next(iter(total_ids & set(values)))]))
        return sum(int(str(value)) for value in values.values()) or None
    except ValueError:
        return None


def _listed(module: Any, key: str) -> list[dict[str, Any]]:
    found = module.get(key) if isinstance(module, dict) else None
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []
