"""Rewriting the stored blobs in git's direction (``gc --repack``): the newest version of each
lineage stored whole, older versions as deltas against newer content.

A close stores a changed file as a delta against its parent's content (forward), so the newest
version is the deepest of its chain: each pull of it, and each close after it, rebuilds the
whole chain. The rewrite gives each blob its encoding once, at the newest version holding it
(its *home*, in an order where parents come before children), with a base taken from that
version's newest child (what engine/deltas.py would choose for the child's file, roles
swapped). A blob with no newer content at its path (a dump published under a new name each
day) is tried against the file of its version sorting next after it. A chain holds at most
``MAX_LINE_DELTAS`` line deltas, as at a close (see ``UploadSession.put_similar``): a blob
that comes out a line delta against a base rebuilt with one already is tried against the
newest blob of that base's chain rebuilt without any instead. Every base is given its
encoding before the blobs stored against it (see :meth:`_Plan.usable`), so the bases form no
loop, and the newest content of a lineage is stored whole.

Safety while readers run and when cut short. Blobs are written in that order, newest home
first, and each pack is named by an index file of the rewrite's generation as soon as it is
complete (see ``packs/index.py``: rows of a higher generation win, whatever order the files
are read in). At any moment the rewritten blobs are a prefix of the order, each one's bases
earlier in it; a blob not rewritten yet keeps its old encoding and bases, and a path of bases
from it that reaches a rewritten blob only goes further back in the order from there. So no
state has a loop, every blob stays readable, and a rerun starts a new generation. The packs
left holding only outranked copies are deleted afterwards, by gc (see engine/gc.py).
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.deltas import MIN_SIZE, Bases, ChunkBases
from deltaset.engine.views import read_stored_record, stored_manifest
from deltaset.errors import NotFoundError
from deltaset.faults import failpoint
from deltaset.objects import store as store_module
from deltaset.objects.store import BIG_CHANGE, BlobStore, over_line_bound
from deltaset.packs.codec import (
    DELTA_LEVEL,
    DELTAS,
    LINE_DELTAS,
    Codec,
    encode_against,
    encode_small,
    lines_may_pay,
)
from deltaset.packs.format import PackEntry, base_ids
from deltaset.packs.groups import groupable
from deltaset.packs.writer import PackWriter
from deltaset.storage.layout import manifest_key

WINDOW = 32 * 1024 * 1024  # raw bytes of blobs read and encoded at once
# Blobs a rewrite stores whole are compressed at this level, a close's at LEVEL: the newest
# version of a growing table stores 12 % less (91 MB of CSV: 17.8 MB against 20.3 MB) for
# 2 s more of a gc, and it decompresses as fast.
WHOLE_LEVEL = DELTA_LEVEL
# A delta is kept at up to this share of the blob stored whole, not half as at a close: the
# blobs rewritten are older content, read by fewer pulls, and on a table losing a column (its
# older content against the newer) most JSON Lines deltas store 55-60 % of the whole blob
# (the growing table: 32.1 MB stored after a rewrite at half, 30.9 MB at 0.8). Level 12
# stored 31.4 MB, its deltas smaller one by one but fewer kept, for twice the time.
DELTA_LEVEL_REWRITE = DELTA_LEVEL
WORTH_IT = 0.8


@dataclass
class RewriteReport:
    blobs: int = 0  # blobs written again
    deltas: int = 0  # of them, stored as deltas
    written_bytes: int = 0
    freed_bytes: int = 0


@dataclass
class _Plan:
    """The encoding given to each blob rewritten so far (all of them newer than the next)."""

    depth: dict[str, int] = field(default_factory=dict)
    line_deltas: dict[str, int] = field(default_factory=dict)  # rebuilding each blob takes
    first_base: dict[str, str] = field(default_factory=dict)
    big: set[str] = field(default_factory=set)  # deltas storing much of their raw size
    # Noted whole before the version's blobs are written, and possibly written as deltas
    # then: no blob is kept against them until the version is done (see _Home._kept).
    pending: set[str] = field(default_factory=set)

    def usable(self, bases: Sequence[str], blob_id: str) -> tuple[str, ...] | None:
        """``bases``, or a shallower blob of their chain when they are too deep (see
        :meth:`_shallower`), or None when one was not rewritten (its encoding is unknown)."""
        if not bases or blob_id in bases or any(b not in self.depth for b in bases):
            return None
        if max(self.depth[b] for b in bases) < store_module.MAX_DEPTH:
            return tuple(bases)
        return (self._shallower(bases[0]),)

    def _shallower(self, blob_id: str) -> str:
        """The blob of ``blob_id``'s chain (following first bases, towards newer content)
        nearest to it that is stored whole, or a delta less deep than the bound storing much
        (where the content last changed much: see ``UploadSession._chain_start``)."""
        current = blob_id
        while self.depth[current] and (
            self.depth[current] >= store_module.MAX_DEPTH or current not in self.big
        ):
            current = self.first_base[current]
        return current

    def line_free(self, blob_id: str) -> str:
        """The newest blob of ``blob_id``'s chain (itself included, following first bases)
        rebuilt without any line delta."""
        current = blob_id
        while self.line_deltas[current]:
            current = self.first_base[current]
        return current

    def lines_below(self, bases: Sequence[str]) -> int:
        return max(self.line_deltas[b] for b in bases)

    def note(self, blob_id: str, bases: Sequence[str], stored: int, raw: int, codec: int) -> None:
        """``blob_id`` encoded as ``codec`` against ``bases`` (none: stored whole), ``stored``
        bytes for ``raw``."""
        self.depth[blob_id] = 1 + max(self.depth[b] for b in bases) if bases else 0
        lines = self.lines_below(bases) + (codec in LINE_DELTAS) if bases else 0
        self.line_deltas[blob_id] = lines
        if bases:
            self.first_base[blob_id] = bases[0]
            if stored >= BIG_CHANGE * raw:
                self.big.add(blob_id)


@dataclass
class Item:
    """One blob to write: its raw bytes, and those of the bases it is tried against."""

    blob_id: str
    raw: bytes
    bases: tuple[str, ...] | None
    base_raw: bytes = b""
    group: bool = True  # stored whole, compressed in a group when small (not a chunk)
    lines: bool = True  # may be stored as a line delta (see engine/reverse.py)


def rewrite_chains(ctx: Context, store: BlobStore, pack_size: int) -> RewriteReport:
    """Give every blob the versions stored in ``store`` hold its encoding in git's direction
    (see the module's text), writing those whose encoding changes into new packs. The packs
    they leave are not deleted here: their copies are outranked, so gc finds them unused."""
    report = RewriteReport()
    versions = ordered_versions(ctx, store)
    if not versions:
        return report
    manifests = {v.id: stored_manifest(ctx, store.storage, v.id) for v in versions}
    home = _homes(versions, manifests)
    children = _newest_children(versions)
    rank = store.index.next_rank()
    plan = _Plan()

    def publish(rows: bytes, pairs: bytes) -> None:
        store.index.publish_rows(rows, pairs=pairs, rank=rank)

    writer = PackWriter(
        store.storage, pack_size, on_pack=publish, keep_rows=False, group_level=WHOLE_LEVEL
    )
    # Versions this rewrite wrote blobs of, or of a newer version along their newest children.
    moved: set[str] = set()
    try:
        for at in reversed(range(len(versions))):
            version_id, child_id = versions[at].id, children.get(versions[at].id)
            settled = child_id is not None and child_id not in moved
            mine = _Home(store, plan, home, at, settled)
            written = report.blobs
            child = manifests.get(child_id or "")
            for window in _items(store, manifests[version_id], child, mine):
                _write(store, writer, plan, window, report)
            plan.pending.clear()
            if report.blobs > written or child_id in moved:
                moved.add(version_id)
    except BaseException as exc:
        writer.abort(exc)
        raise
    writer.close()
    report.written_bytes = writer.stored_bytes
    failpoint("gc.after_rewrite")
    return report


@dataclass
class _Home:
    """Which blobs of a file the version at ``at`` rewrites: those whose home it is, but for
    deltas already against newer content (a rewrite before) within the depth bound, against
    the file a rewrite tries the file against now.

    A delta a rewrite stored against another base (past the depth bound, the chain's blob
    where the content last changed much; or a blob rebuilt without a line delta) is chosen
    again unless the version is ``settled``: the chain above it may have moved. Kept, every
    repack added such a delta to each chain, most against content many versions away: ten
    repacks of the growing table, one a version, left 50.6 MB where one repack of the same
    versions leaves 29.6 MB."""

    store: BlobStore
    plan: _Plan
    home: dict[str, int]
    at: int
    # Nothing newer along the version's newest children was written by this rewrite: the
    # chains above its blobs are as the last rewrite left them, and so are its choices.
    settled: bool = False

    def has(self, entry: Entry) -> bool:
        """Whether a blob of ``entry`` has its home in this version."""
        return any(self.home.get(i) == self.at for i in entry.stored_ids)

    def of(self, entry: Entry, base: Callable[[], Entry | None]) -> set[str]:
        """The blobs of ``entry`` to rewrite, ``base()`` the file it is tried against now."""
        found = None if self.settled else base()
        near = frozenset(found.stored_ids if found is not None else ())
        return {
            i for i in entry.stored_ids if self.home.get(i) == self.at and not self._kept(i, near)
        }

    def _kept(self, blob_id: str, near: frozenset[str]) -> bool:
        loc = self.store.index.get(blob_id)
        bases = base_ids(loc.entry.base) if loc is not None else []
        if not bases:
            # Whole until shown otherwise: written as a delta, its depth is noted again then.
            self.plan.note(blob_id, (), 0, 0, Codec.RAW)
            self.plan.pending.add(blob_id)
            return False
        if self.plan.pending.intersection(bases):
            return False  # its base's depth is not known yet: chosen again in its window
        if self.plan.usable(bases, blob_id) != tuple(bases):
            return False
        if not self.settled and not near.issuperset(bases):
            return False
        assert loc is not None
        return _keep_as_stored(self.plan, loc.entry, bases)


def ordered_versions(ctx: Context, store: BlobStore) -> list[VersionRecord]:
    """The versions whose manifests ``store``'s storage holds, each after its parents (among
    versions alike, the earlier created first)."""
    found: dict[str, VersionRecord] = {}
    for key in store.storage.list("manifests/"):
        version_id = key.removeprefix("manifests/").removesuffix(".zst")
        if manifest_key(version_id) != key:
            continue
        try:
            found[version_id] = read_stored_record(store.storage, version_id)
        except NotFoundError:
            continue  # deleted meanwhile
    waiting = {v: sum(p in found for p in r.parents) for v, r in found.items()}
    children: dict[str, list[str]] = {}
    for record in found.values():
        for parent in record.parents:
            children.setdefault(parent, []).append(record.id)
    ready = [(r.created, r.id) for r in found.values() if not waiting[r.id]]
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, version_id = heapq.heappop(ready)
        ordered.append(found[version_id])
        for child in children.get(version_id, []):
            waiting[child] -= 1
            if not waiting[child]:
                heapq.heappush(ready, (found[child].created, child))
    return ordered


def _homes(versions: list[VersionRecord], manifests: dict[str, Manifest]) -> dict[str, int]:
    """Each stored blob -> the position (in ``versions``) of the newest version holding it."""
    home: dict[str, int] = {}
    for at, version in enumerate(versions):
        home.update(dict.fromkeys(manifests[version.id].stored_ids(), at))
    return home


def _newest_children(versions: list[VersionRecord]) -> dict[str, str]:
    """Each version -> its newest child (the last in ``versions``)."""
    newest: dict[str, str] = {}
    for version in versions:
        for parent in version.parents:
            newest[parent] = version.id
    return newest


def _items(
    store: BlobStore, view: Manifest, child: Manifest | None, home: _Home
) -> Iterator[list[Item]]:
    """The blobs of version ``view`` to rewrite (see :class:`_Home`), with the bases chosen
    for them in ``child``, a window of about :data:`WINDOW` raw bytes at a time."""
    newer = Bases(child, store) if child is not None else None
    siblings = Bases(view, store)
    window: list[Item] = []
    size = 0
    seen: set[str] = set()  # a blob held by two files is written once: its bases listed once
    # Last path first: a file with no newer content at its path is tried against the file
    # sorting after it (the next day's dump), which must have its encoding by then.
    for position in reversed(range(len(view))):
        if view.is_external_at(position):
            continue
        entry, path = view.entry_at(position), view.path_at(position)
        if not home.has(entry):
            continue  # no base to look for: its blobs are rewritten in a newer version
        base = functools.cache(functools.partial(_base_for, newer, siblings, path, entry))
        mine = home.of(entry, base) - seen
        if not mine:
            continue
        seen |= mine
        for item in file_items(store, entry, mine, base()):
            window.append(item)
            size += len(item.raw) + len(item.base_raw)
            if size >= WINDOW:
                yield window
                window, size = [], 0
    if window:
        yield window


def _base_for(newer: Bases | None, siblings: Bases, path: str, entry: Entry) -> Entry | None:
    """The file ``entry`` (at ``path``) is tried against: its newer content, else the file of
    its own version sorting next after it."""
    found = newer.of(path, entry) if newer is not None else None
    return found or siblings.next_of(path, entry)


def file_items(
    store: BlobStore, entry: Entry, mine: set[str], base: Entry | None, local: str | None = None
) -> Iterator[Item]:
    """The blobs ``mine`` of the file ``entry``, each with what it is tried against in the
    newer file ``base`` (whose content ``local`` may hold: see ChunkBases)."""
    if not entry.chunks:
        if base is not None:
            raw = store.read_raw(entry.blob_id)
            yield Item(entry.blob_id, raw, (base.blob_id,), store.read_raw(base.blob_id))
        elif not _whole_as_rewritten(store, entry.blob_id):
            yield Item(entry.blob_id, store.read_raw(entry.blob_id), None)
        return
    chunk_bases = ChunkBases.of(store, base, local) if base is not None and base.chunks else None
    if chunk_bases is None:  # only the deltas among them change: to whole blobs
        mine = {c for c in mine if not _whole_as_rewritten(store, c)}
    offset = 0
    for window, found in _read_ahead(store, entry.chunks, mine):
        for chunk in window:
            size = store.raw_size(chunk)
            if chunk in found:
                data = found.pop(chunk)
                if chunk_bases is None or len(data) < MIN_SIZE:
                    yield Item(chunk, data, None, group=False)
                else:
                    ids, base_raw = chunk_bases.base_for(offset, data)
                    yield Item(chunk, data, ids, base_raw, group=False)
            offset += size


def _read_ahead(
    store: BlobStore, chunks: Sequence[str], mine: set[str]
) -> Iterator[tuple[Sequence[str], dict[str, bytes]]]:
    """Each window of :data:`~deltaset.objects.store.CHUNK_WINDOW` ``chunks``, with the raw
    bytes of those of them in ``mine``, the next window read (decoded, checked) while the caller
    matches this one against its bases: read in turn, the two took a reverse close's time alike.
    """
    windows = [
        chunks[start : start + store_module.CHUNK_WINDOW]
        for start in range(0, len(chunks), store_module.CHUNK_WINDOW)
    ]

    def read(window: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        store.read([c for c in window if c in mine], found.__setitem__)
        return found

    with ThreadPoolExecutor(1) as ahead:
        reads = iter(windows)
        pending = [ahead.submit(read, window) for window in itertools.islice(reads, 1)]
        for window in windows:
            found = pending.pop().result()
            pending += [ahead.submit(read, later) for later in itertools.islice(reads, 1)]
            yield window, found


def _write(
    store: BlobStore, writer: PackWriter, plan: _Plan, window: list[Item], report: RewriteReport
) -> None:
    """Encode the blobs of ``window`` (in parallel) and write them in order.

    Each one's bases are chosen before any is encoded, so a blob of the window is noted as
    the delta it is tried as (a dump against the next day's, in turn): stored whole instead,
    it is less deep than noted, which keeps the bound all the same (noted as a line delta
    too, the most it can be). Written in order, each one's bases have their encoding by then,
    so the line deltas below it are known when it is checked against their bound."""
    for item in window:
        bases = plan.usable(item.bases, item.blob_id) if item.bases else None
        if bases != item.bases:
            _rebase(store, item, bases)
        plan.note(item.blob_id, bases or (), 0, len(item.raw), Codec.RUNS)
    window = [item for item in window if not _kept_as_chosen(store, plan, item)]
    bounded = _bounded(plan, window)
    with ThreadPoolExecutor(2) as pool:
        encoded = list(pool.map(_encode, window, [not b for b in bounded]))
    for item, full, (codec, payload) in zip(window, bounded, encoded, strict=True):
        if item.bases and over_line_bound(codec, _lines_below(plan, item.bases)):
            _rebase(store, item, (plan.line_free(item.bases[0]),))
            codec, payload = _encode(item)
        elif full and item.bases and lines_may_pay(item.raw, item.base_raw, codec, payload):
            codec, payload = _nearer_or_line_free(store, plan, item, (codec, payload))
        delta = codec in DELTAS
        bases = item.bases if delta and item.bases else ()
        stored = _stored_as(store, item.blob_id, codec, bases)
        if stored is not None and not _compressed_harder(stored, codec, payload):
            plan.note(item.blob_id, bases, stored.length, len(item.raw), codec)
            continue
        if not delta and item.group and groupable(item.raw):  # with its neighbours
            codec, payload = Codec.GROUP, item.raw
        writer.add(item.blob_id, codec, payload, len(item.raw), "".join(bases) or None)
        plan.note(item.blob_id, bases, len(payload), len(item.raw), codec)
        report.blobs += 1
        report.deltas += delta


def _kept_as_chosen(store: BlobStore, plan: _Plan, item: Item) -> bool:
    """Whether ``item`` is stored already against the bases chosen for it (a delta a rewrite
    before made at a chain's restart point, chosen again): then it is kept as it is, and
    noted as stored, without being encoded again."""
    if not item.bases:
        return False
    stored = store.index.get(item.blob_id)
    if stored is None or stored.entry.base != "".join(item.bases):
        return False
    return _keep_as_stored(plan, stored.entry, item.bases)


def _keep_as_stored(plan: _Plan, stored: PackEntry, bases: Sequence[str]) -> bool:
    """Note the delta ``stored`` (against ``bases``) as kept, unless it is a line delta on a
    chain holding enough already (made by a rewrite before the bound)."""
    if over_line_bound(stored.codec, _lines_below(plan, bases)):
        return False
    plan.note(stored.blob_id, bases, stored.length, stored.raw_length, stored.codec)
    return True


def _stored_as(
    store: BlobStore, blob_id: str, codec: int, bases: Sequence[str]
) -> PackEntry | None:
    """The stored entry of ``blob_id`` if it is stored whole and ``bases`` is empty, or as
    the delta ``codec`` against ``bases``: rewriting it would change nothing."""
    found = store.index.get(blob_id)
    if found is None or found.entry.base != ("".join(bases) or None):
        return None
    return found.entry if not bases or found.entry.codec == codec else None


def _compressed_harder(stored: PackEntry, codec: int, payload: bytes) -> bool:
    """Whether a blob stored whole at a close's level comes out smaller at the rewrite's: a
    version closed without deltas (``deltas-on-close = off``) keeps its newest blobs whole,
    and kept as stored they made its history 7 % larger after a repack than one closed with
    deltas, whose newest blobs a repack writes anew."""
    return codec == stored.codec == Codec.ZSTD and len(payload) < stored.length


def _bounded(plan: _Plan, window: list[Item]) -> list[bool]:
    """Which blobs of ``window`` are tried against bases whose chains hold the line deltas
    the bound allows already (bases of earlier windows only: those of this one are noted as
    line deltas before they are encoded): a line delta against them would be thrown away, so
    they are tried without one first (see :func:`_nearer_or_line_free`)."""
    here = {item.blob_id for item in window}
    return [
        bool(item.bases)
        and here.isdisjoint(item.bases or ())
        and over_line_bound(Codec.RUNS, _lines_below(plan, item.bases or ()))
        for item in window
    ]


def _nearer_or_line_free(
    store: BlobStore, plan: _Plan, item: Item, nearer: tuple[Codec, bytes]
) -> tuple[Codec, bytes]:
    """The smaller of ``nearer`` (``item`` encoded against its bases without a line delta)
    and ``item`` encoded against the newest blob of its first base's chain rebuilt without
    a line delta, where one may be made; ``item`` left with the bases of the one kept."""
    bases, base_raw = item.bases, item.base_raw
    _rebase(store, item, (plan.line_free(item.bases[0]),) if item.bases else None)
    found = _encode(item)
    if len(found[1]) < len(nearer[1]):
        return found
    item.bases, item.base_raw = bases, base_raw
    return nearer


def _rebase(store: BlobStore, item: Item, bases: tuple[str, ...] | None) -> None:
    item.bases = bases
    item.base_raw = _raw_of(store, bases) if bases else b""


def _lines_below(plan: _Plan, bases: Sequence[str]) -> Callable[[], int]:
    return lambda: plan.lines_below(bases)


def _whole_as_rewritten(store: BlobStore, blob_id: str) -> bool:
    """Whether ``blob_id`` is stored whole as a rewrite would leave it: written by one, or in
    a form it would not compress harder (raw, or one of a group). A close's zstd blob is read
    and compressed again at :data:`WHOLE_LEVEL` once (see :func:`_compressed_harder`)."""
    found = store.index.get(blob_id)
    if found is None or found.entry.base:
        return False
    return found.entry.codec != Codec.ZSTD or store.index.rewritten(blob_id)


def _encode(item: Item, lines: bool = True) -> tuple[Codec, bytes]:
    if item.bases:
        return encode_against(
            item.raw, item.base_raw, WHOLE_LEVEL, DELTA_LEVEL_REWRITE, WORTH_IT, lines
        )
    if item.group and groupable(item.raw):
        return Codec.GROUP, item.raw  # the writer compresses it with its group
    return encode_small(item.raw, WHOLE_LEVEL)


def _raw_of(store: BlobStore, ids: Sequence[str]) -> bytes:
    found: dict[str, bytes] = {}
    store.read(ids, found.__setitem__)
    return b"".join(found[i] for i in ids)
