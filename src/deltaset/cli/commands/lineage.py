"""``deltaset lineage``: a version's ancestors (and with ``--used-by`` the runs and processes
that read them), as a text tree, JSON or Graphviz DOT."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping
from typing import Any

from deltaset.api import runs
from deltaset.api.dataset import Dataset
from deltaset.catalog.base import Use
from deltaset.cli import options
from deltaset.cli.app import App
from deltaset.cli.commands import usage
from deltaset.cli.commands.common import selected
from deltaset.cli.versions import version_doc
from deltaset.errors import NotFoundError


def register(sub: Any) -> None:
    parser = sub.add_parser("lineage", help="show the ancestors of a dataset version")
    options.add_selector(parser)
    parser.add_argument("--dot", action="store_true", help="print a Graphviz DOT graph")
    parser.add_argument(
        "--used-by",
        action="store_true",
        help="also show the recorded uses of each version: which runs and processes read it",
    )
    options.add_output(parser, json=True)
    parser.set_defaults(handler=run)


def run(app: App, args: argparse.Namespace) -> None:
    dataset = selected(app, args)
    graph = dataset.get_dependency_graph()
    nodes = {version_id: _describe(version_id) for version_id in graph}
    used_by = _uses(nodes) if args.used_by else {}
    if app.as_json:
        doc: dict[str, Any] = {"id": dataset.id, "versions": _as_json(graph, nodes)}
        if args.used_by:
            doc["used_by"] = {v: [usage.use_doc(u) for u in found] for v, found in used_by.items()}
        app.data(doc)
    elif args.dot:
        app.lines(_dot(graph, nodes, used_by))
    else:
        app.lines(_tree(dataset.id, graph, nodes))
        app.lines(_used_lines(used_by))


def _uses(nodes: Mapping[str, dict[str, Any] | None]) -> dict[str, list[Use]]:
    """The uses of each version of the graph that still exists."""
    return {v: runs.version_uses(v) for v, node in nodes.items() if node is not None}


def _reader(use: Use) -> str:
    return usage.run_label(use) or f"{use.user}@{use.host}"


def _used_lines(used_by: Mapping[str, list[Use]]) -> Iterator[str]:
    found = [(v, u) for v, uses in used_by.items() for u in uses]
    if found:
        yield "used by:"
    for version_id, use in found:
        when = use.used[:19].replace("T", " ")
        yield f"  {version_id} as {use.alias}: {_reader(use)} at {when}"


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
    graph: Mapping[str, list[str]],
    nodes: Mapping[str, dict[str, Any] | None],
    used_by: Mapping[str, list[Use]],
) -> Iterator[str]:
    yield "digraph lineage {"
    yield "  rankdir=BT;"
    for version_id in graph:
        label = _label(version_id, nodes[version_id]).replace(f" {version_id}", f"\n{version_id}")
        yield f"  {json.dumps(version_id)} [label={json.dumps(label)}];"
    for version_id, parents in graph.items():
        for order, parent in enumerate(parents, 1):
            yield f'  {json.dumps(version_id)} -> {json.dumps(parent)} [label="{order}"];'
    readers = {_reader(u) for uses in used_by.values() for u in uses}
    for reader in sorted(readers):
        yield f"  {json.dumps('used by ' + reader)} [shape=box, label={json.dumps(reader)}];"
    for version_id, uses in used_by.items():
        for edge in dict.fromkeys((_reader(u), u.alias) for u in uses):
            reader, alias = json.dumps("used by " + edge[0]), json.dumps(edge[1])
            yield f"  {reader} -> {json.dumps(version_id)} [style=dashed, label={alias}];"
    yield "}"
