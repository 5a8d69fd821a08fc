"""The lineage graph's layout: parents above children, separate parts side by side."""

from __future__ import annotations

from deltaset.ui.lineage import NODE_H, NODE_W, layout


def test_parents_sit_above_their_children_and_a_merge_has_both_edges() -> None:
    graph = {"merge": ["left", "right"], "left": ["root"], "right": ["root"], "root": []}
    found = layout(graph)
    y = {n.id: n.y for n in found.nodes}
    assert y["root"] < y["left"] == y["right"] < y["merge"]
    assert {(line.parent, line.child) for line in found.lines} == {
        ("left", "merge"),
        ("right", "merge"),
        ("root", "left"),
        ("root", "right"),
    }


def test_unconnected_versions_do_not_overlap_and_fit_the_drawing() -> None:
    found = layout({"a": [], "b": [], "c": ["gone"], "gone": []})
    for i, a in enumerate(found.nodes):
        for b in found.nodes[i + 1 :]:
            apart = abs(a.x - b.x) >= NODE_W or abs(a.y - b.y) >= NODE_H
            assert apart, f"{a.id} and {b.id} overlap"
    for n in found.nodes:
        assert n.x >= 0
        assert n.x + NODE_W <= found.width
        assert n.y >= 0
        assert n.y + NODE_H <= found.height
    assert {n.id for n in found.nodes} == {"a", "b", "c", "gone"}
