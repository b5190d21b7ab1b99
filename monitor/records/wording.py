"""How registry values read in a summary: statuses and codes in words, field labels, dates
and their slip, a list's added/removed/changed items, and the words that changed in a text.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import Any

from monitor.registry_dates import parse_registry_date

# The registry's overall and site statuses (expanded access ones last).
STATUSES = (
    "NOT_YET_RECRUITING",
    "RECRUITING",
    "ENROLLING_BY_INVITATION",
    "ACTIVE_NOT_RECRUITING",
    "SUSPENDED",
    "TERMINATED",
    "COMPLETED",
    "WITHDRAWN",
    "UNKNOWN",
    "AVAILABLE",
    "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE",
    "APPROVED_FOR_MARKETING",
    "WITHHELD",
)
STATUS_WORDS = {"ACTIVE_NOT_RECRUITING": "Active, not recruiting"}
# Registry codes that are one word, so cannot be told from text by their shape ("HIV" is text).
ONE_WORD_CODES = {
    "ACTUAL": "Actual",
    "ESTIMATED": "Estimated",
    "INTERVENTIONAL": "Interventional",
    "OBSERVATIONAL": "Observational",
    "NA": "Not applicable",
    "EARLY_PHASE1": "Early phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
    "RANDOMIZED": "Randomized",
    "PARALLEL": "Parallel",
    "CROSSOVER": "Crossover",
    "FACTORIAL": "Factorial",
    "SEQUENTIAL": "Sequential",
    "SINGLE": "Single",
    "DOUBLE": "Double",
    "TRIPLE": "Triple",
    "QUADRUPLE": "Quadruple",
    "TREATMENT": "Treatment",
    "PREVENTION": "Prevention",
    "DIAGNOSTIC": "Diagnostic",
    "SCREENING": "Screening",
    "ALL": "All",
    "FEMALE": "Female",
    "MALE": "Male",
    "CHILD": "Child",
    "ADULT": "Adult",
    "INDUSTRY": "Industry",
    "EXPERIMENTAL": "Experimental",
    "DRUG": "Drug",
    "DEVICE": "Device",
    "BIOLOGICAL": "Biological",
    "PROCEDURE": "Procedure",
    "RADIATION": "Radiation",
    "BEHAVIORAL": "Behavioral",
    "GENETIC": "Genetic",
    "OTHER": "Other",
    "BACKGROUND": "Background",
    "RESULT": "Result",
    "DERIVED": "Derived",
    "YES": "Yes",
    "NO": "No",
    "UNDECIDED": "Undecided",
    "SPONSOR": "Sponsor",
    "CONTACT": "Contact",
    "PARTICIPANT": "Participant",
    "INVESTIGATOR": "Investigator",
}
CODE_WITH_UNDERSCORES = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
FIELD_LABELS = {
    "start_date": "Start",
    "primary_completion_date": "Primary completion",
    "completion_date": "Completion",
    "eligibility.criteria": "Eligibility criteria",
    "eligibility.minimum_age": "Minimum age",
    "eligibility.maximum_age": "Maximum age",
    "eligibility.sex": "Sex",
    "eligibility.healthy_volunteers": "Healthy volunteers",
    "eligibility.std_ages": "Age groups",
    "contacts": "Central contacts",
    "contacts.officials": "Study officials",
    "statusModule.dispFirstSubmitDate": "Delayed results certification submitted",
    "statusModule.dispFirstPostDateStruct": "Delayed results certification posted",
}
ITEM_NAME_KEYS = ("label", "name", "measure", "title", "id", "term", "citation", "url")
# Keys that identify a list item better than its name: an erratum appended to a citation
# changes the reference, it does not remove one and add another.
ITEM_IDENTITY_KEYS = ("pmid",)


def readable_status(status: str | None) -> str:
    """`NOT_YET_RECRUITING` -> `Not yet recruiting`."""
    if status is None:
        return "(none)"
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def readable_code(text: str) -> str:
    """A registry code in words (`PHASE2` -> `Phase 2`, `SUPPORTIVE_CARE` -> `Supportive
    care`); any other text as it is."""
    if text in STATUSES:
        return readable_status(text)
    if text in ONE_WORD_CODES:
        return ONE_WORD_CODES[text]
    if CODE_WITH_UNDERSCORES.fullmatch(text):
        return text.replace("_", " ").capitalize()
    return text


def status_css(status: str | None, *, missing: str = "none") -> str:
    """A CSS class suffix from the closed set of statuses; registry text never reaches markup
    attributes."""
    if status is None:
        return missing
    return status.lower().replace("_", "-") if status in STATUSES else "other"


def field_label(field_name: str) -> str:
    """A reader's name for a field: the table's, else the last dotted part split into words."""
    if field_name in FIELD_LABELS:
        return FIELD_LABELS[field_name]
    last = field_name.rsplit(".", 1)[-1]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", last).replace("_", " ")
    return words[:1].upper() + words[1:].lower()


def format_value(value: Any, *, limit: int = 80) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        text = ", ".join(format_value(item, limit=limit) for item in value) or "(none)"
    elif isinstance(value, dict):
        text = item_name(value)
    else:
        text = readable_code(str(value))
    return _shorten(text, limit)


def item_name(item: dict[str, Any]) -> str:
    """What a reader calls a list item: its label, name, measure, citation...; a date struct
    reads as its date."""
    if "date" in item:
        return " ".join(filter(None, (str(item["date"]), _lower_code(item.get("type")))))
    for key in ITEM_NAME_KEYS:
        if item.get(key):
            return readable_code(str(item[key]))
    return ", ".join(f"{field_label(key)} {format_value(value)}" for key, value in item.items())


def changed_words(old: str, new: str, *, limit: int = 60) -> tuple[str, str]:
    """The words around the first place two texts differ, as ("…old words…", "…new words…"):
    what a reader needs to see a long text's change, where the whole texts read the same."""
    old_words, new_words = old.split(), new.split()
    matcher = difflib.SequenceMatcher(a=old_words, b=new_words, autojunk=False)
    edits = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    if not edits:
        return _shorten(old, limit), _shorten(new, limit)
    _, i1, i2, j1, j2 = edits[0]
    context = 3
    return (
        _fragment(old_words, i1, i2, context, limit),
        _fragment(new_words, j1, j2, context, limit),
    )


def _fragment(words: list[str], start: int, end: int, context: int, limit: int) -> str:
    first, last = max(start - context, 0), min(end + context, len(words))
    text = " ".join(words[first:last]) or "(nothing)"
    text = _shorten(text, limit)
    return ("\u2026" if first > 0 else "") + text + ("\u2026" if last < len(words) else "")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _lower_code(code: Any) -> str:
    return readable_code(code).lower() if isinstance(code, str) else ""


def date_slip(old: Any, new: Any) -> str | None:
    """ "+183 days" between full dates; "+3 months" when either date is only a month; None when
    either is not a date."""
    old_date, new_date = parse_registry_date(old), parse_registry_date(new)
    if old_date is None or new_date is None:
        return None
    (old_y, old_m, old_d), (new_y, new_m, new_d) = old_date, new_date
    if old_d is not None and new_d is not None:
        days = (dt.date(new_y, new_m, new_d) - dt.date(old_y, old_m, old_d)).days
        return f"{days:+d} day{'' if abs(days) == 1 else 's'}"
    months = (new_y * 12 + new_m) - (old_y * 12 + old_m)
    if months == 0:
        return "same month"
    return f"{months:+d} month{'' if abs(months) == 1 else 's'}"


def list_changes(old: list[Any] | None, new: list[Any] | None) -> str:
    """ "added X; removed Y; changed Z (what changed)" for two lists, items matched by their
    identity (a reference's PMID) or name; one item replaced by another reads "Y -> X"."""
    old_items = {_item_identity(item): item for item in old or []}
    new_items = {_item_identity(item): item for item in new or []}
    added = {
        _item_text(new_items[key]): new_items[key] for key in new_items if key not in old_items
    }
    removed = {
        _item_text(old_items[key]): old_items[key] for key in old_items if key not in new_items
    }
    changed = [
        item_change(old_items[key], new_items[key])
        for key in new_items
        if key in old_items and new_items[key] != old_items[key]
    ]
    # An item renamed past the shown length reads the same removed and added: show the words.
    renamed = [
        text_change(_item_name_of(removed.pop(text)), _item_name_of(added.pop(text)))
        for text in [text for text in added if text in removed]
    ]
    if len(added) == 1 and len(removed) == 1 and not changed and not renamed:
        return f"{next(iter(removed))} -> {next(iter(added))}"  # one replaced by another
    parts = [
        f"{verb} {'; '.join(items)}"
        for verb, items in (
            ("added", list(added)),
            ("removed", list(removed)),
            ("renamed", renamed),
            ("changed", changed),
        )
        if items
    ]
    return "; ".join(parts) or "changed"


def _item_text(item: Any) -> str:
    return format_value(item, limit=60)


def _item_name_of(item: Any) -> str:
    return item_name(item) if isinstance(item, dict) else str(item)


def item_change(old: Any, new: Any) -> str:
    """ "Arm A: description "…old…" -> "…new…"": which item, and the first part that moved."""
    name = format_value(new, limit=60)
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return name
    return f"{name}: {dict_change(old, new)}"


def dict_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """ "description "…old…" -> "…new…"": the first key whose value moved."""
    for key in dict.fromkeys([*old, *new]):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, list) or isinstance(after, list):
            return f"{field_label(key).lower()}: {list_changes(before, after)}"
        return f"{field_label(key).lower()} {text_change(before, after)}"
    return "changed"


def text_change(old: Any, new: Any, *, limit: int = 60) -> str:
    """ "X -> Y" for short values; for long texts the words that differ, so the two sides
    never read the same."""
    if isinstance(new, bool) and old is None:
        old = False  # a yes/no field absent held its default
    if isinstance(old, bool) and new is None:
        new = False
    old_text, new_text = format_value(old, limit=limit), format_value(new, limit=limit)
    if (
        isinstance(old, str)
        and isinstance(new, str)
        and (old_text == new_text or "\u2026" in old_text + new_text)
    ):
        old_text, new_text = changed_words(old, new, limit=limit)
        return f'"{old_text}" -> "{new_text}"'
    return f"{old_text} -> {new_text}"


def _item_identity(item: Any) -> str:
    if isinstance(item, dict):
        for key in ITEM_IDENTITY_KEYS:
            if item.get(key):
                return f"{key}:{item[key]}"
        return item_name(item)
    return str(item)
