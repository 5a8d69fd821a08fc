"""BlobCache: verified read-only copies of blobs on this machine, and trees built from them."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from deltaset.cache import locking
from deltaset.cache.blob_writes import BlobWrites
from deltaset.cache.homes import HomeFiles
from deltaset.cache.index import IF_FULL, CacheIndex
from deltaset.cache.link_log import LinkLog, recover_killed_builds
from deltaset.cache.links import LinkMode, partial_path, place, unique_name, write_all
from deltaset.cache.tree_build import FolderMaker, TreeBuild
from deltaset.cache.trees import FileStat, TreeRecord, TreeRecords, file_stat, stat_of
from deltaset.core.hashing import THREADED_FROM, Readable, hash_stream
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.paths import safe_target
from deltaset.errors import IntegrityError
from deltaset.storage.errors import map_os_errors
from deltaset.storage.local import sweep_stale

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


@dataclass(frozen=True, slots=True)
class CacheUsage:
    """What the cache holds: its accounted bytes, its blobs, its folders (key, last use)."""

    total_bytes: int
    blob_count: int
    blob_bytes: int
    folders: list[tuple[str, float]]


class BlobCache:
    """Layout: ``blobs/ab/<blob_id>``, ``trees/<key>/...``, ``records/<key>.record``,
    ``locks/``, ``tmp/``, ``index.db``. A blob a cold get fetched has no file under
    ``blobs/``: its file is in the folder that get built, its home (see
    :mod:`deltaset.cache.homes`); :meth:`files` finds either.

    A blob file or a folder's file may have been written into behind deltaset's back (root
    ignores read-only bits): :meth:`missing`, :meth:`check_tree` and :meth:`open_intact` (for
    reads in place) compare each file's stat with the one recorded when deltaset placed it,
    and hash again or repair what moved.
    """

    def __init__(self, root: Path, limit: int = 0) -> None:
        self.root = root
        self._root_text = str(root)
        self.limit = limit
        self._staged = f"{root}/tmp/"
        with map_os_errors(f"create the cache folder {root}", IF_FULL):
            for folder in ("blobs", "trees", "locks", "tmp"):
                (root / folder).mkdir(parents=True, exist_ok=True)
        self.index = CacheIndex(root / "index.db")
        self.records = TreeRecords(root / "records")
        self._homes = HomeFiles(f"{root}/trees", self.records)
        recover_killed_builds(self)
        sweep_stale(root / "tmp")

    def blob_file(self, blob_id: str) -> str:
        """:meth:`blob_path` as a string, for loops over many files."""
        return f"{self._root_text}/blobs/{blob_id[:2]}/{blob_id}"

    def blob_path(self, blob_id: str) -> Path:
        return self.root / "blobs" / blob_id[:2] / blob_id

    def files(
        self, blob_ids: Iterable[str], hints: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Where the file of each of ``blob_ids`` is: in its home folder if it has one (see
        :mod:`deltaset.cache.homes`), else under ``blobs/``. Unchecked: a reader compares
        the file's stat with the recorded one, or hashes it. ``hints``: a path each blob may
        have in its home folder (see :meth:`_hinted`)."""
        ids = list(blob_ids)
        if not hints:
            homes = self.index.homes(ids)
            return {b: self._file_in(homes.get(b), b) for b in ids}
        found: dict[str, str] = {}
        for blob_id, (recorded, home) in self.index.locate(ids).items():
            at_hint = self._hinted(home, hints.get(blob_id), recorded)
            found[blob_id] = at_hint[0] if at_hint else self._file_in(home, blob_id)
        return found | {b: self.blob_file(b) for b in ids if b not in found}

    def _hinted(
        self, home: str | None, hint: str | None, recorded: FileStat | None
    ) -> tuple[str, os.stat_result] | None:
        """The file at ``hint`` in folder ``home`` and its stat, when it is the blob's own
        file (the inode recorded). A version pulled after another mostly holds each blob at
        the path the other held it at: looked for there first, the home folder's record
        (a million paths) need not be read and indexed by id."""
        if home is None or hint is None or recorded is None:
            return None
        path = f"{self._root_text}/trees/{home}/{hint}"
        found = file_stat(path)
        return (path, found) if found is not None and found.st_ino == recorded[0] else None

    def file_of(self, blob_id: str) -> str:
        """:meth:`files` of one blob."""
        return self.files([blob_id])[blob_id]

    def _file_in(self, home: str | None, blob_id: str) -> str:
        """The file of ``blob_id`` in its home folder ``home``, or else under ``blobs/``."""
        found = self._homes.path(home, blob_id) if home is not None else None
        return found or self.blob_file(blob_id)

    def tree_path(self, key: str) -> Path:
        return self.root / "trees" / key

    def missing(
        self,
        entries: Mapping[str, Entry],
        in_blobs: bool = False,
        hints: Mapping[str, str] | None = None,
        at_home: dict[str, tuple[str, int]] | None = None,
        intact: dict[str, tuple[str, FileStat]] | None = None,
    ) -> list[str]:
        """The blobs of ``entries`` (blob id -> entry) the cache lacks or holds damaged.

        Only the blobs the index accounts for are looked for on disk: on a cold cache a
        failing stat a blob, each a lookup in a folder of thousands, cost a pull of 200,000
        files about 1.5 s of CPU. A blob file the index never heard of (linked by a pull
        killed before it wrote its rows) is fetched again, and checked against the fetched
        bytes before it is used (see :meth:`TreeBuild.store`) or replaced by them.
        A cached file whose stat moved since deltaset recorded it is hashed again; one whose
        bytes changed is removed (see :meth:`drop_damaged`) and counted as missing.
        A blob living in a folder (see :mod:`deltaset.cache.homes`) is looked for there; with
        ``in_blobs`` (for a folder of symbolic links, which must point under ``blobs/``) it
        counts as missing, to be fetched into ``blobs/``; ``hints`` as :meth:`files`', and
        ``at_home`` gets the home folder and inode of each blob found intact at its hint (a
        folder build links it from there: see :meth:`TreeBuild.found_at_home`). ``intact``
        gets the file and stat of each blob found intact: whoever places it later (a copy, a
        link) compares the stat it finds then with this one, as a write in between changes it
        (see :meth:`TreeBuild.found_intact` and :func:`deltaset.cache.links.copy_file`)."""
        known = self.index.locate(entries)
        lacking: list[str] = []
        checked: list[tuple[str, FileStat]] = []
        damaged: list[str] = []
        for blob_id in entries:
            recorded, home = known.get(blob_id, (None, None))
            if blob_id not in known or (in_blobs and home is not None):
                lacking.append(blob_id)
                continue
            at_hint = self._hinted(home, hints.get(blob_id), recorded) if hints else None
            path = at_hint[0] if at_hint else self._file_in(home, blob_id)
            result = at_hint[1] if at_hint else file_stat(path)
            if result is None:
                lacking.append(blob_id)
                continue
            found = stat_of(result)
            if recorded == found:
                if at_hint and at_home is not None and home is not None:
                    at_home[blob_id] = (home, found[0])
            elif self._holds_whole(entries[blob_id], found, path):
                checked.append((blob_id, found))
            else:
                damaged.append(blob_id)
                continue
            if intact is not None:
                intact[blob_id] = (path, found)
        self.index.record_stats(checked)
        self.drop_damaged(damaged)
        return lacking + damaged

    def unchanged(self, blob_ids: Iterable[str]) -> dict[str, str]:
        """Those of ``blob_ids`` whose cache file still has the stat deltaset recorded, each
        with the path of that file."""
        found: dict[str, str] = {}
        for blob_id, (known, home) in self.index.locate(blob_ids).items():
            path = self._file_in(home, blob_id)
            if known is not None and (now := file_stat(path)) and stat_of(now) == known:
                found[blob_id] = path
        return found

    def _holds_whole(self, entry: Entry, found: FileStat, path: str) -> bool:
        """Whether the cache file of ``entry`` holds its bytes. An external file's id is no
        hash of its bytes: without a matching stat it is fetched again."""
        if found[1] != entry.size or entry.link:
            return False
        try:
            return content_is(path, entry.blob_id, entry.size)
        except OSError:
            return False

    def adopt(self, blob_ids: Iterable[str], written: Mapping[str, FileStat] | None = None) -> None:
        """Give an index row to each of ``blob_ids`` whose file sits in ``blobs/`` without
        one (linked by a build killed before it wrote their rows) when its bytes match its
        id, and remove it otherwise: the cache accounts for every file it keeps, and never
        serves wrong bytes. Each file adopted is hashed once, read whole, unless ``written``
        holds the stat it had once written whole and it still has it (the trust a recorded
        stat gets, and the only check an external file, whose id is no hash, can get)."""
        ids = list(dict.fromkeys(blob_ids))
        known = self.index.known(ids)
        written = written or {}
        adopted: list[tuple[str, FileStat]] = []
        damaged: list[str] = []
        for blob_id in ids:
            found = None if blob_id in known else file_stat(self.blob_file(blob_id))
            if found is None:
                continue
            try:
                whole = written.get(blob_id) == stat_of(found) or content_is(
                    self.blob_file(blob_id), blob_id, found.st_size
                )
            except OSError:
                whole = False
            if whole:
                adopted.append((blob_id, stat_of(found)))
            else:
                damaged.append(blob_id)
        self.index.add_files(adopted)
        self.drop_damaged(damaged)

    def drop_damaged(self, blob_ids: Iterable[str]) -> None:
        """Remove blobs whose bytes changed, and the links to them in every cached folder
        that names them (their home folder's file included): no folder serves them until a
        get puts them back."""
        for blob_id, path in self.files(blob_ids).items():
            damaged = file_stat(path)
            if damaged is not None:
                for key in self.index.trees_holding(blob_id):
                    self._unlink_in_tree(key, blob_id, damaged.st_ino)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.blob_file(blob_id))
            self.index.forget_stats([blob_id])

    def _unlink_in_tree(self, key: str, blob_id: str, inode: int) -> None:
        tree = self._root_text + "/trees/" + key
        record = self.records.load(key) or TreeRecord()
        for at in record.positions_of(blob_id):
            path = record.paths[at]
            found = file_stat(f"{tree}/{path}")
            if found is not None and found.st_ino == inode:
                with contextlib.suppress(OSError):
                    os.unlink(f"{tree}/{path}")

    def open_intact(self, entry: Entry) -> int | None:
        """A read-only descriptor of the cache file of ``entry`` (a file or a chunk) when it
        holds its bytes; None when the cache lacks it or held it damaged (then removed).

        One fstat of the opened file, compared with the stat recorded: a file whose stat moved
        is checked as :meth:`missing` checks it, so a read never serves a changed file."""
        fd = self._open_as_recorded(entry.blob_id)
        if fd is None and not self.missing({entry.blob_id: entry}):
            fd = self._open_as_recorded(entry.blob_id)
        return fd

    def _open_as_recorded(self, blob_id: str) -> int | None:
        recorded, home = self.index.locate([blob_id]).get(blob_id, (None, None))
        try:
            fd = os.open(self._file_in(home, blob_id), os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if recorded is not None and stat_of(os.fstat(fd)) == recorded:
            return fd
        os.close(fd)
        return None

    def store(self, blob_id: str, data: bytes) -> FileStat:
        """Keep verified bytes as ``blob_id``; the file appears whole or not at all. Returns
        its stat in place, taken from the file written (see :meth:`writes`)."""
        tmp = f"{self._staged}{unique_name()}.part"
        with map_os_errors(f"write to the cache {self.root}", IF_FULL):
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
                try:
                    write_all(fd, data)
                    self._publish(tmp, blob_id)
                    return stat_of(os.fstat(fd))  # after the rename, which moves ctime
                finally:
                    os.close(fd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    def link_log(self) -> LinkLog:
        """A log to list the blobs a pull is about to cache before it writes their rows (see
        :mod:`deltaset.cache.link_log`)."""
        return LinkLog(f"{self._staged}pull-{uuid.uuid4().hex}")

    def writes(self) -> BlobWrites:
        """What a pull or a read writes into ``blobs/`` one file at a time, accounted for from
        the moment each can appear there (see :mod:`deltaset.cache.blob_writes`)."""
        return BlobWrites(self)

    def record_written(self, rows: Iterable[tuple[str, int, FileStat]]) -> None:
        """The index rows of blobs written whole (id, size, stat taken as each was placed)."""
        self.index.add_written(rows)

    def assembler(self, blob_id: str, size: int, content_id: bool = True) -> Assembler:
        """A file to build ``blob_id`` from pieces written at their offsets, in any order;
        ``content_id=False`` for an external file, whose id is not the hash of its bytes."""
        tmp = self.root / "tmp" / f"{uuid.uuid4().hex}.part"
        with map_os_errors(f"write to the cache {self.root}", IF_FULL):
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)

        def publish(built: Path) -> None:
            os.chmod(built, READ_ONLY)
            self._publish(built, blob_id)

        where = f"the cache {self.root}"
        return Assembler(blob_id, size, tmp, fd, publish, where, content_id, IF_FULL)

    def _publish(self, tmp: str | Path, blob_id: str) -> None:
        """Move a complete, read-only staged file to its place under ``blobs/``."""
        self._into_blobs(os.replace, tmp, blob_id)

    def link_in(self, staged: str, blob_id: str) -> None:
        """Link a complete, read-only file as ``blob_id`` under ``blobs/``; FileExistsError
        when the cache holds it already."""
        self._into_blobs(os.link, staged, blob_id)

    def _into_blobs(
        self, put: Callable[[str | Path, str], None], source: str | Path, blob_id: str
    ) -> None:
        """``put(source, place)`` for ``blob_id``'s place under ``blobs/``, making its prefix
        folder when it is the first blob there."""
        target = self.blob_file(blob_id)
        try:
            put(source, target)
        except FileNotFoundError:  # first blob of its prefix folder
            os.makedirs(os.path.dirname(target), exist_ok=True)
            put(source, target)

    def remember(self, blobs: Iterable[tuple[str, int]], stats: bool = True) -> None:
        """Account for fetched blobs (id, size) in the LRU index, and record their stat unless
        told not to (when they are linked next, which moves it: the link's stat is recorded).
        A blob without a recorded stat is hashed again when next used, never trusted."""
        fetched = list(blobs)
        self.index.add_blobs(fetched)
        if not stats:
            return
        found = ((b, file_stat(self.blob_file(b))) for b, _ in fetched)
        self.index.record_stats((b, stat_of(stat)) for b, stat in found if stat is not None)

    def lock_path(self, key: str) -> Path:
        return self.root / "locks" / f"{key}.lock"

    def global_lock(self) -> Path:
        return self.root / "locks" / "cache.lock"

    def has_tree(self, key: str) -> bool:
        return self.tree_path(key).is_dir()

    def build_tree(self, key: str, manifest: Manifest, mode: LinkMode) -> Path:
        """Materialise ``manifest`` as a read-only folder of links to cached blobs, atomically,
        recording the stat of each file it places."""
        with self.tree_build(key, mode, manifest) as build:
            return build.publish()

    def tree_build(self, key: str, mode: LinkMode, manifest: Manifest) -> TreeBuild:
        """Folder ``key`` of ``manifest`` to build, which a pull may write the blobs it
        fetches into."""
        return TreeBuild(self, key, mode, manifest)

    def check_tree(self, key: str) -> list[str] | None:
        """The paths of folder ``key`` whose file changed since deltaset placed it (written
        into, replaced, removed); None when the folder has no record to check it by.

        One stat a file. A file whose only change is its ctime, to the stat its blob's own
        record holds, was linked into another folder since: its record is brought up to date.
        """
        record = self.records.load(key)
        if record is None:
            return None
        suspects: dict[int, FileStat | None] = {}  # index in the record -> stat now
        stat = os.stat
        with map_os_errors(f"read the cached folder {self.tree_path(key)}"):
            folder = os.open(self.tree_path(key), os.O_RDONLY | os.O_DIRECTORY)
        try:
            for at, (path, expected) in enumerate(zip(record.paths, record.stats(), strict=True)):
                try:
                    now = stat(path, dir_fd=folder)
                except OSError:
                    suspects[at] = None
                    continue
                found = (now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns)
                if found != expected:
                    suspects[at] = found
        finally:
            os.close(folder)
        if not suspects:
            return []
        blobs = self.index.stats(record.blob_id(at) for at in suspects)
        changed = []
        for at, moved in suspects.items():
            if moved is not None and blobs.get(record.blob_id(at)) == moved:
                record.set_stat(at, moved)
            else:
                changed.append(record.paths[at])
        if len(changed) < len(suspects):
            self.records.save(key, record)
        return changed

    def repair_tree(
        self,
        key: str,
        manifest: Manifest,
        mode: LinkMode,
        whole: bool,
        fetch_again: Callable[[Mapping[str, Entry]], object] | None = None,
    ) -> set[str]:
        """Put each file of ``manifest`` (blobs checked and cached) back into folder ``key``:
        a file that is still its blob's link stays, any other is replaced by a new link (or
        copy). ``whole`` when ``manifest`` is all of the folder, recorded afresh. A blob
        file whose stat moved since it was checked is checked again (see :meth:`recheck`):
        the stat recorded for each file vouches for its bytes. Returns the blobs found
        damaged so and fetched again: the folder's other files of them are gone too."""
        tree = self.tree_path(key)
        known = self.records.load(key) if not whole else None
        record = known.by_path() if known else {}
        linked: list[tuple[str, FileStat]] = []
        folders = FolderMaker()
        hints = {entry.blob_id: path for path, entry in manifest.items()}
        checked = self.index.stats(hints)  # as checked, or last linked (below)
        fetched: set[str] = set()
        # A symbolic link points under blobs/, never into another folder, which may go first.
        # A blob at home in this very folder is at its path here (its record may be gone).
        sources = self.files(hints, hints) if mode is not LinkMode.SYMLINK else {}
        with map_os_errors(f"repair the cached folder {tree}", IF_FULL):
            for path, entry in manifest.items():
                dest = safe_target(tree, path)
                blob = sources.get(entry.blob_id) or self.blob_file(entry.blob_id)
                found = os.stat(blob)
                if stat_of(found) != checked.get(entry.blob_id):
                    if self.recheck(entry, fetch_again):
                        fetched.add(entry.blob_id)
                    blob = self.file_of(entry.blob_id)
                    found = os.stat(blob)
                now = file_stat(dest)
                if now is None or now.st_ino != found.st_ino:
                    folders.ensure_parent(dest)
                    partial = partial_path(dest)
                    placed = place(blob, partial, mode)
                    os.replace(partial, dest)
                    now = os.stat(dest)
                    if placed is LinkMode.HARDLINK:
                        linked.append((entry.blob_id, stat_of(now)))
                        checked[entry.blob_id] = stat_of(now)
                record[path] = (entry.blob_id, stat_of(now))
        self.index.record_stats(linked)
        self.records.save(key, TreeRecord.of(record))
        self._homes.forget(key)
        return fetched

    def recheck(
        self, entry: Entry, fetch_again: Callable[[Mapping[str, Entry]], object] | None
    ) -> bool:
        """Check the file of ``entry`` again (hashed, as its stat moved), and fetch it again
        through ``fetch_again`` if it was damaged (then removed, with every cached folder's
        link to it); without it, fail. Whether it was fetched again."""
        if not self.missing({entry.blob_id: entry}):
            return False
        if fetch_again is None:
            raise IntegrityError(
                f"The cached file of {entry.blob_id} changed as it was linked; get the "
                "version again."
            )
        fetch_again({entry.blob_id: entry})
        return True

    def touch_tree(self, key: str) -> None:
        self.index.touch_tree(key)

    def evict(self) -> int:
        """Free bytes down to the limit, least recently used first; returns bytes freed."""
        if not self.limit:
            return 0
        return self.shrink(self.limit)

    def shrink(self, target: int) -> int:
        """Free bytes down to ``target`` (0 empties it), least recently used first, skipping
        the folders another process is reading; returns bytes freed."""
        with locking.exclusive(self.global_lock()):
            return self._evict_locked(target) if target else self._empty_locked()

    def usage(self) -> CacheUsage:
        count, size = self.index.blob_totals()
        return CacheUsage(self.index.usage(), count, size, self.index.trees())

    def _evict_locked(self, target: int) -> int:
        freed = 0
        freed += self._drop_blobs(self.index.usage() - target)
        for key in self.index.trees_by_age():
            if self.index.usage() <= target:
                break
            if not self._remove_unread_tree(key):
                continue
            freed += self.index.tree_copied_bytes(key)
            freed += self.index.drop_tree(key)  # the bytes of blobs only it held
            freed += self._drop_blobs(self.index.usage() - target)
        return freed

    def _empty_locked(self) -> int:
        """Remove every folder no process is reading and every blob file none of the others
        links, then their rows of the index: files first, as on a full disk the index can be
        written only once there is room. Folders and files the index never recorded (a full
        disk, a kill) go too, which means walking all of the cache; returns bytes freed."""
        freed, removed, kept = 0, [], []
        on_disk: list[str] = []
        with contextlib.suppress(FileNotFoundError):
            on_disk = os.listdir(self.root / "trees")
        for key in dict.fromkeys([*self.index.trees_by_age(), *on_disk]):
            if self._remove_unread_tree(key):
                freed += self.index.tree_copied_bytes(key)
                removed.append(key)
            else:
                kept.append(key)
        linked = self.index.blobs_of(kept)
        dropped = []
        for prefix in os.scandir(self.root / "blobs"):
            for name in os.listdir(prefix.path) if prefix.is_dir() else ():
                found = file_stat(f"{prefix.path}/{name}") if name not in linked else None
                if found is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{prefix.path}/{name}")
                    freed += found.st_size
                    dropped.append(name)
        return freed + self.index.forget(removed, dropped)

    def _remove_unread_tree(self, key: str) -> bool:
        """Remove folder ``key`` unless a process reads it; whether it was removed."""
        if locking.held_by_this_process(self.lock_path(key)):
            return False
        with locking.exclusive(self.lock_path(key), wait=False) as taken:
            if taken:
                _remove_folder(self.tree_path(key), self.root / "tmp")
                self.records.drop(key)
                self._homes.forget(key)
            return taken

    def drop_unlinked(self, blob_ids: Iterable[str]) -> None:
        """Remove those of ``blob_ids`` no cached folder links, unless another process uses
        the cache now (then eviction frees them in their turn)."""
        with locking.exclusive(self.global_lock(), wait=False) as taken:
            if not taken:
                return
            for blob_id in blob_ids:
                if not self.index.trees_holding(blob_id):
                    self.blob_path(blob_id).unlink(missing_ok=True)
                    self.index.drop_blob(blob_id)

    def _drop_blobs(self, excess: int) -> int:
        freed = 0
        for blob_id, size in self.index.unreferenced_blobs_by_age():
            if freed >= excess:
                break
            self.blob_path(blob_id).unlink(missing_ok=True)
            self.index.drop_blob(blob_id)
            freed += size
        return freed


def content_is(path: str, blob_id: str, size: int) -> bool:
    """Whether the file ``path`` holds ``size`` bytes whose id is ``blob_id``. Read, never
    memory-mapped: a mapped file that another process truncates kills this one (SIGBUS)."""
    with open(path, "rb", buffering=0) as handle:
        return _holds(handle, blob_id, size)


def descriptor_holds(fd: int, blob_id: str, size: int) -> bool:
    """:func:`content_is` of the file open as ``fd``, read from its start through a copy of
    the descriptor (which moves the offset they share: for descriptors read by offset)."""
    with os.fdopen(os.dup(fd), "rb", buffering=0) as handle:
        handle.seek(0)
        return _holds(handle, blob_id, size)


def _holds(handle: Readable, blob_id: str, size: int) -> bool:
    """Whether ``handle``, read from where it is to its end, gives ``size`` bytes whose id is
    ``blob_id``."""
    found, count = hash_stream(handle, threaded=size >= THREADED_FROM)
    return count == size and found == blob_id


def _remove_folder(folder: Path, trash_root: Path) -> None:
    trash = trash_root / f"evicted-{uuid.uuid4().hex}"
    with contextlib.suppress(FileNotFoundError):
        os.rename(folder, trash)  # gone from view at once, then deleted at leisure
        _make_writable(trash)
        shutil.rmtree(trash, ignore_errors=True)


def _make_writable(folder: Path) -> None:
    for current, dirs, _ in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(current, name), 0o755)


class Assembler:
    """A file built from pieces written at their offsets, in any order, in a temporary file
    ``tmp``; ``publish`` puts it in place only once its whole content matches its id (or, for
    an external file, its size). ``where`` names its place in error messages, ``if_full``
    what to do when its disk is full."""

    def __init__(
        self,
        blob_id: str,
        size: int,
        tmp: Path,
        fd: int,
        publish: Callable[[Path], None],
        where: str,
        content_id: bool = True,
        if_full: str = "",
    ) -> None:
        self.blob_id, self.size, self.tmp, self._fd = blob_id, size, tmp, fd
        self._publish, self._where, self._if_full = publish, where, if_full
        self._content_id = content_id
        self._mirrors: list[tuple[str, int]] = []
        self._renames: list[tuple[str, str]] = []  # (partial, final) of each copy
        self._unfinished: list[str] = []  # copies to remove if the build fails

    @classmethod
    def writable(cls, blob_id: str, size: int, dest: str, content_id: bool = True) -> Assembler:
        """An assembler of the writable file ``dest`` (built beside it, renamed when whole);
        ``content_id`` as :meth:`BlobCache.assembler`'s."""
        tmp = Path(partial_path(dest))
        with map_os_errors(f"write {dest}"):
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        return cls(blob_id, size, tmp, fd, lambda built: os.replace(built, dest), dest, content_id)

    def mirror_to(self, paths: Iterable[str]) -> None:
        """Also write every piece into each of ``paths``: writable copies of the file, made as
        it is built rather than copied from the cache after (under temporary names, renamed
        once the file is whole)."""
        for path in paths:
            partial = partial_path(path)
            with map_os_errors(f"write {path}"):
                self._mirrors.append(
                    (path, os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                )
            self._unfinished.append(partial)
            self._renames.append((partial, path))

    def write_at(self, offset: int, data: bytes) -> None:
        with map_os_errors(f"write to {self._where}", self._if_full):
            os.pwrite(self._fd, data, offset)
        for path, fd in self._mirrors:
            with map_os_errors(f"write {path}"):
                os.pwrite(fd, data, offset)

    def _close_mirrors(self) -> None:
        for _, fd in self._mirrors:
            os.close(fd)
        self._mirrors = []

    def finish(self) -> FileStat:
        """Check the file built and put it in place; returns its stat there, taken from the
        file written, never from whatever holds its name later."""
        self._close_mirrors()
        with map_os_errors(f"write to {self._where}", self._if_full):
            if os.fstat(self._fd).st_size != self.size or not self._matches_id():
                raise IntegrityError(f"The pieces of {self.blob_id} do not rebuild its content.")
            for partial, final in self._renames:
                os.replace(partial, final)
                self._unfinished.remove(partial)
            self._publish(self.tmp)
            placed = stat_of(os.fstat(self._fd))  # after the rename, which moves ctime
            os.close(self._fd)
            self._fd = -1
        self._unfinished = []
        return placed

    def _matches_id(self) -> bool:
        if not self._content_id:
            return True
        return content_is(str(self.tmp), self.blob_id, self.size)

    def discard(self) -> None:
        """Remove what an unfinished build wrote: its temporary file and its copies."""
        self._close_mirrors()
        for path in self._unfinished:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._unfinished = []
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.tmp.unlink(missing_ok=True)
