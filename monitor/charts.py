"""Small step charts as inline SVG, so history pages need no script, font or network.

x is always a calendar date (when a snapshot was taken); y is a number or a date. Every point
carries a `<title>` so hovering shows its exact value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from monitor.wording import parse_registry_date

WIDTH, HEIGHT = 640, 220
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


def line_chart(
    series: list[Series], *, label: str, format_value: Callable[[float], str] = "{:g}".format
) -> Markup:
    """An SVG line chart of `series` against snapshot dates, with axis labels at both ends."""
    xs = [x.toordinal() for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    if not xs:
        return Markup("")
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    spread = max(ys) - min(ys)
    y_low, y_high = min(ys) - spread * 0.1 - 1, max(ys) + spread * 0.1 + 1

    def place(x: dt.date, y: float) -> tuple[float, float]:
        px = LEFT + (x.toordinal() - x_low) / (x_high - x_low) * (WIDTH - LEFT - RIGHT)
        py = TOP + (y_high - y) / (y_high - y_low) * (HEIGHT - TOP - BOTTOM)
        return round(px, 1), round(py, 1)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
        f'y2="{HEIGHT - BOTTOM}"/>',
    ]
    for value in sorted({min(ys), max(ys)}):
        _, py = place(dt.date.fromordinal(x_low), value)
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{py + 4}" text-anchor="end">'
            f"{escape(format_value(value))}</text>"
        )
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{py}" x2="{WIDTH - RIGHT}" y2="{py}"/>')
    for day, anchor in ((x_low, "start"), (x_high, "end")):
        px, _ = place(dt.date.fromordinal(day), y_low)
        parts.append(
            f'<text class="tick" x="{px}" y="{HEIGHT - BOTTOM + 18}" '
            f'text-anchor="{anchor}">{dt.date.fromordinal(day).isoformat()}</text>'
        )
    for one in series:
        placed = [place(x, y) for x, y in one.points]
        path = " ".join(f"{px},{py}" for px, py in steps(placed))
        parts.append(f'<polyline class="{one.css_class}" points="{path}"/>')
        for (x, y), (px, py) in zip(one.points, placed, strict=True):
            parts.append(
                f'<circle class="{one.css_class}" cx="{px}" cy="{py}" r="4"><title>'
                f"{escape(one.name)} on {x.isoformat()}: {escape(format_value(y))}</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
