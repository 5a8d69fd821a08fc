"""Bar charts drawn on the server as SVG (no script, readable without one): the geometry of
horizontal bars, largest first, the rest summed into one bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

BARS_SHOWN = 12  # bars in a chart; the rest are summed into the last one
BAR_H = 22
BAR_GAP = 6
LABEL_W = 150
PLOT_W = 360
VALUE_W = 90


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    shown: str  # the value as text
    y: int
    width: float


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    bars: list[Bar]

    @property
    def height(self) -> int:
        return len(self.bars) * (BAR_H + BAR_GAP) + BAR_GAP

    @property
    def width(self) -> int:
        return LABEL_W + PLOT_W + VALUE_W

    label_w = LABEL_W
    bar_h = BAR_H


def bar_chart(
    title: str, rows: Sequence[tuple[str, int]], shown: Callable[[int], str] = str
) -> BarChart:
    """``rows`` (label, value) as bars, the largest BARS_SHOWN first and one for the others."""
    ranked = sorted(rows, key=lambda row: -row[1])
    kept = list(ranked[:BARS_SHOWN])
    rest = ranked[BARS_SHOWN:]
    if rest:
        kept.append((f"{len(rest)} others", sum(value for _, value in rest)))
    top = max((value for _, value in kept), default=0) or 1
    bars = [
        Bar(label, shown(value), BAR_GAP + at * (BAR_H + BAR_GAP), PLOT_W * value / top)
        for at, (label, value) in enumerate(kept)
    ]
    return BarChart(title, bars)
