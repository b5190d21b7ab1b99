"""Change events as CSV for spreadsheets: one row per event, columns that never move, ISO
dates, and registry text that a spreadsheet cannot mistake for a formula."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from monitor.records.events import ChangeEvent
from monitor.store import Trial
from monitor.text import printable
from monitor.times import optional_utc_text, utc_text

COLUMNS = (
    "event_id",
    "detected_at",
    "nct_id",
    "acronym",
    "label",
    "category",
    "field",
    "site",
    "city",
    "zip",
    "country",
    "old",
    "new",
    "summary",
    "delivered_at",
)
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP's list, with tab and carriage return): such text is prefixed with a quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BYTE_ORDER_MARK = "\ufeff"


def events_csv(
    events: list[ChangeEvent], trials: dict[str, Trial], *, byte_order_mark: bool = False
) -> str:
    """The CSV text (RFC 4180: CRLF line ends, fields quoted where needed)."""
    out = io.StringIO()
    if byte_order_mark:  # Excel reads UTF-8 only when the file says so
        out.write(BYTE_ORDER_MARK)
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for event in events:
        writer.writerow(cell(value) for value in _row(event, trials.get(event.nct_id)))
    return out.getvalue()


def _row(event: ChangeEvent, trial: Trial | None) -> tuple[Any, ...]:
    site = event.site
    return (
        event.id,
        utc_text(event.detected_at),
        event.nct_id,
        trial.acronym if trial else None,
        trial.label if trial else None,
        str(event.category),
        event.field,
        site.facility if site else None,
        site.city if site else None,
        site.zip if site else None,
        site.country if site else None,
        event.old,
        event.new,
        event.summary,
        optional_utc_text(event.delivered_at),
    )


def cell(value: Any) -> str:
    """One cell's text: empty for none, JSON for a structured value, no control characters,
    and a leading quote where the text would otherwise start a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    text = printable(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
