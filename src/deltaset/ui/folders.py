"""One folder of a version, a page at a time, read from the manifest in path order.

A folder's children are found by jumping over each sub-folder's span of paths, so a page costs
about its own rows (plus a binary search per sub-folder), never the whole manifest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from deltaset.core.manifest import Manifest
from deltaset.engine.browse import FolderPage
from deltaset.errors import InvalidInputError, NotFoundError, shown

PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Child:
    name: str
    path: str  # the file's path, or the folder's with a trailing "/"
    is_folder: bool
    files: int  # 1 for a file
    size: int


@dataclass(frozen=True, slots=True)
class Listing:
    folder: str  # "" for the top, else ending in "/"
    children: list[Child]
    page: int
    has_next: bool
    files_below: int  # every file under the folder, at any depth


def check_folder(folder: str) -> str:
    """``folder`` as a prefix ("" or "a/b/"); refuses what could name anything outside."""
    parts = [p for p in folder.strip("/").split("/") if p]
    if any(p in (".", "..") for p in parts) or "\\" in folder or "\0" in folder:
        raise InvalidInputError(f"The folder {shown(folder)} is not a path inside the dataset.")
    return "".join(p + "/" for p in parts)


def list_folder(view: Manifest, folder: str, page: int = 1, per_page: int = PER_PAGE) -> Listing:
    prefix = check_folder(folder)
    if page < 1:
        raise InvalidInputError(f"The page {page} is not a page number (1 or more).")
    below = view.span(prefix)
    if prefix and not below:
        raise NotFoundError(f"The version has no folder {shown(prefix.rstrip('/'))}.")
    rows = list(islice(_children(view, prefix, below), (page - 1) * per_page, page * per_page + 1))
    return Listing(prefix, rows[:per_page], page, len(rows) > per_page, len(below))


def listing_of(found: FolderPage, prefix: str, page: int) -> Listing:
    """A page of a folder index as a listing: its subfolders, then its files."""
    children = [Child(f.name, f.path + "/", True, f.files, f.bytes) for f in found.folders]
    children += [Child(f.name, f.path, False, 1, f.size) for f in found.files]
    return Listing(prefix, children, page, found.next_offset is not None, found.files_under)


def _children(view: Manifest, prefix: str, below: range) -> Iterator[Child]:
    at = below.start
    while at < below.stop:
        path = view.path_at(at)
        name, sep, _ = path[len(prefix) :].partition("/")
        if not sep:
            yield Child(name, path, False, 1, view.size_at(at))
            at += 1
            continue
        sub = view.span(prefix + name + "/")
        yield Child(name, prefix + name + "/", True, len(sub), view.size_of(sub))
        at = sub.stop


def breadcrumbs(folder: str) -> list[tuple[str, str]]:
    """(name, folder path) from the top down to ``folder``."""
    crumbs, path = [], ""
    for part in folder.strip("/").split("/"):
        if part:
            path += part + "/"
            crumbs.append((part, path))
    return crumbs
