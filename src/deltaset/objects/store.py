"""BlobStore: content-addressed blobs kept in packs, written in sessions, read by coalesced ranges.

Write ordering (each step create-then-publish): packs, then the index file naming them. A blob is
"in the store" only once an index names it, so an interrupted upload leaves unnamed packs that
:meth:`BlobStore.recover` indexes on the next run; nothing is ever read from a half-written pack.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from types import TracebackType

from deltaset.core.chunking import should_chunk
from deltaset.core.hashing import blob_id_of, new_hasher
from deltaset.core.manifest import Entry, Manifest
from deltaset.errors import IntegrityError, NotFoundError, StateError
from deltaset.faults import failpoint
from deltaset.packs import groups
from deltaset.packs.codec import DELTAS, LEVEL, LINE_DELTAS, Codec, encode_against, encode_small
from deltaset.packs.format import INDEX_ROW_SIZE, Location, base_ids, decode_index
from deltaset.packs.groups import whole_form
from deltaset.packs.index import PackIndex, rank_of
from deltaset.packs.ranges import coalesce
from deltaset.packs.reader import read_block, read_pack_entries
from deltaset.packs.writer import DEFAULT_PACK_SIZE, PackWriter, pack_id_of, pack_key
from deltaset.storage.base import Storage
from deltaset.storage.errors import map_os_errors

Sink = Callable[[str, bytes], None]
CHUNK_WINDOW = 16  # chunks of a file read at once (a few MiB) to hash them in order
LocatedSink = Callable[[Location, bytes], None]
# Deltas are rebuilt a window at a time: this many raw bytes of their bases held in memory.
BASE_WINDOW = 64 * 1024 * 1024
# Deltas rebuilding a blob at most: a pull reads and decodes up to this many more blobs.
MAX_DEPTH = 8
# Line deltas rebuilding a blob at most. Each is rebuilt line by line in Python: 170 MB/s
# against 2.8 GB/s for a zstd delta, so a chain of them cost a pull what no other level does
# (a table whose column is revised in every row: a line delta every version).
MAX_LINE_DELTAS = 1
# A delta storing at least this share of its raw size marks a large change of content.
BIG_CHANGE = 0.05
MAX_CHAIN = 64  # a longer chain of bases can only be a damaged index (writers keep it short)


def over_line_bound(codec: int, base_line_deltas: Callable[[], int]) -> bool:
    """Whether a blob encoded as ``codec`` against bases rebuilt with ``base_line_deltas()``
    line deltas would take more than :data:`MAX_LINE_DELTAS` to rebuild (counted only for a
    line delta): its writer then tries it against a base rebuilt without any."""
    return codec in LINE_DELTAS and base_line_deltas() >= MAX_LINE_DELTAS


class BlobStore:
    def __init__(self, storage: Storage, index_copies: Path | None = None) -> None:
        self.storage = storage
        self.index = PackIndex(storage, index_copies)
        self.index.refresh()

    def has(self, blob_id: str) -> bool:
        """Whether the blob is stored, and so are the bases it is rebuilt from."""
        return self._held_raw(bytes.fromhex(blob_id), self.index.has_deltas())

    def holds(self, entry: Entry) -> bool:
        """Whether every byte of ``entry`` is stored: its chunks, or its whole blob (an
        external file, stored elsewhere, needs nothing)."""
        if entry.link:
            return True
        if not entry.chunks and should_chunk(entry.size):
            return False  # a large file is stored as chunks, which are not known yet
        raw_ids = [bytes.fromhex(i) for i in entry.stored_ids]
        return all(self.index.has_raw(r) and self.index.bases_known(r) for r in raw_ids)

    def unheld_positions(self, view: Manifest, among: Iterable[int] | None = None) -> Iterator[int]:
        """Where in ``view`` (or among the positions ``among``) the files are that this store
        does not wholly hold (see :meth:`holds`), in order.

        A whole-blob file is looked up by its raw id, with no :class:`Entry` made: this runs
        over every file of a version on each upload and close.
        """
        deltas = self.index.has_deltas()  # else no base to look for: the usual, fast case
        if not deltas and not view.chunked_count and not view.external_count:
            has_raw = self.index.has_raw  # every file a whole blob: one lookup each
            for at, size, raw_id in view.sized_raw_ids(among):
                if should_chunk(size) or not has_raw(raw_id):
                    yield at
            return
        for at in range(len(view)) if among is None else among:
            if view.is_external_at(at):
                continue
            if view.has_chunks_at(at):
                if not self.holds(view.entry_at(at)):
                    yield at
            elif should_chunk(view.size_at(at)) or not self._held_raw(view.raw_id_at(at), deltas):
                yield at

    def _held_raw(self, raw_id: bytes, deltas: bool) -> bool:
        known = self.index.has_raw(raw_id)
        return known and (not deltas or self.index.bases_known(raw_id))

    def packs_holding(self, view: Manifest, among: Iterable[int] | None = None) -> set[str]:
        """The packs the index says hold the stored files of ``view`` (or of the positions
        ``among``)."""
        packs: set[str] = set()
        if not self.index.has_deltas() and not view.chunked_count and not view.external_count:
            pack_of = self.index.pack_of_raw  # every file a whole blob in one pack
            found = (pack_of(raw_id) for _, _, raw_id in view.sized_raw_ids(among))
            packs.update(pack for pack in found if pack is not None)
            return packs
        for at in range(len(view)) if among is None else among:
            if view.is_external_at(at):
                continue
            if view.has_chunks_at(at):
                raw_ids = [bytes.fromhex(i) for i in view.entry_at(at).stored_ids]
            else:
                raw_ids = [view.raw_id_at(at)]
            if self.index.has_deltas():  # the packs of their bases must be there too
                raw_ids += [base for raw in raw_ids for base in self.index.base_chain(raw)]
            packs.update(p for raw in raw_ids if (p := self.index.pack_of_raw(raw)) is not None)
        return packs

    def packs_and_unheld(
        self, view: Manifest, among: Sequence[int] | None = None
    ) -> tuple[set[str], int]:
        """:meth:`packs_holding` and how many files :meth:`unheld_positions` finds, in one
        pass over the files when every file is a whole blob and no delta is known (a close
        of many tiny files checks both under its lease)."""
        if self.index.has_deltas() or view.chunked_count or view.external_count:
            unheld = sum(1 for _ in self.unheld_positions(view, among))
            return self.packs_holding(view, among), unheld
        pack_of = self.index.pack_of_raw
        packs: set[str] = set()
        unheld = 0
        for _, size, raw_id in view.sized_raw_ids(among):
            pack = pack_of(raw_id)
            if pack is None:
                unheld += 1
                continue
            packs.add(pack)
            if should_chunk(size):  # stored whole, but a file this large needs its chunk list
                unheld += 1
        return packs, unheld

    def forget_missing_packs(self, pack_ids: Iterable[str], max_workers: int = 8) -> set[str]:
        """Of ``pack_ids``, those the storage no longer has: the index files naming them are
        rewritten without them, so neither this store nor any other process counts on them.

        A gc deletes an old enough pack that no index file names yet (an upload in progress
        on another machine may have just written it) and the upload then writes an index
        file naming it: only a look at the packs themselves, made while no gc can run (under
        a close lease), tells that apart from a pack that is there."""
        wanted = sorted(set(pack_ids))
        if not wanted:
            return set()
        with ThreadPoolExecutor(max(1, min(max_workers, len(wanted)))) as pool:
            there = list(pool.map(lambda p: self.storage.exists(pack_key(p)), wanted))
        gone = {p for p, found in zip(wanted, there, strict=True) if not found}
        if gone:
            self._drop_packs(gone)
        return gone

    def missing(self, blob_ids: Iterable[str]) -> list[str]:
        return [b for b in dict.fromkeys(blob_ids) if b not in self.index]

    def with_bases(self, blob_ids: Iterable[str]) -> set[str]:
        """``blob_ids`` and every blob one of them is rebuilt from (the bases of deltas, and
        theirs): what must be kept for them to stay readable."""
        found = set(blob_ids)
        if not self.index.has_deltas():
            return found
        todo = list(found)
        while todo:
            for base in base_ids(self.index.base_of(todo.pop())):
                if base not in found:
                    found.add(base)
                    todo.append(base)
        return found

    def location(self, blob_id: str) -> Location:
        found = self.index.get(blob_id)
        if found is None and self.index.cover_unnamed():  # an index file may have been lost
            found = self.index.get(blob_id)
        if found is None:
            raise NotFoundError(f"The blob {blob_id} is missing from storage {self.storage.url}.")
        return found

    def read_raw(self, blob_id: str, memo: Rebuilt | None = None) -> bytes:
        """The raw bytes of one blob, checked against its hash (see :meth:`read` for
        ``memo``)."""
        found: dict[str, bytes] = {}
        self.read([blob_id], found.__setitem__, 1, memo)
        return found[blob_id]

    def raw_size(self, blob_id: str) -> int:
        return self.location(blob_id).entry.raw_length

    def stored_size(self, blob_id: str) -> int:
        return self.location(blob_id).entry.length

    def refresh(self) -> None:
        self.index.refresh()

    def recover(self) -> int:
        """Index the complete packs no readable index file names: those an interrupted upload
        left unnamed, and those a damaged index file named (that file is then deleted: it
        names nothing the new one does not). Returns how many packs were indexed."""
        named = self.index.pack_ids() - self.index.covered_packs
        found = []
        for key in self.storage.list("packs/"):
            pack_id = pack_id_of(key)
            if pack_id is not None and pack_id not in named:
                try:
                    entries = read_pack_entries(self.storage, pack_id)
                except IntegrityError:
                    continue  # not a complete pack: never indexed, removed by gc
                # Blobs known already stay where they are read from: a rewrite cut short (see
                # engine/rewrite.py) leaves a pack of encodings not to be mixed with those.
                found += [Location(pack_id, e) for e in entries if e.blob_id not in self.index]
        if found:
            self.index.publish(found)
        damaged = sorted(self.index.damaged)
        for key in damaged:
            self.storage.delete(key)
        if damaged or self.index.covered_packs:  # start again from the index files alone
            self.index = PackIndex(self.storage, self.index.local_copies)
            self.index.refresh()
        return len({loc.pack_id for loc in found})

    def drop_unreferenced(
        self, live: set[str], keep: Iterable[str] = (), among: Iterable[str] | None = None
    ) -> int:
        """Delete the packs holding nothing in ``live`` (of those ``among`` names, when given),
        but those ``keep`` names; returns the bytes freed.

        Index files naming a doomed pack are rewritten first, so no index ever names a missing
        pack. Packs that still hold one live blob stay whole (see :meth:`repack`); a copy of a
        blob that another row outranks (see :class:`PackIndex`) is not what keeps a pack.
        """
        self.refresh()
        live = self.with_bases(live)
        packs: dict[str, list[Location]] = {}
        for loc in self.index.all_locations():
            packs.setdefault(loc.pack_id, []).append(loc)
        doomed = {p for p, locs in packs.items() if not any(self._serves(x, live) for x in locs)}
        if among is not None:
            doomed &= set(among)
        doomed -= set(keep)
        if not doomed:
            return 0
        return self._drop_packs(doomed)

    def _serves(self, loc: Location, live: set[str] | None) -> bool:
        """Whether a live blob (any, with ``live`` None) is read from ``loc`` (not from a copy
        that outranks it)."""
        return (live is None or loc.entry.blob_id in live) and self.index.holds_current(loc)

    def _drop_packs(self, doomed: set[str]) -> int:
        """Rewrite the index files naming ``doomed`` packs without them, then delete the packs;
        returns the bytes freed.

        Index files naming only doomed packs go first, then the packs no other index file
        names: on a full storage, that frees the room the rewritten index files need.
        """
        rewrites: list[tuple[str, list[Location]]] = []  # (key, the rows it keeps)
        for key in self.index.keys_naming(doomed):
            try:
                kept = decode_index(self.storage.get_bytes(key))
            except NotFoundError:
                continue  # rewritten meanwhile by a close that found the same packs missing
            if not any(loc.pack_id in doomed for loc in kept):
                continue
            if all(loc.pack_id in doomed for loc in kept):
                self.storage.delete(key)
            else:
                rewrites.append((key, kept))
        failpoint("gc.after_index")
        named = {loc.pack_id for _, kept in rewrites for loc in kept}
        freed = self._delete_packs(doomed - named)
        for key, kept in rewrites:
            rank = rank_of(key)  # rows of a rewrite keep their rank, which they win by
            self.index.publish([loc for loc in kept if loc.pack_id not in doomed], rank)
            self.storage.delete(key)
        freed += self._delete_packs(doomed & named)
        self.index = PackIndex(self.storage, self.index.local_copies)
        self.index.refresh()
        return freed

    def _delete_packs(self, pack_ids: set[str]) -> int:
        freed = 0
        for pack_id in pack_ids:
            with contextlib.suppress(NotFoundError):  # gone already (an earlier gc, cut short)
                freed += self.storage.size(pack_key(pack_id))
            self.storage.delete(pack_key(pack_id))
        return freed

    def session(
        self, pack_size: int = DEFAULT_PACK_SIZE, compress: bool = True, level: int = LEVEL
    ) -> UploadSession:
        return UploadSession(self, pack_size, compress, level)

    def read(
        self, blob_ids: Iterable[str], sink: Sink, max_workers: int = 4, memo: Rebuilt | None = None
    ) -> int:
        """Fetch ``blob_ids`` with coalesced ranged reads in parallel; ``sink`` gets each one's
        verified raw bytes (from several threads). Returns the stored bytes read.

        ``memo``: raw bytes rebuilt by earlier reads, shared by several reads (those of one
        close): a blob found there, or a delta's base, is not rebuilt again."""
        if memo is None:
            return self._read_located(
                blob_ids, lambda loc, data: sink(loc.entry.blob_id, data), max_workers
            )
        wanted = list(dict.fromkeys(blob_ids))
        known = memo.checked(wanted)  # what a reader gets is always checked
        for blob_id, data in known.items():
            sink(blob_id, data)
        left = [b for b in wanted if b not in known]
        if not left:
            return 0
        return self._read_located(
            left, lambda loc, data: sink(loc.entry.blob_id, data), max_workers, memo=memo
        )

    def content_id(self, chunks: Sequence[str], max_workers: int = 4) -> str:
        """The id (BLAKE3) of what ``chunks`` rebuild, joined in order: what a chunked file's
        id must be. Read :data:`CHUNK_WINDOW` chunks at a time, never the whole content, each
        checked against its own hash; NotFoundError for a chunk the store lacks."""
        hasher = new_hasher()
        for start in range(0, len(chunks), CHUNK_WINDOW):
            window = chunks[start : start + CHUNK_WINDOW]
            found: dict[str, bytes] = {}
            self.read(window, found.__setitem__, max_workers)
            for chunk_id in window:
                hasher.update(found[chunk_id])
        return str(hasher.hexdigest())

    def _read_located(
        self,
        blob_ids: Iterable[str],
        sink: LocatedSink,
        max_workers: int,
        stored: bool = False,
        memo: Rebuilt | None = None,
    ) -> int:
        """:meth:`read`, telling ``sink`` where each blob was found; with ``stored``, each
        one's stored payload rather than its raw bytes (checked against its hash all the same).

        A pack that vanished since the index was loaded (a gc repacked it) is looked up again:
        its blobs are read from where the index now says they are."""
        wanted = list(dict.fromkeys(blob_ids))
        delivered: set[str] = set()
        lock = threading.Lock()

        def deliver(loc: Location, data: bytes) -> None:
            sink(loc, data)
            with lock:
                delivered.add(loc.entry.blob_id)

        with _Workers(max_workers) as workers:
            try:
                return self._read_blocks(wanted, deliver, workers, stored, memo=memo)
            except NotFoundError:
                self.refresh()
                left = [b for b in wanted if b not in delivered]
                return self._read_blocks(left, deliver, workers, stored, memo=memo)

    def _read_blocks(
        self,
        blob_ids: list[str],
        sink: LocatedSink,
        workers: _Workers,
        stored: bool,
        depth: int = 0,
        memo: _Rebuilt | None = None,
        check_bases: bool = False,
    ) -> int:
        """Read ``blob_ids``: those stored whole at once, then the deltas, shallowest first and
        a window at a time, each after the raw bytes of its base (read the same way, so rebuilt
        in turn). Raw bytes rebuilt once are kept a while (``memo``): a version often holds a
        file and its base both (daily dumps), and a window the same base twice.

        The blobs asked for are checked against their hashes; their bases only with
        ``check_bases``: a blob rebuilt from a damaged base does not match its own hash, and
        then the bases are read again, checked, to name the damaged one. Hashing every level
        of a chain cost a pull of the newest version a tenth of its time."""
        if depth > MAX_CHAIN:
            raise IntegrityError(f"The stored blobs of {self.storage.url} have a loop of bases.")
        located = [self.location(b) for b in blob_ids]
        plain = [x for x in located if not x.entry.base]
        deltas = [x for x in located if x.entry.base]
        # Whole blobs are kept for the deltas of this read, or for a caller's later reads (a
        # memo given): a pull of whole blobs from a storage holding deltas kept 64 MB for none.
        shared = memo is not None
        memo = memo if memo is not None else _Rebuilt()
        check = depth == 0 or check_bases
        kept = not stored and self.index.has_deltas() and (shared or bool(deltas))
        keep = memo.keeping(sink, check) if kept else sink
        read = self._read_located_now(plain, keep, workers, stored, {}, check)
        for window in _windows(deltas, self.index.depth_of):
            needed = list(dict.fromkeys(base for x in window for base in base_ids(x.entry.base)))
            bases = memo.found(needed)
            wanted = [base for base in needed if base not in bases]
            if wanted:
                read += self._read_blocks(
                    wanted, _keeper(bases), workers, False, depth + 1, memo, check_bases
                )
            try:
                read += self._read_located_now(window, keep, workers, stored, bases, check)
            except IntegrityError:
                if check and not check_bases:  # blame a damaged base, if one is
                    self._read_blocks(needed, _ignore, workers, False, 1, _Rebuilt(), True)
                raise
        return read

    def _read_located_now(
        self,
        located: list[Location],
        sink: LocatedSink,
        workers: _Workers,
        stored: bool,
        bases: dict[str, bytes],
        check: bool = True,
    ) -> int:
        blocks = coalesce(located)

        def fetch(block_index: int) -> int:
            block = blocks[block_index]
            for loc, data in read_block(self.storage, block, stored, bases, check):
                sink(loc, data)
            return block.length

        return workers.total(fetch, len(blocks))

    def copy_to(
        self,
        target: BlobStore,
        blob_ids: Iterable[str],
        pack_size: int = DEFAULT_PACK_SIZE,
        max_workers: int = 4,
    ) -> int:
        """Copy into ``target`` those of ``blob_ids`` it lacks, as stored here (nothing
        compressed again, each checked against its hash on the way); returns the stored bytes
        written. Interrupted, the packs already complete are indexed in ``target``, so running
        it again copies only the rest."""
        wanted = target.missing(blob_ids)
        if not wanted:
            return 0
        # The bases first: a delta in the target is never without the blob it is rebuilt from.
        bases = {b for w in wanted for b in base_ids(self.index.base_of(w))}
        written = self.copy_to(target, bases, pack_size, max_workers) if bases else 0
        writer = PackWriter(target.storage, pack_size)

        def copy(loc: Location, payload: bytes) -> None:
            e = loc.entry
            writer.add(e.blob_id, e.codec, payload, e.raw_length, e.base)

        try:
            self._read_located(wanted, copy, max_workers, stored=True)
        except BaseException as exc:
            writer.abort(exc)
            raise
        else:
            writer.close()
        finally:
            if writer.written:
                target.index.publish_rows(writer.written, pairs=writer.pairs)
        return written + writer.stored_bytes

    def repack(
        self, pack_ids: Iterable[str], live: set[str] | None, pack_size: int, group_level: int
    ) -> tuple[int, int]:
        """Copy the ``live`` blobs of ``pack_ids`` (None: every blob read from them) into new
        packs (members of groups grouped again, at ``group_level``), then delete those packs;
        returns (bytes written, bytes deleted).

        The new packs and their index come first, then the index files stop naming the old
        packs, then the old packs go: a reader finds every blob at every step (one that loaded
        the index before finds the new place on retry, see :meth:`read`).
        """
        old = set(pack_ids)
        if not old:
            return 0, 0
        live = self.with_bases(live) if live is not None else None
        held = [loc for loc in self.index.rows_where(packs=old) if self._serves(loc, live)]
        copies = self.index.rows_where(blobs={loc.entry.blob_id for loc in held})
        # A copy elsewhere counts only if readers may use it (see PackIndex.holds_current).
        elsewhere = {
            loc.entry.blob_id
            for loc in copies
            if loc.pack_id not in old and self._serves(loc, live)
        }
        moving = list(dict.fromkeys(b for loc in held if (b := loc.entry.blob_id) not in elsewhere))
        writer = PackWriter(self.storage, pack_size, group_level=group_level)

        def copy(loc: Location, payload: bytes) -> None:
            # As stored (its codec, level and base kept, nothing compressed again), once checked.
            e = loc.entry
            writer.add(e.blob_id, e.codec, payload, e.raw_length, e.base)

        self._read_located(moving, copy, max_workers=4, stored=True)
        writer.close()
        if writer.written:
            # The copies keep winning over any other copy, as the rows they copy did.
            rank = self.index.next_rank() - 1
            self.index.publish_rows(writer.written, pairs=writer.pairs, rank=rank)
        failpoint("gc.after_repack")
        return writer.stored_bytes, self._drop_packs(old)


def _keeper(into: dict[str, bytes]) -> LocatedSink:
    """A sink keeping each blob's bytes in ``into``."""

    def keep(loc: Location, data: bytes) -> None:
        into[loc.entry.blob_id] = data

    return keep


def _ignore(loc: Location, data: bytes) -> None:
    """A sink for blobs read only to check them."""


def _ignore_blob(blob_id: str, data: bytes) -> None:
    """A sink for blobs read only to keep them in a memo (see BlobStore.read)."""


def _windows(deltas: list[Location], depth_of: Callable[[str], int]) -> Iterator[list[Location]]:
    """``deltas`` by depth, shallowest first (a base is then often rebuilt already), in groups
    of about :data:`BASE_WINDOW` raw bytes (their bases' likely size)."""
    by_depth: dict[int, list[Location]] = {}
    for loc in deltas:
        by_depth.setdefault(depth_of(loc.entry.blob_id), []).append(loc)
    for depth in sorted(by_depth):
        window: list[Location] = []
        size = 0
        for loc in by_depth[depth]:
            if window and size + loc.entry.raw_length > BASE_WINDOW:
                yield window
                window, size = [], 0
            window.append(loc)
            size += loc.entry.raw_length
        if window:
            yield window


class _Workers:
    """The threads one read fetches its blocks with, started as the first blocks need them
    and shared by every level and window of its delta chains. A pool each time a level was
    read started 188 threads for one pull of a table's newest version (4 before deltas)."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._pool: ThreadPoolExecutor | None = None

    def total(self, fetch: Callable[[int], int], count: int) -> int:
        """The sum of ``fetch(i)`` for each ``i`` below ``count``, fetched in the threads.

        On a failure the fetches not started are cancelled and those running waited for, so
        that none still writes once the caller handles the failure (retries, blames a base)."""
        if count <= 1 or self._most <= 1:  # a thread costs more than it saves here
            return sum(fetch(at) for at in range(count))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._most)
        started: list[Future[int]] = [self._pool.submit(fetch, at) for at in range(count)]
        try:
            return sum(future.result() for future in started)
        finally:
            for future in started:
                future.cancel()
            wait(started)

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()


class _Rebuilt:
    """The raw bytes of the blobs one read rebuilt lately, up to :data:`BASE_WINDOW` bytes,
    the oldest forgotten first."""

    def __init__(self) -> None:
        self._raw: dict[str, bytes] = {}
        self._unchecked: set[str] = set()
        self._size = 0
        self._lock = threading.Lock()

    def found(self, blob_ids: Iterable[str]) -> dict[str, bytes]:
        with self._lock:
            return {b: self._raw[b] for b in blob_ids if b in self._raw}

    def checked(self, blob_ids: Iterable[str]) -> dict[str, bytes]:
        """:meth:`found`, each checked against its hash: a base rebuilt on the way to another
        blob was not (see BlobStore._read_blocks), and is hashed now, once; one that does not
        match is forgotten, to be read again from storage."""
        held = self.found(blob_ids)
        with self._lock:
            doubtful = [b for b in held if b in self._unchecked]
        for blob_id in doubtful:
            matches = blob_id_of(held[blob_id]) == blob_id
            with self._lock:
                if matches:
                    self._unchecked.discard(blob_id)
                elif self._raw.get(blob_id) is held[blob_id]:
                    self._size -= len(self._raw.pop(blob_id))
                    self._unchecked.discard(blob_id)
            if not matches:
                del held[blob_id]
        return held

    def add(self, blob_id: str, data: bytes) -> None:
        """Keep ``data``, the raw bytes of ``blob_id`` checked against it by the caller."""
        self._add(blob_id, data, True)

    def keeping(self, sink: LocatedSink, checked: bool) -> LocatedSink:
        def keep(loc: Location, data: bytes) -> None:
            self._add(loc.entry.blob_id, data, checked)
            sink(loc, data)

        return keep

    def _add(self, blob_id: str, data: bytes, checked: bool) -> None:
        if not self._raw_worth(data):
            return
        with self._lock:
            if blob_id in self._raw:
                if checked:
                    self._unchecked.discard(blob_id)
                return
            self._raw[blob_id] = data
            self._size += len(data)
            if not checked:
                self._unchecked.add(blob_id)
            while self._size > BASE_WINDOW:
                oldest = next(iter(self._raw))
                self._size -= len(self._raw.pop(oldest))
                self._unchecked.discard(oldest)

    @staticmethod
    def _raw_worth(data: bytes) -> bool:
        return 0 < len(data) <= BASE_WINDOW // 4


Rebuilt = _Rebuilt  # a memo one caller shares between reads (see BlobStore.read)


class ChangedFileError(StateError):
    """A file to store no longer holds the bytes its id promises."""

    def __init__(self, source: str | Path) -> None:
        super().__init__(f"The file {source} changed after it was added; add it again.")
        self.source = str(source)


class UploadSession:
    """Blobs added in parallel go into packs; on a clean exit one index file names them all."""

    def __init__(self, store: BlobStore, pack_size: int, compress: bool, level: int) -> None:
        self.store = store
        self.compress = compress
        self.level = level
        self.writer = PackWriter(
            store.storage,
            pack_size,
            on_pack=self._pack_published,
            group_level=max(level, groups.LEVEL),
            rich_level=max(level, groups.RICH_LEVEL),
        )
        # Raw ids of blobs claimed but not yet in a published pack: the store's index knows
        # the rest, so this set stays the size of one pack, not of the whole upload.
        self._claimed: set[bytes] = set()
        self._lock = threading.Lock()

    @property
    def stored_bytes(self) -> int:
        return self.writer.stored_bytes

    def _claim(self, blob_id: str) -> bool:
        """True for the first caller adding ``blob_id`` when the store lacks it."""
        raw = bytes.fromhex(blob_id)
        with self._lock:
            if raw in self._claimed or self.store.has(blob_id):
                return False
            self._claimed.add(raw)
            return True

    def _pack_published(self, rows: bytes, pairs: bytes) -> None:
        self.store.index.learn_unpublished(rows, pairs)
        with self._lock:
            for at in range(0, len(rows), INDEX_ROW_SIZE):
                self._claimed.discard(rows[at : at + 32])

    def put_bytes(self, blob_id: str, data: bytes | memoryview, group: bool = True) -> bool:
        """Store ``data`` as ``blob_id`` unless present; returns whether it was written.
        ``group``: whether a small blob may be compressed in a group (not a chunk, read alone
        by random reads and as a delta's base)."""
        if not self._claim(blob_id):
            return False
        raw = bytes(data)
        codec, payload = (Codec.RAW, raw)
        if self.compress:
            form = whole_form if group else encode_small
            codec, payload = form(raw, self.level)
        self.writer.add(blob_id, codec, payload, len(raw))
        return True

    def put_similar(
        self,
        blob_id: str,
        data: bytes | memoryview,
        base_id: str | Sequence[str],
        base: bytes,
        memo: Rebuilt | None = None,
        group: bool = True,
        ahead: Sequence[str] = (),
    ) -> bool:
        """:meth:`put_bytes`, stored as a delta against the blob ``base_id`` (or blobs, at most
        :data:`~deltaset.packs.format.MAX_BASES`; ``base``: their raw bytes joined) when that
        pays. A base already :data:`MAX_DEPTH` deltas deep is not
        used, so that rebuilding any blob reads at most that many deltas however long the
        history: the blob is tried against the first blob of that chain (stored whole)
        instead, and when that does not pay either, stored whole to start a new chain (that
        first blob read through ``memo``, which holds it when rebuilding the base did).

        ``ahead``: the bases the next blobs of this upload will likely be tried against (the
        next chunks of the same base file). When this blob's chain restarts, the restart
        points of those as deep are read with its own, into ``memo``, in one read: the chunks
        of a file restart together, and their restart points share packs and bases."""
        if not self._claim(blob_id):
            return False
        raw = bytes(data)
        ids = [base_id] if isinstance(base_id, str) else list(base_id)
        if self.compress and max(map(self.store.index.depth_of, ids)) >= MAX_DEPTH:
            start, base = self._chain_start(ids[0], memo, ahead)
            ids = [start]
        if not self.compress:
            codec, payload = Codec.RAW, raw
        else:
            codec, payload = encode_against(raw, base, self.level)
            if over_line_bound(codec, lambda: self._line_deltas(ids)):
                ids, codec, payload = self._below_line_deltas(ids[0], raw, memo)
            if group and codec not in DELTAS and groups.groupable(raw):
                codec, payload = Codec.GROUP, raw
        delta_of = "".join(ids) if codec in DELTAS else None
        self.writer.add(blob_id, codec, payload, len(raw), delta_of)
        return True

    def _line_deltas(self, ids: Sequence[str]) -> int:
        return max(map(self.store.index.line_deltas_of, ids))

    def _below_line_deltas(
        self, blob_id: str, raw: bytes, memo: Rebuilt | None
    ) -> tuple[list[str], Codec, bytes]:
        """``raw`` stored against the newest blob of ``blob_id``'s chain rebuilt without a line
        delta (or whole), when it came out a line delta against ``blob_id``, whose chain
        holds :data:`MAX_LINE_DELTAS` already: the next pull rebuilds one line delta, not one
        a version. Against an older blob the delta holds more, but a line delta stores each
        changed line's new bytes either way."""
        start = self.store.index.below_line_deltas(bytes.fromhex(blob_id)).hex()
        if start == blob_id:  # its bases are not known: no chain to walk
            codec, payload = encode_small(raw, self.level)
            return [], codec, payload
        codec, payload = encode_against(raw, self.store.read_raw(start, memo=memo), self.level)
        return [start], codec, payload

    def _chain_start(
        self, blob_id: str, memo: Rebuilt | None = None, ahead: Sequence[str] = ()
    ) -> tuple[str, bytes]:
        """The blob a blob whose base ``blob_id`` is too deep is tried against instead, and its
        raw bytes: the newest of the base's chain where the content last changed much (a
        delta storing at least :data:`BIG_CHANGE` of its raw size), else its first blob.

        Trying a blob against it, not storing the blob whole, keeps a long history of small
        changes small: reaching the depth limit costs a delta from that blob (on a growing
        table, every :data:`MAX_DEPTH` versions: 1.2 MB each time instead of 13 MB). After a
        large change (a column added to every row), the chain's first blob holds the content
        of before, which deltas of the new content seldom pay against."""
        start = self._restart_point(blob_id)
        if memo is not None and ahead and not memo.found([start]):
            self._read_restart_points(start, ahead, memo)
        return start, self.store.read_raw(start, memo)

    def _restart_point(self, blob_id: str) -> str:
        raw_id = bytes.fromhex(blob_id)
        return self.store.index.restart_point(raw_id, MAX_DEPTH, BIG_CHANGE).hex()

    def _read_restart_points(self, start: str, ahead: Sequence[str], memo: Rebuilt) -> None:
        """Read ``start`` and the restart points of the blobs of ``ahead`` whose chains are
        too deep into ``memo``, at once (checked, as :meth:`BlobStore.read_raw` would). Read
        one by one, as the chunks of a file reached them, the restart points of a table's
        chunks (each through the line delta of the version that added a column) cost a close
        a third of its upload threads' time: a read of its own for every level of every
        chain, and no batch to share them."""
        index = self.store.index
        deep = [b for b in ahead if b in index and index.depth_of(b) >= MAX_DEPTH]
        wanted = dict.fromkeys([start, *map(self._restart_point, deep)])
        self.store.read(wanted, _ignore_blob, 1, memo)  # the close's threads share the work

    def put_file(self, blob_id: str, source: str | Path) -> bool:
        """Store a whole small file, refusing one whose content changed since it was hashed."""
        if bytes.fromhex(blob_id) in self._claimed or self.store.has(blob_id):
            return False
        with map_os_errors(f"read {source}"), open(source, "rb") as handle:
            data = handle.read()
        if blob_id_of(data) != blob_id:
            raise ChangedFileError(source)
        return self.put_bytes(blob_id, data)

    def __enter__(self) -> UploadSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc is not None:
                try:
                    self.writer.abort(exc)  # raises the storage's own error for a failed write
                finally:
                    if self.writer.written:  # complete packs are worth keeping: index them
                        self.store.index.publish_rows(
                            self.writer.written, learned=True, pairs=self.writer.pairs
                        )
                return
            self.writer.close()
            if self.writer.written:
                self.store.index.publish_rows(
                    self.writer.written, learned=True, pairs=self.writer.pairs
                )
        finally:
            # The writer calls back into this session: without this the pair (and every index
            # row of the upload) would live on until the garbage collector finds the cycle.
            self.writer.on_pack = None
            self.writer.written = bytearray()
            self.writer.pairs = bytearray()
