"""The ``folders`` table of a folder index (see :mod:`deltaset.engine.browse`): each folder's
parent, rank by name among its parent's subfolders, path, name, and the files and bytes under
it. Paths and names are stored as UTF-8 bytes, undecodable bytes kept, so every path
round-trips."""

from __future__ import annotations

import sqlite3

from deltaset.core.folders import Folder

SCHEMA = """
CREATE TABLE folders(id INTEGER PRIMARY KEY, parent INTEGER, rank INTEGER, path BLOB,
    name BLOB, files INTEGER, bytes INTEGER, direct_files INTEGER, subfolders INTEGER);
"""
INDEXES = """
CREATE UNIQUE INDEX folders_by_path ON folders(path);
CREATE INDEX folders_by_parent ON folders(parent, rank);
CREATE INDEX folders_by_bytes ON folders(parent, bytes);
"""


def fill(db: sqlite3.Connection, folders: list[Folder]) -> None:
    """Store ``folders`` (``folders[i]`` has id i)."""
    db.executescript(SCHEMA)
    with db:
        db.executemany(
            "INSERT INTO folders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    at,
                    f.parent,
                    f.rank,
                    raw(f.path),
                    raw(f.name),
                    f.files,
                    f.bytes,
                    f.direct_files,
                    f.subfolders,
                )
                for at, f in enumerate(folders)
            ),
        )
    db.executescript(INDEXES)


def read(db: sqlite3.Connection) -> list[Folder]:
    """The folders a folder index stores, ``[i]`` the one of id i."""
    rows = db.execute(
        "SELECT path, name, parent, rank, files, bytes, direct_files, subfolders "
        "FROM folders ORDER BY id"
    )
    return [
        Folder(text(path), text(name), parent, rank, files, size, direct, subfolders)
        for path, name, parent, rank, files, size, direct, subfolders in rows
    ]


def raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")
