"""The lineage graph laid out for an SVG drawn by the server: grandalf's Sugiyama layout
(layers, crossings reduced), so the page needs no script and every node is a real link."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

NODE_W, NODE_H, GAP, MARGIN = 170, 44, 30, 10


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    x: float  # top-left corner
    y: float


@dataclass(frozen=True, slots=True)
class Line:
    points: str  # an SVG polyline's points
    child: str
    parent: str


@dataclass
class Layout:
    nodes: list[Node] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    width: float = 0
    height: float = 0


class _Box:
    w, h = NODE_W + GAP, NODE_H + GAP

    def __init__(self) -> None:
        self.xy = (0.0, 0.0)


class _Path:
    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = list(points)


def layout(graph: Mapping[str, list[str]]) -> Layout:
    """Where each version of ``{id: [parent ids]}`` goes: parents above their children,
    unconnected parts of the graph side by side."""
    vertices = {vid: Vertex(vid) for vid in graph}
    edges = []
    for child, parents in graph.items():
        for parent in parents:
            if parent in vertices:
                edge = Edge(vertices[parent], vertices[child])
                edge.view = _Path()
                edges.append(edge)
    for vertex in vertices.values():
        vertex.view = _Box()
    found = Layout()
    for part in Graph(list(vertices.values()), edges).C:
        sugiyama = SugiyamaLayout(part)
        sugiyama.init_all()
        sugiyama.draw()
        _place(found, list(part.sV), list(part.sE))
    return found


def _place(found: Layout, vertices: list[Vertex], edges: list[Edge]) -> None:
    """Add one connected part, shifted to the right of those placed before it."""
    xs = [v.view.xy[0] for v in vertices]
    ys = [v.view.xy[1] for v in vertices]
    dx = found.width + MARGIN + NODE_W / 2 - min(xs)
    dy = MARGIN + NODE_H / 2 - min(ys)
    for v in vertices:
        x, y = v.view.xy
        found.nodes.append(Node(v.data, x + dx - NODE_W / 2, y + dy - NODE_H / 2))
    for e in edges:
        points = e.view.points or [e.v[0].view.xy, e.v[1].view.xy]
        text = " ".join(f"{x + dx:.1f},{y + dy:.1f}" for x, y in points)
        found.lines.append(Line(text, e.v[1].data, e.v[0].data))
    found.width = max(xs) + dx + NODE_W / 2 + MARGIN
    found.height = max(found.height, max(ys) + dy + NODE_H / 2 + MARGIN)
