"""Uploading a draft's bytes: every file its view references that its storage lacks.

Small files go whole into packs; large files are cut by content-defined chunking and only the
chunks the storage lacks are sent. Re-running after an interruption sends only what is missing.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from deltaset.core.chunking import chunks_of_file, should_chunk
from deltaset.core.hashing import blob_id_of, new_hasher
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import staging
from deltaset.engine.closed_copies import ClosedCopies, CopyWriter
from deltaset.engine.context import Context, transfer_workers
from deltaset.engine.deltas import MIN_SIZE, Bases, ChunkBases, closest, raw_of
from deltaset.engine.pull import by_blob, cache_from
from deltaset.engine.views import (
    DraftView,
    draft_view,
    own_positions,
    require_draft,
    with_chunks,
)
from deltaset.errors import IntegrityError, StateError
from deltaset.faults import failpoint
from deltaset.objects.store import BASE_WINDOW, BlobStore, ChangedFileError, UploadSession
from deltaset.packs.codec import LEVEL
from deltaset.packs.writer import DEFAULT_PACK_SIZE
from deltaset.storage.errors import map_os_errors
from deltaset.storage.registry import canonical_url

log = logging.getLogger("deltaset")
BATCH = 32
UPLOAD_BATCH = 4096  # files looked up and sent per round: bounds the memory of a round


@dataclass(frozen=True)
class UploadOptions:
    """How to upload: where to (None: the version's storage), with how many threads, at which
    zstd level (None stores every blob raw) and into packs of about which size in bytes;
    ``sources``: storages besides the parents' to fetch files from that the cache lacks (those
    of the versions a squash merged)."""

    output_url: str | None = None
    max_workers: int | None = None
    level: int | None = LEVEL
    pack_size: int | None = None
    sources: tuple[str, ...] = ()


def upload(
    ctx: Context, record: VersionRecord, options: UploadOptions = UploadOptions()
) -> VersionRecord:
    """Send what is missing; safe to re-run after an interruption. Returns the updated record.

    The view is walked in batches, so memory follows the batch, not the number of files.
    """
    require_draft(record)
    return upload_view(ctx, record, draft_view(ctx, record), options)


def upload_view(
    ctx: Context,
    record: VersionRecord,
    draft: DraftView,
    options: UploadOptions = UploadOptions(),
    mark: bool = True,
) -> VersionRecord:
    """:func:`upload` of a draft whose view the caller already has; ``mark``: note its staged
    files as uploaded (a close, which drops them from the catalog next, need not)."""
    if options.output_url and canonical_url(options.output_url) != record.storage:
        record = record.evolve(storage=ctx.storage_url(options.output_url))
        ctx.catalog.update_storage(record.id, record.storage)
    store = ctx.blobs(record.storage)
    store.refresh()
    if _mark_running(ctx, record.id):
        store.recover()  # the complete packs an interrupted upload sent but never indexed
    view = with_chunks(ctx, draft.view)
    todo = list(store.unheld_positions(view, own_positions(ctx, record, draft)))
    count, size = len(todo), sum(view.size_at(at) for at in todo)
    ctx.progress.start("uploading", count, size)
    chunk_lists: dict[str, tuple[str, ...]] = {}
    sent = deltas_sent = 0
    deltas = options.level is not None and ctx.settings.deltas_on_close
    similar = _similar(ctx, store, draft, view, todo) if deltas else {}
    large_bases = {e.blob_id: b[0] for e, b in similar.values() if should_chunk(e.size)}
    copies = ClosedCopies(ctx.cache, bool(large_bases) and ctx.settings.cache_on_close)
    replaced = _replaced(draft.base, view, todo, large_bases) if copies.on else set()
    try:
        with copies:
            if similar:  # before the staged packs, which hold these files whole
                deltas_sent = _put_small_deltas(ctx, record, store, similar, options)
                todo = list(store.unheld_positions(view, todo))
            # Packs made as the files were added are sent whole when they were made as asked now.
            if options.level == LEVEL and options.pack_size in (None, DEFAULT_PACK_SIZE):
                sent = staging.send_staged(ctx, record.id, view, store, todo)
            if sent or deltas_sent:
                todo = list(store.unheld_positions(view, todo))
                ctx.progress.advance(count - len(todo), size - sum(view.size_at(at) for at in todo))
            level = options.level
            with (
                store.session(
                    options.pack_size or DEFAULT_PACK_SIZE, level is not None, level or LEVEL
                ) as session,
                ThreadPoolExecutor(transfer_workers(options.max_workers)) as pool,
            ):
                missing = (view.entry_at(at) for at in todo)
                while batch := list(itertools.islice(missing, UPLOAD_BATCH)):
                    chunk_lists |= _put_batch(
                        ctx, record, session, pool, batch, options, large_bases, copies
                    )
    finally:
        ctx.progress.finish()
    copies.tidy(replaced)
    ctx.catalog.put_chunk_lists(chunk_lists)
    if mark:
        ctx.catalog.mark_uploaded(record.id)
    log.info("uploaded %d files to %s", count, record.storage)
    stored = record.stats.stored_bytes + deltas_sent + sent + session.stored_bytes
    stats = replace(record.stats, stored_bytes=stored)
    record = record.evolve(stats=stats)
    ctx.catalog.update(record)
    _running_marker(ctx, record.id).unlink(missing_ok=True)
    return record


def running_markers(ctx: Context) -> Path:
    """The folder of this machine's marks of uploads that started and have not ended."""
    return ctx.settings.home / "uploads"


def _running_marker(ctx: Context, version_id: str) -> Path:
    return running_markers(ctx) / version_id


def _mark_running(ctx: Context, version_id: str) -> bool:
    """Mark an upload of ``version_id`` as running; True when an earlier one never finished
    (killed, or failed), so packs it sent may lack an index.

    Only then is the storage's pack listing read: on an object store that is a request per
    thousand packs, too much to pay on every upload.
    """
    marker = _running_marker(ctx, version_id)
    interrupted = marker.exists()
    with map_os_errors(f"write {marker}"):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return interrupted


def _put_batch(
    ctx: Context,
    record: VersionRecord,
    session: UploadSession,
    pool: ThreadPoolExecutor,
    batch: list[Entry],
    options: UploadOptions,
    bases: dict[str, Entry],
    copies: ClosedCopies,
) -> dict[str, tuple[str, ...]]:
    """Store one batch of missing files, from where they were staged or else from the cache.

    Every byte sent is hashed on the way and checked against its id. A cache file that fails
    the check (written into since the cache checked it) is dropped, fetched again and sent."""
    staged = ctx.catalog.staged_sources(record.id, (e.blob_id for e in batch))
    sources = {blob_id: source for blob_id, source in staged.items() if source}
    cached = [e for e in batch if e.blob_id not in sources]
    _bring_inherited(ctx, record, cached, options)
    cached_at = ctx.cache.files(e.blob_id for e in cached)
    todo = [(e, sources.get(e.blob_id) or cached_at[e.blob_id]) for e in batch]
    copies.choose(e for e in batch if e.blob_id in bases)
    chunk_lists, changed = _put_all(ctx, session, pool, todo, set(by_blob(cached)), bases, copies)
    if changed:
        ctx.cache.drop_damaged(e.blob_id for e in changed)
        _bring_inherited(ctx, record, changed, options)
        found = ctx.cache.files(e.blob_id for e in changed)
        again = [(e, found[e.blob_id]) for e in changed]
        more, still = _put_all(ctx, session, pool, again, set(by_blob(changed)), bases, copies)
        if still:
            ctx.cache.drop_damaged(e.blob_id for e in still)
            raise IntegrityError(
                f"The cached copy of {len(still)} files of {record.id} changed while it was "
                "sent to storage (something writes into deltaset's cache); run the command again."
            )
        chunk_lists |= more
    return chunk_lists


def _bring_inherited(
    ctx: Context, record: VersionRecord, entries: list[Entry], options: UploadOptions
) -> None:
    """Make sure the cache holds, intact, each of ``entries`` (files with no staged source):
    checked where cached, else fetched from the storages of the version's parents (or the
    other ``options.sources``)."""
    blobs = by_blob(entries)
    lacking = set(ctx.cache.missing(blobs))
    if not lacking:
        return
    wanted = {b: e for b, e in blobs.items() if b in lacking}
    parents = (ctx.catalog.get(p).storage for p in record.parents)
    left = cache_from(ctx, itertools.chain(parents, options.sources), wanted, options.max_workers)
    if left and not record.parents:
        raise StateError(
            f"{len(left)} files of {record.id} are missing from this machine's cache, where the "
            "squash that made this draft put them; squash its sources again."
        )
    if left:
        raise StateError(f"{len(left)} inherited files of {record.id} are missing from storage.")


def _put_all(
    ctx: Context,
    session: UploadSession,
    pool: ThreadPoolExecutor,
    todo: list[tuple[Entry, str]],
    from_cache: set[str],
    bases: dict[str, Entry],
    copies: ClosedCopies,
) -> tuple[dict[str, tuple[str, ...]], list[Entry]]:
    """Store every file of ``todo``; returns the chunk lists of the chunked ones, and the
    files read from the cache (blob ids ``from_cache``) that did not hold their bytes."""
    # Where the bases may be cached, found here: the cache is not the threads' to use.
    wanted = {base.blob_id for entry, _ in todo if (base := bases.get(entry.blob_id))}
    cached_bases = ctx.cache.files(wanted)

    def put(batch: list[tuple[Entry, str]]) -> tuple[dict[str, tuple[str, ...]], list[Entry]]:
        chunk_lists, changed = {}, []
        for entry, source in batch:
            try:
                if should_chunk(entry.size):
                    base = bases.get(entry.blob_id)
                    local = cached_bases[base.blob_id] if base is not None else None
                    copy = copies.writer(entry) if base is not None else None
                    chunk_lists[entry.blob_id] = _put_chunked(
                        session, entry, source, base, local, copy
                    )
                else:
                    session.put_file(entry.blob_id, source)
            except ChangedFileError:
                if entry.blob_id not in from_cache:
                    raise
                changed.append(entry)
                continue
            failpoint("upload.after_blob")
            ctx.progress.advance(1, entry.size)
        return chunk_lists, changed

    # Small files go to the threads in batches: one task per file costs more than the file.
    small = [item for item in todo if not should_chunk(item[0].size)]
    batches = [[item] for item in todo if should_chunk(item[0].size)]
    batches += [small[i : i + BATCH] for i in range(0, len(small), BATCH)]
    chunk_lists: dict[str, tuple[str, ...]] = {}
    changed: list[Entry] = []
    for found, damaged in pool.map(put, batches):
        chunk_lists |= found
        changed += damaged
    return chunk_lists, changed


def _put_chunked(
    session: UploadSession,
    entry: Entry,
    source: str,
    base: Entry | None = None,
    local: str | None = None,
    copy: CopyWriter | None = None,
) -> tuple[str, ...]:
    """Store the chunks of a large file; each as a delta against the chunk of ``base`` (the
    parents' file it resembles) covering the same bytes, when that pays. ``local``: where a
    copy of ``base`` may be on this machine, read rather than rebuilt (see ChunkBases);
    ``copy``: where to keep a copy of the file's bytes, published once their hash matched."""
    try:
        chunks = _put_chunks(session, entry, source, base, local, copy)
    except BaseException:
        if copy is not None:
            copy.discard()
        raise
    if copy is not None:
        copy.done()
    return chunks


def _put_chunks(
    session: UploadSession,
    entry: Entry,
    source: str,
    base: Entry | None,
    local: str | None,
    copy: CopyWriter | None,
) -> tuple[str, ...]:
    hasher = new_hasher()
    chunks = []
    bases = ChunkBases.of(session.store, base, local) if base is not None else None
    offset = 0
    with map_os_errors(f"read {source}"):
        for data in chunks_of_file(source):
            hasher.update(data)
            if copy is not None:
                copy.write(data)
            chunk_id = blob_id_of(data)
            if bases is None or len(data) < MIN_SIZE or session.store.has(chunk_id):
                session.put_bytes(chunk_id, data, group=False)
            else:
                base_id, base_raw = bases.base_for(offset, data)
                session.put_similar(
                    chunk_id, data, base_id, base_raw, bases.memo, group=False, ahead=bases.ahead()
                )
            offset += len(data)
            chunks.append(chunk_id)
    if hasher.hexdigest() != entry.blob_id:
        raise ChangedFileError(source)
    return tuple(chunks)


def _similar(
    ctx: Context, store: BlobStore, draft: DraftView, view: Manifest, todo: list[int]
) -> dict[str, tuple[Entry, list[Entry]]]:
    """The files to store that resemble files of the parents: blob id -> (file, candidate
    bases, the likeliest first)."""
    if not len(draft.base) or not todo:
        return {}
    bases = Bases(with_chunks(ctx, draft.base), store)
    found = {}
    for at in todo:
        if view.is_external_at(at) or view.size_at(at) < MIN_SIZE:
            continue
        entry = view.entry_at(at)
        candidates = bases.candidates(view.path_at(at), entry)
        if candidates:
            found[entry.blob_id] = (entry, candidates)
    return found


def _put_small_deltas(
    ctx: Context,
    record: VersionRecord,
    store: BlobStore,
    similar: dict[str, tuple[Entry, list[Entry]]],
    options: UploadOptions,
) -> int:
    """Store as deltas (where that pays) the small files of ``similar`` whose bytes are at hand
    (staged, or in the cache); returns the bytes written. The rest go the usual way."""
    small = [pair for pair in similar.values() if not should_chunk(pair[0].size)]
    if not small:
        return 0
    sources = ctx.catalog.staged_sources(record.id, (e.blob_id for e, _ in small))
    level = options.level or LEVEL
    pack_size = options.pack_size or DEFAULT_PACK_SIZE
    with (
        store.session(pack_size, True, level) as session,
        ThreadPoolExecutor(transfer_workers(options.max_workers)) as pool,
    ):
        for window in _by_size(small):
            raws = _base_bytes(ctx, store, [b for _, bases in window for b in bases])
            cached = ctx.cache.files(e.blob_id for e, _ in window)  # (not the threads' to use)

            def put(
                pair: tuple[Entry, list[Entry]],
                raws: dict[str, bytes] = raws,
                cached: dict[str, str] = cached,
            ) -> None:
                entry, bases = pair
                data = _bytes_at_hand(entry, sources.get(entry.blob_id) or cached[entry.blob_id])
                if data is not None:
                    tried = [raws[b.blob_id] for b in bases]
                    base = bases[closest(data, tried)].blob_id
                    session.put_similar(entry.blob_id, data, base, raws[base])

            list(pool.map(put, window))
    return session.stored_bytes


def _replaced(base: Manifest, view: Manifest, todo: list[int], bases: dict[str, Entry]) -> set[str]:
    """The old content of the paths of ``todo`` whose new content is tried against it (blob
    id -> base in ``bases``): what the version no longer holds (but under another path,
    seldom)."""
    raw_ids = {bytes.fromhex(blob_id) for blob_id in bases}
    found = set()
    for at in todo:
        if view.raw_id_at(at) in raw_ids:
            old = base.get(view.path_at(at))
            if old is not None and old.blob_id == bases[view.raw_id_at(at).hex()].blob_id:
                found.add(old.blob_id)
    return found


def _base_bytes(ctx: Context, store: BlobStore, bases: list[Entry]) -> dict[str, bytes]:
    """The raw bytes of ``bases``: from the cache where it holds them (a version pulled with
    ``get``), the others rebuilt from the store."""
    found: dict[str, bytes] = {}
    cached = ctx.cache.files(b.blob_id for b in bases)
    for base in bases:
        data = None if base.blob_id in found else _bytes_at_hand(base, cached[base.blob_id])
        if data is not None:
            found[base.blob_id] = data
    missing = {b.blob_id for b in bases} - found.keys()
    return found | raw_of(store, missing) if missing else found


def _by_size(
    pairs: list[tuple[Entry, list[Entry]]],
) -> Iterator[list[tuple[Entry, list[Entry]]]]:
    window: list[tuple[Entry, list[Entry]]] = []
    size = 0
    for pair in pairs:
        bases = sum(b.size for b in pair[1])
        if window and size + bases > BASE_WINDOW:
            yield window
            window, size = [], 0
        window.append(pair)
        size += bases
    if window:
        yield window


def _bytes_at_hand(entry: Entry, path: str) -> bytes | None:
    """The bytes of ``entry`` from ``path`` (where it was staged, or its file in the cache),
    if they are there and still hold its content."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return data if blob_id_of(data) == entry.blob_id else None
