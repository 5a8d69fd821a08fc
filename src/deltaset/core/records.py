"""The record of a dataset version: identity, lineage, state and statistics."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from deltaset.errors import InvalidInputError, NotFoundError, shown

RECORD_FORMAT = 1
ID_LENGTH = 32
VERSION_ID = re.compile(r"[0-9a-f]{32}")  # a UUID's 32 hex digits, as ClearML writes ids
MIN_ID_PREFIX = 4  # as git's shortest abbreviation: fewer digits match too many versions
_ID_PREFIX = re.compile(r"[0-9a-f]+")


def check_version_id(text: str) -> str:
    """``text`` if it has the form of a version id; else no version can have it, and a
    catalog need not be asked (nor a server sent it in a URL)."""
    if VERSION_ID.fullmatch(text) is None:
        raise NotFoundError(
            f"{shown(text)} is not a dataset version id (ids are 32 hexadecimal digits)."
        )
    return text


def check_id_prefix(text: str) -> str:
    """``text`` as the start of a version id (lowercase, as ids are written): a whole id or
    at least :data:`MIN_ID_PREFIX` of its hexadecimal digits."""
    prefix = text.strip().lower()
    if len(prefix) > ID_LENGTH or _ID_PREFIX.fullmatch(prefix) is None:
        raise NotFoundError(
            f"{shown(text)} is not a dataset version id (ids are 32 hexadecimal digits, "
            f"or a unique start of one)."
        )
    if len(prefix) < MIN_ID_PREFIX:
        raise InvalidInputError(
            f"The id {shown(text)} is too short to name a dataset version; give at least "
            f"{MIN_ID_PREFIX} of its hexadecimal digits."
        )
    return prefix


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
