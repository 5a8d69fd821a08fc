"""Change-sets: what a version changes relative to the merge of its parents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from deltaset.core.manifest import Entry, Manifest


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Paths added or modified (with their new entries) and paths removed."""

    added: Mapping[str, Entry] = field(default_factory=dict)
    modified: Mapping[str, Entry] = field(default_factory=dict)
    removed: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.modified or self.removed)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "added": sorted(self.added),
            "modified": sorted(self.modified),
            "removed": sorted(self.removed),
        }


def merge_parents(parents: Sequence[Manifest]) -> Manifest:
    """Merge parent manifests in order: a later parent overrides an earlier one on a path."""
    if not parents:
        return Manifest()
    merged = parents[0]
    for parent in parents[1:]:
        merged = merged.changed(parent)
    return merged


def apply(base: Manifest, puts: Mapping[str, Entry], removes: Iterable[str]) -> Manifest:
    """``base`` with ``removes`` dropped, then ``puts`` written over it."""
    return base.changed(puts, removes)


def diff(base: Manifest, target: Manifest) -> ChangeSet:
    """What turns ``base`` into ``target``; a path is modified when its content differs.
    Added and modified files come in path order (one walk over both sorted manifests)."""
    files, removed = target.changes_since(base)
    added = {p: e for p, e in files.items() if p not in base}
    modified = {p: e for p, e in files.items() if p in base}
    return ChangeSet(added, modified, frozenset(removed))


class Closed(NamedTuple):
    """What a close holds of the version it closes, for what it keeps beside it: the file list
    ``view``, ``base`` (the merge of its parents), and its changes from it, ``files`` (added or
    modified) and ``removed``."""

    view: Manifest
    base: Manifest
    files: Manifest
    removed: tuple[str, ...]
