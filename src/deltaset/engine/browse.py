"""One folder of a version at a time, paged: its subfolders (with the files and bytes under
each) and its files, sorted by name or by size.

A final version never changes, so its folders are worked out once and kept in the cache
folder as a small SQLite database (the folder index): a page is then a few index lookups,
whatever the size of the version, and no request decodes its manifest again. A draft changes,
so its index is built in memory on each call.

Names are stored as UTF-8 bytes (with undecodable bytes kept, see :mod:`deltaset.core.names`)
so every path round-trips.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deltaset.core import paths
from deltaset.core.folders import folder_tree
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import folder_files, folder_table, folder_updates
from deltaset.engine.context import Context
from deltaset.engine.folder_table import raw, text
from deltaset.engine.kept_indexes import (
    forget_old,
    kept_index,
    memory_index,
    open_index,
    write_index,
)
from deltaset.engine.views import current_view
from deltaset.errors import InvalidInputError, NotFoundError

INDEX_FORMAT = 2
MAX_PAGE = 1000
CHECK = "SELECT id FROM folders WHERE id = 0"  # what a whole index answers
Sort = Literal["name", "size"]
Changes = tuple[Manifest, Manifest, tuple[str, ...]]  # a version's parents' files, puts, removes


@dataclass(frozen=True, slots=True)
class FolderRow:
    """A subfolder: its path in the version, its name, and the files and bytes under it."""

    path: str
    name: str
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file directly in the folder: its path, name, size, content hash and whether it is an
    external file (referenced by URL rather than stored)."""

    path: str
    name: str
    size: int
    blob_id: str
    external: bool


@dataclass(frozen=True, slots=True)
class FolderPage:
    """Entries ``offset`` to ``offset + limit`` of a folder's listing: its subfolders first,
    then its files, each part sorted as asked. ``next_offset`` is None on the last page."""

    path: str
    files_under: int
    bytes_under: int
    subfolder_count: int
    file_count: int
    offset: int
    folders: tuple[FolderRow, ...]
    files: tuple[FileRow, ...]
    next_offset: int | None


def browse(
    ctx: Context,
    record: VersionRecord,
    folder: str = "",
    offset: int = 0,
    limit: int = 100,
    sort: Sort = "name",
) -> FolderPage:
    """One page of ``folder`` (``""`` for the root) of the version ``record``."""
    clean = paths.normalize_folder(folder)
    _check_page(offset, limit, sort)
    with _index(ctx, record) as db:
        page = folder_page(db, clean, offset, limit, sort)
    if page is None:
        raise NotFoundError(
            f"The dataset version {record.id} ({record.project}/{record.name} "
            f"{record.version}) has no folder {clean or '/'}."
        )
    return page


def folder_page(
    db: sqlite3.Connection, folder: str, offset: int, limit: int, sort: Sort
) -> FolderPage | None:
    """A page of the normalised ``folder`` from an open folder index; None if it has none."""
    found = db.execute(
        "SELECT id, files, bytes, direct_files, subfolders FROM folders WHERE path = ?",
        (raw(folder),),
    ).fetchone()
    if found is None:
        return None
    folder_id, files_under, bytes_under, file_count, subfolder_count = found
    folders = _folder_rows(db, folder_id, offset, limit, sort)
    file_offset = max(0, offset - subfolder_count)
    files = _file_rows(db, folder, folder_id, file_offset, limit - len(folders), sort)
    end = offset + len(folders) + len(files)
    more = end < subfolder_count + file_count
    return FolderPage(
        folder,
        files_under,
        bytes_under,
        subfolder_count,
        file_count,
        offset,
        folders,
        files,
        end if more else None,
    )


def _check_page(offset: int, limit: int, sort: str) -> None:
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(
            f"A page starts at an offset of 0 or more and holds 1 to {MAX_PAGE} entries."
        )
    if sort not in ("name", "size"):
        raise InvalidInputError(f"A folder sorts by 'name' or 'size', not {sort!r}.")


def _folder_rows(
    db: sqlite3.Connection, folder_id: int, offset: int, limit: int, sort: Sort
) -> tuple[FolderRow, ...]:
    columns = "SELECT path, name, files, bytes FROM folders WHERE parent = ?"
    if sort == "name":  # by rank: the page costs its own rows, not the ones before it
        query = f"{columns} AND rank >= ? AND rank < ? ORDER BY rank"
        rows = db.execute(query, (folder_id, offset, offset + limit))
    else:
        query = f"{columns} ORDER BY bytes DESC, rank LIMIT ? OFFSET ?"
        rows = db.execute(query, (folder_id, limit, offset))
    return tuple(FolderRow(text(p), text(n), f, b) for p, n, f, b in rows)


def _file_rows(
    db: sqlite3.Connection, folder: str, folder_id: int, offset: int, limit: int, sort: Sort
) -> tuple[FileRow, ...]:
    if limit <= 0:
        return ()
    read = folder_files.by_name if sort == "name" else folder_files.by_size
    prefix = folder + "/" if folder else ""
    return tuple(
        FileRow(prefix + f.name, f.name, f.size, f.blob_id.hex(), f.external)
        for f in read(db, folder_id, offset, limit)
    )


# -- the folder index -----------------------------------------------------------------------


def index_path(ctx: Context, version_id: str) -> Path:
    """Where the folder index of the final version ``version_id`` is kept."""
    return ctx.settings.cache_dir / "folders" / f"{version_id}.v{INDEX_FORMAT}.sqlite"


def indexed_entry(ctx: Context, record: VersionRecord, path: str) -> Entry | None:
    """The entry of the file at the normalised ``path`` of the final ``record``, read from its
    kept folder index without decoding its manifest; None when the index is not kept, lacks
    the path, or does not hold the whole entry (a chunk list, an external file's URL)."""
    db = open_index(index_path(ctx, record.id), CHECK)
    if db is None:
        return None
    try:
        folder, _, name = path.rpartition("/")
        found = db.execute(
            "SELECT id, direct_files FROM folders WHERE path = ?", (raw(folder),)
        ).fetchone()
        file = None if found is None else folder_files.named(db, found[0], found[1], name)
    finally:
        db.close()
    if file is None or file.external or file.chunked:
        return None
    return Entry(file.size, file.blob_id.hex())


def _index(
    ctx: Context, record: VersionRecord
) -> contextlib.AbstractContextManager[sqlite3.Connection]:
    def fill(db: sqlite3.Connection) -> None:
        _fill(db, current_view(ctx, record))

    if not record.state.is_final:
        return memory_index(fill)
    return kept_index(index_path(ctx, record.id), fill, CHECK)


def write_folder_index(manifest: Manifest, target: Path) -> None:
    """Write the folder index of ``manifest`` to ``target``."""
    write_index(target, lambda db: _fill(db, manifest))


def keep_folder_index(
    ctx: Context, record: VersionRecord, manifest: Manifest, changes: Changes | None = None
) -> None:
    """Keep the folder index of the final version ``record`` whose file list is ``manifest``
    (already in memory), unless it is kept already; with ``changes`` (the merge of its
    parents, the files it puts and the paths it removes), from its one parent's kept index
    when they are few."""
    target = index_path(ctx, record.id)
    if target.exists():
        return
    if not (changes and _write_from_parent(ctx, record, manifest, changes, target)):
        write_folder_index(manifest, target)
    forget_old(target)


def _write_from_parent(
    ctx: Context, record: VersionRecord, manifest: Manifest, changes: Changes, target: Path
) -> bool:
    """Write the index from the parent's, if the version has one parent whose index is kept
    and few changes; whether it did."""
    base, files, removed = changes
    if len(record.parents) != 1 or not folder_updates.is_small(manifest, files, removed):
        return False
    parent = open_index(index_path(ctx, record.parents[0]), CHECK)
    if parent is None:
        return False
    try:
        folder_updates.write_updated(parent, target, manifest, base, files, removed)
    except sqlite3.Error:
        return False  # a parent's index that reads but is damaged: a walk makes this one
    finally:
        parent.close()
    return True


def has_folder_index(ctx: Context, record: VersionRecord) -> bool:
    """Whether the folder index of the final ``record`` is kept (a page of it is cheap)."""
    return index_path(ctx, record.id).exists()


def _fill(db: sqlite3.Connection, manifest: Manifest) -> None:
    tree = folder_tree(manifest)
    folder_table.fill(db, tree.folders)
    folder_files.fill(db, manifest, tree.folder_of)
