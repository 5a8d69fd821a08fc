"""Bar charts drawn on the server as SVG (no script, readable without one): the geometry of
horizontal bars, largest first, the rest summed into one bar."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from deltaset.core.content import ROOT
from deltaset.core.sizes import human_size

BARS_SHOWN = 12  # bars in a chart; the rest are summed into the last one
BAR_H = 22
BAR_GAP = 6
LABEL_W = 150
PLOT_W = 360
VALUE_W = 90
TOP_LEVEL = "(top level)"  # the files directly at the top of the version
Rows = list[tuple[str, int, int]]  # (key, files, bytes)
T = TypeVar("T", int, float)


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
    return in_order(title, kept, shown)


def in_order(
    title: str, rows: Sequence[tuple[str, T]], shown: Callable[[T], str] = str
) -> BarChart:
    """``rows`` (label, value) as bars in the order given (a histogram's bins); a negative
    value draws no bar, its value is still written."""
    top = max((float(value) for _, value in rows), default=0.0)
    top = top if top > 0 else 1.0
    bars = [
        Bar(
            label,
            shown(value),
            BAR_GAP + at * (BAR_H + BAR_GAP),
            PLOT_W * max(0.0, float(value)) / top,
        )
        for at, (label, value) in enumerate(rows)
    ]
    return BarChart(title, bars)


def summary_charts(groups: Mapping[str, Rows]) -> list[tuple[BarChart, BarChart, str, Rows]]:
    """The content summary's groups (``by_extension``, ``by_folder``) as a chart of files and
    one of bytes each, with the group's name and its rows, largest first."""
    found = []
    for group, given in groups.items():
        rows = sorted(given, key=lambda row: (-row[2], -row[1], row[0]))
        if group == "by_folder":
            rows = [(TOP_LEVEL if key == ROOT else key, n, b) for key, n, b in rows]
        what = "Extension" if group == "by_extension" else "Top-level folder"
        files = bar_chart(f"Files by {what.lower()}", [(k, n) for k, n, _ in rows])
        size = bar_chart(f"Bytes by {what.lower()}", [(k, b) for k, _, b in rows], human_size)
        found.append((files, size, what, rows))
    return found
