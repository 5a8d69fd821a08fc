"""What the pages show, read through the engine: datasets grouped from version records, a
dataset's versions and lineage, a version's changes, folders and metadata."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deltaset.api.content import METADATA_NAME as CONTENT
from deltaset.catalog.base import Query, Use
from deltaset.core import version as semver
from deltaset.core.records import VersionRecord, check_version_id
from deltaset.engine import metadata
from deltaset.engine.context import Context
from deltaset.engine.views import current_view, parents_view
from deltaset.errors import InvalidInputError, NotFoundError, shown
from deltaset.ui.folders import Listing, list_folder

SORTS = ("name", "project", "versions", "size", "changed")
LINEAGE_SHOWN = 60  # versions drawn in a lineage graph (the layout grows quadratically)
CHANGES_SHOWN = 50  # paths of each kind of change listed on a version's page
METADATA_SHOWN = 2000  # characters of a metadata value shown


@dataclass(frozen=True, slots=True)
class DatasetRow:
    project: str
    name: str
    latest: VersionRecord
    versions: int
    changed: str
    tags: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.latest.stats.total_size


@dataclass
class ProjectNode:
    name: str
    path: str
    children: dict[str, ProjectNode] = field(default_factory=dict)


def latest_of(records: Sequence[VersionRecord]) -> VersionRecord:
    """The version ``get`` picks without a version number (see :func:`semver.latest`)."""
    return semver.latest(records)


def datasets(ctx: Context) -> list[DatasetRow]:
    groups: dict[tuple[str, str], list[VersionRecord]] = {}
    for record in ctx.catalog.search(Query()):
        groups.setdefault((record.project, record.name), []).append(record)
    rows = []
    for (project, name), records in groups.items():
        finals = [r for r in records if r.state.is_final]
        latest = latest_of(finals or records)  # a draft's size is not known until it is closed
        changed = max(r.created for r in records)
        rows.append(DatasetRow(project, name, latest, len(records), changed, latest.tags))
    return rows


def filtered(rows: Iterable[DatasetRow], text: str, tag: str, project: str) -> list[DatasetRow]:
    """Rows whose name holds ``text`` (any case), tagged ``tag``, in ``project`` or below it."""
    needle = text.casefold()
    return [
        r
        for r in rows
        if needle in r.name.casefold()
        and (not tag or tag in r.tags)
        and (not project or r.project == project or r.project.startswith(project + "/"))
    ]


def sorted_rows(rows: list[DatasetRow], by: str, descending: bool) -> list[DatasetRow]:
    if by not in SORTS:
        raise InvalidInputError(f"Datasets sort by {', '.join(SORTS)}, not {shown(by)}.")
    keys: dict[str, Any] = {
        "name": lambda r: (r.name.casefold(), r.project),
        "project": lambda r: (r.project.casefold(), r.name.casefold()),
        "versions": lambda r: r.versions,
        "size": lambda r: r.size,
        "changed": lambda r: r.changed,
    }
    return sorted(rows, key=keys[by], reverse=descending)


def project_tree(projects: Iterable[str]) -> ProjectNode:
    top = ProjectNode("", "")
    for project in sorted(set(projects)):
        node = top
        for part in project.split("/"):
            path = f"{node.path}/{part}" if node.path else part
            node = node.children.setdefault(part, ProjectNode(part, path))
    return top


def versions_of(ctx: Context, project: str, name: str) -> list[VersionRecord]:
    """Every version of ``project/name``, newest first."""
    found = ctx.catalog.search(Query(project=project, name=name, recursive_project=False))
    if not found:
        raise NotFoundError(f"No dataset {shown(project + '/' + name)} was found.")
    return sorted(found, key=lambda r: r.created, reverse=True)


def lineage_of(
    ctx: Context, records: Sequence[VersionRecord], limit: int = LINEAGE_SHOWN
) -> tuple[dict[str, list[str]], bool]:
    """The ancestry of ``records`` (newest first) as one graph of at most about ``limit``
    versions, the newest first (the others' parents drawn without their own); and whether
    some were left out."""
    graph: dict[str, list[str]] = {}
    known = {r.id: r for r in records}
    queue = deque(records)
    while queue and len(graph) < limit:
        record = queue.popleft()
        if record.id in graph:
            continue
        graph[record.id] = list(record.parents)
        for parent_id in record.parents:
            if parent_id in known or parent_id in graph:
                continue
            try:
                known[parent_id] = ctx.catalog.get(parent_id)
            except NotFoundError:
                graph[parent_id] = []  # deleted with --force
                continue
            queue.append(known[parent_id])
    left_out = any(r.id not in graph for r in queue)
    for parents in list(graph.values()):
        for parent_id in parents:
            graph.setdefault(parent_id, [])
    return graph, left_out


def records_of(ctx: Context, ids: Iterable[str]) -> dict[str, VersionRecord | None]:
    """Each id's record, or None for a parent deleted with --force."""
    found: dict[str, VersionRecord | None] = {}
    for version_id in ids:
        try:
            found[version_id] = ctx.catalog.get(version_id)
        except NotFoundError:
            found[version_id] = None
    return found


def version(ctx: Context, version_id: str) -> VersionRecord:
    try:
        check_version_id(version_id)
    except InvalidInputError as exc:
        raise NotFoundError(f"No version has the id {shown(version_id)}.") from exc
    return ctx.catalog.get(version_id)


@dataclass(frozen=True, slots=True)
class Changes:
    added: list[tuple[str, int]]
    modified: list[tuple[str, int]]
    removed: list[str]
    counts: dict[str, int]


class _Kept:
    """The change-sets of the last few final versions shown: a final version never changes,
    and browsing its folders renders its page again and again."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._found: OrderedDict[str, Changes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version_id: str) -> Changes | None:
        with self._lock:
            found = self._found.get(version_id)
            if found is not None:
                self._found.move_to_end(version_id)
            return found

    def put(self, version_id: str, changes: Changes) -> None:
        with self._lock:
            self._found[version_id] = changes
            while len(self._found) > self._size:
                self._found.popitem(last=False)


_kept_changes = _Kept()


def changes(ctx: Context, record: VersionRecord) -> Changes:
    """The change-set against the parents, its first CHANGES_SHOWN paths of each kind."""
    kept = _kept_changes.get(record.id) if record.state.is_final else None
    if kept is None:
        kept = _changes(ctx, record)
        if record.state.is_final:
            _kept_changes.put(record.id, kept)
    return kept


def _changes(ctx: Context, record: VersionRecord) -> Changes:
    """The first paths of each kind, classified without building the whole change-set; the
    counts are a final version's statistics, or counted over a draft's changes."""
    base = parents_view(ctx, record)
    files, removed = current_view(ctx, record).changes_since(base)
    first = CHANGES_SHOWN
    added: list[tuple[str, int]] = []
    modified: list[tuple[str, int]] = []
    counts = {"added": 0, "modified": 0, "removed": len(removed)}
    final = record.state.is_final
    stats = record.stats
    for at in range(len(files)):
        if (
            final
            and len(added) >= min(first, stats.added)
            and len(modified) >= min(first, stats.modified)
        ):
            break  # a final version's counts are known: its first paths are enough
        path = files.path_at(at)
        kind, rows = ("modified", modified) if path in base else ("added", added)
        counts[kind] += 1
        if len(rows) < first:
            rows.append((path, files.size_at(at)))
    if final:
        counts = {"added": stats.added, "modified": stats.modified, "removed": stats.removed}
    return Changes(added, modified, sorted(removed)[:first], counts)


def folder(ctx: Context, record: VersionRecord, path: str, page: int) -> Listing:
    return list_folder(current_view(ctx, record), path, page)


@dataclass(frozen=True, slots=True)
class MetadataItem:
    name: str
    kind: str
    text: str  # what is shown of the value


def metadata_of(ctx: Context, record: VersionRecord) -> tuple[list[MetadataItem], Any]:
    """Every metadata key with its value shortened, and the content summary if stored."""
    items, summary = [], None
    for name in ctx.catalog.metadata_names(record.id):
        found = ctx.catalog.get_metadata(record.id, name)
        if found is None:
            continue
        kind, data = found
        if name == CONTENT:
            summary = metadata.decode(kind, data)
        items.append(MetadataItem(name, kind, _shown_value(kind, data)))
    return items, summary


def _shown_value(kind: str, data: bytes) -> str:
    if kind != "json":
        return f"{kind}, {len(data)} bytes"
    text = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    return text if len(text) <= METADATA_SHOWN else text[:METADATA_SHOWN] + "\n…"


SHOWN_USES = 50  # a version read by every epoch of many runs lists its newest uses only


def uses_of(ctx: Context, record: VersionRecord) -> tuple[list[Use], int]:
    """The newest uses of ``record`` (newest first, at most SHOWN_USES), and how many it has."""
    found = ctx.catalog.uses(version_id=record.id)
    return list(reversed(found[-SHOWN_USES:])), len(found)
