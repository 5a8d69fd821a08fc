"""A cached folder being built: a private staging folder under the cache's ``tmp/``, published
whole by one rename.

A cold pull of a hard-linked folder writes each blob it fetches straight into that folder and
links it into ``blobs/`` from there once written whole: against staging it in ``tmp/``,
renaming it into ``blobs/`` and linking it into the folder, one rename and one directory entry
a file fewer. The folder is no one else's until published, and a blob appears in ``blobs/``
only whole and verified (the store checks what it reads against its hash), so a kill leaves
no partial file under any name another reader uses: only a staging folder, swept later.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from array import array
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deltaset.cache.index import IF_FULL
from deltaset.cache.links import LINK_FAILURES, LinkMode, place, write_all
from deltaset.cache.trees import TreeRecord, stat_of
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.paths import safe_target
from deltaset.faults import failpoint
from deltaset.storage.errors import map_os_errors, os_error

if TYPE_CHECKING:
    from deltaset.cache.blobs import BlobCache

READ_ONLY = 0o444
_MODES = (None, LinkMode.HARDLINK, LinkMode.COPY, LinkMode.SYMLINK)  # how a file was placed
_CODES = {mode: code for code, mode in enumerate(_MODES) if mode is not None}
_FRESH = 4  # beside a code: written by TreeBuild.store (the pull just added its blob's row)


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

    def __init__(self, cache: BlobCache, key: str, mode: LinkMode) -> None:
        self._cache, self.key, self.mode = cache, key, mode
        self.target = cache.tree_path(key)
        self.staging = f"{cache.root}/tmp/tree-{uuid.uuid4().hex}"
        self.staged: dict[str, tuple[int, str]] = {}  # blob id -> (position, file) to write
        self._folders = FolderMaker()
        # How the file at each position of the manifest was placed (a code of _MODES, 0 for
        # not yet): a byte a file, where a set of paths cost a few hundred bytes a file.
        self._placed = bytearray()

    @property
    def writes_blobs(self) -> bool:
        """Whether fetched blobs are written straight into the folder (hard links only: a
        symbolic link must point at ``blobs/``)."""
        return self.mode is LinkMode.HARDLINK

    def __enter__(self) -> TreeBuild:
        with map_os_errors(f"build the cached folder {self.target}", IF_FULL):
            os.mkdir(self.staging)
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def stage(
        self, files: Sequence[tuple[str, Entry]], first: int, fetched: Collection[str]
    ) -> None:
        """Plan where each whole stored blob of ``fetched`` (ids about to be fetched) is
        written: at the first of ``files`` (path, entry) holding it. ``files`` are those of
        the manifest to publish from position ``first`` on."""
        self.staged = {}
        if not self.writes_blobs:
            return
        self._placed.extend(bytes(first + len(files) - len(self._placed)))
        with map_os_errors(f"build the cached folder {self.target}", IF_FULL):
            for at, (path, entry) in enumerate(files, first):
                blob_id = entry.blob_id
                if entry.chunks or entry.link or blob_id in self.staged:
                    continue  # assembled, read from where it lives, or planned already
                if blob_id in fetched:
                    dest = safe_target(self.staging, path)
                    self._folders.ensure_parent(dest)
                    self.staged[blob_id] = (at, dest)

    def store(self, blob_id: str, data: bytes) -> None:
        """Write verified ``data`` where :meth:`stage` planned, then link it into ``blobs/``;
        when another process cached the blob meanwhile, the folder links theirs instead, and
        where hard links are refused the cache gets a copy of its own."""
        at, dest = self.staged[blob_id]
        try:  # not map_os_errors: a context manager a file costs more than the write
            self._placed[at] = _CODES[self._write(blob_id, data, dest)]
        except OSError as exc:
            raise os_error(exc, f"write to the cache {self._cache.root}", IF_FULL) from exc

    def _write(self, blob_id: str, data: bytes, dest: str) -> LinkMode:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, READ_ONLY)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        failpoint("pull.blob_staged")
        try:
            self._cache.link_in(dest, blob_id)
        except FileExistsError:
            os.unlink(dest)
            return place(self._cache.blob_file(blob_id), dest, self.mode)
        except OSError as exc:  # no hard links here: the folder keeps a copy, as place's
            if exc.errno not in LINK_FAILURES:
                raise
            self._cache.store(blob_id, data)
            return LinkMode.COPY
        return LinkMode.HARDLINK

    def publish(self, manifest: Manifest) -> Path:
        """Place every file of ``manifest`` (the one :meth:`stage` was given files of) not
        written yet, record the stat of each, and make the folder visible under its key,
        atomically (kept as is if another process published it first).

        No object is kept a file but the record's paths, shared with ``manifest``: a
        million-file folder is built within the memory its manifest and record take."""
        cache = self._cache
        record = TreeRecord(list(manifest))
        placed = self._placed
        placed.extend(bytes(len(manifest) - len(placed)))
        with map_os_errors(f"build the cached folder {self.target}", IF_FULL):
            copied = self._place_all(manifest, record)
            order = _id_order(manifest)  # the index takes rows fastest in id order
            # Known to the index before it is seen, so eviction can always remove it.
            cache.index.add_tree(self.key, copied, lambda: self._blob_rows(manifest, order))
            published = _publish_folder(Path(self.staging), self.target)
        hard = _FRESH | _CODES[LinkMode.HARDLINK]  # a link moves the blob's ctime
        linked = (at for at in order if placed[at] | _FRESH == hard)
        stats = ((record.blob_id(at), record.stat(at)) for at in linked)
        cache.index.record_stats(stats, in_order=True)
        if published:
            cache.records.save(self.key, record)
        return self.target

    def _place_all(self, manifest: Manifest, record: TreeRecord) -> int:
        """Place the files :meth:`store` did not write and record the stat of each; marks
        those it wrote in :attr:`_placed` as fresh. Returns the bytes copied."""
        cache, staging, placed, paths = self._cache, self.staging, self._placed, record.paths
        copied = 0
        for at, size, raw_id in manifest.sized_raw_ids():
            dest = safe_target(staging, paths[at])
            code = placed[at]
            if code:
                placed[at] = code | _FRESH
            else:
                self._folders.ensure_parent(dest)
                code = _CODES[place(cache.blob_file(raw_id.hex()), dest, self.mode)]
                placed[at] = code
            record.add_stat(raw_id, stat_of(os.stat(dest)))
            if _MODES[code] is LinkMode.COPY:
                copied += size
        return copied

    def _blob_rows(self, manifest: Manifest, order: array[int]) -> Iterator[tuple[str, int, bool]]:
        """Each blob of ``manifest`` (id, size, whether :meth:`store` wrote it), in id order."""
        placed = self._placed
        for raw_id, group in itertools.groupby(order, manifest.raw_id_at):
            positions = list(group)
            fresh = any(placed[at] & _FRESH for at in positions)
            yield raw_id.hex(), manifest.size_at(positions[0]), fresh


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
