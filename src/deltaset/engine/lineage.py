"""The ancestry of a version as a DAG: ``{version_id: [direct parent ids]}``."""

from __future__ import annotations

from collections import deque

from deltaset.catalog.base import Catalog
from deltaset.core.records import VersionRecord
from deltaset.errors import NotFoundError


def dependency_graph(catalog: Catalog, record: VersionRecord) -> dict[str, list[str]]:
    """Every ancestor reachable from ``record``, each with its parents in merge order."""
    graph: dict[str, list[str]] = {}
    queue = deque([record])
    while queue:
        current = queue.popleft()
        if current.id in graph:
            continue
        graph[current.id] = list(current.parents)
        for parent_id in current.parents:
            if parent_id in graph:
                continue
            try:
                queue.append(catalog.get(parent_id))
            except NotFoundError:
                graph[parent_id] = []  # deleted with force: its children keep their own bytes
    return graph
