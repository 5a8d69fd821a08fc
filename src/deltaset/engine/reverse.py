"""A close in git's direction (``deltas-on-close = "reverse"``): the version closed stores its
new content whole, and the content it replaces, stored whole by the close before, is stored
again as deltas against it.

So the newest version of a lineage is always whole, and its pull rebuilds no chain (a close
with deltas in the default direction makes the newest the deepest of its chains); and, as the
replaced content's whole copies are dropped, the storage holds about what ``gc --repack``
leaves (see engine/rewrite.py), without waiting for one.

What is replaced: for each file the version adds or modifies, the file of its parents it
would be stored against in the default direction (see engine/deltas.py: the same path, else
a file moved or the previous day's dump). Only blobs stored whole are rewritten, and only
against blobs stored whole: no blob's bases can then lead back to it. A blob already rebuilt
by older deltas (the content before it, rewritten by the close before) takes them one level
deeper. One that would take them past :data:`MAX_DEPTH` has its chain cut half way first:
the delta there is stored against the new content too (see :meth:`_Chains.cut`; the only
delta rewritten, against a blob stored whole all the same); where no one cut does, it stays
whole and starts a new chain. So no pull of an older version rebuilds more than that many
deltas however long the history. A repack brings chains back to the depth a close in the
default direction keeps.

It runs after the close, alone on the storage (a gc lease, taken only when no other close,
gc or delete runs: otherwise it is left to the next ``gc --repack``), so no other writer
changes the encodings it chooses from. Each step keeps every blob readable: the deltas are
written and named first, by an index file of a new generation (see packs/index.py), then the
packs left holding mostly outranked copies (and, within a budget, some left holding fewer:
see :func:`_drop_outranked`) are copied (what they still serve) and deleted, as gc does.
Cut short, what is left is outranked copies and unnamed packs, which gc deletes. A failure
is a warning: the version is final already.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from deltaset.core.changeset import Closed
from deltaset.core.chunking import CHUNK_FROM
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import leases
from deltaset.engine.context import Context
from deltaset.engine.deltas import MIN_SIZE, Bases
from deltaset.engine.rewrite import Item, file_items
from deltaset.engine.views import with_chunks
from deltaset.errors import DeltasetError
from deltaset.faults import failpoint
from deltaset.objects.store import MAX_LINE_DELTAS, BlobStore
from deltaset.packs.codec import DELTAS, LEVEL, Codec, encode_against
from deltaset.packs.groups import stored_shares
from deltaset.packs.index import PackIndex
from deltaset.packs.writer import DEFAULT_PACK_SIZE, PackWriter, pack_key

# The most deltas rebuilt in turn for any blob, as this direction leaves them: past it a blob
# stays whole. A close adds one to every chain below the content it replaces, so the bound is
# also how many versions a lineage goes without a whole copy (each one costs the bytes of its
# changed content again). As deep as git lets its chains grow (``pack.depth``, 50): a pull of
# the growing table's oldest version, 19 deltas deep, is measured in bench/RESULTS.md.
MAX_DEPTH = 50
REPACK_FROM = 0.5  # share of a pack's stored bytes outranked from which it is copied and deleted
WINDOW = 32 * 1024 * 1024  # raw bytes of blobs read and encoded at once
# Bytes a close copies out of packs it left partly outranked, besides those it rewrote: a pack
# of small files a version changes a few of is never half outranked by one close (40 files,
# 6 changed a version: the storage held what `off` holds, 1.4x the default's).
COPY_ANYWAY = 1024 * 1024

log = logging.getLogger("deltaset")


@dataclass
class ReverseReport:
    blobs: int = 0  # rewritten as deltas
    replaced_bytes: int = 0  # their raw bytes
    written_bytes: int = 0
    freed_bytes: int = 0
    skipped: str = ""  # why nothing was tried


def sources(ctx: Context, record: VersionRecord, files: Manifest) -> dict[str, str]:
    """The local files the large files of ``files`` were staged from, by content id: read
    back as the bases of what they replace, they spare rebuilding them from the storage (a
    file changed since is noticed, chunk by chunk, and read from the storage then). Asked
    before the close drops the draft's staged rows."""
    large = [files.raw_id_at(at).hex() for at in files.positions_from(CHUNK_FROM)]
    return ctx.catalog.staged_sources(record.id, large) if large else {}


def store_replaced_as_deltas(
    ctx: Context, final: VersionRecord, closed: Closed, local: dict[str, str]
) -> ReverseReport:
    """Rewrite what ``final``'s close replaced as deltas against its new content (see the
    module's text; ``local``: see :func:`sources`); a failure or another writer running is
    logged, never raised."""
    report = ReverseReport()
    if not len(closed.files) or not len(closed.base):
        return report
    store = ctx.blobs(final.storage)
    try:
        with leases.alone(store.storage, f"rewrite after close {final.id}") as alone:
            if not alone:
                report.skipped = "another close, gc or delete runs on the storage"
                log.info("left the content %s replaces whole: %s", final.id, report.skipped)
                return report
            store.refresh()
            parents = with_chunks(ctx, closed.base)
            cuts = _Cuts()
            _rewrite(store, _items(store, parents, closed.files, local, cuts), report, cuts)
    except DeltasetError as exc:
        log.warning(
            "The content version %s replaces stays stored whole (a gc --repack stores it as "
            "deltas): %s",
            final.id,
            exc,
        )
    return report


def _rewrite(store: BlobStore, items: Iterator[Item], report: ReverseReport, cuts: _Cuts) -> None:
    """Write ``items`` that come out as deltas (but those whose cuts did not: see
    :class:`_Cuts`), then drop the packs they outrank."""
    rank = store.index.next_rank()
    written: set[str] = set()

    def publish(rows: bytes, pairs: bytes) -> None:
        store.index.publish_rows(rows, pairs=pairs, rank=rank)

    writer = PackWriter(store.storage, DEFAULT_PACK_SIZE, on_pack=publish, keep_rows=False)
    outranked: dict[str, int] = {}  # the packs the rewritten blobs were read from: their bytes
    grouped: set[str] = set()  # those of them holding a rewritten member of a group

    def write(item: Item, encoded: Future[tuple[Codec, bytes]]) -> None:
        codec, payload = encoded.result()
        if not cuts.made(item.blob_id, written):
            return  # stays whole: as a delta, the chains below it would pass the bound
        if codec in DELTAS:
            written.add(item.blob_id)
            was = store.index.get(item.blob_id)
            # A cut's old copy, a delta deep in its chain, is left to gc --repack: copying what
            # its pack still serves checks each blob by rebuilding its chain (1.1 s a close).
            if was is not None and item.blob_id not in cuts.taken:
                if was.entry.codec == Codec.GROUP:
                    grouped.add(was.pack_id)  # its share of the frame: see _drop_outranked
                else:
                    outranked[was.pack_id] = outranked.get(was.pack_id, 0) + was.entry.length
            writer.add(item.blob_id, codec, payload, len(item.raw), "".join(item.bases or ()))
            report.blobs += 1
            report.replaced_bytes += len(item.raw)

    try:
        with ThreadPoolExecutor(2) as pool:
            # Encoded while the next are read, in order, at most WINDOW raw bytes at once.
            pending: deque[tuple[Item, Future[tuple[Codec, bytes]]]] = deque()
            size = 0
            for item in items:
                pending.append((item, pool.submit(_encode, item)))
                size += len(item.raw) + len(item.base_raw)
                while size > WINDOW:
                    done, encoded = pending.popleft()
                    size -= len(done.raw) + len(done.base_raw)
                    write(done, encoded)
            while pending:
                write(*pending.popleft())
    except BaseException as exc:
        writer.abort(exc)
        raise
    writer.close()
    report.written_bytes = writer.stored_bytes
    failpoint("reverse.after_deltas")
    report.freed_bytes = _drop_outranked(
        store, outranked, grouped, report.replaced_bytes + COPY_ANYWAY
    )


@dataclass
class _Chains:
    """The deltas stored against each blob, worked out once from the index's bases."""

    index: PackIndex

    def __post_init__(self) -> None:
        self.below: dict[str, list[str]] = {}
        for delta, bases in self.index.deltas():
            for base in bases:
                self.below.setdefault(base, []).append(delta)
        self._height: dict[str, tuple[int, int]] = {}

    def height(self, blob_id: str) -> tuple[int, int]:
        """The most deltas rebuilt in turn from ``blob_id`` (0: none is stored against it), and
        the most line deltas among them."""
        known = self._height.get(blob_id)
        if known is None:
            self._height[blob_id] = (MAX_DEPTH, 0)  # until worked out: a loop (damage) is too deep
            deepest = lines = 0
            for delta in self.below.get(blob_id, ()):
                depth, line_deltas = self.height(delta)
                deepest = max(deepest, depth + 1)
                lines = max(lines, line_deltas + self.index.is_line_delta(delta))
            known = self._height[blob_id] = (deepest, lines)
        return known

    def cut(self, blob_id: str) -> tuple[str, ...] | None:
        """The deltas half the bound down the chains below ``blob_id`` which, stored against
        the content replacing ``blob_id`` instead (each a delta of that many versions'
        changes), leave every chain within the bound once ``blob_id`` is a delta too; None
        where they do not (a delta against two chunks can reach below them by a shorter way).

        As git's window lets a blob past its depth take a base of any depth. Kept whole
        instead, each blob at the bound cost a whole copy of its content: on 120 versions of
        the growing table, 9.5 of 32.7 MB (git keeps only the newest whole)."""
        level, down = {blob_id}, max(1, MAX_DEPTH // 2)
        for _ in range(down):
            level = {delta for above in level for delta in self.below.get(above, ())}
        level = {d for d in level if self.height(d)[0] >= MAX_DEPTH - down}  # the chains too deep
        if not level:
            return None
        heights: dict[str, int] = {}
        if max(self._height_after(b, level, heights) for b in (blob_id, *level)) >= MAX_DEPTH:
            return None
        return tuple(sorted(level))

    def _height_after(self, blob_id: str, cut: set[str], known: dict[str, int]) -> int:
        """:meth:`height` once the deltas ``cut`` are stored against other bases."""
        if blob_id not in known:
            known[blob_id] = MAX_DEPTH  # until worked out: a loop (damage) is too deep
            below = [d for d in self.below.get(blob_id, ()) if d not in cut]
            known[blob_id] = max((self._height_after(d, cut, known) + 1 for d in below), default=0)
        return known[blob_id]


def _items(
    store: BlobStore,
    parents: Manifest,
    files: Manifest,
    local: dict[str, str],
    cuts: _Cuts,
) -> Iterator[Item]:
    """The whole blobs the files ``files`` (a version's added and modified files) replace in
    ``parents``, each with the new blobs (stored whole) it is tried against; a blob at the
    depth bound after the deltas below it that must be stored anew first (see :class:`_Cuts`)."""
    chains = _Chains(store.index)
    bases = Bases(parents, store)
    seen: set[str] = set()
    for at in range(len(files)):
        if files.is_external_at(at) or files.size_at(at) < MIN_SIZE:
            continue
        new = files.entry_at(at)
        old = bases.of(files.path_at(at), new)
        if old is None or not all(_whole(store, i) for i in new.stored_ids):
            continue
        ours = set(new.stored_ids)
        mine = {
            i
            for i in old.stored_ids
            if i not in ours and i not in seen and _whole(store, i) and cuts.within(chains, i)
        }
        if not mine:
            continue
        seen |= mine
        cut_reads = _CutReads(store, [c for i in old.stored_ids if i in mine for c in cuts.of(i)])
        for item in file_items(store, old, mine, new, local.get(new.blob_id)):
            if item.bases:
                item.lines = chains.height(item.blob_id)[1] < MAX_LINE_DELTAS
                for cut in cuts.of(item.blob_id):  # first: the item is stored only if they are
                    lines = chains.height(cut)[1] < MAX_LINE_DELTAS
                    raw = cut_reads.raw(cut)
                    yield Item(cut, raw, item.bases, item.base_raw, group=False, lines=lines)
                yield item


@dataclass
class _Cuts:
    """The deltas a close stores anew against its new content (see :meth:`_Chains.cut`), by
    the blob at the bound they make room for."""

    needed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Those each blob stores itself, the first to need them (before it, in the order they are
    # written): two chunks' chains can share their deltas, when one is stored against both.
    own: dict[str, tuple[str, ...]] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def within(self, chains: _Chains, blob_id: str) -> bool:
        """Whether ``blob_id``, stored as a delta, keeps the chains below it within the bound:
        as they are, or with cuts (noted here)."""
        if chains.height(blob_id)[0] < MAX_DEPTH:
            return True
        cut = chains.cut(blob_id)
        if cut is None:
            return False
        self.needed[blob_id] = cut
        self.own[blob_id] = tuple(c for c in cut if c not in self.taken)
        self.taken.update(cut)
        return True

    def of(self, blob_id: str) -> tuple[str, ...]:
        """The cuts to store before ``blob_id``."""
        return self.own.get(blob_id, ())

    def made(self, blob_id: str, written: set[str]) -> bool:
        """Whether the cuts ``blob_id`` needs (if any) were all written as deltas."""
        return written.issuperset(self.needed.get(blob_id, ()))


class _CutReads:
    """The raw bytes of the cuts of one file (see :meth:`_Chains.cut`), asked for in order,
    rebuilt about :data:`WINDOW` bytes at a time: one read rebuilds their chains together, level
    by level, rather than walking each chain alone."""

    def __init__(self, store: BlobStore, cuts: list[str]) -> None:
        self.store = store
        self.todo = deque(cuts)
        self.found: dict[str, bytes] = {}

    def raw(self, cut: str) -> bytes:
        if cut not in self.found and cut in self.todo:
            self.found, size, group = {}, 0, list[str]()
            while self.todo and (not group or size < WINDOW):
                group.append(self.todo.popleft())
                size += self.store.raw_size(group[-1])
            self.store.read(group, self.found.__setitem__)
        found = self.found.get(cut)
        return found if found is not None else self.store.read_raw(cut)


def _whole(store: BlobStore, blob_id: str) -> bool:
    found = store.index.get(blob_id)
    return found is not None and not found.entry.base and found.entry.codec != Codec.RAW


def _encode(item: Item) -> tuple[Codec, bytes]:
    return encode_against(item.raw, item.base_raw, LEVEL, lines=item.lines)


def _drop_outranked(
    store: BlobStore, outranked: dict[str, int], grouped: set[str], budget: int
) -> int:
    """Copy what the packs of ``outranked`` (pack -> its bytes now outranked) still serve, and
    delete them, where at least :data:`REPACK_FROM` of a pack is outranked, and besides, the
    most outranked first, while the bytes copied stay within ``budget`` (the raw bytes the
    rewrite replaced and :data:`COPY_ANYWAY`: a close copies in proportion to its change;
    packs of many small files, each version changing a few, were left holding 1.9x git's
    bytes on the source). The members of groups in the packs of ``grouped`` are counted by
    their share of their group's frame, from every row of those packs (small files: the rest
    are counted from their own rows)."""
    dead = dict(outranked)
    if grouped:
        rows = [loc for loc in store.index.all_locations() if loc.pack_id in grouped]
        for loc, share in zip(rows, stored_shares(rows), strict=True):
            if loc.entry.codec == Codec.GROUP and not store.index.holds_current(loc):
                dead[loc.pack_id] = dead.get(loc.pack_id, 0) + share
    doomed = []
    for pack_id, unused in sorted(dead.items(), key=lambda item: -item[1]):
        live = store.storage.size(pack_key(pack_id)) - unused
        if unused >= REPACK_FROM * (unused + live) or live <= budget:
            doomed.append(pack_id)
            budget -= max(0, live)
    if not doomed:
        return 0
    written, dropped = store.repack(doomed, None, DEFAULT_PACK_SIZE, LEVEL)
    return dropped - written
