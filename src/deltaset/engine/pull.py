"""Pulling a version: fetch the blobs the cache lacks, then link them into a read-only folder."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import blake3

from deltaset.cache import locking
from deltaset.cache.blob_writes import BlobWrites
from deltaset.cache.blobs import Assembler, BlobCache, content_is
from deltaset.cache.links import LinkMode, copy_file, write_new
from deltaset.cache.tree_build import FolderMaker, TreeBuild
from deltaset.cache.trees import FileStat, stat_of
from deltaset.core import paths
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.parts import positions_of_part
from deltaset.core.records import VersionRecord
from deltaset.engine import origins
from deltaset.engine.context import Context, transfer_workers
from deltaset.engine.external import current_links, fetch_external
from deltaset.engine.own_folders import refuse_own_folder
from deltaset.engine.pull_helpers import (
    JOB_FILES,
    LINK_JOBS_WAITING,
    Done,
    Helpers,
    helper_count,
)
from deltaset.engine.target_names import check_names
from deltaset.engine.views import final_manifest, require_final
from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError, StateError
from deltaset.faults import failpoint
from deltaset.objects.store import BlobStore
from deltaset.storage.errors import map_os_errors, os_error
from deltaset.storage.local import LocalStorage
from deltaset.storage.mounts import on_local_disk

FETCH_BATCH = 16384  # files per round of a pull: bounds the memory of a round
COPY_GROUP = 64  # files per copying task: one task per small file costs more than the copy
log = logging.getLogger("deltaset")


def select(
    manifest: Manifest, part: int | None, num_parts: int | None, files: Sequence[str] | None
) -> Manifest:
    """The subset of ``manifest`` a partial pull asks for (by part, by path patterns, or both)."""
    chosen = manifest
    if num_parts is not None or part is not None:
        if part is None or not num_parts or not 0 <= part < num_parts:
            raise InvalidInputError(
                "A partial pull needs 0 <= part < num_parts, for example part=0, num_parts=4."
            )
        chosen = chosen.picked(positions_of_part(chosen, part, num_parts))
    if files:
        chosen = chosen.filtered(lambda p: any(paths.matches(p, f) for f in files))
    return chosen


def warn_unmatched(manifest: Manifest, files: Sequence[str] | None) -> None:
    """Say which of the ``files`` patterns select nothing in the whole version (a part may
    lack what others hold): a typo must not pass for an empty selection."""
    left = list(files or [])
    for path in manifest:
        if not left:
            return
        left = [f for f in left if not paths.matches(path, f)]
    for pattern in left:
        log.warning("No file of the version matches %r; nothing pulled for it.", pattern)


def tree_key(
    record: VersionRecord,
    mode: LinkMode,
    part: int | None,
    num_parts: int | None,
    files: Sequence[str] | None,
) -> str:
    key = record.id if mode is LinkMode.HARDLINK else f"{record.id}-{mode}"
    if num_parts or part is not None:  # never the whole version's key for a part
        key += f"-part{part}of{num_parts}"
    if files:
        key += "-files" + blake3.blake3("\0".join(sorted(files)).encode()).hexdigest(6)
    return key


def ensure_cached(
    ctx: Context,
    storage_url: str,
    entries: Mapping[str, Entry],
    max_workers: int | None,
    related: Iterable[Entry] = (),
) -> int:
    """Fetch the files (blob id -> entry) the cache lacks; returns the stored bytes read.

    Whole blobs land in the cache as they arrive; chunked files are assembled from their chunks
    and published once their whole content matches their id. Chunks that a cached file of a
    ``related`` version (a parent) already holds are copied locally, not downloaded again.
    """
    missing = ctx.cache.missing(entries)
    ctx.progress.start("downloading", len(missing), sum(entries[b].size for b in missing))
    try:
        store = ctx.blobs(storage_url)
        local = _local_chunks(ctx, store, related)
        return _fetch_missing(ctx, store, {b: entries[b] for b in missing}, max_workers, local)
    finally:
        ctx.progress.finish()


def cache_from(
    ctx: Context, storages: Iterable[str], wanted: Mapping[str, Entry], max_workers: int | None
) -> dict[str, Entry]:
    """Fetch into the cache each of ``wanted`` (blob id -> entry) from the first of
    ``storages`` (read lazily, in order) that wholly holds it; returns those none holds."""
    left, seen = dict(wanted), set()
    for url in storages:
        if not left:
            break
        if url in seen:
            continue
        seen.add(url)
        store = ctx.blobs(url)
        # A storage holds a file when it holds all of that file's chunks.
        found = {b: e for b, e in left.items() if store.holds(e)}
        ensure_cached(ctx, url, found, max_workers)
        left = {b: e for b, e in left.items() if b not in found}
    return left


def _fetch_missing(
    ctx: Context,
    store: BlobStore,
    entries: Mapping[str, Entry],
    max_workers: int | None,
    local: Mapping[str, tuple[str, int, int]],
    copies: Mapping[str, list[str]] | None = None,
    keep: bool = True,
    build: TreeBuild | None = None,
) -> int:
    """Fetch ``entries`` (none of them cached yet); progress counts each file and its bytes.
    Chunks found in ``local`` files, or cached on their own, are copied rather than fetched.

    ``copies`` names the files of a writable copy to write each blob to as well, as it
    arrives, so the copy needs no second pass reading the cache; with ``keep`` False they are
    written there only, not into the cache. External files are read from where they live, the
    rest from ``store``. The blobs the folder ``build`` staged (a hard-linked one's) are
    written into it and accounted for by it; every other file cached is accounted for as it
    is placed (see :mod:`deltaset.cache.blob_writes`), and ``build`` told the stat of each
    file assembled or external.
    """
    linked = {b: e for b, e in entries.items() if e.link}
    if linked:
        fetch_external(ctx, linked, max_workers, copies, build)
        entries = {b: e for b, e in entries.items() if not e.link}
    if not entries:
        return 0
    cache = ctx.cache
    if store.missing(i for e in entries.values() for i in e.stored_ids):
        store.refresh()  # uploaded by another process since this one read the indexes
    local = {**local, **_cached_chunks(ctx, entries.values(), local)}
    plan = _Plan(cache, store, entries, local, copies or {}, keep)

    def sink(stored_id: str, data: bytes) -> None:
        for assembler, offset in plan.targets[stored_id]:
            if assembler is None:
                if build is not None and stored_id in build.staged:
                    build.store(stored_id, data)  # accounted for by the build
                elif keep:
                    writes.written(stored_id, len(data), cache.store(stored_id, data))
                for dest in copies.get(stored_id, ()) if copies else ():
                    try:  # not map_os_errors: a context manager a file costs more than the write
                        write_new(data, dest)
                    except OSError as exc:
                        raise os_error(exc, f"write {dest}") from exc
                failpoint("pull.after_blob")
                ctx.progress.advance(1, len(data))
            else:
                assembler.write_at(offset, data)
                ctx.progress.advance(0, len(data))

    with cache.writes() as writes:
        if keep:
            writes.expect(_cached_unbuilt(entries, build))
        try:
            plan.copy_local()
            read = store.read(plan.targets, sink, transfer_workers(max_workers))
            plan.finish(writes, build)
            ctx.progress.advance(len(plan.assemblers), 0)
            return read
        finally:
            plan.discard()


def _cached_unbuilt(entries: Mapping[str, Entry], build: TreeBuild | None) -> Iterator[str]:
    """The ids of the files and chunks of ``entries`` a pull may cache that ``build`` does
    not write (and list) itself."""
    staged = build.staged if build is not None else {}
    ids = itertools.chain(entries, (i for e in entries.values() for i in e.stored_ids))
    return (i for i in dict.fromkeys(ids) if i not in staged)


class _Plan:
    """Which stored blob goes where: into the cache whole, or into a file at an offset."""

    def __init__(
        self,
        cache: BlobCache,
        store: BlobStore,
        entries: Mapping[str, Entry],
        local: Mapping[str, tuple[str, int, int]],
        copies: Mapping[str, list[str]],
        keep: bool,
    ) -> None:
        self.keep = keep
        self.targets: dict[str, list[tuple[Assembler | None, int]]] = {}
        self.assemblers: dict[str, Assembler] = {}
        self.local: list[tuple[Assembler, int, tuple[str, int, int]]] = []
        for blob_id, entry in entries.items():
            if not entry.chunks:
                self.targets.setdefault(blob_id, []).append((None, 0))
                continue
            destinations = copies.get(blob_id, [])
            if keep or not destinations:
                assembler = cache.assembler(blob_id, entry.size)
            else:  # built in its first copy, not in the cache
                assembler = Assembler.writable(blob_id, entry.size, destinations[0])
                destinations = destinations[1:]
            assembler.mirror_to(destinations)
            self.assemblers[blob_id] = assembler
            offset = 0
            for chunk_id in entry.chunks:
                if chunk_id in local:
                    self.local.append((assembler, offset, local[chunk_id]))
                else:
                    self.targets.setdefault(chunk_id, []).append((assembler, offset))
                offset += store.raw_size(chunk_id)

    def copy_local(self) -> None:
        """Fill chunks from cached files that hold them (checked again when each file finishes)."""
        for assembler, offset, (path, start, length) in self.local:
            with open(path, "rb") as source:
                source.seek(start)
                assembler.write_at(offset, source.read(length))

    def finish(self, writes: BlobWrites, build: TreeBuild | None) -> None:
        """Put each assembled file in place; those built in the cache are accounted for at
        once by ``writes``, and the folder ``build`` that links them next told their stat."""
        for blob_id, assembler in self.assemblers.items():
            placed = assembler.finish()
            if self.keep:
                writes.written(blob_id, assembler.size, placed)
                if build is not None:
                    build.cached(blob_id, placed)
                failpoint("pull.file_assembled")

    def discard(self) -> None:
        for assembler in self.assemblers.values():
            assembler.discard()


def _local_chunks(
    ctx: Context, store: BlobStore, related: Iterable[Entry]
) -> dict[str, tuple[str, int, int]]:
    """Where cached files of related versions hold each of their chunks: path, offset, length
    (only files unchanged since cached: a changed one would fail the file it helps build)."""
    found: dict[str, tuple[str, int, int]] = {}
    chunked = by_blob(e for e in related if e.chunks)
    for blob_id, path in ctx.cache.unchanged(chunked).items():
        offset = 0
        for chunk_id in chunked[blob_id].chunks:
            length = store.raw_size(chunk_id)
            found.setdefault(chunk_id, (path, offset, length))
            offset += length
    return found


def _cached_chunks(
    ctx: Context, wanted: Iterable[Entry], known: Mapping[str, object]
) -> dict[str, tuple[str, int, int]]:
    """The chunks of ``wanted`` files the cache holds on their own (kept by reads in place)."""
    chunks = {c for entry in wanted for c in entry.chunks if c not in known}
    found: dict[str, tuple[str, int, int]] = {}
    for chunk_id, path in ctx.cache.unchanged(chunks).items():
        found[chunk_id] = (path, 0, os.path.getsize(path))
    return found


def related_entries(ctx: Context, record: VersionRecord) -> list[Entry]:
    """The chunked files of ``record``'s parents: a pull can reuse their cached chunks."""
    found = []
    for parent_id in record.parents:
        try:
            parent = ctx.catalog.get(parent_id)
        except NotFoundError:
            continue  # deleted with force
        found += final_manifest(ctx, parent).chunked()
    return found


def _fetch(
    ctx: Context,
    record: VersionRecord,
    manifest: Manifest,
    max_workers: int | None,
    copy_to: Path | None = None,
    build: TreeBuild | None = None,
    in_blobs: bool = False,
) -> None:
    """Bring every file of ``manifest`` (a selection of ``record``) into the cache, and into a
    writable copy at ``copy_to`` when given, or written straight into the folder ``build``
    (see :class:`~deltaset.cache.tree_build.TreeBuild`) when it takes them. With
    ``in_blobs`` (or a build of symbolic links) a blob cached only in a folder, its home,
    is fetched into ``blobs/``, where a symbolic link may point.

    Batch by batch in path order (the order files were packed in), so memory follows the
    batch, not the number of files; progress counts every file and byte of the selection.
    A copy from a folder storage on this machine's disks leaves the cache as it is: reading
    that storage again later costs no download, and caching would double every write.
    """
    store = ctx.blobs(record.storage)
    keep = copy_to is None or not _on_this_machine(store)
    local = _local_chunks(ctx, store, related_entries(ctx, record))
    ctx.progress.start("downloading", len(manifest), manifest.total_size)
    shared = build.writes_blobs if build is not None else copy_to is not None and not keep
    count = helper_count(len(manifest), max_workers) if shared else 0
    if record.storage in ctx.opened:
        count = 0  # opened by this process alone: a helper could not open it by its URL
    in_blobs = in_blobs or (build is not None and build.mode is LinkMode.SYMLINK)
    if build is not None:
        build.fetch_again = _fetching_again(ctx, store, max_workers)
    try:
        share = _Share(ctx, store, record.storage, count, build, local, max_workers)
        with _Copier(ctx, copy_to, max_workers) as copier, share:
            items, first = manifest.items(), 0
            while batch := list(itertools.islice(items, JOB_FILES if count else FETCH_BATCH)):
                share.collect()
                wanted = by_blob(e for _, e in batch)
                hints = {e.blob_id: path for path, e in batch}  # (see BlobCache.files)
                at_home: dict[str, tuple[str, int]] = {}
                intact: dict[str, tuple[str, FileStat]] = {}
                missing = ctx.cache.missing(wanted, in_blobs, hints, at_home, intact)
                fetched = {b: wanted[b] for b in missing}
                ctx.progress.advance(
                    len(batch) - len(fetched),
                    sum(e.size for _, e in batch) - sum(e.size for e in fetched.values()),
                )
                direct, rest = copier.plan(batch, fetched, intact)
                if build is not None and build.writes_blobs:
                    build.stage(batch, first, fetched)
                    build.found_at_home(batch, first, at_home, hints)
                if build is not None:
                    build.found_intact(batch, first, intact)
                fetched = share.hand_off(fetched, direct)
                share.link(batch, first)
                _fetch_missing(ctx, store, fetched, max_workers, local, direct, keep, build)
                first += len(batch)
                moved = copier.copy(rest)
                if moved:
                    _copy_again(ctx, store, moved, wanted, max_workers)
            if build is not None:
                build.prepare_publish()  # while the helpers end their last jobs
            share.collect(wait=True)
    finally:
        ctx.progress.finish()


class _Share:
    """The batches of a cold pull handed to ``count`` helper processes (see
    :mod:`~deltaset.engine.pull_helpers`) whenever one would soon be idle; the rest, and what
    a helper leaves, are pulled here. A context manager: an error ends the jobs under way
    first (each reports what it placed, for the build's rows), anything else stops the
    helpers at once and leaves the build's log to the next sweep of the cache."""

    def __init__(
        self,
        ctx: Context,
        store: BlobStore,
        url: str,
        count: int,
        build: TreeBuild | None,
        local: Mapping[str, tuple[str, int, int]],
        max_workers: int | None,
    ) -> None:
        self._ctx, self._store, self.build = ctx, store, build
        self._local, self._max_workers = local, max_workers
        self._helpers: Helpers | None = None
        if count:
            self._helpers = Helpers(ctx.settings, url, str(ctx.cache.root), count)

    def hand_off(
        self, fetched: dict[str, Entry], copies: Mapping[str, list[str]]
    ) -> dict[str, Entry]:
        """Hand the whole blobs of ``fetched`` (their files: where the build staged them,
        ``copies``) to a helper, if one has room; returns what is left to pull here."""
        helpers, build = self._helpers, self.build
        if helpers is None or not helpers.has_room():
            return fetched
        staged = build.staged if build is not None else {}
        kept: dict[str, Entry] = {}
        files = []
        for blob_id, entry in fetched.items():
            if entry.chunks or entry.link:
                kept[blob_id] = entry
                continue
            at, dest = staged.get(blob_id, (-1, ""))
            files.append((blob_id, at, dest, tuple(copies.get(blob_id, ()))))
        if files:
            helpers.submit(files)
            if build is not None:
                build.staged = {}  # the helper writes them
        return kept

    def link(self, batch: list[tuple[str, Entry]], first: int) -> None:
        """Link the files of ``batch`` (from position ``first`` on) found intact at the same
        path in a cached folder (the next version pulled after another): by a helper if one
        has room, else here, now; without helpers, at publish as any other file."""
        helpers, build = self._helpers, self.build
        if helpers is None or build is None:
            return
        links = build.home_links(batch, first)
        if links is None:
            return
        if helpers.has_room(LINK_JOBS_WAITING):
            helpers.submit_links(links)
        else:
            build.place_links(links)

    def collect(self, wait: bool = False) -> None:
        """Take what the helpers did (with ``wait``, once every job is done)."""
        if self._helpers is not None:
            for done in self._helpers.finished(wait):
                self._take(done)

    def _take(self, done: Done, failing: bool = False) -> None:
        build = self.build
        if build is not None:
            build.linked_elsewhere(done.linked, done.stats, done.hard)
        self._ctx.progress.advance(done.files, done.nbytes)
        if done.error is not None and not failing:
            raise done.error

    def __enter__(self) -> _Share:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        helpers = self._helpers
        if helpers is None:
            return
        with helpers:
            if exc_type is None:
                return
            ended = False  # unless an error ended the pull, the user stops it: at once
            try:
                if issubclass(exc_type, DeltasetError):
                    with contextlib.suppress(DeltasetError):  # never hides why it ended
                        for done in helpers.finished(wait=True):
                            self._take(done, failing=True)
                    ended = not helpers.lost
            finally:
                if not ended:
                    helpers.stop()
                    if self.build is not None:
                        self.build.leave_log()  # what the helpers linked is the sweep's


def _on_this_machine(store: BlobStore) -> bool:
    """Whether ``store`` is a folder on a disk of this machine (not a network mount)."""
    storage = store.storage
    return isinstance(storage, LocalStorage) and on_local_disk(str(storage.root))


class _Copier:
    """The writable copy a pull makes as it goes: files fetched in a batch are written as they
    arrive (whole blobs from memory, chunked files as they are assembled); the batch's other
    files are copied from the cache after it."""

    def __init__(self, ctx: Context, target: Path | None, max_workers: int | None) -> None:
        self._cache = ctx.cache
        self._target = target
        self._folders = FolderMaker()
        self._pool = ThreadPoolExecutor(transfer_workers(max_workers)) if target else None

    def plan(
        self,
        batch: list[tuple[str, Entry]],
        fetched: Mapping[str, Entry],
        intact: Mapping[str, tuple[str, FileStat]],
    ) -> tuple[dict[str, list[str]], list[_CopyJob]]:
        """Where each blob fetched in ``batch`` is to be written as it arrives, and what to copy
        from the cache for every other file of ``batch``, each found ``intact`` (blob id ->
        cache file, stat as checked; see :meth:`BlobCache.missing`); nothing without a target."""
        direct: dict[str, list[str]] = {}
        rest: list[_CopyJob] = []
        if self._target is None:
            return direct, rest
        with map_os_errors(f"write into {self._target}"):
            for path, entry in batch:
                dest = paths.safe_target(self._target, path)
                self._folders.ensure_parent(dest)
                blob_id = entry.blob_id
                if blob_id in fetched:
                    direct.setdefault(blob_id, []).append(dest)
                else:
                    rest.append((blob_id, *intact[blob_id], dest))
        return direct, rest

    def copy(self, work: list[_CopyJob]) -> list[tuple[str, str]]:
        """Copy cache files to their destinations, several at a time. Returns the (blob id,
        destination) of each copy whose cache file no longer had the stat it was checked with
        once copied: written into since, so the copy may hold other bytes."""
        if self._pool is None:
            return []

        def copy_group(group: list[_CopyJob]) -> list[tuple[str, str]]:
            moved = []
            for blob_id, source, checked, dest in group:
                if stat_of(copy_file(source, dest, 0o644)) != checked:
                    moved.append((blob_id, dest))
            return moved

        groups = [work[i : i + COPY_GROUP] for i in range(0, len(work), COPY_GROUP)]
        with map_os_errors(f"write into {self._target}"):
            return [m for moved in self._pool.map(copy_group, groups) for m in moved]

    def __enter__(self) -> _Copier:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _copy_again(
    ctx: Context,
    store: BlobStore,
    moved: list[tuple[str, str]],
    entries: Mapping[str, Entry],
    max_workers: int | None,
) -> None:
    """Check the files of a copy whose cache file changed as they were copied (``moved``:
    blob id, file of the copy; see :meth:`_Copier.copy`): one holding its blob's bytes stays,
    the others are written again from where the blob is stored, into the copy only, and the
    cache's file is checked again (removed if damaged)."""
    wrong: dict[str, list[str]] = {}
    with map_os_errors("check the copy"):
        for blob_id, dest in moved:
            entry = entries[blob_id]
            if entry.link or not content_is(dest, blob_id, entry.size):
                os.unlink(dest)
                wrong.setdefault(blob_id, []).append(dest)
    if not wrong:
        return
    again = {b: entries[b] for b in wrong}
    ctx.cache.missing(again)
    linked = {b: e for b, e in again.items() if e.link}
    if linked:
        fetch_external(ctx, linked, max_workers, wrong, keep=False)
    stored = {b: e for b, e in again.items() if not e.link}
    _fetch_missing(ctx, store, stored, max_workers, {}, wrong, keep=False)


def _fetching_again(
    ctx: Context, store: BlobStore, max_workers: int | None
) -> Callable[[Mapping[str, Entry]], None]:
    """What fetches blobs (id -> entry) found damaged as they were used into the cache again,
    from ``store`` (see :meth:`BlobCache.recheck`)."""

    def fetch_again(again: Mapping[str, Entry]) -> None:
        _fetch_missing(ctx, store, again, max_workers, {})

    return fetch_again


_CopyJob = tuple[str, str, FileStat, str]  # blob id, cache file, its stat as checked, destination


def by_blob(entries: Iterable[Entry]) -> dict[str, Entry]:
    return {e.blob_id: e for e in entries}


def get_local_copy(
    ctx: Context,
    record: VersionRecord,
    use_soft_links: bool = False,
    part: int | None = None,
    num_parts: int | None = None,
    files: Sequence[str] | None = None,
    max_workers: int | None = None,
    accept_changed_links: bool = False,
) -> Path:
    """The read-only cached folder of ``record``. A warm call stats each file of the folder
    (and nothing else) and repairs any that changed since it was placed there.
    ``accept_changed_links`` serves external files that changed as they are now, in a
    folder of its own (see :func:`~deltaset.engine.external.current_links`)."""
    require_final(record, "pull it")
    mode = LinkMode.SYMLINK if use_soft_links else LinkMode.HARDLINK
    cache = ctx.cache
    key = tree_key(record, mode, part, num_parts, files)
    whole = final_manifest(ctx, record) if files or accept_changed_links else None
    if whole is not None:  # read once, warm or cold
        warn_unmatched(whole, files)
    current: Manifest | None = None
    if whole is not None and accept_changed_links:
        current, suffix = current_links(ctx, select(whole, part, num_parts, files), max_workers)
        key += suffix

    def selected() -> Manifest:
        return current or select(whole or final_manifest(ctx, record), part, num_parts, files)

    locking.pin(cache.lock_path(key))
    if cache.has_tree(key):
        changed = cache.check_tree(key)
        if changed is None or changed:  # None: no record to check the folder by
            _repair(ctx, record, key, mode, changed, selected(), max_workers)
        cache.touch_tree(key)
        return cache.tree_path(key)
    manifest = selected()
    check_names(cache.tree_path(key).parent, manifest)
    with locking.shared(cache.global_lock()), cache.tree_build(key, mode, manifest) as build:
        _fetch(ctx, record, manifest, max_workers, build=build)
        tree = build.publish()
    cache.evict()
    return tree


def cached_folder_as_is(ctx: Context, record: VersionRecord) -> Path:
    """The cached folder of ``record`` as it stands, unchecked and unrepaired (what a check
    of the cache must see); pulled first when there is none."""
    key = tree_key(record, LinkMode.HARDLINK, None, None, None)
    locking.pin(ctx.cache.lock_path(key))
    if ctx.cache.has_tree(key):
        return ctx.cache.tree_path(key)
    return get_local_copy(ctx, record)


def _repair(
    ctx: Context,
    record: VersionRecord,
    key: str,
    mode: LinkMode,
    changed: list[str] | None,
    manifest: Manifest,
    max_workers: int | None,
) -> None:
    """Put back the ``changed`` files of the cached folder ``key`` (all of them for None)
    from their blobs, checked and fetched again from storage where damaged."""
    wanted = manifest if changed is None else manifest.filtered(set(changed).__contains__)
    fetch_again = _fetching_again(ctx, ctx.blobs(record.storage), max_workers)
    with locking.shared(ctx.cache.global_lock()):
        _fetch(ctx, record, wanted, max_workers, in_blobs=mode is LinkMode.SYMLINK)
        again = ctx.cache.repair_tree(key, wanted, mode, changed is None, fetch_again)
        if again:  # their other files in the folder went with their damaged file
            linking = {p for p, e in manifest.items() if e.blob_id in again}
            ctx.cache.repair_tree(key, manifest.filtered(linking.__contains__), mode, False)


def get_mutable_local_copy(
    ctx: Context,
    record: VersionRecord,
    target_folder: str,
    overwrite: bool = False,
    part: int | None = None,
    num_parts: int | None = None,
    files: Sequence[str] | None = None,
    max_workers: int | None = None,
    accept_changed_links: bool = False,
) -> Path:
    """A writable copy of ``record`` in ``target_folder``; refuses a non-empty folder, and
    any folder that is, holds or lies inside one of deltaset's own (see
    :mod:`~deltaset.engine.own_folders`). ``accept_changed_links`` copies external files
    that changed as they are now."""
    require_final(record, "copy it")
    target = Path(target_folder).expanduser()
    refuse_own_folder(ctx, target)
    _prepare_target(target, overwrite)
    whole = final_manifest(ctx, record)
    warn_unmatched(whole, files)
    manifest = select(whole, part, num_parts, files)
    if accept_changed_links:
        manifest = current_links(ctx, manifest, max_workers)[0]
    check_names(target, manifest)
    cache = ctx.cache
    with locking.shared(cache.global_lock()), _staging(target, manifest) as staging:
        _fetch(ctx, record, manifest, max_workers, copy_to=staging)
        _move_into(staging, target)
    origins.write(target, record, part, num_parts, files)
    cache.evict()
    return target


@contextlib.contextmanager
def _staging(target: Path, manifest: Manifest) -> Iterator[Path]:
    """A private folder in deltaset's own folder of the (empty) ``target`` to write a copy
    into, its files under their own names (no temporary name and rename a file), removed
    when the copy ends: a copy cut short leaves no file in view, only this folder.

    Where a path of ``manifest`` would pass the system's limit only inside that folder, the
    copy is written in ``target`` itself (its files removed again if it fails); the errors of
    a private copy name the files in ``target``, where the user looks for them."""
    staging = target / paths.OWN_FOLDER / f"pulling-{uuid.uuid4().hex}"
    if not _fits(staging, manifest):
        staging = target
    else:
        with map_os_errors(f"write into {target}"):
            staging.mkdir(parents=True)
    try:
        yield staging
    except DeltasetError as exc:
        exc.message = exc.message.replace(str(staging), str(target))
        _discard(staging, target)
        raise
    except BaseException:
        _discard(staging, target)
        raise
    if staging != target:
        shutil.rmtree(staging, ignore_errors=True)


PATH_LIMIT = 4096  # bytes of a whole path Linux takes (PATH_MAX); others take as many or more


def _fits(staging: Path, manifest: Manifest) -> bool:
    """Whether every path of ``manifest`` stays within :data:`PATH_LIMIT` under ``staging``
    (found at C speed first by characters, of at most 4 bytes each)."""
    room = PATH_LIMIT - len(os.fsencode(staging)) - 2
    longest = max(map(len, manifest), default=0)
    if 4 * longest < room:
        return True
    return all(len(os.fsencode(p)) < room for p in manifest if 4 * len(p) >= room)


def _discard(staging: Path, target: Path) -> None:
    """Remove what a failed copy wrote: ``staging`` whole, or every entry of ``target``
    (emptied before the copy began)."""
    if staging != target:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            staging.parent.rmdir()  # made for it: the target stays as empty as it was
        return
    with contextlib.suppress(OSError):
        _empty(target)


def _move_into(staging: Path, target: Path) -> None:
    """Publish what ``staging`` holds: each of its entries renamed into ``target``."""
    if staging == target:
        return
    with map_os_errors(f"write into {target}"):
        for entry in os.scandir(staging):
            os.rename(entry.path, target / entry.name)


def _prepare_target(target: Path, overwrite: bool) -> None:
    with map_os_errors(f"prepare the folder {target}"):
        if target.is_file():
            raise InvalidInputError(f"The target {target} is a file, not a folder.")
        if target.is_dir() and any(target.iterdir()):
            if not overwrite:
                raise StateError(
                    f"The folder {target} is not empty; pass overwrite=True (--overwrite) "
                    "to replace its contents."
                )
            _empty(target)
        target.mkdir(parents=True, exist_ok=True)


def _empty(folder: Path) -> None:
    """Remove every entry of ``folder`` (a link to a folder as a link, not what it holds)."""
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
