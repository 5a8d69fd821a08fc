"""Finding local files to add, and hashing them, reusing known hashes of unchanged files."""

from __future__ import annotations

import fnmatch
import glob
import logging
import operator
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import blake3

from deltaset.cache.hashes import Key
from deltaset.catalog.base import DraftChange
from deltaset.core import paths
from deltaset.core.chunking import should_chunk
from deltaset.core.hashing import blob_id_of
from deltaset.engine.context import Context, cpu_workers
from deltaset.errors import InvalidInputError, NotFoundError
from deltaset.storage.errors import map_os_errors, os_error

MMAP_FROM = 1 << 20
THREADED_FROM = 64 << 20
HASH_GROUP = 64
STREAM_BATCH = 8192
RACY_SECONDS = 2.0  # a file changed this recently may change again within its mtime tick

log = logging.getLogger("deltaset")

# Told the dataset path, id and bytes of each small file just hashed.
Keep = Callable[[str, str, bytes], object]


@dataclass(frozen=True, slots=True)
class Landing:
    """How the files of one walk map to dataset paths: ``prefix`` plus the source path past its
    first ``cut`` characters (the local base folder)."""

    prefix: str
    cut: int


class LocalFile:
    """A file found for adding. Kept lean (a folder of a million files holds a million of
    these): the dataset path is derived from the source, and the stat fields are plain slots."""

    __slots__ = ("key", "landing", "size", "source")

    def __init__(self, source: str, landing: Landing, stat: os.stat_result) -> None:
        self.source = source
        self.landing = landing
        self.size = stat.st_size
        # Made once: the hash cache is looked up and filled by it, several times per file.
        self.key: Key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)

    @property
    def path(self) -> str:
        """Where the file lands in the dataset."""
        return self.landing.prefix + self.source[self.landing.cut :]


class HashedFile(NamedTuple):
    """A local file with its content id. A tuple: one is made for every file of every add and
    sync, and a frozen dataclass costs several times more to make."""

    source: str
    path: str
    size: int
    blob_id: str
    key: Key

    def change(self) -> DraftChange:
        return DraftChange(self.path, size=self.size, blob_id=self.blob_id, source=self.source)


def _has_magic(text: str) -> bool:
    return glob.has_magic(text)


# A file found for adding: its source path, where it lands, and its stat.
Found = tuple[str, Landing, os.stat_result]


def collect(
    path: str,
    wildcard: Sequence[str] | None,
    local_base_folder: str | None,
    dataset_path: str | None,
    recursive: bool,
) -> list[LocalFile]:
    """The files ``add_files`` selects, with their in-dataset paths; raises if none exists."""
    found = [
        LocalFile(*f) for f in find(path, wildcard, local_base_folder, dataset_path, recursive)
    ]
    return unique_paths(found) if _has_magic(os.path.expanduser(path)) else found


def find(
    path: str,
    wildcard: Sequence[str] | None,
    local_base_folder: str | None,
    dataset_path: str | None,
    recursive: bool,
) -> Iterator[Found]:
    """The files of :func:`collect` as a stream, before any object is made for them (a
    pattern matching several folders may bring one path twice). Raises before the first file
    if ``path`` does not exist."""
    expanded = os.path.expanduser(path)
    roots = sorted(glob.glob(expanded)) if _has_magic(expanded) else [expanded]
    if not roots or not all(os.path.exists(r) for r in roots):
        raise NotFoundError(f"The path {path} does not exist.")
    return _find(roots, expanded, wildcard, local_base_folder, dataset_path, recursive)


def _find(
    roots: list[str],
    expanded: str,
    wildcard: Sequence[str] | None,
    local_base_folder: str | None,
    dataset_path: str | None,
    recursive: bool,
) -> Iterator[Found]:
    folder = paths.normalize_folder(dataset_path)
    for root in (os.path.abspath(r) for r in roots):
        is_dir = os.path.isdir(root)
        base = (
            os.path.abspath(os.path.expanduser(local_base_folder or ""))
            if local_base_folder
            else (root if is_dir else os.path.dirname(root))
        )
        named = not _has_magic(expanded)  # given by its name, not matched by a pattern
        walk_deeper = recursive and (is_dir or named)
        landing = Landing(f"{folder}/" if folder else "", len(base.rstrip("/")) + 1)
        if not paths.is_text(base):  # past it, every name is checked as a dataset path
            raise InvalidInputError(
                f"Cannot add from {paths.printable(base)}: its path is not UTF-8 text, and "
                "deltaset records where each file comes from as text; rename it."
            )
        if root != base or not is_dir:  # a file is never inside itself
            _check_inside(root, base)
            if not _addable_root(root, landing, is_dir, named):
                continue
        walked = _walk(root, walk_deeper, landing)
        yield from _selected(walked, landing.cut, wildcard) if wildcard else walked


def _addable_root(root: str, landing: Landing, is_dir: bool, named: bool) -> bool:
    """Whether a file or folder given to add (not the base folder itself) can be added: a
    special file or a name a pull would refuse is an error when ``named``, else skipped with a
    warning, as a folder walk skips them."""
    with map_os_errors(f"read {root}"):
        mode = os.stat(root).st_mode
    reason = None if is_dir or stat.S_ISREG(mode) else _special(mode)
    reason = reason or _bad_name(landing.prefix + root[landing.cut :], is_dir)
    if reason is None:
        return True
    if named:
        raise InvalidInputError(f"Cannot add {paths.printable(root)}: {reason}")
    log.warning("skipped %s: %s", paths.printable(root), reason)
    return False


def _special(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))
    kind = next((k for test, k in kinds if test(mode)), "a device")
    return f"it is {kind}, not a regular file."


def _bad_name(path: str, is_dir: bool) -> str | None:
    """Why ``path`` cannot be a dataset path (see :func:`deltaset.core.paths.check_new`)."""
    try:
        paths.check_new_folder(path) if is_dir else paths.check_new(path)
    except InvalidInputError as exc:
        return exc.message[:1].lower() + exc.message[1:]
    return None


def whole_folder(source: str | None) -> str | None:
    """The folder ``source`` names, when it names one (and not a pattern)."""
    if source is None:
        return None
    expanded = os.path.expanduser(source)
    return expanded if not _has_magic(expanded) and os.path.isdir(expanded) else None


def unique_paths(files: Iterable[LocalFile]) -> list[LocalFile]:
    """``files`` with one file per in-dataset path, the last one given winning."""
    return list({f.path: f for f in files}.values())


def _walk(root: str, recursive: bool, landing: Landing) -> Iterator[Found]:
    """Files under ``root`` (or ``root`` itself) with their stat, in name order.

    Symbolic links to files are followed; links to folders are not descended (no cycles).
    """
    if not os.path.isdir(root):
        with map_os_errors(f"read {root}"):
            yield root, landing, os.stat(root)
        return
    # A stack of folder listings rather than recursion: a file does not pass through one
    # generator per folder level on its way out.
    listings = [_listing(root)]
    while listings:
        for entry in listings[-1]:
            try:
                # Names hold no "/" and are never "." or "..": most need no check of their path.
                if paths.suspect(entry.name) and not _walked_name_ok(entry, landing):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        listings.append(_listing(entry.path))
                        break
                elif entry.is_file():
                    yield entry.path, landing, entry.stat()
                else:
                    _skip_special(entry.path)
            except OSError as exc:
                raise os_error(exc, f"read {entry.path}") from exc
        else:
            listings.pop()


def _skip_special(path: str) -> None:
    """Say that a walk skips ``path`` if it is a special file; a link to a folder (never
    descended) or to nothing is skipped silently."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISDIR(mode):
        log.warning("skipped %s: %s", paths.printable(path), _special(mode))


def _walked_name_ok(entry: os.DirEntry[str], landing: Landing) -> bool:
    """Whether a suspect name found in a walk makes a path a pull accepts; if not, the file
    (or folder) is skipped with a warning naming it."""
    is_dir = entry.is_dir(follow_symlinks=False)
    reason = _bad_name(landing.prefix + entry.path[landing.cut :], is_dir)
    if reason is not None:
        log.warning("skipped %s: %s", paths.printable(entry.path), reason)
    return reason is None


def _listing(folder: str) -> Iterator[os.DirEntry[str]]:
    """The entries of ``folder`` in name order."""
    with map_os_errors(f"list the folder {folder}"):
        return iter(sorted(os.scandir(folder), key=_name))


_name = operator.attrgetter("name")


def _check_inside(source: str, base: str) -> None:
    if not source.startswith(base.rstrip("/") + "/"):
        raise InvalidInputError(f"The file {source} is not inside the local base folder {base}.")


def _selected(found: Iterable[Found], cut: int, wildcard: Sequence[str]) -> Iterator[Found]:
    """The files of ``found`` whose path past ``cut`` or whose name matches a pattern."""
    for item in found:
        rel, name = item[0][cut:], os.path.basename(item[0])
        if any(paths.matches(rel, w) or fnmatch.fnmatchcase(name, w) for w in wildcard):
            yield item


def hash_files(
    ctx: Context, files: list[LocalFile], max_workers: int | None, keep: Keep | None = None
) -> Iterator[HashedFile]:
    """Hash the files, in parallel and batch by batch, reusing the hashes of unchanged files.

    ``keep`` is given the path, id and bytes of every small file read (to store them while they are
    in memory). A stream: at most two batches are in flight, whatever the number of files; the
    next batch is looked up and hashing while the caller consumes the current one.
    """
    ctx.progress.start("hashing", len(files), sum(f.size for f in files))
    try:
        with ThreadPoolExecutor(cpu_workers(max_workers)) as pool:
            running: _Batch | None = None
            for start in range(0, len(files), STREAM_BATCH):
                following = _start_batch(ctx, pool, files[start : start + STREAM_BATCH], keep)
                if running is not None:
                    yield from running.finish(ctx)
                running = following
            if running is not None:
                yield from running.finish(ctx)
    finally:
        ctx.progress.finish()


class _Batch(NamedTuple):
    files: list[LocalFile]
    known: dict[Key, str]  # hashes the cache knows
    hashing: list[Future[list[tuple[Key, str]]]]  # the rest, in groups

    def finish(self, ctx: Context) -> list[HashedFile]:
        fresh: dict[Key, str] = {}
        for group in self.hashing:
            fresh.update(group.result())
        now = time.time()
        ctx.hashes.remember((k, b) for k, b in fresh.items() if now - k[3] / 1e9 > RACY_SECONDS)
        known = self.known | fresh
        return [HashedFile(f.source, f.path, f.size, known[f.key], f.key) for f in self.files]


def _start_batch(
    ctx: Context, pool: ThreadPoolExecutor, files: list[LocalFile], keep: Keep | None
) -> _Batch:
    known = ctx.hashes.lookup(f.key for f in files)
    todo = [f for f in files if f.key not in known]
    ctx.progress.advance(len(files) - len(todo), sum(k[2] for k in known))

    def hash_group(group: list[LocalFile]) -> list[tuple[Key, str]]:
        return [(f.key, _hash(ctx, f, keep)) for f in group]

    # Groups, not one task per file: per-task overhead would exceed the cost of a small file.
    groups = [todo[i : i + HASH_GROUP] for i in range(0, len(todo), HASH_GROUP)]
    return _Batch(files, known, [pool.submit(hash_group, g) for g in groups])


def _hash(ctx: Context, item: LocalFile, keep: Keep | None) -> str:
    size = item.key[2]
    if keep is not None and not should_chunk(size):
        with map_os_errors(f"read {item.source}"), open(item.source, "rb") as handle:
            data = handle.read()
        blob_id = blob_id_of(data)
        keep(item.path, blob_id, data)
        ctx.progress.advance(1, size)
        return blob_id
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO if size >= THREADED_FROM else 1)
    with map_os_errors(f"read {item.source}"):
        if size >= MMAP_FROM:
            hasher.update_mmap(item.source)
        else:
            with open(item.source, "rb") as handle:
                hasher.update(handle.read())
    ctx.progress.advance(1, size)
    return str(hasher.hexdigest())
