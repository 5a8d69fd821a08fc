"""What changed between two versions, for a person reading it: the change list filtered by
path and paged, a unified diff of a text file, and a table's change of rows and schema."""

from __future__ import annotations

import contextlib
import difflib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deltaset.core.filekinds import is_binary
from deltaset.core.records import VersionRecord
from deltaset.engine import reading
from deltaset.engine.compare import Comparison, FileChange, compare
from deltaset.engine.context import Context
from deltaset.engine.kept_indexes import forget_old, kept_index, memory_index, write_index
from deltaset.engine.tables import TableShape, table_shape
from deltaset.errors import InvalidInputError, NotFoundError

DIFF_BYTES = 1 << 20  # a side larger than this is not diffed
MAX_CHANGES = 1000
ChangeKind = Literal["added", "modified", "removed"]
KINDS: tuple[ChangeKind, ...] = ("added", "modified", "removed")
INDEX_FORMAT = 1
CHECK = "SELECT rowid FROM changes LIMIT 1"  # what a whole index answers


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
    kinds: tuple[ChangeKind, ...] = KINDS,
    offset: int = 0,
    limit: int = 100,
) -> ChangePage:
    """A page of what ``target`` changes relative to ``source``, in path order, limited to
    paths containing ``path_filter`` (case-insensitive) and to ``kinds`` of change.

    Between two final versions the changes are worked out once and kept in the cache folder,
    so each further page costs the changes that match, not the size of the versions."""
    if offset < 0 or not 1 <= limit <= MAX_CHANGES:
        raise InvalidInputError(
            f"A page of changes starts at an offset of 0 or more and holds 1 to {MAX_CHANGES}."
        )
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise InvalidInputError(f"A change is added, modified or removed, not {min(unknown)}.")
    where = f"kind IN ({', '.join('?' * len(kinds))}) AND instr(folded, ?) > 0"
    arguments = (*kinds, path_filter.casefold())
    with _changes_index(ctx, source, target) as db:
        counts = dict.fromkeys(KINDS, 0) | dict(
            db.execute(f"SELECT kind, count(*) FROM changes WHERE {where} GROUP BY kind", arguments)
        )
        rows = db.execute(
            f"SELECT kind, path, size, source_size FROM changes WHERE {where} "
            "ORDER BY path LIMIT ? OFFSET ?",
            (*arguments, limit, offset),
        ).fetchall()
    total = sum(counts.values())
    end = offset + len(rows)
    return ChangePage(
        tuple((k, FileChange(_text(p), s, b)) for k, p, s, b in rows),
        offset,
        total,
        counts["added"],
        counts["modified"],
        counts["removed"],
        end if end < total else None,
    )


def changes_path(ctx: Context, source_id: str, target_id: str) -> Path:
    """Where the changes between two final versions are kept."""
    name = f"{source_id}-{target_id}.v{INDEX_FORMAT}.sqlite"
    return ctx.settings.cache_dir / "changes" / name


def _changes_index(
    ctx: Context, source: VersionRecord, target: VersionRecord
) -> contextlib.AbstractContextManager[sqlite3.Connection]:
    def fill(db: sqlite3.Connection) -> None:
        comparison = compare(ctx, source, target)
        _fill(db, ((kind, c) for kind in KINDS for c in getattr(comparison, kind)))

    if source.state.is_final and target.state.is_final:
        return kept_index(changes_path(ctx, source.id, target.id), fill, CHECK)
    return memory_index(fill)


def has_changes(ctx: Context, source: VersionRecord, target: VersionRecord) -> bool:
    """Whether the changes between two final versions are kept (a page of them is cheap)."""
    return changes_path(ctx, source.id, target.id).exists()


def keep_changes(
    ctx: Context,
    source_id: str,
    target_id: str,
    changes: Iterable[tuple[ChangeKind, FileChange]],
) -> None:
    """Keep ``changes``, what the final ``target_id`` changes from the final ``source_id``
    (a close knows them without comparing the two versions)."""
    target = changes_path(ctx, source_id, target_id)
    write_index(target, lambda db: _fill(db, changes))
    forget_old(target)


def keep_comparison(ctx: Context, comparison: Comparison) -> None:
    """Keep the changes of ``comparison`` (of two final versions) for the compare page."""
    rows = ((kind, c) for kind in KINDS for c in getattr(comparison, kind))
    keep_changes(ctx, comparison.source, comparison.target, rows)


def _fill(db: sqlite3.Connection, changes: Iterable[tuple[ChangeKind, FileChange]]) -> None:
    db.execute(
        "CREATE TABLE changes(kind TEXT, path BLOB, folded TEXT, size INTEGER, source_size INTEGER)"
    )
    with db:
        db.executemany(
            "INSERT INTO changes VALUES (?, ?, ?, ?, ?)",
            ((k, _raw(c.path), _folded(c.path), c.size, c.source_size) for k, c in changes),
        )
    db.execute("CREATE INDEX changes_by_path ON changes(path)")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _folded(path: str) -> str:
    return path.encode("utf-8", "replace").decode().casefold()


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
