"""Finding the ClearML dataset versions under a storage location, and reading their state."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError
from deltaset.storage.base import Storage

STATE = "state"
# <project>/.datasets/<name>/<name>.<id>/artifacts/state/<file>: a version's state
_STATE_KEY = re.compile(
    r"^(?:(?P<project>.*)/)?\.datasets/(?P<name>[^/]+)/(?P<folder>[^/]+)/artifacts/state/[^/]+\.json$"
)


class DamagedVersion(DeltasetError):
    """A version that cannot be imported whole: its reason is one sentence."""


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A version whose state cannot be read: its id as its folder's name gives it."""

    id: str
    project: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class FileItem:
    """A file of a ClearML version, as its state names it."""

    path: str
    sha256: str
    size: int
    owner: str  # the id of the version whose chunk (or local file) holds its bytes
    artifact: str | None  # the chunk holding it, None in an offline session
    local_path: str | None


@dataclass(frozen=True, slots=True)
class LinkItem:
    """A link entry: a file ClearML reads from ``url`` rather than from a chunk."""

    path: str
    url: str
    size: int
    owner: str


@dataclass
class ClearMLVersion:
    """One ClearML dataset version, with where its artifacts are in ``storage``."""

    id: str
    project: str
    name: str
    storage: Storage
    prefix: str  # its artifacts folder: the keys below it are its chunks and metadata
    parents: tuple[str, ...] = ()
    files: list[FileItem] = field(default_factory=list)
    links: list[LinkItem] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)  # artifact name -> key
    version: str | None = None
    tags: tuple[str, ...] = ()
    description: str = ""

    @property
    def own_files(self) -> list[FileItem]:
        return [f for f in self.files if f.owner == self.id]

    @property
    def chunks(self) -> dict[str, str]:
        return {n: k for n, k in self.artifacts.items() if is_chunk(n)}

    @property
    def metadata(self) -> dict[str, str]:
        return {n: k for n, k in self.artifacts.items() if n != STATE and not is_chunk(n)}

    def shown(self) -> str:
        return f"{self.project}/{self.name} {self.id}"


def is_chunk(artifact: str) -> bool:
    return artifact == "data" or artifact.startswith("data_")


def find_versions(
    storage: Storage, default_project: str
) -> tuple[list[ClearMLVersion], list[Unreadable]]:
    """Every version under ``storage`` that reads, and every one that does not."""
    found: list[ClearMLVersion] = []
    broken: list[Unreadable] = []
    keys = list(storage.list(""))
    for key in keys:
        match = _STATE_KEY.match(key)
        if match is None:
            continue
        project = unquote(match["project"] or default_project)
        name = unquote(match["name"])
        prefix = key.rsplit("/state/", 1)[0] + "/"
        try:
            version = _read(storage, key, project, name, prefix)
        except DamagedVersion as exc:
            version_id = match["folder"].rpartition(".")[2]  # the folder is <name>.<id>
            broken.append(Unreadable(version_id, project, name, str(exc)))
            continue
        version.artifacts = _artifacts(keys, prefix)
        found.append(version)
    return found, broken


def _artifacts(keys: list[str], prefix: str) -> dict[str, str]:
    """The artifacts below ``prefix`` by name: each is one file in a folder of its name."""
    named: dict[str, str] = {}
    for key in keys:
        if key.startswith(prefix):
            parts = key[len(prefix) :].split("/")
            if len(parts) == 2:
                named.setdefault(unquote(parts[0]), key)
    return named


def _read(storage: Storage, key: str, project: str, name: str, prefix: str) -> ClearMLVersion:
    try:
        data = storage.get_bytes(key)
    except NotFoundError as exc:  # listed, then gone: this version only cannot be read
        raise DamagedVersion(f"its state {key} is missing.") from exc
    try:
        return parse_state(json.loads(data), project, name, storage, prefix)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DamagedVersion(f"its state {key} is not ClearML's ({exc!r}).") from exc


def parse_state(
    state: dict[str, Any], project: str, name: str, storage: Storage, prefix: str
) -> ClearMLVersion:
    """The version a ClearML state (``Dataset._serialize``) describes."""
    version_id = str(state["id"])
    graph = state.get("dependency_graph") or {}
    return ClearMLVersion(
        id=version_id,
        project=project,
        name=name,
        storage=storage,
        prefix=prefix,
        parents=tuple(str(p) for p in graph.get(version_id) or () if p != version_id),
        files=[_file(e) for e in state.get("dataset_file_entries") or ()],
        links=[_link(e) for e in state.get("dataset_link_entries") or ()],
    )


def _file(entry: dict[str, Any]) -> FileItem:
    return FileItem(
        path=str(entry["relative_path"]),
        sha256=str(entry["hash"]).lower(),
        size=int(entry["size"]),
        owner=str(entry["parent_dataset_id"]),
        artifact=entry.get("artifact_name"),
        local_path=entry.get("local_path"),
    )


def _link(entry: dict[str, Any]) -> LinkItem:
    return LinkItem(
        path=str(entry["relative_path"]),
        url=str(entry["link"]),
        size=int(entry.get("size") or 0),
        owner=str(entry["parent_dataset_id"]),
    )


def apply_task(version: ClearMLVersion, task: dict[str, Any]) -> None:
    """Take the name, version string, tags and description an offline session's
    ``task.json`` keeps (a storage location has only the state and the chunks)."""
    properties = (task.get("hyperparams") or {}).get("properties") or {}
    number = (properties.get("version") or {}).get("value")
    version.version = str(number) if number else None
    version.tags = tuple(str(t) for t in task.get("tags") or ())
    version.description = str(task.get("comment") or "")


def ordered(versions: list[ClearMLVersion]) -> Iterator[ClearMLVersion]:
    """``versions`` with every parent before its children (a cycle is refused)."""
    by_id = {v.id: v for v in versions}
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(version: ClearMLVersion) -> Iterator[ClearMLVersion]:
        if version.id in done:
            return
        if version.id in visiting:
            raise InvalidInputError(f"The ClearML version {version.id} is its own ancestor.")
        visiting.add(version.id)
        for parent in version.parents:
            if parent in by_id:
                yield from visit(by_id[parent])
        visiting.discard(version.id)
        done.add(version.id)
        yield version

    for version in sorted(versions, key=lambda v: (v.project, v.name, v.id)):
        yield from visit(version)
