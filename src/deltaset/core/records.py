"""The record of a dataset version: identity, lineage, state and statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

RECORD_FORMAT = 1


class State(StrEnum):
    DRAFT = "draft"
    FINAL = "final"
    PUBLISHED = "published"

    @property
    def is_final(self) -> bool:
        return self is not State.DRAFT


@dataclass(frozen=True, slots=True)
class Stats:
    file_count: int = 0
    total_size: int = 0
    added: int = 0
    modified: int = 0
    removed: int = 0
    stored_bytes: int = 0
    # Change-sets to apply to read this version's files from storage: 0 when its stored
    # manifest lists every file. Bounded, so reading never walks a long chain.
    manifest_depth: int = 0


@dataclass(frozen=True, slots=True)
class VersionRecord:
    id: str
    project: str
    name: str
    version: str
    state: State
    parents: tuple[str, ...]
    tags: tuple[str, ...]
    description: str
    created: str
    user: str
    storage: str
    stats: Stats = field(default_factory=Stats)

    def evolve(self, **changes: Any) -> VersionRecord:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.update(format=RECORD_FORMAT, state=str(self.state), parents=list(self.parents))
        doc["tags"] = list(self.tags)
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> VersionRecord:
        fields = {k: v for k, v in doc.items() if k != "format"}
        fields.update(
            state=State(doc["state"]),
            parents=tuple(doc["parents"]),
            tags=tuple(doc["tags"]),
            stats=Stats(**doc.get("stats", {})),
        )
        return cls(**fields)
