"""Comparing two versions: the files one adds, modifies and removes relative to the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deltaset.core.changeset import diff
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.views import current_view


@dataclass(frozen=True, slots=True)
class FileChange:
    """A path that differs: its size in the target (``size``) and in the source
    (``source_size``); a side that lacks the path has None."""

    path: str
    size: int | None
    source_size: int | None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"path": self.path}
        if self.size is not None:
            row["size"] = self.size
        if self.source_size is not None:
            row["source_size"] = self.source_size
        return row


@dataclass(frozen=True, slots=True)
class Comparison:
    """What turns the ``source`` version into the ``target`` one, path by path."""

    source: str
    target: str
    added: tuple[FileChange, ...]
    modified: tuple[FileChange, ...]
    removed: tuple[FileChange, ...]

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.modified or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "added": [c.to_dict() for c in self.added],
            "modified": [c.to_dict() for c in self.modified],
            "removed": [c.to_dict() for c in self.removed],
        }


def compare(ctx: Context, source: VersionRecord, target: VersionRecord) -> Comparison:
    """Files ``target`` adds, modifies (other content) and removes relative to ``source``."""
    return compare_views(source.id, target.id, current_view(ctx, source), current_view(ctx, target))


def compare_views(source_id: str, target_id: str, before: Manifest, after: Manifest) -> Comparison:
    """:func:`compare` of two versions whose file lists are ``before`` and ``after``."""
    changes = diff(before, after)
    added = (FileChange(p, e.size, None) for p, e in changes.added.items())
    modified = (FileChange(p, e.size, before[p].size) for p, e in changes.modified.items())
    removed = (FileChange(p, None, before[p].size) for p in sorted(changes.removed))
    return Comparison(source_id, target_id, tuple(added), tuple(modified), tuple(removed))
