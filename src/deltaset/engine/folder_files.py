"""The files directly in each folder of a folder index (see :mod:`deltaset.engine.browse`),
stored :data:`PAGE` files to a row: names, sizes, content hashes and flags (external, has a
chunk list) packed in a few blobs, in name order, with each folder's order by size beside them
as packed ranks.

A row per file made the index of a 1,000,000-file version cost seconds of inserts at each
close; a row per page of files costs a few thousand, and a page of a folder reads one or two.
A file's rank is its place in its folder by name.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, groupby
from typing import Any

from deltaset.core.manifest import Manifest

PAGE = 256  # files to a stored row
SCHEMA = """
CREATE TABLE file_pages(folder INTEGER, first INTEGER, names BLOB, sizes BLOB, ids BLOB,
    flags BLOB);
CREATE TABLE size_pages(folder INTEGER, first INTEGER, ranks BLOB);
"""
INDEXES = """
CREATE UNIQUE INDEX file_pages_at ON file_pages(folder, first);
CREATE UNIQUE INDEX size_pages_at ON size_pages(folder, first);
"""
_ID = 32  # bytes of a content hash
_SEP = "\0"  # never in a path
EXTERNAL, CHUNKED = 1, 2  # flags of a file


@dataclass(frozen=True, slots=True)
class StoredFile:
    rank: int
    name: str
    size: int
    blob_id: bytes
    flags: int

    @property
    def external(self) -> bool:
        return bool(self.flags & EXTERNAL)

    @property
    def chunked(self) -> bool:
        return bool(self.flags & CHUNKED)


@dataclass(slots=True)
class _Gathered:
    """One folder's files, in name order, as the manifest is walked."""

    names: list[str] = field(default_factory=list)
    # Unsigned, as a manifest holds them (a run of them is copied at once); the same bytes
    # as the signed sizes the pages are read back as, for any size a file can have.
    sizes: array[int] = field(default_factory=lambda: array("Q"))
    ids: bytearray = field(default_factory=bytearray)
    flags: bytearray = field(default_factory=bytearray)


def fill(db: sqlite3.Connection, manifest: Manifest, folder_of: Sequence[int]) -> None:
    """Store the files of ``manifest``, each in the folder ``folder_of`` gives by position."""
    if len(folder_of) != len(manifest):
        raise ValueError("folder_of names a folder for each file of the manifest")
    gathered: dict[int, _Gathered] = {}
    flagged = manifest.chunked_count or manifest.external_count
    at = 0
    # A run of files directly in one folder at a time: no Python step per file but its name.
    for folder_id, run in groupby(folder_of):
        count = len(list(run))
        found = gathered.get(folder_id)
        if found is None:
            found = gathered[folder_id] = _Gathered()
        span = range(at, at + count)
        paths, sizes, ids = manifest.columns_of(span)
        found.names += [path.rpartition("/")[2] for path in paths]
        found.sizes += sizes
        found.ids += ids
        found.flags += bytes(_flags(manifest, i) for i in span) if flagged else bytes(count)
        at += count
    _store(db, gathered, [], [])


def fill_changed(
    db: sqlite3.Connection,
    parent: sqlite3.Connection,
    moved: Mapping[int, int],
    manifest: Manifest,
    direct: Mapping[int, Sequence[int]],
) -> None:
    """Store the files of ``manifest`` from the folder index ``parent`` of a version it
    changes: the pages of the parent's folders ``moved`` holds (their ids there, to their ids
    here) as they are, and the files directly in the folders of ``direct`` (their ids here, to
    their files' positions in ``manifest`` in name order) from ``manifest``."""
    gathered = {folder_id: _gathered(manifest, at) for folder_id, at in direct.items()}
    _store(
        db,
        gathered,
        _moved(parent, "SELECT folder, first, names, sizes, ids, flags FROM file_pages", moved),
        _moved(parent, "SELECT folder, first, ranks FROM size_pages", moved),
    )


def names(db: sqlite3.Connection, folder_id: int) -> list[str]:
    """The names of the files directly in the folder, in order."""
    rows = db.execute("SELECT names FROM file_pages WHERE folder = ? ORDER BY first", (folder_id,))
    return [n for (packed,) in rows for n in packed.decode("utf-8", "surrogateescape").split(_SEP)]


def _gathered(manifest: Manifest, positions: Sequence[int]) -> _Gathered:
    found = _Gathered()
    for at, size, raw_id in manifest.sized_raw_ids(positions):
        found.names.append(manifest.path_at(at).rpartition("/")[2])
        found.sizes.append(size)
        found.ids += raw_id
        found.flags.append(_flags(manifest, at))
    return found


def _moved(
    parent: sqlite3.Connection, query: str, moved: Mapping[int, int]
) -> Iterator[tuple[Any, ...]]:
    for folder_id, *rest in parent.execute(query):
        to = moved.get(folder_id)
        if to is not None:
            yield (to, *rest)


def _store(
    db: sqlite3.Connection,
    gathered: dict[int, _Gathered],
    file_pages: Iterable[tuple[Any, ...]],
    size_pages: Iterable[tuple[Any, ...]],
) -> None:
    db.executescript(SCHEMA)
    with db:
        db.executemany(
            "INSERT INTO file_pages VALUES (?, ?, ?, ?, ?, ?)",
            chain(file_pages, _file_pages(gathered.items())),
        )
        db.executemany(
            "INSERT INTO size_pages VALUES (?, ?, ?)",
            chain(size_pages, _size_pages(gathered.items())),
        )
    db.executescript(INDEXES)


def _flags(manifest: Manifest, at: int) -> int:
    external = EXTERNAL if manifest.is_external_at(at) else 0
    return external | (CHUNKED if manifest.has_chunks_at(at) else 0)


def _file_pages(
    gathered: Iterable[tuple[int, _Gathered]],
) -> Iterable[tuple[int, int, bytes, bytes, bytes, bytes]]:
    for folder_id, files in gathered:
        for first in range(0, len(files.names), PAGE):
            end = first + PAGE
            yield (
                folder_id,
                first,
                _SEP.join(files.names[first:end]).encode("utf-8", "surrogateescape"),
                files.sizes[first:end].tobytes(),
                bytes(files.ids[first * _ID : end * _ID]),
                bytes(files.flags[first:end]),
            )


def _size_pages(gathered: Iterable[tuple[int, _Gathered]]) -> Iterable[tuple[int, int, bytes]]:
    for folder_id, files in gathered:
        # Largest first; a stable sort keeps equal sizes in name order.
        ranked = sorted(range(len(files.names)), key=files.sizes.__getitem__, reverse=True)
        order = array("I", ranked)
        for first in range(0, len(order), PAGE):
            yield folder_id, first, order[first : first + PAGE].tobytes()


def by_name(db: sqlite3.Connection, folder_id: int, offset: int, limit: int) -> list[StoredFile]:
    """The files of ranks ``offset`` to ``offset + limit``."""
    start = offset - offset % PAGE
    rows = db.execute(
        "SELECT first, names, sizes, ids, flags FROM file_pages "
        "WHERE folder = ? AND first >= ? AND first < ? ORDER BY first",
        (folder_id, start, offset + limit),
    )
    found = [f for row in rows for f in _decoded(*row)]
    return [f for f in found if offset <= f.rank < offset + limit]


def by_size(db: sqlite3.Connection, folder_id: int, offset: int, limit: int) -> list[StoredFile]:
    """Files ``offset`` to ``offset + limit`` of the folder, the largest first."""
    start = offset - offset % PAGE
    ranks = array("I")
    for (packed,) in db.execute(
        "SELECT ranks FROM size_pages WHERE folder = ? AND first >= ? AND first < ? ORDER BY first",
        (folder_id, start, offset + limit),
    ):
        ranks.frombytes(packed)
    wanted = ranks[offset - start : offset - start + limit]
    pages = sorted({rank - rank % PAGE for rank in wanted})
    marks = ", ".join("?" * len(pages))
    rows = db.execute(
        "SELECT first, names, sizes, ids, flags FROM file_pages "
        f"WHERE folder = ? AND first IN ({marks})",
        (folder_id, *pages),
    )
    known = {f.rank: f for row in rows for f in _decoded(*row)}
    return [known[rank] for rank in wanted]


def named(db: sqlite3.Connection, folder_id: int, count: int, name: str) -> StoredFile | None:
    """The file ``name`` directly in the folder of ``count`` files: a binary search over its
    pages, whose names are in order."""
    low, high = 0, (count + PAGE - 1) // PAGE
    query = "SELECT first, names, sizes, ids, flags FROM file_pages WHERE folder = ? AND first = ?"
    while low < high:
        middle = (low + high) // 2
        row = db.execute(query, (folder_id, middle * PAGE)).fetchone()
        if row is None:
            return None
        files = _decoded(*row)
        if name < files[0].name:
            high = middle
        elif name > files[-1].name:
            low = middle + 1
        else:
            return next((f for f in files if f.name == name), None)
    return None


def _decoded(first: int, names: bytes, sizes: bytes, ids: bytes, flags: bytes) -> list[StoredFile]:
    sized = array("q")
    sized.frombytes(sizes)
    return [
        StoredFile(first + i, name, sized[i], ids[i * _ID : (i + 1) * _ID], flags[i])
        for i, name in enumerate(names.decode("utf-8", "surrogateescape").split(_SEP))
    ]
