"""Line charts as inline SVG, drawn on the server: no script, no library, nothing to fetch.

The x axis is the time before now: the last hour at most, and at least :data:`MIN_SPAN`
(so the first minutes of a move are not squeezed into the right edge). The y axis starts at 0
and ends at a round number above the largest value. A missing value (``None``) breaks the line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

MIN_SPAN = 300.0
MAX_SPAN = 3600.0
WIDTH, HEIGHT = 560, 150
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 10, 22


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # class of the line (its colour comes from the stylesheet)
    points: Sequence[tuple[float, float | None]]  # (time.time(), value)


def nice_ceiling(value: float) -> float:
    """A round number ≥ ``value`` (1, 2, 2.5, 5 × a power of ten); 1 for nothing."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return 10.0 * power


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if value >= 1000:
        return f"{value / 1000:.3g}k"
    return f"{value:.3g}"


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for at, value in points:
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((at, value))
    return [r for r in runs if r]


def line_chart(title: str, unit: str, series: Sequence[Series], now: float, chart_id: str) -> str:
    """An SVG chart of ``series`` over the recent past (see the module docstring)."""
    times = [at for s in series for at, _ in s.points]
    first = min(times) if times else now
    span = min(MAX_SPAN, max(MIN_SPAN, now - first))
    start = now - span
    values = [v for s in series for at, v in s.points if v is not None and at >= start]
    top = nice_ceiling(max(values, default=0.0) * 1.05)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: float) -> float:
        return LEFT + (at - start) / span * plot_w

    def y(value: float) -> float:
        return TOP + plot_h - min(value, top) / top * plot_h

    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(4):  # horizontal grid and y labels
        value = top * i / 3
        gy = y(value)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(value))}{escape(unit) if i == 3 else ''}</text>"
        )
    for i in range(5):  # x labels: minutes before now
        at = start + span * i / 4
        label = "now" if i == 4 else f"−{(now - at) / 60:.0f} min"
        parts.append(
            f'<text class="axis" x="{x(at):.1f}" y="{HEIGHT - 6}" '
            f'text-anchor="{"end" if i == 4 else "middle" if i else "start"}">'
            f"{label}</text>"
        )
    for s in series:
        for run in _segments([(at, v) for at, v in s.points if at >= start]):
            if len(run) == 1:
                ((at, v),) = run
                parts.append(
                    f'<circle class="{escape(s.css)}" cx="{x(at):.1f}" cy="{y(v):.1f}" r="2"/>'
                )
                continue
            pts = " ".join(f"{x(at):.1f},{y(v):.1f}" for at, v in run)
            parts.append(f'<polyline class="line {escape(s.css)}" points="{pts}"/>')
    parts.append("</svg>")
    legend = " ".join(f'<span class="key {escape(s.css)}">{escape(s.label)}</span>' for s in series)
    return (
        f'<figure class="chart-box"><figcaption>{escape(title)} {legend}</figcaption>'
        f"{''.join(parts)}</figure>"
    )
