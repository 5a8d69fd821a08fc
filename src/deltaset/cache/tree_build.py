"""A cached folder being built: a private staging folder under the cache's ``tmp/``, published
whole by one rename.

A cold pull of a hard-linked folder writes each blob it fetches straight into that folder, and
nowhere else: the folder's file is the blob's home (see :mod:`deltaset.cache.homes`), which the
index learns as the folder is published. Against staging it in ``tmp/``, renaming it into
``blobs/`` and linking it into the folder, one rename and two directory entries a file fewer
(a link into ``blobs/`` cost a cold get of 200,000 files 1.9 s of kernel time). The folder is
no one else's until published, so a kill leaves no file under any name another reader uses:
only a staging folder, beside the (empty) log by which the next opening of the cache knows its
build is gone and removes it (:mod:`deltaset.cache.link_log`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import uuid
from array import array
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deltaset.cache import locking
from deltaset.cache.index import IF_FULL, BlobRow
from deltaset.cache.link_log import LinkLog
from deltaset.cache.links import LinkMode, partial_path, place, write_all
from deltaset.cache.trees import (
    STAT_BYTES,
    FileStat,
    TreeRecord,
    file_stat,
    put_stat,
    put_stats,
    stat_columns,
    stat_of,
)
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.paths import safe_target
from deltaset.faults import failpoint
from deltaset.storage.errors import map_os_errors, os_error

if TYPE_CHECKING:
    from deltaset.cache.blobs import BlobCache

READ_ONLY = 0o444
# How a file was placed, by its code: the last, a blob's file written here, its home.
_MODES = (None, LinkMode.HARDLINK, LinkMode.COPY, LinkMode.SYMLINK, LinkMode.HARDLINK)
_CODES = {LinkMode.HARDLINK: 1, LinkMode.COPY: 2, LinkMode.SYMLINK: 3}
_HARD = _CODES[LinkMode.HARDLINK]
_HOME = 4
_BATCH = 16384  # ids looked up, or given to the index, at once
_FIELDS = STAT_BYTES // 8  # numbers of a stat in the record's stat column
_UNSIGNED = (1 << 64) - 1  # an inode is kept as the signed number of its 64 bits


@dataclass(frozen=True)
class HomeLinks:
    """Cached files to link into the staging folder ``staging`` of a build, each from the
    same path in its home folder, where it was found intact: ``files`` holds the position of
    each, its path, its inode, the stat it was found with and its home folder (a number in
    ``homes``, paths ending in a slash)."""

    staging: str
    homes: list[str]
    files: list[tuple[int, str, int, FileStat, int]]

    def __iter__(self) -> Iterator[tuple[int, str, int, FileStat, str]]:
        """Each file's position, the file to link, its inode, its stat and where it goes."""
        staging, homes = self.staging, self.homes
        for at, path, inode, checked, home in self.files:
            yield at, homes[home] + path, inode, checked, safe_target(staging, path)


class FolderMaker:
    """Creates folders once each: building a tree of many files must not stat every parent."""

    def __init__(self) -> None:
        self._made: set[str] = set()

    def ensure_parent(self, file: str) -> None:
        folder = os.path.dirname(file)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)


class TreeBuild:
    """Folder ``key`` of ``cache`` being built in ``mode``; use as a context manager (its
    staging folder goes when it ends, published or not)."""

    def __init__(self, cache: BlobCache, key: str, mode: LinkMode, manifest: Manifest) -> None:
        self._cache, self.key, self.mode, self.manifest = cache, key, mode, manifest
        self.target = cache.tree_path(key)
        self.staging = f"{cache.root}/tmp/tree-{uuid.uuid4().hex}"
        self.staged: dict[str, tuple[int, str]] = {}  # blob id -> (position, file) to write
        self._log = LinkLog(self.staging)  # locked while it runs: a sweep after a kill
        self._folders = FolderMaker()
        self._repeats: dict[int, int] = {}  # position -> that of its blob's file written here
        # How the file at each position of the manifest was placed (a code of _MODES, 0 for
        # not yet): a byte a file, where a set of paths cost a few hundred bytes a file.
        self._placed = bytearray()
        self._keep_log = False  # set when a helper process may have linked what no one knows
        self._stats = array("q")  # the record's stat column: those store wrote, then the rest
        # Where a pull found each file's blob intact, at the same path in another folder, its
        # home (see :meth:`found_at_home`): that folder (in ``_other_homes``) and the inode.
        self._home_inodes = array("q")  # 0: not found so
        self._home_folders = array("H")
        self._other_homes: list[str] = []
        self._cached: dict[str, FileStat] = {}  # blobs a pull cached, not here: stat as written
        self._order: array[int] | None = None  # the manifest's positions by blob id
        self._repeated_ids: set[bytes] = set()  # raw ids of blobs at more than one of them
        self._repeats_known = False  # whether _repeated_ids is known
        self._writing = 0  # files stage planned to write here
        # The stat this build's last link gave each blob at more than one position (a link
        # moves the ctime the next one finds), by raw id; None when no blob is.
        self._relinked: dict[bytes, FileStat | None] | None = None
        # Fetches blobs (id -> entry) into the cache again: those found damaged as linked.
        self.fetch_again: Callable[[Mapping[str, Entry]], object] | None = None

    def _grow(self, count: int) -> None:
        """Room for ``count`` files in :attr:`_placed` and :attr:`_stats`."""
        more = count - len(self._placed)
        if more <= 0:
            return
        self._placed.extend(bytes(more))
        self._stats.frombytes(bytes(STAT_BYTES * more))
        self._home_inodes.frombytes(bytes(8 * more))
        self._home_folders.frombytes(bytes(2 * more))

    @property
    def writes_blobs(self) -> bool:
        """Whether fetched blobs are written straight into the folder (hard links only: a
        symbolic link must point at ``blobs/``)."""
        return self.mode is LinkMode.HARDLINK

    def __enter__(self) -> TreeBuild:
        with map_os_errors(f"build the cached folder {self.target}", IF_FULL):
            self._log.open()  # first: a staging folder without one may be another's, alive
            try:
                os.mkdir(self.staging)
            except BaseException:
                self._log.close()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            shutil.rmtree(self.staging, ignore_errors=True)  # the blobs written go with it
        finally:
            self._log.close(done=not self._keep_log)

    def leave_log(self) -> None:
        """Leave the log to the next sweep of the cache when the build ends unpublished (a
        helper process stopped before it said what it wrote): harmless now that a build
        writes nothing outside its staging folder, which goes with it."""
        self._keep_log = True

    def linked_elsewhere(
        self, positions: Sequence[int], stats: Sequence[int], hard: bool = False
    ) -> None:
        """Files another process wrote as :meth:`store` would (see :func:`write_home`):
        those at ``positions``, their blobs' homes, with their stats end to end; with
        ``hard``, links it made of cached files instead (see :func:`link_homes`)."""
        self._grow(max(positions, default=-1) + 1)
        code = _HARD if hard else _HOME
        for at in positions:
            self._placed[at] = code
        put_stats(self._stats, positions, stats)

    def home_links(self, files: Sequence[tuple[str, Entry]], first: int) -> HomeLinks | None:
        """The files of ``files`` (those from position ``first`` on) to link from the same
        path in their home folder, found intact there (see :meth:`found_at_home` and
        :meth:`found_intact`), for :meth:`place_links` or another process to link now
        rather than at publish. Not those of a blob at several positions: which of their
        links is the last, whose stat the index keeps, is this process's to know."""
        if not self.writes_blobs or not self._other_homes:
            return None
        repeating = self._repeating_ids()
        inodes, folders, placed = self._home_inodes, self._home_folders, self._placed
        found: list[tuple[int, str, int, FileStat, int]] = []
        raw_id_at = self.manifest.raw_id_at
        for at, (path, _) in enumerate(files, first):
            inode = inodes[at]
            checked = self._checked(at) if inode and not placed[at] else None
            if checked is not None and not (repeating and raw_id_at(at) in repeating):
                found.append((at, path, inode, checked, folders[at]))
        if not found:
            return None
        homes = [f"{self._cache.root}/trees/{key}/" for key in self._other_homes]
        return HomeLinks(self.staging, homes, found)

    def place_links(self, links: HomeLinks) -> None:
        """Place the files of ``links`` (from :meth:`home_links`) as publish would."""
        with map_os_errors(f"build the cached folder {self.target}", IF_FULL):
            for at, source, inode, _, dest in links:
                self._place(at, source, inode, dest)

    def _repeating_ids(self) -> set[bytes]:
        """The raw ids of the blobs at more than one position of the manifest (before any
        sort by id: :meth:`home_links` needs them as the pull goes)."""
        if not self._repeats_known:
            self._repeated_ids = self.manifest.repeated_ids()
            self._repeats_known = True
        return self._repeated_ids

    def stage(
        self, files: Sequence[tuple[str, Entry]], first: int, fetched: Collection[str]
    ) -> None:
        """Plan where each whole stored blob of ``fetched`` (ids about to be fetched) is
        written: at the first of ``files`` (path, entry) holding it. ``files`` are those of
        the manifest to publish from position ``first`` on."""
        self.staged = {}
        if not self.writes_blobs:
            return
        self._grow(first + len(files))
        staged, repeats = self.staged, self._repeats
        with map_os_errors(f"build the cached folder {self.target}", IF_FULL):
            for at, (path, entry) in enumerate(files, first):
                blob_id = entry.blob_id
                if entry.chunks or entry.link:
                    continue  # assembled, or read from where it lives
                if blob_id in staged:  # linked to the file written for it once published
                    repeats[at] = staged[blob_id][0]
                elif blob_id in fetched:
                    dest = safe_target(self.staging, path)
                    self._folders.ensure_parent(dest)
                    staged[blob_id] = (at, dest)
                    self._writing += 1

    def found_at_home(
        self,
        files: Sequence[tuple[str, Entry]],
        first: int,
        found: Mapping[str, tuple[str, int]],
        hints: Mapping[str, str],
    ) -> None:
        """Note the files of ``files`` (those from position ``first`` on) whose blob the
        cache found intact at the same path in another folder, its home (``found``: blob id
        -> that folder, inode, for those found at their path in ``hints``; see
        :meth:`BlobCache.missing`): each is linked from there, with no second query of the
        index by id (a few microseconds a file) and no record of that folder read."""
        if not found:
            return
        self._grow(first + len(files))
        homes = self._other_homes
        for at, (path, entry) in enumerate(files, first):
            hit = found.get(entry.blob_id)
            if hit is None or hints.get(entry.blob_id) != path or entry.chunks or entry.link:
                continue
            folder, inode = hit
            if folder not in homes:
                homes.append(folder)
            self._home_inodes[at] = inode
            self._home_folders[at] = homes.index(folder)

    def found_intact(
        self,
        files: Sequence[tuple[str, Entry]],
        first: int,
        intact: Mapping[str, tuple[str, FileStat]],
    ) -> None:
        """Note the stat each file of ``files`` (those from position ``first`` on) had when
        the cache found its blob intact (``intact``: blob id -> file, stat; see
        :meth:`BlobCache.missing`), in the record's stat column until it is placed: a file
        placed from a blob whose file no longer has that stat was written into since, and
        is checked again first (see :meth:`_place_from`). Placed at publish, possibly
        minutes after the check, a stat taken then would vouch for whatever it holds by then."""
        if not intact:
            return
        self._grow(first + len(files))
        positions: list[int] = []
        found: list[int] = []  # their stats end to end: one call for the batch, not a file
        for at, (_, entry) in enumerate(files, first):
            hit = intact.get(entry.blob_id)
            if hit is not None:
                positions.append(at)
                found.extend(hit[1])
        put_stats(self._stats, positions, found)

    def store(self, blob_id: str, data: bytes) -> None:
        """Write verified ``data`` where :meth:`stage` planned: the blob's home once the
        folder is published. The stat of the file written is kept for the folder's record
        and the blob's row."""
        at, dest = self.staged[blob_id]
        try:  # not map_os_errors: a context manager a file costs more than the write
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
            try:
                write_all(fd, data)
                failpoint("pull.blob_staged")
                put_stat(self._stats, at, os.fstat(fd))
            finally:
                os.close(fd)
        except OSError as exc:
            raise os_error(exc, f"write to the cache {self._cache.root}", IF_FULL) from exc
        self._placed[at] = _HOME

    def cached(self, blob_id: str, stat: FileStat) -> None:
        """``blob_id`` was written into the cache, not into the folder, and had ``stat`` then:
        it is linked only if it still has it, or still holds its bytes."""
        self._cached[blob_id] = stat

    def _check_cached(self, at: int, blob_id: str) -> None:
        """Check again a blob cached for this folder that was written into since, before it
        is linked (a stat taken as it is linked would vouch for whatever it holds by then)."""
        written = self._cached.pop(blob_id, None)  # linked once: its ctime moves
        found = file_stat(self._cache.blob_file(blob_id)) if written is not None else None
        if written is None or (found is not None and stat_of(found) == written):
            return
        self._cache.recheck(self.manifest.entry_at(at), self.fetch_again)

    @property
    def _repeated(self) -> bool:
        """Whether a blob is at more than one position (known once :meth:`prepare_publish`
        ran)."""
        return bool(self._repeated_ids)

    def prepare_publish(self) -> None:
        """What :meth:`publish` needs that a pull works out while its helper processes end
        their last jobs, instead of waiting idle: whether a blob repeats, and the positions
        by blob id (:meth:`sort_ids`), unless every file is being written here, each its
        own blob (a cold get's usual folder, whose index rows are deferred)."""
        if self._order is not None:
            return
        if not self._repeats_known and not self.manifest.repeats_a_blob():
            self._repeats_known = True  # (none: sorting finds them otherwise)
        if self._repeats_known and not self._repeated and self._writing == len(self.manifest):
            return
        self.sort_ids()

    def sort_ids(self) -> array[int]:
        """The manifest's positions by blob id, in which the index takes rows fastest (0.2 s
        at 200,000 files, about 1 s at a million)."""
        if self._order is None:
            self._order = _id_order(self.manifest)
            if not self._repeats_known:
                self._repeated_ids = _repeated_ids(self.manifest, self._order)
                self._repeats_known = True
        return self._order

    def publish(self) -> Path:
        """Place every file of the manifest (the one :meth:`stage` was given files of) not
        written yet, record the stat of each, and make the folder visible under its key,
        atomically (kept as is if another process published it first). The index gets the
        rows of the blobs it links, those :meth:`store` wrote included: once, in id order,
        where rows written a batch at a time landed all over its B-trees.

        No object is kept a file but the record's paths, shared with the manifest: a
        million-file folder is built within the memory its manifest and record take."""
        cache, manifest = self._cache, self.manifest
        self._grow(len(manifest))
        record = TreeRecord(list(manifest), stats=self._stats)
        with (
            map_os_errors(f"build the cached folder {self.target}", IF_FULL),
            locking.exclusive(cache.root / "locks" / f"{self.key}.publish"),
        ):
            # One publish of a folder at a time: the rows of a build that loses would name
            # files (their homes, their stats) that go with its staging folder.
            if self.target.is_dir():
                return self.target  # published by another process meanwhile: keep theirs
            self.prepare_publish()
            if self._repeated:
                self._relinked = dict.fromkeys(self._repeated_ids)
            copied = self._place_all(manifest, record)
            if self._repeated:
                self._share_repeated_homes(self.sort_ids())
            # The record first: the files a folder is home to are found by it, from the
            # moment the index names them. Known to the index before it is seen, so eviction
            # can always remove it.
            cache.records.save(self.key, record)
            placed = self._placed
            if placed.count(_HOME) == len(manifest) and not self._repeated:
                # A cold get's usual folder: its blobs' rows wait for a reader that needs them.
                cache.index.add_home_folder(self.key, len(manifest), manifest.total_size)
            else:
                self._add_rows(self.sort_ids(), record, copied)
            if not _publish_folder(Path(self.staging), self.target):
                cache.records.drop(self.key)  # (an older release's, unlocked): checked whole
        return self.target

    def _add_rows(self, order: array[int], record: TreeRecord, copied: int) -> None:
        """The index rows of the folder and of the blobs it links (``order``: its positions
        by blob id)."""
        manifest, placed = self.manifest, self._placed
        if placed.count(_HARD) + placed.count(_HOME) == len(manifest) and not self._repeated:
            rows = _linked_rows(manifest, order, self._stats)
        else:
            rows = _blob_rows(manifest, order, record, placed)
        written = array("q", (at for at in order if placed[at] == _HOME))
        homes = _id_pieces(manifest, written)
        self._cache.index.add_tree(self.key, copied, _id_pieces(manifest, order), rows, homes)

    def _share_repeated_homes(self, order: array[int]) -> None:
        """Make the later files of a blob written here more than once (fetched in two batches
        of a pull) links of its first: the cache holds its bytes once, as the index counts
        them. Where a link is refused the file stays a copy of its own, read as such."""
        manifest, placed, staging, stats = self.manifest, self._placed, self.staging, self._stats
        for _, group in itertools.groupby(order, manifest.raw_id_at):
            positions = list(group)
            homes = [at for at in positions if placed[at] == _HOME]
            if len(homes) < 2:
                continue
            first = safe_target(staging, manifest.path_at(homes[0]))
            for at in homes[1:]:
                dest = safe_target(staging, manifest.path_at(at))
                with contextlib.suppress(OSError):
                    os.link(first, partial := partial_path(dest))
                    os.replace(partial, dest)
                    placed[at] = _HARD
            now = os.stat(first)  # every link moved the ctime of each file of the blob
            for at in positions:
                if placed[at] in (_HARD, _HOME) and stats[at * _FIELDS] & _UNSIGNED == now.st_ino:
                    put_stat(stats, at, now)

    def _place_all(self, manifest: Manifest, record: TreeRecord) -> int:
        """Place the files :meth:`store` did not write and record the stat of each. Returns
        the bytes copied."""
        staging, placed, paths = self.staging, self._placed, record.paths
        if placed.count(_HOME) == len(manifest):  # every file written here, as its blob's
            record.add_ids(manifest.columns_of(range(len(manifest)))[2])
            return 0
        copied = 0
        sources: dict[str, tuple[str, int]] = {}
        looked_up = 0  # positions before it have their sources in ``sources``
        inodes, folders = self._home_inodes, self._home_folders
        homes = [f"{self._cache.root}/trees/{key}/" for key in self._other_homes]
        for at, size, raw_id in manifest.sized_raw_ids():
            code = placed[at]
            if not code:  # (written by store, which kept its stat)
                blob_id = raw_id.hex()
                if self._cached:
                    self._check_cached(at, blob_id)
                if inode := inodes[at]:  # found at the same path in its home folder
                    source = homes[folders[at]] + paths[at]
                else:
                    if at >= looked_up:
                        sources, looked_up = self._sources(at), at + _BATCH
                    source, inode = sources[blob_id]
                code = self._place(at, source, inode, safe_target(staging, paths[at]))
            record.add_id(raw_id)
            if _MODES[code] is LinkMode.COPY:
                copied += size
        return copied

    def _place(self, at: int, source: str, inode: int, dest: str) -> int:
        """Place the file at position ``at`` (see :meth:`_place_from`) and record its stat;
        returns how it was placed."""
        self._folders.ensure_parent(dest)
        code, now = self._place_from(source, inode, at, dest)
        self._placed[at] = code
        put_stat(self._stats, at, now)
        return code

    def _place_from(
        self, source: str, inode: int, at: int, dest: str
    ) -> tuple[int, os.stat_result]:
        """Place the blob of the file at position ``at`` at ``dest`` from ``source``, which
        must be the file of inode ``inode`` (-1: any file there), else from where the cache
        finds it now; returns how it was placed (a code of ``_MODES``) and the stat of
        ``dest``. (``source`` was found to be that file moments ago: the inode is checked
        again for a folder evicted or replaced since.) A blob the cache found intact is
        placed only from a file with the stat it was found with (see :meth:`found_intact`),
        or once hashed again: the stat recorded for ``dest`` vouches for its bytes."""
        checked = self._checked(at)
        if checked is not None and not self._as_checked(source, checked, at):
            return self._place_rechecked(at, dest)
        mode = None
        try:
            mode = place(source, dest, self.mode)
        except FileNotFoundError:
            if inode < 0:
                raise
        if mode is not None:
            now = os.stat(dest)
            linked = now if mode is LinkMode.HARDLINK else os.stat(source)
            if inode < 0 or linked.st_ino == inode:
                self._note_link(at, mode, now)
                return _CODES[mode], now
            os.unlink(dest)  # another file has that path there: not this blob's
        if checked is not None:
            return self._place_rechecked(at, dest)
        mode = place(self._cache.file_of(self.manifest.raw_id_at(at).hex()), dest, self.mode)
        return _CODES[mode], os.stat(dest)

    def _checked(self, at: int) -> FileStat | None:
        """The stat the blob of the file at ``at`` had when the cache found it intact, if it
        did (see :meth:`found_intact`)."""
        stats, i = self._stats, at * _FIELDS
        inode = stats[i]
        return (inode & _UNSIGNED, stats[i + 1], stats[i + 2], stats[i + 3]) if inode else None

    def _as_checked(self, source: str, checked: FileStat, at: int) -> bool:
        """Whether ``source`` still has the stat ``checked``, or the one this build's own
        link of the same blob gave it (a link moves the ctime)."""
        now = file_stat(source)
        if now is None:
            return False
        found = stat_of(now)
        if found == checked:
            return True
        return (
            self._relinked is not None and self._relinked.get(self.manifest.raw_id_at(at)) == found
        )

    def _place_rechecked(self, at: int, dest: str) -> tuple[int, os.stat_result]:
        """Place the blob of the file at ``at`` once the cache checked it again: hashed, and
        fetched again if its bytes changed (see :meth:`BlobCache.recheck`)."""
        entry = self.manifest.entry_at(at)
        self._cache.recheck(entry, self.fetch_again)
        mode = place(self._cache.file_of(entry.blob_id), dest, self.mode)
        now = os.stat(dest)
        self._note_link(at, mode, now)
        return _CODES[mode], now

    def _note_link(self, at: int, mode: LinkMode, now: os.stat_result) -> None:
        """Keep the stat a hard link of a blob at several positions gave it."""
        relinked = self._relinked
        if relinked is not None and mode is LinkMode.HARDLINK:
            raw = self.manifest.raw_id_at(at)
            if raw in relinked:
                relinked[raw] = stat_of(now)

    def _sources(self, first: int) -> dict[str, tuple[str, int]]:
        """The file to place from for each blob not placed yet at the positions from
        ``first`` on (:data:`_BATCH` of them): the one written for it in this folder, its home
        folder's or its file under ``blobs/`` (always, for a symbolic link: it must outlive
        any other folder)."""
        manifest, placed, cache = self.manifest, self._placed, self._cache
        end = min(first + _BATCH, len(manifest))
        inodes = self._home_inodes
        wanted = [at for at in range(first, end) if not placed[at] and not inodes[at]]
        found: dict[str, tuple[str, int]] = {}
        for at in wanted:
            home = self._repeats.get(at)
            if home is not None and placed[home] == _HOME:
                found[manifest.raw_id_at(at).hex()] = (
                    safe_target(self.staging, manifest.path_at(home)),
                    -1,
                )
        rest = {manifest.raw_id_at(at).hex(): at for at in wanted}
        for blob_id in found:
            rest.pop(blob_id, None)
        if self.mode is LinkMode.SYMLINK:
            found.update((b, (cache.blob_file(b), -1)) for b in rest)
        else:  # a blob at home in another folder most likely has this path there
            hints = {b: manifest.path_at(at) for b, at in rest.items()}
            found.update((b, (path, -1)) for b, path in cache.files(rest, hints).items())
        return found


def write_home(data: bytes, dest: str, stats: list[int]) -> None:
    """What :meth:`TreeBuild.store` does, for a process helping a build: write ``data`` at
    ``dest``, a new file of the build's staging folder, appending its stat to ``stats``."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
    try:
        write_all(fd, data)
        stats.extend(stat_of(os.fstat(fd)))
    finally:
        os.close(fd)


def link_homes(links: HomeLinks, placed: list[int], stats: list[int]) -> None:
    """What :meth:`TreeBuild.place_links` does, for a process helping a build: link each
    file of ``links`` whose source still has the stat it was found intact with, appending
    its position to ``placed`` and the stat of the link to ``stats``. The others are the
    build's to place at publish, checked again (written into since, gone, or refused a link:
    it copies them then, or says why it cannot)."""
    made: set[str] = set()
    for at, source, inode, checked, dest in links:
        try:
            if stat_of(os.stat(source)) != checked:
                continue
            folder = os.path.dirname(dest)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            os.link(source, dest)
        except OSError:
            continue
        failpoint("pull.helper_hard_linked")
        try:
            now: os.stat_result | None = os.stat(dest)
        except OSError:
            now = None
        if now is None or now.st_ino != inode:  # another file took the source's path
            with contextlib.suppress(OSError):
                os.unlink(dest)
            continue
        placed.append(at)
        stats.extend(stat_of(now))


def _blob_rows(
    manifest: Manifest, order: array[int], record: TreeRecord, placed: bytearray
) -> Iterator[BlobRow]:
    """Each blob of ``manifest`` once, in id order (``order``: its positions so), with its
    size and the stat of the file last hard-linked to it, if any: a link moves the blob's
    ctime, so the last one holds its stat now. Last in time, not by position: a helper
    process may link a file after one that follows it (links in one tick of the clock have
    the same stat). A blob written here twice (in two batches of a pull) has two files: the
    stat is that of the first by position, the one :class:`~deltaset.cache.homes.HomeFiles`
    finds."""
    for raw_id, group in itertools.groupby(order, manifest.raw_id_at):
        first = -1
        home = -1  # the inode of the first file written here, if any
        last: FileStat | None = None
        for at in group:  # (positions in order: the sort by id keeps it)
            first = at if first < 0 else first
            code = placed[at]
            if code == _HOME and home < 0:
                home, last = record.stat(at)[0], None
            if code in (_HARD, _HOME):
                found = record.stat(at)
                if home >= 0 and found[0] != home:
                    continue
                last = found if last is None or found[3] >= last[3] else last
        yield raw_id, manifest.size_at(first), last


def _linked_rows(manifest: Manifest, order: array[int], stats: array[int]) -> Iterator[BlobRow]:
    """What :func:`_blob_rows` yields when each blob of ``manifest`` is at one position and
    every file is hard-linked (a cold get's usual folder), column by column with no Python
    code a file: 0.2 against 0.3 s at 200,000 files. ``stats``: the record's stat column."""
    found = zip(*stat_columns(stats, order), strict=True)
    ids = map(manifest.raw_id_at, order)
    return zip(ids, map(manifest.size_at, order), found, strict=True)


def _repeated_ids(manifest: Manifest, order: array[int]) -> set[bytes]:
    """The raw ids of the blobs at more than one position of ``manifest`` (``order``: by
    id)."""
    ids = map(manifest.raw_id_at, order)
    following = map(manifest.raw_id_at, itertools.islice(order, 1, None))
    return {a for a, b in zip(ids, following, strict=False) if a == b}


def _id_pieces(manifest: Manifest, order: array[int]) -> Iterator[bytes]:
    """The raw ids of ``manifest`` end to end in id order, 16,384 at a time: one piece of all
    (and SQLite's copies of it) raised the peak memory of 200,000 files 21 MB, these 5 MB."""
    for start in range(0, len(order), _BATCH):
        yield b"".join(map(manifest.raw_id_at, order[start : start + _BATCH]))


def _id_order(manifest: Manifest) -> array[int]:
    """The positions of ``manifest`` by blob id: 8 bytes a file once sorted."""
    return array("q", sorted(range(len(manifest)), key=manifest.raw_id_at))


def _publish_folder(staging: Path, target: Path) -> bool:
    """Whether ``staging`` became ``target``: not if another process published it first."""
    try:
        os.rename(staging, target)
    except OSError:
        if not target.is_dir():
            raise
        return False  # keep theirs
    return True
