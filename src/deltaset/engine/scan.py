"""Finding local files to add, and hashing them, reusing known hashes of unchanged files."""

from __future__ import annotations

import errno
import fnmatch
import glob
import logging
import operator
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, ParamSpec, TypeVar

from deltaset.cache.hashes import Key
from deltaset.catalog.base import DraftChange
from deltaset.core import paths
from deltaset.core.chunking import should_chunk
from deltaset.core.hashing import THREADED_FROM, blob_id_of, hash_stream
from deltaset.engine.context import Context, cpu_workers
from deltaset.engine.found import FoundFiles
from deltaset.engine.found import Landing as Landing
from deltaset.engine.found import LocalFile as LocalFile
from deltaset.engine.hash_process import (
    RACY_SECONDS as RACY_SECONDS,
)
from deltaset.engine.hash_process import (
    HashingProcess,
    Keeper,
    Outcome,
    Unread,
    process_from,
    wanted,
)
from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError, StorageError
from deltaset.faults import failpoint
from deltaset.storage.errors import TOO_LONG, map_os_errors

STREAM_FROM = 1 << 20  # smaller files are read in one call
READ_CHUNK = 1 << 16  # what is read at a time past a short read
READ_ATTEMPTS = 3  # reads of a file that keeps changing before it counts as unreadable
HASH_GROUP = 64
TINY_FILES_MEAN = 1024  # below this mean size a folder is hashed by one thread
STREAM_BATCH = 8192
PROCESS_AHEAD = 4  # batches a second hashing process may be given before the first is taken
WALK_AHEAD = 8  # batches it may be given, not yet hashed, while the files are walked

log = logging.getLogger("deltaset")
_P = ParamSpec("_P")
_T = TypeVar("_T")

# Told the dataset path, id and bytes of small files just hashed, a group at a time.
Keep = Callable[[list[tuple[str, str, bytes]]], object]
KEEP_BYTES = 1 << 20  # bytes of small files held for ``keep`` before it is told them


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """What adding does with what it cannot simply read: a file that cannot be read, vanishes
    or keeps changing fails the add unless ``ignore_failed_read`` (then it is skipped with a
    warning naming it, as tar's ``--ignore-failed-read``); a symbolic link leaving the folder
    walked is skipped with a warning unless ``copy_unsafe_links`` (as rsync's option)."""

    ignore_failed_read: bool = False
    copy_unsafe_links: bool = False

    def failed(self, path: str, reason: str, kind: type[DeltasetError] = StorageError) -> None:
        """Skip ``path`` with a warning, or fail, for ``reason`` (a sentence of its own)."""
        if self.ignore_failed_read:
            _skip(path, reason)
            return
        shown = paths.printable(path)
        raise kind(f"Cannot add {shown}: {reason[:-1]}; --ignore-failed-read skips such files.")


STRICT = ReadPolicy()


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
    policy: ReadPolicy = STRICT,
) -> list[LocalFile]:
    """The files ``add_files`` selects, with their in-dataset paths; raises if none exists."""
    found = [
        LocalFile(*f)
        for f in find(path, wildcard, local_base_folder, dataset_path, recursive, policy)
    ]
    return unique_paths(found) if _has_magic(os.path.expanduser(path)) else found


def find(
    path: str,
    wildcard: Sequence[str] | None,
    local_base_folder: str | None,
    dataset_path: str | None,
    recursive: bool,
    policy: ReadPolicy = STRICT,
    links: list[str] | None = None,
) -> Iterator[Found]:
    """The files of :func:`collect` as a stream, before any object is made for them (a
    pattern matching several folders may bring one path twice). Raises before the first file
    if ``path`` does not exist. The symbolic links followed are added to ``links``."""
    expanded = os.path.expanduser(path)
    roots = sorted(glob.glob(expanded)) if _has_magic(expanded) else [expanded]
    if not roots or not all(os.path.lexists(r) for r in roots):  # a matched link is judged later
        raise NotFoundError(f"The path {path} does not exist.")
    failpoint("scan.walk")  # a test proving that a sync did not walk its folder dies here
    return _find(
        roots, expanded, wildcard, local_base_folder, dataset_path, recursive, policy, links
    )


def _find(
    roots: list[str],
    expanded: str,
    wildcard: Sequence[str] | None,
    local_base_folder: str | None,
    dataset_path: str | None,
    recursive: bool,
    policy: ReadPolicy,
    links: list[str] | None,
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
        if root != base or not is_dir:  # a file is never inside itself
            _check_inside(root, base)
            matched_link = not named and not is_dir and os.path.islink(root)
            if matched_link and _followed(root, _Inside(base), policy) is None:
                continue  # it leaves the base folder, loops or leads nowhere: said why
            if not _addable_root(root, landing, is_dir, named):
                continue
        walked = _walk(root, walk_deeper, landing, policy, links=links)
        yield from _selected(walked, landing.cut, wildcard) if wildcard else walked


def find_changed(
    folder: str,
    changed: Iterable[str],
    prefix: str,
    policy: ReadPolicy = STRICT,
    links: list[str] | None = None,
) -> Iterator[Found]:
    """The files at or under the paths ``changed`` (relative to ``folder``) as a walk of the
    whole folder would find them; a path under another is looked at once, a path gone is not
    found. A path under a symbolic link or deltaset's own folder is none of the walk's."""
    root = os.path.abspath(folder)
    landing = Landing(f"{prefix}/" if prefix else "", len(root.rstrip("/")) + 1)
    inside, real = _Inside(root), os.path.realpath(root)
    wanted = set(changed)
    for rel in sorted(wanted):
        if _has_ancestor_in(rel, wanted) or paths.OWN_FOLDER in rel.split("/"):
            continue
        parent = os.path.dirname(rel)
        if os.path.realpath(os.path.join(root, parent)) != os.path.join(real, parent).rstrip("/"):
            continue  # under a link to a folder, never walked (or gone)
        at = os.path.join(root, rel) if rel else root
        yield from _found_at(at, landing, inside, policy, links)


def _has_ancestor_in(rel: str, wanted: set[str]) -> bool:
    while (cut := rel.rfind("/")) >= 0:
        rel = rel[:cut]
        if rel in wanted:
            return True
    return bool(rel) and "" in wanted


def _found_at(
    path: str, landing: Landing, inside: _Inside, policy: ReadPolicy, links: list[str] | None
) -> Iterator[Found]:
    """What a walk finds at ``path``: the file, the files under the folder, or nothing."""
    try:
        found = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        policy.failed(path, *_why_unreadable(exc))
        return
    is_dir = stat.S_ISDIR(found.st_mode)
    if len(path) >= landing.cut and paths.suspect(os.path.basename(path)):
        reason = _bad_name(landing.prefix + path[landing.cut :], is_dir)
        if reason is not None:
            _skip(path, reason)
            return
    if is_dir:
        yield from _walk(path, True, landing, policy, inside, links)
    elif stat.S_ISLNK(found.st_mode):
        if (followed := _followed(path, inside, policy, links)) is not None:
            yield path, landing, followed
    elif stat.S_ISREG(found.st_mode):
        yield path, landing, found
    else:
        _skip(path, _special(found.st_mode))


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
    _skip(root, reason)
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


def _walk(
    root: str,
    recursive: bool,
    landing: Landing,
    policy: ReadPolicy,
    inside: _Inside | None = None,
    links: list[str] | None = None,
) -> Iterator[Found]:
    """Files under ``root`` (or ``root`` itself) with their stat, in name order.

    A symbolic link to a file is followed when its target is inside ``root`` (anywhere, with
    ``policy.copy_unsafe_links``); a link to a folder is never descended (no cycles). A link
    that leaves the folder, loops or leads nowhere is skipped with a warning naming it; a file
    or folder that cannot be read goes to ``policy``. The links followed go to ``links``.
    """
    if not os.path.isdir(root):
        with map_os_errors(f"read {root}"):
            yield root, landing, os.stat(root)
        return
    inside = inside or _Inside(root)
    # A stack of folder listings rather than recursion: a file does not pass through one
    # generator per folder level on its way out.
    with map_os_errors(f"list the folder {root}"):
        listings = [_listing(root)]
    while listings:
        for entry in listings[-1]:
            try:
                # Names hold no "/" and are never "." or "..": most need no check of their path.
                if paths.suspect(entry.name) and not _walked_name_ok(entry, landing):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name == paths.OWN_FOLDER:
                        continue  # deltaset's own, as .git is git's: never data
                    if recursive and (listing := _sub_listing(entry.path, policy)) is not None:
                        listings.append(listing)
                        break
                elif entry.is_symlink():
                    if (found := _followed(entry.path, inside, policy, links)) is not None:
                        yield entry.path, landing, found
                elif entry.is_file(follow_symlinks=False):
                    yield entry.path, landing, entry.stat(follow_symlinks=False)
                else:
                    _skip(entry.path, _special(entry.stat(follow_symlinks=False).st_mode))
            except OSError as exc:
                policy.failed(entry.path, *_why_unreadable(exc))
        else:
            listings.pop()


def _skip(path: str, reason: str) -> None:
    log.warning("skipped %s: %s", paths.printable(path), reason)


class _Inside:
    """Whether a path, links resolved, is inside a folder (links resolved too)."""

    def __init__(self, folder: str) -> None:
        self._prefix = os.path.realpath(folder).rstrip("/") + "/"

    def __call__(self, path: str) -> bool:
        return os.path.realpath(path).startswith(self._prefix)


def _followed(
    link: str, inside: _Inside, policy: ReadPolicy, links: list[str] | None = None
) -> os.stat_result | None:
    """The stat of the file the symbolic link ``link`` leads to, when a walk follows it (then
    ``link`` goes to ``links``); else None, with a warning saying why (or ``policy`` told that
    it cannot be read)."""
    try:
        found = os.stat(link)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            _skip(link, "it is a symbolic link in a loop of links.")
        elif isinstance(exc, FileNotFoundError) and os.path.lexists(link):
            _skip(link, f"it is a symbolic link to {_target(link)}, which does not exist.")
        else:
            policy.failed(link, *_why_unreadable(exc))
        return None
    if stat.S_ISDIR(found.st_mode):
        _skip(link, f"it is a symbolic link to the folder {_target(link)}, never descended.")
    elif not stat.S_ISREG(found.st_mode):
        _skip(link, _special(found.st_mode))
    elif policy.copy_unsafe_links or inside(link):
        if links is not None:
            links.append(link)
        return found
    else:
        _skip(
            link,
            f"it is a symbolic link to {_target(link)}, outside the folder added; "
            "--copy-unsafe-links adds what such links lead to.",
        )
    return None


def _target(link: str) -> str:
    try:
        return paths.printable(os.readlink(link))
    except OSError:
        return "a file"


def _sub_listing(folder: str, policy: ReadPolicy) -> Iterator[os.DirEntry[str]] | None:
    """The entries of a folder found in a walk, or None (with ``policy`` told) when it
    cannot be listed."""
    try:
        return _listing(folder)
    except OSError as exc:
        policy.failed(folder, *_why_unreadable(exc))
        return None


def _walked_name_ok(entry: os.DirEntry[str], landing: Landing) -> bool:
    """Whether a suspect name found in a walk makes a path a pull accepts; if not, the file
    (or folder) is skipped with a warning naming it."""
    is_dir = entry.is_dir(follow_symlinks=False)
    reason = _bad_name(landing.prefix + entry.path[landing.cut :], is_dir)
    if reason is not None:
        _skip(entry.path, reason)
    return reason is None


def _listing(folder: str) -> Iterator[os.DirEntry[str]]:
    """The entries of ``folder`` in name order."""
    with os.scandir(folder) as entries:
        return iter(sorted(entries, key=_name))


_name = operator.attrgetter("name")


def _check_inside(source: str, base: str) -> None:
    if not source.startswith(base.rstrip("/") + "/"):
        raise InvalidInputError(f"The file {source} is not inside the local base folder {base}.")


def _selected(found: Iterable[Found], cut: int, wildcard: Sequence[str]) -> Iterator[Found]:
    """The files of ``found`` whose path past ``cut`` or whose name matches a pattern."""
    for item in found:
        if any(_matches(item[0], cut, w) for w in wildcard):
            yield item


def _matches(source: str, cut: int, wildcard: str) -> bool:
    return paths.matches(source[cut:], wildcard) or fnmatch.fnmatchcase(
        os.path.basename(source), wildcard
    )


def unmatched_wildcards(files: Iterable[LocalFile], wildcard: Sequence[str]) -> list[str]:
    """The patterns of ``wildcard`` that selected none of ``files``."""
    left = list(wildcard)
    for item in files:
        if not left:
            break
        left = [w for w in left if not _matches(item.source, item.landing.cut, w)]
    return left


def hash_files(
    ctx: Context,
    files: Sequence[LocalFile],
    max_workers: int | None,
    keep: Keep | None = None,
    policy: ReadPolicy = STRICT,
    early: EarlyHashing | None = None,
) -> Generator[HashedFile, None, None]:
    """Hash the files, in parallel and batch by batch, reusing the hashes of unchanged files.

    ``keep`` is given the path, id and bytes of every small file read (to store them while they are
    in memory). A stream: at most two batches are in flight (five with a second process),
    whatever the number of files; the next batch is looked up and hashing while the caller
    consumes the current one. A file that
    cannot be read, or changes while it is read, fails the whole stream, or is left out with a
    warning under ``policy.ignore_failed_read``. Many tiny files are read, hashed and packed
    by a second process (see ``engine/hash_process.py``) when ``keep`` is a :class:`Keeper`
    or None; that process may have been started by ``early`` while ``files`` were walked, and
    told their first batches.
    """
    total = total_size(files)
    ctx.progress.start("hashing", len(files), total)
    threads = _threads(len(files), total, max_workers)
    second = threads == 1 and wanted(len(files), cpu_workers(max_workers))
    if early is not None and early.process is not None:
        start: _Starter = _InProcess(early.keep, early)
    elif second and (keep is None or isinstance(keep, Keeper)):
        start = _InProcess(keep)
    else:
        start = _InThreads(threads, keep)
    try:
        running: deque[_Batch] = deque()
        for at in range(0, len(files), STREAM_BATCH):
            running.append(start(ctx, files[at : at + STREAM_BATCH], policy))
            if len(running) > start.ahead:
                yield from running.popleft().finish(ctx)
        while running:
            yield from running.popleft().finish(ctx)
        start.close()
    except BaseException:
        start.abort()
        raise
    finally:
        ctx.progress.finish()


class _Starter:
    """Starts the hashing of each batch of :func:`hash_files`, ``ahead`` batches before the
    caller takes the first of them."""

    ahead = 1

    def __call__(self, ctx: Context, files: Sequence[LocalFile], policy: ReadPolicy) -> _Batch:
        raise NotImplementedError

    def close(self) -> None:
        """Every batch is finished: wait for what is left (a pack being published)."""

    def abort(self) -> None:
        """The hashing stopped early: stop what hashes."""


class _InThreads(_Starter):
    """Groups hashed by a pool of ``threads`` (or the calling thread, for one)."""

    def __init__(self, threads: int, keep: Keep | None) -> None:
        self._pool = ThreadPoolExecutor(threads) if threads > 1 else _InCallingThread()
        self._keep = keep

    def __call__(self, ctx: Context, files: Sequence[LocalFile], policy: ReadPolicy) -> _Batch:
        return _start_batch(ctx, self._pool, files, self._keep, policy)

    def close(self) -> None:
        self._pool.shutdown()

    def abort(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class _InProcess(_Starter):
    """Batches hashed (and packed into ``keep``'s store) by a second process, started on the
    first file to read: an add of files whose hashes are known reads nothing. Several batches
    ahead: each process waits less when the other is held up (by another program, say)."""

    ahead = PROCESS_AHEAD

    def __init__(self, keep: Keeper | None, early: EarlyHashing | None = None) -> None:
        self._keep = keep
        self._process = early.process if early is not None else None
        self._told = early.told if early is not None else deque()  # each told batch's known
        self._alone: _InCallingThread | None = None  # hashing here: no process could start

    def __call__(self, ctx: Context, files: Sequence[LocalFile], policy: ReadPolicy) -> _Batch:
        if self._told:  # told during the walk: its outcomes are on their way
            known = self._told.popleft()
            todo = _unknown(ctx, files, known)
            if not todo:
                return _Batch(files, known, tuple)
            assert self._process is not None
            return _from_process(ctx, self._process, files, known, todo, policy)
        known, todo = _known(ctx, files)
        if not todo:
            return _Batch(files, known, tuple)
        keep = self._keep
        if self._process is None:
            try:
                self._process = HashingProcess(keep, hashes_path(ctx))
            except OSError as exc:  # no process or semaphore to be had: one process will do
                log.warning("No second process could hash the files (%s); this one does.", exc)
                self._alone = self._alone or _InCallingThread()
        if self._alone is not None:
            return _hash_todo(ctx, self._alone, files, known, todo, keep, policy)
        assert self._process is not None
        held = [keep.held_at(f.path) for f in todo] if keep is not None else None
        self._process.submit(todo, held if held and any(held) else None)
        return _from_process(ctx, self._process, files, known, todo, policy)

    def close(self) -> None:
        if self._process is not None:
            self._process.close()

    def abort(self) -> None:
        if self._process is not None:
            self._process.abort()


def _from_process(
    ctx: Context,
    process: HashingProcess,
    files: Sequence[LocalFile],
    known: dict[Key, str],
    todo: list[LocalFile],
    policy: ReadPolicy,
) -> _Batch:
    """The batch of ``files`` whose ``todo`` the second ``process`` was told to hash."""
    return _Batch(
        files,
        known,
        lambda: _outcomes(ctx, todo, process.outcomes(), policy),
        lambda: process.remembered,  # (asked once its outcomes are taken)
    )


def hashes_path(ctx: Context) -> Path | None:
    """Where a second hashing process remembers hashes: the hash cache, unless it gave up."""
    return ctx.hashes.path if ctx.hashes.working else None


class EarlyHashing:
    """Tells a second hashing process the files of a walk batch by batch while the walk goes
    on, once it has found enough tiny files for one (see :func:`hash_files`, which takes the
    process over): the process reads while the caller walks. Nothing read is looked at before
    the walk is over, so what the walk says (a file skipped, an error) comes first, as without
    it. Called with the files found so far after each stretch of the walk; a context manager
    that stops the process should the walk (or anything before :func:`hash_files`) fail."""

    def __init__(self, ctx: Context, keep: Keep | None, max_workers: int | None) -> None:
        self._ctx = ctx
        self.keep = keep if isinstance(keep, Keeper) else None
        self._can = (keep is None or self.keep is not None) and wanted(
            process_from(), cpu_workers(max_workers)
        )
        self.process: HashingProcess | None = None
        self.told: deque[dict[Key, str]] = deque()  # the hashes known of each batch told
        self._batches = 0  # batches of the walk handed out (told, or all known)
        self._sized = self._size = 0  # files walked before the process started, their bytes

    def __enter__(self) -> EarlyHashing:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None and self.process is not None:
            self.process.abort()

    def __call__(self, files: FoundFiles) -> None:
        """Tell the process the whole batches of ``files`` not told yet, a few ahead of it."""
        count = len(files)
        if not self._can or count < process_from():
            return
        if self.process is None:
            self._size += files.total_size(self._sized)
            self._sized = count
            if self._size >= TINY_FILES_MEAN * count or not self._start():
                return  # (files large on the whole: perhaps not once more are walked)
        assert self.process is not None
        while (self._batches + 1) * STREAM_BATCH <= count and self.process.in_flight() < WALK_AHEAD:
            at = self._batches * STREAM_BATCH
            self._tell(files[at : at + STREAM_BATCH])
            self._batches += 1

    def _start(self) -> bool:
        try:
            self.process = HashingProcess(self.keep, hashes_path(self._ctx))
        except OSError:  # no process to be had: hash_files tries again, and says so
            self._can = False
        return self.process is not None

    def _tell(self, batch: list[LocalFile]) -> None:
        assert self.process is not None
        known = self._ctx.hashes.lookup(f.key for f in batch)
        self.told.append(known)
        todo = [f for f in batch if f.key not in known] if known else batch
        if todo:
            keep = self.keep
            held = [keep.held_at(f.path) for f in todo] if keep is not None else None
            self.process.submit(todo, held if held and any(held) else None)
        failpoint("scan.told")  # a test kills an add here, its walk not over


def _outcomes(
    ctx: Context, files: list[LocalFile], outcomes: list[Outcome], policy: ReadPolicy
) -> list[HashedFile | None]:
    """The hashed files of what a second process read of ``files`` (None for one skipped)."""
    done: list[HashedFile | None] = []
    count = size = 0  # as one process tells progress: each file read, none skipped
    for f, outcome in zip(files, outcomes, strict=True):
        if isinstance(outcome, Unread):
            done.append(None)
            policy.failed(f.source, outcome.reason, outcome.kind)
            continue
        key, blob_id = outcome
        count += 1
        size += key[2]
        done.append(HashedFile(f.source, f.path, key[2], blob_id, key))
    ctx.progress.advance(count, size)
    return done


class _InCallingThread(Executor):
    """Runs what it is given at once, in the calling thread: one hashing thread beside the
    one consuming its results would hand the interpreter's lock back and forth around every
    system call, at a cost above that of reading a tiny file."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        done: Future[_T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 (raised as a pool would: when asked for)
            done.set_exception(exc)
        return done


def hashing_threads(files: Sequence[LocalFile], max_workers: int | None) -> int:
    """Threads to hash ``files`` with: one per core, but one for a folder of tiny files, whose
    reads are too short to overlap: every call hands the interpreter's lock between threads,
    which cost an add of 50,000 files of 66 bytes a fifth more time than one thread did
    (files of 2 KiB came out even, of 8 KiB and more two threads were faster). One thread is
    the calling one (see :class:`_InCallingThread`)."""
    return _threads(len(files), total_size(files), max_workers)


def _threads(count: int, size: int, max_workers: int | None) -> int:
    workers = cpu_workers(max_workers)
    if count and size < TINY_FILES_MEAN * count:
        return 1
    return workers


def total_size(files: Sequence[LocalFile]) -> int:
    """The bytes of ``files`` by their walks' stat (without an object per file when compact)."""
    if isinstance(files, FoundFiles):
        return files.total_size()
    return sum(f.size for f in files)


class _Batch(NamedTuple):
    files: Sequence[LocalFile]
    known: dict[Key, str]  # hashes the cache knows
    # The rest, in order, once hashed: each file hashed, or None when it was skipped.
    hashed: Callable[[], Iterable[HashedFile | None]]
    # Asked once the rest are hashed: whether their hashes went to the hash cache already.
    remembered: Callable[[], bool] = bool

    def finish(self, ctx: Context) -> list[HashedFile]:
        fresh = iter(self.hashed())
        failpoint("scan.hashed")  # a test kills an add here, a second process at work
        settled_before = time.time() - RACY_SECONDS
        known = self.known
        hashed, settled = [], []
        for f in self.files:
            blob_id = known.get(f.key)
            if blob_id is not None:
                hashed.append(HashedFile(f.source, f.path, f.size, blob_id, f.key))
            elif (found := next(fresh)) is not None:  # else skipped, unreadable
                hashed.append(found)
                if found.key[3] / 1e9 < settled_before:
                    settled.append((found.key, found.blob_id))
        if not self.remembered():
            ctx.hashes.remember(settled)
        return hashed


def _start_batch(
    ctx: Context,
    pool: Executor,
    files: Sequence[LocalFile],
    keep: Keep | None,
    policy: ReadPolicy,
) -> _Batch:
    known, todo = _known(ctx, files)
    return _hash_todo(ctx, pool, files, known, todo, keep, policy)


def _known(ctx: Context, files: Sequence[LocalFile]) -> tuple[dict[Key, str], list[LocalFile]]:
    """The hashes known of ``files`` (counted as done), and the files left to read."""
    known = ctx.hashes.lookup(f.key for f in files)
    return known, _unknown(ctx, files, known)


def _unknown(ctx: Context, files: Sequence[LocalFile], known: dict[Key, str]) -> list[LocalFile]:
    """The files of ``files`` whose hash is not ``known``; the known are counted as done."""
    todo = [f for f in files if f.key not in known] if known else list(files)
    ctx.progress.advance(len(files) - len(todo), sum(k[2] for k in known))
    return todo


def _hash_todo(
    ctx: Context,
    pool: Executor,
    files: Sequence[LocalFile],
    known: dict[Key, str],
    todo: list[LocalFile],
    keep: Keep | None,
    policy: ReadPolicy,
) -> _Batch:
    def hash_group(group: list[LocalFile]) -> list[HashedFile | None]:
        done: list[HashedFile | None] = []
        kept: list[tuple[str, str, bytes]] = []
        held = 0
        for f in group:
            found = _hash(ctx, f, keep is not None, policy)
            if found is None:
                done.append(None)
                continue
            key, blob_id, data = found
            path = f.path
            done.append(HashedFile(f.source, path, key[2], blob_id, key))
            if keep is not None and data is not None:
                kept.append((path, blob_id, data))
                held += len(data)
                if held >= KEEP_BYTES:
                    keep(kept)
                    kept, held = [], 0
        if keep is not None and kept:
            keep(kept)  # told once a group: one lock and one write for many tiny files
        return done

    # Groups, not one task per file: per-task overhead would exceed the cost of a small file.
    groups = [todo[i : i + HASH_GROUP] for i in range(0, len(todo), HASH_GROUP)]
    hashing = [pool.submit(hash_group, g) for g in groups]
    return _Batch(files, known, lambda: (found for group in hashing for found in group.result()))


class ChangedWhileRead(Exception):
    """A file's size or times moved while it was read, on every attempt."""


def _hash(
    ctx: Context, item: LocalFile, keeping: bool, policy: ReadPolicy
) -> tuple[Key, str, bytes | None] | None:
    """The key and content id of ``item`` as it was read, and its bytes if ``keeping`` and
    it is small; None when it is skipped."""
    found = read_file(item, keeping)
    if isinstance(found, Unread):
        policy.failed(item.source, found.reason, found.kind)
        return None
    ctx.progress.advance(1, found[0][2])
    return found


def read_file(item: LocalFile, keeping: bool) -> tuple[Key, str, bytes | None] | Unread:
    """What :func:`_read_settled` reads of ``item``, or why it could not: no policy is told
    (a second hashing process hands the reason back to the one that applies the policy)."""
    try:
        return _read_settled(item, keeping)
    except OSError as exc:
        return Unread(*_why_unreadable(exc))
    except ChangedWhileRead:
        return Unread(f"it changed while it was read ({READ_ATTEMPTS} times).", StorageError)


def _read_settled(item: LocalFile, keeping: bool) -> tuple[Key, str, bytes | None]:
    """Read ``item`` until one read finds it the same before and after; the key of that read
    (not the walk's: the file may have changed since) and what it read, hashed (and itself,
    when ``keeping`` and small). Read calls only: a memory-mapped file that shrinks kills the
    process (SIGBUS). A small file is first read as the walk saw it (see
    :func:`_read_as_walked`); a larger one, whose read costs far more than a stat, that the
    walk may have seen before it grew, is read once only if it holds still."""
    found = _read_as_walked(item, keeping) if item.size < STREAM_FROM else None
    return found or _read_until_settled(item, keeping)


def _read_as_walked(item: LocalFile, keeping: bool) -> tuple[Key, str, bytes | None] | None:
    """One read of ``item`` with the walk's stat standing for the stat before it; None when
    the file is not as the walk saw it once read (then it is read again, stat before and after).

    The walk's ``lstat`` was taken before the file was opened, so the span it and the ``fstat``
    after the read bound holds the read: a write in it moves the mtime and the ctime (which
    no one can set back) as it would between an ``fstat`` after opening and one after reading,
    and the same device and inode tell that the path still names the file the walk saw. That
    is the check of :func:`_read_until_settled`, one ``fstat`` a file cheaper: a folder of a
    million tiny files makes a million fewer system calls."""
    descriptor = os.open(item.source, _READ_FLAGS)
    try:
        failpoint("scan.read")
        blob_id, count, data = _read_open(descriptor, item.size, keeping)
        after = os.fstat(descriptor)
    finally:
        os.close(descriptor)
    key = item.key
    walked = (key[0], key[1], key[2], key[3], item.ctime)
    if count != item.size or walked != _identity(after):
        return None
    return key, blob_id, data if keeping else None


def _read_until_settled(item: LocalFile, keeping: bool) -> tuple[Key, str, bytes | None]:
    for _ in range(READ_ATTEMPTS):
        descriptor = os.open(item.source, _READ_FLAGS)
        try:
            before = os.fstat(descriptor)
            failpoint("scan.read")
            size = before.st_size
            blob_id, count, data = _read_open(descriptor, size, keeping)
            after = os.fstat(descriptor)
        finally:
            os.close(descriptor)
        if count == size and _identity(before) == _identity(after):
            kept = data if keeping else None
            return (after.st_dev, after.st_ino, size, after.st_mtime_ns), blob_id, kept
    raise ChangedWhileRead


def _read_open(descriptor: int, size: int, keeping: bool) -> tuple[str, int, bytes | None]:
    """The content id of the open file of ``size`` bytes, the bytes read, and the bytes
    themselves when the file is small enough to be read whole."""
    if size < STREAM_FROM or (keeping and not should_chunk(size)):
        data = _read_whole(descriptor, size)
        return blob_id_of(data), len(data), data
    with open(descriptor, "rb", buffering=0, closefd=False) as handle:
        blob_id, count = hash_stream(handle, threaded=size >= THREADED_FROM)
    return blob_id, count, None


# Plain descriptor calls for the many small files: a file object costs more calls than the
# read itself (its own fstat, a buffer sized by another fstat).
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)


def _read_whole(descriptor: int, size: int) -> bytes:
    """What ``descriptor`` holds from where it is to its end: one read call when the file
    has the ``size`` it had (asking one byte more tells a file that grew)."""
    data = os.read(descriptor, size + 1)
    if len(data) < size:  # a short read, or a file that shrank: read to the end
        parts = [data]
        while part := os.read(descriptor, READ_CHUNK):
            parts.append(part)
        data = b"".join(parts)
    return data


def _identity(found: os.stat_result) -> tuple[int, int, int, int, int]:
    """What a write to a file, or another file put at its path, changes in its stat."""
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns


def _why_unreadable(exc: OSError) -> tuple[str, type[DeltasetError]]:
    """What a read failure means, for a message, and its kind of error."""
    if isinstance(exc, FileNotFoundError):
        return "it vanished while the folder was read.", NotFoundError
    if isinstance(exc, PermissionError):
        return "permission denied.", StorageError
    if exc.errno == errno.ENAMETOOLONG:
        return f"{TOO_LONG}.", StorageError
    return f"{exc.strerror or exc}.", StorageError
