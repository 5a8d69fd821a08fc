"""``deltaset lineage``: a version's ancestors, as a text tree, JSON or Graphviz DOT."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping
from typing import Any

from deltaset.api.dataset import Dataset
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands.common import selected
from deltaset.cli.versions import version_doc
from deltaset.errors import NotFoundError


def register(sub: Any) -> None:
    parser = sub.add_parser("lineage", help="show the ancestors of a dataset version")
    options.add_selector(parser)
    parser.add_argument("--dot", action="store_true", help="print a Graphviz DOT graph")
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = selected(app, args)
    graph = dataset.get_dependency_graph()
    nodes = {version_id: _describe(version_id) for version_id in graph}
    if app.as_json:
        app.data({"id": dataset.id, "versions": _as_json(graph, nodes)})
    elif args.dot:
        app.lines(_dot(graph, nodes))
    else:
        app.lines(_tree(dataset.id, graph, nodes))


def _describe(version_id: str) -> dict[str, Any] | None:
    """What a node shows; None for a parent deleted with --force."""
    try:
        found = Dataset.get(dataset_id=version_id)
    except NotFoundError:
        return None
    return version_doc(found.record)


def _label(version_id: str, node: Mapping[str, Any] | None) -> str:
    if node is None:
        return f"{version_id} (deleted)"
    return f"{node['project']}/{node['name']} {node['version']} [{node['state']}] {version_id}"


def _as_json(
    graph: Mapping[str, list[str]], nodes: Mapping[str, dict[str, Any] | None]
) -> dict[str, Any]:
    return {
        version_id: nodes[version_id] or {"id": version_id, "deleted": True, "parents": parents}
        for version_id, parents in graph.items()
    }


def _tree(
    root: str, graph: Mapping[str, list[str]], nodes: Mapping[str, dict[str, Any] | None]
) -> Iterator[str]:
    """The root, then each parent indented below its child; an ancestor reached a second time
    (a diamond) is named but not expanded again."""
    shown: set[str] = set()

    def walk(version_id: str, prefix: str, branch: str, last: bool) -> Iterator[str]:
        again = version_id in shown
        mark = " (above)" if again else ""
        yield prefix + branch + _label(version_id, nodes[version_id]) + mark
        if again:
            return
        shown.add(version_id)
        parents = graph.get(version_id, [])
        below = prefix + ("" if not branch else "    " if last else "│   ")
        for i, parent in enumerate(parents):
            end = i == len(parents) - 1
            yield from walk(parent, below, "└── " if end else "├── ", end)

    yield from walk(root, "", "", True)


def _dot(
    graph: Mapping[str, list[str]], nodes: Mapping[str, dict[str, Any] | None]
) -> Iterator[str]:
    yield "digraph lineage {"
    yield "  rankdir=BT;"
    for version_id in graph:
        label = _label(version_id, nodes[version_id]).replace(f" {version_id}", f"\n{version_id}")
        yield f"  {json.dumps(version_id)} [label={json.dumps(label)}];"
    for version_id, parents in graph.items():
        for order, parent in enumerate(parents, 1):
            yield f'  {json.dumps(version_id)} -> {json.dumps(parent)} [label="{order}"];'
    yield "}"
