"""Small self-contained SVG charts for the HTML report (no scripts, no links)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#3366cc",
    "#dc3912",
    "#ff9900",
    "#109618",
    "#990099",
    "#0099c6",
    "#dd4477",
    "#66aa00",
    "#b82e2e",
    "#316395",
    "#994499",
    "#22aa99",
    "#aaaa11",
    "#6633cc",
)
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    colour: int | None = None  # index into PALETTE; by position when None
    dashed: bool = False

    def stroke(self, position: int) -> str:
        index = position if self.colour is None else self.colour
        return PALETTE[index % len(PALETTE)]


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:g}"
    return f"{value:.2g}"


class Scale:
    """Maps data values onto pixels, linearly or by powers of ten."""

    def __init__(
        self, low: float, high: float, start: float, end: float, log: bool
    ) -> None:
        self.log = log
        if log:
            low = max(low, 1e-3)
            high = max(high, low * 10)
            self.low = 10 ** math.floor(math.log10(low))
            self.high = 10 ** math.ceil(math.log10(high))
        else:
            ticks = _linear_ticks(min(low, 0.0), high)
            self.low, self.high = ticks[0], ticks[-1]
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        if self.log:
            value = max(value, self.low)
            share = math.log10(value / self.low) / math.log10(self.high / self.low)
        else:
            share = (value - self.low) / ((self.high - self.low) or 1.0)
        return self.start + share * (self.end - self.start)

    def ticks(self) -> list[float]:
        if not self.log:
            return _linear_ticks(self.low, self.high)
        decades = round(math.log10(self.high / self.low))
        steps = (1, 2, 5) if decades <= 3 else (1,)
        return [
            self.low * 10**d * step
            for d in range(decades + 1)
            for step in steps
            if self.low * 10**d * step <= self.high * 1.0001
        ]


def _linear_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = (high - low) or 1.0
    magnitude = 10 ** math.floor(math.log10(span / count))
    step = next(
        m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= span / count
    )
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(ticks[-1] + step)
    return ticks


def _frame(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" '
        f'font-weight="bold">{escape(title)}</text>',
    ]


def _legend(entries: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    """Colour swatches and names, one per line."""
    parts = []
    for n, (name, colour) in enumerate(entries):
        top = y + 16 * n
        parts.append(
            f'<rect x="{x}" y="{top}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{top + 9}">{escape(name)}</text>'
        )
    return parts


def line_chart(
    title: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    *,
    log_y: bool = False,
    width: int = 900,
    height: int = 320,
) -> str:
    """Lines over a shared x axis; a legend on the right."""
    left, right, top, bottom = 60, width - 250, 30, height - 40
    xs = [x for s in series for x, _ in s.points] or [0.0, 1.0]
    ys = [y for s in series for _, y in s.points] or [1.0]
    sx = Scale(
        min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1, left, right, False
    )
    sy = Scale(min(ys), max(ys), bottom, top, log_y)
    parts = _frame(width, height, title)
    parts += _axes(sx, sy, left, right, top, bottom)
    parts.append(
        f'<text x="{(left + right) / 2}" y="{height - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="12" y="{(top + bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(top + bottom) / 2})">{escape(y_label)}</text>'
    )
    for n, one in enumerate(series):
        colour = one.stroke(n)
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in one.points)
        dash = ' stroke-dasharray="5 3"' if one.dashed else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="1.6"{dash}/>'
        )
        if len(one.points) <= 30:
            parts += [
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}"/>'
                for x, y in one.points
            ]
    parts += _legend(
        [(s.name, s.stroke(n)) for n, s in enumerate(series)], right + 20, top
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _axes(
    sx: Scale, sy: Scale, left: float, right: float, top: float, bottom: float
) -> list[str]:
    parts = [
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#444"/>',
    ]
    for tick in sx.ticks():
        x = sx(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" '
            f'stroke="#444"/><text x="{x:.1f}" y="{bottom + 15}" '
            f'text-anchor="middle">{_fmt(tick)}</text>'
        )
    for tick in sy.ticks():
        y = sy(tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{left - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{_fmt(tick)}</text>'
        )
    return parts


def bar_chart(
    title: str,
    groups: Sequence[str],
    bars: Sequence[str],
    values: Sequence[Sequence[float | None]],
    unit: str,
    *,
    width: int = 900,
) -> str:
    """Horizontal grouped bars on a log scale: one group per row."""
    bar_height, gap = 9, 10
    group_height = bar_height * len(bars) + gap
    left, right, top = 250, width - 40, 30
    bottom = top + group_height * max(1, len(groups))
    height = bottom + 50 + 16 * len(bars)
    known = [v for row in values for v in row if v is not None and v > 0]
    scale = Scale(min(known, default=1.0), max(known, default=10.0), left, right, True)
    parts = _frame(width, height, title)
    for tick in scale.ticks():
        x = scale(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" '
            f'stroke="#ddd"/><text x="{x:.1f}" y="{bottom + 14}" '
            f'text-anchor="middle">{_fmt(tick)}</text>'
        )
    for g, (group, row) in enumerate(zip(groups, values, strict=True)):
        y0 = top + g * group_height
        parts.append(
            f'<text x="{left - 8}" y="{y0 + group_height / 2}" '
            f'text-anchor="end">{escape(group)}</text>'
        )
        for b, value in enumerate(row):
            if value is None:
                continue
            y = y0 + b * bar_height
            colour = PALETTE[b % len(PALETTE)]
            parts.append(
                f'<rect x="{left}" y="{y}" width="{max(1.0, scale(value) - left):.1f}"'
                f' height="{bar_height - 1}" fill="{colour}">'
                f"<title>{escape(group)} {escape(bars[b])}: {value:,.2f} {unit}"
                "</title></rect>"
            )
    parts.append(
        f'<text x="{(left + right) / 2}" y="{bottom + 30}" '
        f'text-anchor="middle">{escape(unit)} (log scale)</text>'
    )
    parts += _legend(
        [(bar, PALETTE[n % len(PALETTE)]) for n, bar in enumerate(bars)],
        left,
        bottom + 40,
    )
    parts.append("</svg>")
    return "\n".join(parts)
