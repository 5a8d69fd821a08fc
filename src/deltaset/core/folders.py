"""A version's folders, worked out from its manifest in one walk: each folder's parent, the
files and bytes under it, and the folder every file sits in directly.

Paths are sorted, so the files under a folder are one run of the manifest: a walk keeps the
chain of folders open at the current path, closes the ones the next path leaves (adding their
totals to their parent's) and opens the ones it enters. No folder is entered twice.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby, islice, repeat

from deltaset.core.manifest import Manifest

ROOT = 0  # the id of the version's root folder
_BATCH = 4096  # paths taken at a time by a walk


@dataclass(slots=True)
class Folder:
    """One folder: ``path`` ("" for the root), its ``parent``'s id (-1 for the root), its
    ``rank`` among its parent's subfolders by name, and the files and bytes under it."""

    path: str
    name: str
    parent: int
    rank: int = 0
    files: int = 0
    bytes: int = 0
    direct_files: int = 0
    subfolders: int = 0


@dataclass(frozen=True, slots=True)
class FolderTree:
    """The folders of a manifest (``folders[i]`` has id i) and, by position in the manifest,
    the id of the folder each file is directly in."""

    folders: list[Folder]
    folder_of: array[int]


def folder_tree(manifest: Manifest) -> FolderTree:
    folders = [Folder("", "", -1)]
    chain: list[int] = [ROOT]  # the ids of the open folders, the root first
    names: list[str] = []  # their names, past the root
    folder_of = array("I")
    open_path = ""  # the path of the innermost open folder
    at = 0
    # A run of files directly in one folder at a time: no Python step per file.
    for folder, run in groupby(_folders(manifest)):
        count = len(list(run))
        if folder != open_path:
            _move(folders, chain, names, folder.split("/") if folder else [])
            open_path = folder
        here = folders[chain[-1]]
        here.files += count
        here.direct_files += count
        here.bytes += manifest.size_of(range(at, at + count))
        folder_of.extend(repeat(chain[-1], count))
        at += count
    while len(chain) > 1:
        _close(folders, chain)
    _rank(folders)
    return FolderTree(folders, folder_of)


def _folders(manifest: Manifest) -> Iterator[str]:
    """The folder each file of ``manifest`` is directly in, in order, made a batch at a time
    (one string per file of a whole version at once would weigh on a close's memory)."""
    paths = iter(manifest)
    while batch := list(islice(paths, _BATCH)):
        yield from [path.rpartition("/")[0] for path in batch]


def _move(folders: list[Folder], chain: list[int], names: list[str], parts: list[str]) -> None:
    """Close the open folders ``parts`` leaves and open the ones it enters."""
    common = _shared(names, parts)
    while len(names) > common:
        _close(folders, chain)
        names.pop()
    for name in parts[common:]:
        names.append(name)
        folders.append(Folder("/".join(names), name, chain[-1]))
        chain.append(len(folders) - 1)


def _shared(names: list[str], parts: list[str]) -> int:
    """How many leading folder names ``parts`` has in common with the open ones."""
    common, most = 0, min(len(names), len(parts))
    while common < most and names[common] == parts[common]:
        common += 1
    return common


def _close(folders: list[Folder], chain: list[int]) -> None:
    done = folders[chain.pop()]
    parent = folders[chain[-1]]
    parent.files += done.files
    parent.bytes += done.bytes
    parent.subfolders += 1


def _rank(folders: list[Folder]) -> None:
    """Number each folder's subfolders by name (path order puts ``b-c/`` before ``b/``)."""
    children: defaultdict[int, list[int]] = defaultdict(list)
    for at, folder in enumerate(folders[1:], start=1):
        children[folder.parent].append(at)
    for ids in children.values():
        for rank, at in enumerate(sorted(ids, key=lambda i: folders[i].name)):
            folders[at].rank = rank


def updated_folders(
    before: Iterable[Folder], base: Manifest, files: Manifest, removed: Iterable[str]
) -> list[Folder]:
    """The folders of the manifest that ``files`` (put) and ``removed`` make of ``base``,
    whose folders are ``before``: what :func:`folder_tree` gives of it, in time that grows
    with the folders and the changes, not with the files.

    A walk opens folders in the order of the first file under each; the files under a folder
    are the run of paths starting with its path and a slash, so that order is the order of
    each folder's path followed by a slash.
    """
    totals = {f.path: [f.files, f.bytes, f.direct_files] for f in before}
    totals.setdefault("", [0, 0, 0])
    for path in removed:
        _count(totals, path, -1, -base.size_at(_position(base, path)))
    for at, path in enumerate(files):
        known = base.position(path)
        if known is None:
            _count(totals, path, 1, files.size_at(at))
        else:
            _count(totals, path, 0, files.size_at(at) - base.size_at(known))
    kept = sorted((path for path, found in totals.items() if path and found[0] > 0), key=_opened)
    root_files, root_bytes, root_direct = totals[""]
    folders = [Folder("", "", -1, files=root_files, bytes=root_bytes, direct_files=root_direct)]
    ids = {"": ROOT}
    for path in kept:
        parent, _, name = path.rpartition("/")
        count, size, direct = totals[path]
        ids[path] = len(folders)
        folders.append(Folder(path, name, ids[parent], 0, count, size, direct))
        folders[ids[parent]].subfolders += 1
    _rank(folders)
    return folders


def _opened(path: str) -> str:
    return path + "/"


def _position(manifest: Manifest, path: str) -> int:
    found = manifest.position(path)
    if found is None:
        raise ValueError(f"{path!r} is not in the manifest it is removed from")
    return found


def _count(totals: dict[str, list[int]], path: str, files: int, size: int) -> None:
    """Count a file in or out (``files`` 1 or -1; 0 for new content of the same path) of its
    folder and of every folder above it."""
    folder = path.rpartition("/")[0]
    totals.setdefault(folder, [0, 0, 0])[2] += files
    while True:
        found = totals.setdefault(folder, [0, 0, 0])
        found[0] += files
        found[1] += size
        if not folder:
            return
        folder = folder.rpartition("/")[0]
