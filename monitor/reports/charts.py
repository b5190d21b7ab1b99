"""Small step charts as inline SVG, so history pages need no script, font or network.

x is always a calendar date (when a snapshot was taken); y is a number or a date. Each value is
written where it changed, and every point carries a `<title>` so hovering shows it too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from monitor.registry_dates import parse_registry_date

WIDTH, NARROW, HEIGHT = 800, 400, 240  # a wide page's chart, a phone's
LEFT, RIGHT, TOP, BOTTOM = 92, 16, 16, 40


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[dt.date, float]]
    css_class: str


def date_value(text: Any) -> float | None:
    """A registry date (`2028-08-29` or `2028-08`) as a day number for plotting; None if the
    registry's text is not a date."""
    parsed = parse_registry_date(text)
    if parsed is None:
        return None
    year, month, day = parsed
    return float(dt.date(year, month, day or 1).toordinal())


def count_value(count: Any) -> float | None:
    """An enrollment count for plotting; None unless the registry gave a number."""
    return float(count) if isinstance(count, int | float) and not isinstance(count, bool) else None


def format_day(value: float) -> str:
    return dt.date.fromordinal(int(round(value))).isoformat()


def steps(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A value holds until the next snapshot shows another: draw steps, not slopes."""
    stepped = points[:1]
    for (_, previous_y), (x, y) in zip(points, points[1:], strict=False):
        stepped += [(x, previous_y), (x, y)]
    return stepped


LABEL_ROOM = 84  # viewBox units one date label takes, so neighbours never overlap


def spaced(items: list[tuple[float, Any]]) -> list[tuple[float, Any]]:
    """The items (x, what) whose labels fit side by side: the first and the last always, the
    ones between only with room on both sides."""
    if len(items) < 2:
        return items
    kept = [items[0]]
    for x, what in items[1:-1]:
        if x - kept[-1][0] >= LABEL_ROOM and items[-1][0] - x >= LABEL_ROOM:
            kept.append((x, what))
    return [*kept, items[-1]] if items[-1][0] - kept[0][0] >= LABEL_ROOM else kept


def label_box(x: float, baseline: float, text: str, anchor: str) -> tuple[float, ...]:
    """(left, top, right, bottom) a 13-unit label takes, roughly: wide enough to keep apart."""
    width = 8.0 * len(text)
    left = x if anchor == "start" else x - width
    return (left, baseline - 13, left + width, baseline + 3)


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def line_charts(
    series: list[Series], *, label: str, format_value: Callable[[float], str] = "{:g}".format
) -> Markup:
    """The chart drawn for a wide page and for a phone's width (the page's CSS shows one), so
    a phone's is neither cut off nor shrunk past reading."""
    return line_chart(
        series, label=label, format_value=format_value, width=WIDTH, css_class="wide"
    ) + line_chart(series, label=label, format_value=format_value, width=NARROW, css_class="narrow")


def line_chart(
    series: list[Series],
    *,
    label: str,
    format_value: Callable[[float], str] = "{:g}".format,
    width: int = WIDTH,
    css_class: str = "wide",
) -> Markup:
    """An SVG line chart of `series` against snapshot dates: the dates on the x axis (as many
    as fit), the lowest and highest values on the y axis, and each value where it changed.
    Several series: the first's points are drawn larger, so equal values show both."""
    xs = [x.toordinal() for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    if not xs:
        return Markup("")
    spread = max(ys) - min(ys)
    frame = Frame(
        width,
        min(xs),
        max(xs) if max(xs) > min(xs) else min(xs) + 1,
        min(ys) - spread * 0.1 - 1,
        max(ys) + spread * 0.1 + 1,
    )
    parts = [
        f'<svg class="chart {css_class}" viewBox="0 0 {width} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{width - RIGHT}" '
        f'y2="{HEIGHT - BOTTOM}"/>',
        *_axes(frame, series, values=sorted({min(ys), max(ys)}), format_value=format_value),
        *_lines(frame, series, format_value=format_value),
        "</svg>",
    ]
    return Markup("".join(parts))


@dataclass(frozen=True)
class Frame:
    """A chart's width and the dates and values at its edges: where a point is drawn."""

    width: int
    x_low: int  # day numbers (`date.toordinal`)
    x_high: int
    y_low: float
    y_high: float

    def place(self, x: dt.date, y: float) -> tuple[float, float]:
        px = LEFT + (x.toordinal() - self.x_low) / (self.x_high - self.x_low) * (
            self.width - LEFT - RIGHT
        )
        py = TOP + (self.y_high - y) / (self.y_high - self.y_low) * (HEIGHT - TOP - BOTTOM)
        return round(px, 1), round(py, 1)


def _axes(
    frame: Frame, series: list[Series], *, values: list[float], format_value: Callable[[float], str]
) -> list[str]:
    """The lowest and highest values with their grid lines, and the dates that fit."""
    parts = []
    for value in values:
        _, py = frame.place(dt.date.fromordinal(frame.x_low), value)
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{py + 4}" text-anchor="end">'
            f"{escape(format_value(value))}</text>"
        )
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{py}" x2="{frame.width - RIGHT}" y2="{py}"/>'
        )
    days = sorted({x for one in series for x, _ in one.points})
    for px, day in spaced([(frame.place(day, frame.y_low)[0], day) for day in days]):
        anchor = "start" if day == days[0] else "end" if day == days[-1] else "middle"
        parts.append(
            f'<text class="tick" x="{px}" y="{HEIGHT - BOTTOM + 18}" '
            f'text-anchor="{anchor}">{day.isoformat()}</text>'
        )
    return parts


def _lines(
    frame: Frame, series: list[Series], *, format_value: Callable[[float], str]
) -> list[str]:
    """Each series' steps and points, and its value wherever it changed (unless another
    series already says the same there)."""
    parts = []
    taken: list[tuple[float, ...]] = []  # value labels' boxes
    for number, one in enumerate(series):
        radius = 4 if len(series) == 1 else 5.5 if number == 0 else 3.5
        placed = [frame.place(x, y) for x, y in one.points]
        path = " ".join(f"{px},{py}" for px, py in steps(placed))
        parts.append(f'<polyline class="{one.css_class}" points="{path}"/>')
        for (x, y), (px, py) in zip(one.points, placed, strict=True):
            parts.append(
                f'<circle class="{one.css_class}" cx="{px}" cy="{py}" r="{radius}"><title>'
                f"{escape(one.name)} on {x.isoformat()}: {escape(format_value(y))}</title></circle>"
            )
        changes = [
            (px, (py, y))
            for index, ((_, y), (px, py)) in enumerate(zip(one.points, placed, strict=True))
            if index == 0 or y != one.points[index - 1][1]
        ]
        for px, (py, y) in spaced(changes):
            text = format_value(y)
            anchor = "start" if px < frame.width / 2 else "end"
            box = label_box(px, py - 8, text, anchor)
            if any(overlap(box, other) for other in taken):
                continue  # another series says the same thing here, or there is no room
            taken.append(box)
            parts.append(
                f'<text class="value {one.css_class}" x="{px}" y="{py - 8}" '
                f'text-anchor="{anchor}">{escape(text)}</text>'
            )
    return parts
