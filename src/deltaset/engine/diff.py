"""What changed between two versions, for a person reading it: the change list filtered by
path and paged, a unified diff of a text file, and a table's change of rows and schema."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from deltaset.core.filekinds import is_binary
from deltaset.core.records import VersionRecord
from deltaset.engine import reading
from deltaset.engine.compare import FileChange, compare
from deltaset.engine.context import Context
from deltaset.engine.tables import TableShape, table_shape
from deltaset.errors import InvalidInputError, NotFoundError

DIFF_BYTES = 1 << 20  # a side larger than this is not diffed
MAX_CHANGES = 1000
ChangeKind = Literal["added", "modified", "removed"]


@dataclass(frozen=True, slots=True)
class ChangePage:
    """Changes ``offset`` to ``offset + len(changes)`` of those whose path holds the filter,
    as (kind, change) in path order; ``total`` of them match; sums are over every match."""

    changes: tuple[tuple[ChangeKind, FileChange], ...]
    offset: int
    total: int
    added: int
    modified: int
    removed: int
    next_offset: int | None


@dataclass(frozen=True, slots=True)
class TextDiff:
    """A unified diff of one path between two versions; ``lines`` is empty and ``reason`` says
    why when there is no diff to show (``binary``, ``too large``)."""

    path: str
    lines: tuple[str, ...]
    reason: str | None


@dataclass(frozen=True, slots=True)
class TableChange:
    """A table's shape in the source and the target version (None on a side lacking it), and
    its columns added, removed and retyped (name, old type, new type)."""

    path: str
    source: TableShape | None
    target: TableShape | None
    added_columns: tuple[str, ...]
    removed_columns: tuple[str, ...]
    retyped_columns: tuple[tuple[str, str, str], ...]


def change_page(
    ctx: Context,
    source: VersionRecord,
    target: VersionRecord,
    path_filter: str = "",
    kinds: tuple[ChangeKind, ...] = ("added", "modified", "removed"),
    offset: int = 0,
    limit: int = 100,
) -> ChangePage:
    """A page of what ``target`` changes relative to ``source``, limited to paths containing
    ``path_filter`` (case-insensitive) and to ``kinds`` of change."""
    if offset < 0 or not 1 <= limit <= MAX_CHANGES:
        raise InvalidInputError(
            f"A page of changes starts at an offset of 0 or more and holds 1 to {MAX_CHANGES}."
        )
    comparison = compare(ctx, source, target)
    needle = path_filter.casefold()
    groups: dict[ChangeKind, tuple[FileChange, ...]] = {
        "added": comparison.added,
        "modified": comparison.modified,
        "removed": comparison.removed,
    }
    found = sorted(
        ((kind, c) for kind in kinds for c in groups[kind] if needle in c.path.casefold()),
        key=lambda pair: pair[1].path,
    )
    counts = {k: sum(1 for kind, _ in found if kind == k) for k in groups}
    page = tuple(found[offset : offset + limit])
    end = offset + len(page)
    return ChangePage(
        page,
        offset,
        len(found),
        counts["added"],
        counts["modified"],
        counts["removed"],
        end if end < len(found) else None,
    )


def text_diff(
    ctx: Context,
    source: VersionRecord,
    target: VersionRecord,
    path: str,
    max_bytes: int = DIFF_BYTES,
    context_lines: int = 3,
) -> TextDiff:
    """The unified diff of the text file at ``path`` from ``source`` to ``target`` (a side
    lacking it counts as empty)."""
    (old_large, before), (new_large, after) = (
        _side(ctx, source, path, max_bytes),
        _side(ctx, target, path, max_bytes),
    )
    if before is None and after is None and not (old_large or new_large):
        raise NotFoundError(f"Neither version has a file {path}.")
    if old_large or new_large:
        return TextDiff(path, (), "too large")
    old, new = before or b"", after or b""
    if is_binary(old[:4096]) or is_binary(new[:4096]):
        return TextDiff(path, (), "binary")
    lines = difflib.unified_diff(
        old.decode("utf-8", "replace").splitlines(keepends=True),
        new.decode("utf-8", "replace").splitlines(keepends=True),
        f"a/{path}",
        f"b/{path}",
        n=context_lines,
    )
    return TextDiff(path, tuple(lines), None)


def _side(
    ctx: Context, record: VersionRecord, path: str, max_bytes: int
) -> tuple[bool, bytes | None]:
    """Whether ``path`` in ``record`` is above the cap, else its content (None if it lacks it)."""
    try:
        clean, entry = reading.file_entry(ctx, record, path)
    except NotFoundError:
        return False, None
    if entry.size > max_bytes:
        return True, None
    return False, reading.read_range(ctx, record, clean, entry, 0, entry.size)


def table_change(
    ctx: Context, source: VersionRecord, target: VersionRecord, path: str
) -> TableChange:
    """How the table at ``path`` changes from ``source`` to ``target``: rows and columns."""
    before, after = _shape(ctx, source, path), _shape(ctx, target, path)
    if before is None and after is None:
        raise NotFoundError(f"Neither version has a file {path}.")
    old = dict(before.columns) if before else {}
    new = dict(after.columns) if after else {}
    return TableChange(
        path,
        before,
        after,
        tuple(n for n in new if n not in old),
        tuple(n for n in old if n not in new),
        tuple((n, old[n], new[n]) for n in new if n in old and old[n] != new[n]),
    )


def _shape(ctx: Context, record: VersionRecord, path: str) -> TableShape | None:
    try:
        return table_shape(ctx, record, path)
    except NotFoundError:
        return None
