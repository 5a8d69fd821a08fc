"""The folder index (see :mod:`deltaset.engine.browse`) of a version that changes a few files
of its one parent, made from the parent's index rather than from all its files.

Its folders are the parent's with the changes counted in (see
:func:`deltaset.core.folders.updated_folders`); the pages of each folder no change touches are
the parent's, copied as they are under the folder's new id; those of the folders a change
touches are made again from the version's manifest. The index is the one a walk over every
file makes, row for row.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from deltaset.core.folders import updated_folders
from deltaset.core.manifest import Manifest
from deltaset.engine import folder_files, folder_table
from deltaset.engine.kept_indexes import write_index

SMALL_CHANGE = 8  # made from the parent's when at most 1/SMALL_CHANGE of the files changed


def is_small(view: Manifest, files: Manifest, removed: tuple[str, ...]) -> bool:
    """Whether so few files changed that copying the parent's index beats a walk."""
    return (len(files) + len(removed)) * SMALL_CHANGE <= len(view)


def write_updated(
    parent: sqlite3.Connection,
    target: Path,
    view: Manifest,
    base: Manifest,
    files: Manifest,
    removed: tuple[str, ...],
) -> None:
    """Write to ``target`` the folder index of ``view``, made of ``base`` (whose index is
    ``parent``) by putting ``files`` and taking ``removed`` away."""
    before = folder_table.read(parent)
    folders = updated_folders(before, base, files, removed)
    old_ids = {f.path: at for at, f in enumerate(before)}
    touched = _by_folder(files, removed)
    moved: dict[int, int] = {}
    direct: dict[int, list[int]] = {}
    for at, folder in enumerate(folders):
        old = old_ids.get(folder.path)
        if folder.path in touched:
            kept = folder_files.names(parent, old) if old is not None else []
            direct[at] = _positions(view, folder.path, kept, touched[folder.path])
        elif old is not None:
            moved[old] = at

    def fill(db: sqlite3.Connection) -> None:
        folder_table.fill(db, folders)
        folder_files.fill_changed(db, parent, moved, view, direct)

    write_index(target, fill)


def _by_folder(files: Manifest, removed: Iterable[str]) -> dict[str, set[str]]:
    """The names each change touches, by the folder it is directly in."""
    touched: defaultdict[str, set[str]] = defaultdict(set)
    for path in (*files, *removed):
        folder, _, name = path.rpartition("/")
        touched[folder].add(name)
    return touched


def _positions(view: Manifest, folder: str, kept: list[str], changed: set[str]) -> list[int]:
    """Where the files now directly in ``folder`` sit in ``view``, in name order: the parent's
    ``kept`` names and the ``changed`` ones, those ``view`` still holds."""
    prefix = f"{folder}/" if folder else ""
    found = (view.position(prefix + name) for name in sorted({*kept, *changed}))
    return [at for at in found if at is not None]
