"""Garbage collection: the stored bytes no version references any more, found and deleted.

Live is what a stored manifest (of any catalog's version) or a draft of this catalog needs.
Packs holding nothing live are deleted whole; packs holding some live blobs are kept and
reported. Packs written in the last ``keep_recent`` seconds are kept whatever they hold: a
draft of another machine (another catalog) may be uploading into them. The deletion holds a
gc lease, so it never runs while a version is being closed into the same storage.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deltaset.catalog.base import Query
from deltaset.core.records import State
from deltaset.engine import leases
from deltaset.engine.context import Context
from deltaset.engine.liveness import live_ids
from deltaset.engine.rewrite import WHOLE_LEVEL, rewrite_chains
from deltaset.engine.upload import running_markers
from deltaset.errors import DiskFullError, IntegrityError, NotFoundError
from deltaset.faults import failpoint
from deltaset.objects.store import BlobStore
from deltaset.packs.groups import stored_shares
from deltaset.packs.reader import read_pack_entries
from deltaset.packs.writer import DEFAULT_PACK_SIZE, pack_id_of
from deltaset.storage.base import ObjectInfo, Storage

KEEP_RECENT_S = 24 * 3600.0
UPLOADS = "uploads/"  # parts of uploads a deltaset server has not put together (yet)
REPACK_FROM = 0.5  # share of a pack's bytes no version needs from which --repack rewrites it
# Besides the mostly unused packs, --repack copies packs in use, the largest unused share
# first, until the bytes no version needs left in them are at most UNUSED_AT_MOST of the
# packs' bytes; and the packs holding under SMALL_CONTENT bytes of content along with any
# copied, or once there are more than MANY_SMALL_PACKS of them (each costs a file, an index
# file and a request a read; and copied alone, a pack's few used blobs made a pack of their
# own). Repacks after every version left copies no version reads in packs under half unused
# (each close of a small change leaves a pack, and each repack moves some of its blobs): the
# source history stored 299 KB against 242 KB after one repack, 15 % of it unused. Not every
# pack with unused bytes: a copy checks each blob it keeps, a delta by rebuilding it, and a
# table's 2.8 MB pack of deltas rebuilds 830 MB to free 0.7 MB.
UNUSED_AT_MOST = 0.05
SMALL_CONTENT = DEFAULT_PACK_SIZE // 4
MANY_SMALL_PACKS = 16

log = logging.getLogger("deltaset")


@dataclass
class GcReport:
    """What a gc found (and, unless a dry run, deleted) in one storage."""

    storage: str
    dry_run: bool
    unused_packs: int = 0  # hold nothing any version needs
    unused_bytes: int = 0
    orphan_packs: int = 0  # named by no index: left by an interrupted upload
    orphan_bytes: int = 0
    upload_parts: int = 0  # of server uploads never put together
    upload_part_bytes: int = 0
    recent_packs_kept: int = 0  # unused, but newer than keep_recent
    partly_used_packs: int = 0  # hold blobs some version needs, and others
    partly_unused_bytes: int = 0
    sparse_packs: int = 0  # of those, mostly unused: what --repack rewrites
    sparse_unused_bytes: int = 0
    # Packs in use --repack copies besides the mostly unused (see UNUSED_AT_MOST).
    more_packs: int = 0
    repacked_packs: int = 0
    repack_written_bytes: int = 0
    rewritten_blobs: int = 0  # --repack: blobs rewritten in git's direction (engine/rewrite.py)
    rewritten_deltas: int = 0
    rewrite_written_bytes: int = 0
    missing_packs: int = 0  # named by an index but gone: their bytes are lost
    local_leftovers: int = 0  # this machine's staging folders and markers of gone drafts
    freed_bytes: int = 0
    unused_pack_ids: list[str] = field(default_factory=list)
    missing_pack_ids: list[str] = field(default_factory=list)  # --delete unnames them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect(
    ctx: Context,
    url: str,
    *,
    delete: bool = False,
    keep_recent: float = KEEP_RECENT_S,
    repack: bool = False,
) -> GcReport:
    """Find what no version references in the storage at ``url``; delete it when ``delete``,
    and with ``repack`` also copy the used blobs of mostly unused packs into new packs."""
    store = ctx.blobs(url)
    storage = store.storage
    report = GcReport(storage=url, dry_run=not delete)
    if not delete:
        _survey(ctx, store, url, report, keep_recent)
        return report
    # On a full storage, the lease is written empty (see leases.EMPTY) and whole packs are
    # deleted before any index file is rewritten (see BlobStore.drop_unreferenced): gc frees
    # a full storage while keeping closes out.
    with leases.collecting(storage):
        store.index.reread_from_storage()  # judge the storage's index files, not local copies
        _recover(store)
        keep = _survey(ctx, store, url, report, keep_recent)
        failpoint("gc.before_delete")
        # Index entries naming lost packs only make readers fail: they go first.
        store.forget_missing_packs(keep.missing)
        # Only packs the survey judged: one an upload named since is new, whatever it holds.
        report.freed_bytes += store.drop_unreferenced(keep.live, keep.packs, keep.judged)
        report.freed_bytes += _delete(storage, keep.orphans + keep.parts)
        if repack:
            _repack(ctx, store, url, report, keep_recent)
    report.local_leftovers = _sweep_local(ctx, keep_recent)
    return report


def _repack(ctx: Context, store: BlobStore, url: str, report: GcReport, keep_recent: float) -> None:
    """Rewrite the stored blobs in git's direction (see engine/rewrite.py), then delete the
    packs that left holding nothing read from them, and copy what the mostly unused ones and
    the others chosen still hold into new packs (see :data:`UNUSED_AT_MOST`). Afterwards the
    report's packs partly in use are those kept."""
    done = rewrite_chains(ctx, store, DEFAULT_PACK_SIZE)
    report.rewritten_blobs, report.rewritten_deltas = done.blobs, done.deltas
    report.rewrite_written_bytes = done.written_bytes
    report.freed_bytes -= done.written_bytes
    after = GcReport(storage=url, dry_run=False)
    keep = _survey(ctx, store, url, after, keep_recent)
    # The packs in use as the rewrite left them (it empties some, and leaves some sparse).
    report.sparse_packs, report.sparse_unused_bytes = after.sparse_packs, after.sparse_unused_bytes
    report.more_packs = after.more_packs
    report.freed_bytes += store.drop_unreferenced(keep.live, keep.packs, keep.judged)
    merged = keep.to_merge()
    left = [dead for pack_id, dead in keep.dead_in.items() if pack_id not in merged]
    report.partly_used_packs, report.partly_unused_bytes = len(left), sum(left)
    if merged:
        written, dropped = store.repack(merged, keep.live, DEFAULT_PACK_SIZE, WHOLE_LEVEL)
        report.repacked_packs, report.repack_written_bytes = len(merged), written
        report.freed_bytes += dropped - written


def _recover(store: BlobStore) -> None:
    """Index the complete packs an interrupted upload never named, so they are judged like
    others. On a full storage, they stay unnamed: gc deletes them as orphans if they hold
    nothing live, and keeps them otherwise, which is as safe."""
    try:
        store.recover()
    except DiskFullError as exc:
        log.warning("left unnamed the packs of interrupted uploads: %s", exc)


@dataclass
class _Keep:
    live: set[str]
    packs: set[str]  # unused packs kept for their age
    orphans: list[ObjectInfo]  # to delete
    parts: list[ObjectInfo]  # to delete
    sparse: list[str]  # mostly unused packs, old enough to repack
    more: list[str]  # other packs in use to repack (see UNUSED_AT_MOST)
    dead_in: dict[str, int]  # packs partly in use -> the bytes of them no version needs
    judged: set[str]  # the packs the index files named when the survey read them
    missing: list[str]  # packs the index files name that the storage does not have

    def to_merge(self) -> set[str]:
        return {*self.sparse, *self.more}


def _survey(
    ctx: Context, store: BlobStore, url: str, report: GcReport, keep_recent: float
) -> _Keep:
    storage = store.storage
    store.refresh()
    live = store.with_bases(live_ids(ctx, storage, url))  # a live delta needs its base
    listed = {pack_id: i for i in storage.list_info("packs/") if (pack_id := pack_id_of(i.key))}
    cutoff = time.time() - keep_recent
    recent = {p for p, i in listed.items() if not i.modified or i.modified > cutoff}
    by_pack: dict[str, list[tuple[str, int, int]]] = {}  # (blob id, stored share, raw length)
    locations = store.index.all_locations()
    for loc, size in zip(locations, stored_shares(locations), strict=True):
        # A copy no reader uses (another row outranks it: see PackIndex) is as good as unused.
        blob_id = loc.entry.blob_id if store.index.holds_current(loc) else ""
        by_pack.setdefault(loc.pack_id, []).append((blob_id, size, loc.entry.raw_length))
    judged = set(by_pack)
    # The index was read before the listing and names a pack only once it is written, so a
    # pack named but not listed is lost (a race fixed since left such index entries).
    report.missing_pack_ids = sorted(p for p in judged if p not in listed)
    report.missing_packs = len(report.missing_pack_ids)
    for pack_id in report.missing_pack_ids:
        del by_pack[pack_id]
    kept_recent, sparse, dead_in = set(), [], {}
    in_use = _InUse()
    for pack_id, blobs in by_pack.items():
        size = sum(stored for _, stored, _ in blobs)
        dead = sum(stored for blob_id, stored, _ in blobs if blob_id not in live)
        used = any(blob_id in live for blob_id, _, _ in blobs)
        if used:
            in_use.add(pack_id, blobs, size, dead, live, pack_id in recent)
        if not dead:
            continue
        if used:
            dead_in[pack_id] = dead
            report.partly_used_packs += 1
            report.partly_unused_bytes += dead
            if dead >= REPACK_FROM * size and pack_id not in recent:
                sparse.append(pack_id)
                report.sparse_packs += 1
                report.sparse_unused_bytes += dead
        elif pack_id in recent:
            kept_recent.add(pack_id)
        else:
            report.unused_packs += 1
            report.unused_bytes += listed[pack_id].size if pack_id in listed else dead
            report.unused_pack_ids.append(pack_id)
    orphans = _orphans(store, listed, by_pack.keys(), recent, live)
    parts = [i for i in storage.list_info(UPLOADS) if i.modified and i.modified <= cutoff]
    report.recent_packs_kept = len(kept_recent)
    report.orphan_packs, report.orphan_bytes = len(orphans), sum(i.size for i in orphans)
    report.upload_parts, report.upload_part_bytes = len(parts), sum(i.size for i in parts)
    more = in_use.to_copy(set(sparse))
    report.more_packs = len(more)
    return _Keep(
        live, kept_recent, orphans, parts, sparse, more, dead_in, judged, report.missing_pack_ids
    )


@dataclass
class _InUse:
    """The packs in use, as --repack chooses among them beside the mostly unused ones."""

    stored: int = 0  # bytes of them all
    unused: dict[str, tuple[int, int]] = field(default_factory=dict)  # old enough: (unused, all)
    small: list[str] = field(default_factory=list)  # old enough, of little content

    def add(
        self,
        pack_id: str,
        blobs: list[tuple[str, int, int]],
        size: int,
        dead: int,
        live: set[str],
        recent: bool,
    ) -> None:
        """Count the pack ``pack_id`` holding ``blobs`` (id, stored share, raw length) in
        ``size`` stored bytes, of which ``dead`` are not ``live``; one ``recent`` is never
        copied."""
        self.stored += size
        if recent:
            return
        if dead:
            self.unused[pack_id] = (dead, size)
        if sum(raw for blob_id, _, raw in blobs if blob_id in live) < SMALL_CONTENT:
            self.small.append(pack_id)

    def to_copy(self, sparse: set[str]) -> list[str]:
        """Besides ``sparse``, the packs to copy (see :data:`UNUSED_AT_MOST`)."""
        freed = sum(dead for pack_id, (dead, _) in self.unused.items() if pack_id in sparse)
        left = sum(dead for dead, _ in self.unused.values()) - freed
        chosen = []
        by_share = sorted(self.unused.items(), key=lambda item: item[1][0] / item[1][1])
        for pack_id, (dead, _) in reversed(by_share):
            # Against the bytes left once copied: else the next repack copies one more.
            if left <= UNUSED_AT_MOST * (self.stored - freed):
                break
            if pack_id not in sparse:
                chosen.append(pack_id)
                left, freed = left - dead, freed + dead
        if chosen or sparse or len(self.small) > MANY_SMALL_PACKS:
            chosen += [p for p in self.small if p not in sparse and p not in chosen]
        return chosen


def _orphans(
    store: BlobStore,
    listed: dict[str, ObjectInfo],
    indexed: Iterable[str],
    recent: set[str],
    live: set[str],
) -> list[ObjectInfo]:
    """Old packs no index names and holding nothing live that is not read from elsewhere (an
    incomplete one holds nothing; one a rewrite cut short left holds copies of indexed blobs)."""
    storage = store.storage
    known = set(indexed)
    found = []
    for pack_id, info in listed.items():
        if pack_id in known or pack_id in recent:
            continue
        try:
            held = {e.blob_id for e in read_pack_entries(storage, pack_id)}
        except (IntegrityError, NotFoundError):
            held = set()
        if all(_read_elsewhere(store, b, pack_id) for b in held & live):
            found.append(info)
    return found


def _read_elsewhere(store: BlobStore, blob_id: str, pack_id: str) -> bool:
    return store.index.pack_of_raw(bytes.fromhex(blob_id)) not in (None, pack_id)


def _delete(storage: Storage, doomed: list[ObjectInfo]) -> int:
    for info in doomed:
        storage.delete(info.key)
    return sum(i.size for i in doomed)


def _sweep_local(ctx: Context, keep_recent: float) -> int:
    """This machine's staging folders and upload markers of drafts the catalog no longer has
    (and untouched for ``keep_recent``: they may be another catalog's, configured meanwhile)."""
    drafts = {r.id for r in ctx.catalog.search(Query(states=(State.DRAFT,)))}
    cutoff = time.time() - keep_recent
    swept = 0
    for folder in (ctx.settings.staging_dir, running_markers(ctx)):
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        for name in names:
            path = folder / name
            if name in drafts or _modified(path) > cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            swept += 1
    return swept


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
