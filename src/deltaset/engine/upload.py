"""Uploading a draft's bytes: every file its view references that its storage lacks.

Small files go whole into packs; large files are cut by content-defined chunking and only the
chunks the storage lacks are sent. Re-running after an interruption sends only what is missing.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from deltaset.core.chunking import chunks_of_file, should_chunk
from deltaset.core.hashing import blob_id_of, new_hasher
from deltaset.core.manifest import Entry
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context, transfer_workers
from deltaset.engine.pull import by_blob, ensure_cached
from deltaset.engine.views import current_view, final_manifest, require_draft, with_chunks
from deltaset.errors import StateError
from deltaset.faults import failpoint
from deltaset.objects.store import UploadSession
from deltaset.packs.writer import DEFAULT_PACK_SIZE
from deltaset.storage.errors import map_os_errors
from deltaset.storage.registry import canonical_url

log = logging.getLogger("deltaset")
BATCH = 32


def upload(
    ctx: Context,
    record: VersionRecord,
    output_url: str | None = None,
    max_workers: int | None = None,
    compress: bool = True,
    pack_size: int | None = None,
) -> VersionRecord:
    """Send what is missing; safe to re-run after an interruption. Returns the updated record."""
    require_draft(record)
    if output_url and canonical_url(output_url) != record.storage:
        record = record.evolve(storage=ctx.storage_url(output_url))
        ctx.catalog.update_storage(record.id, record.storage)
    store = ctx.blobs(record.storage)
    store.refresh()
    store.recover()
    view = with_chunks(ctx, current_view(ctx, record))
    missing = [e for e in by_blob(view).values() if not store.holds(e)]
    sources = _local_sources(ctx, record)
    _bring_inherited(ctx, record, [e for e in missing if e.blob_id not in sources], max_workers)
    todo = [(e, sources.get(e.blob_id) or ctx.cache.blob_file(e.blob_id)) for e in missing]
    with store.session(pack_size or DEFAULT_PACK_SIZE, compress) as session:
        chunk_lists = _put_all(ctx, session, todo, max_workers)
    ctx.catalog.put_chunk_lists(chunk_lists)
    ctx.catalog.mark_uploaded(record.id, [e.blob_id for e, _ in todo])
    log.info("uploaded %d files to %s", len(todo), record.storage)
    stats = replace(record.stats, stored_bytes=record.stats.stored_bytes + session.stored_bytes)
    record = record.evolve(stats=stats)
    ctx.catalog.update(record)
    return record


def _local_sources(ctx: Context, record: VersionRecord) -> dict[str, str]:
    return {c.blob_id: c.source for c in ctx.catalog.staged(record.id) if not c.removed}


def _bring_inherited(
    ctx: Context, record: VersionRecord, entries: list[Entry], max_workers: int | None
) -> None:
    """Fetch into the cache the inherited files that live in another storage than this version's."""
    wanted = {e.blob_id for e in entries}
    for parent_id in record.parents:
        if not wanted:
            return
        parent = ctx.catalog.get(parent_id)
        known = by_blob(final_manifest(ctx, parent))
        found = wanted & known.keys()
        ensure_cached(ctx, parent.storage, {b: known[b] for b in found}, max_workers)
        wanted -= found
    if wanted:
        raise StateError(f"{len(wanted)} inherited files of {record.id} are missing from storage.")


def _put_all(
    ctx: Context, session: UploadSession, todo: list[tuple[Entry, str]], max_workers: int | None
) -> dict[str, tuple[str, ...]]:
    """Store every file of ``todo``; returns the chunk lists of the chunked ones."""
    ctx.progress.start("uploading", len(todo), sum(e.size for e, _ in todo))

    def put(batch: list[tuple[Entry, str]]) -> dict[str, tuple[str, ...]]:
        chunk_lists = {}
        for entry, source in batch:
            if should_chunk(entry.size):
                chunk_lists[entry.blob_id] = _put_chunked(session, entry, source)
            else:
                session.put_file(entry.blob_id, source)
            failpoint("upload.after_blob")
            ctx.progress.advance(1, entry.size)
        return chunk_lists

    # Small files go to the threads in batches: one task per file costs more than the file.
    small = [item for item in todo if not should_chunk(item[0].size)]
    batches = [[item] for item in todo if should_chunk(item[0].size)]
    batches += [small[i : i + BATCH] for i in range(0, len(small), BATCH)]
    try:
        with ThreadPoolExecutor(transfer_workers(max_workers)) as pool:
            return {b: chunks for found in pool.map(put, batches) for b, chunks in found.items()}
    finally:
        ctx.progress.finish()


def _put_chunked(session: UploadSession, entry: Entry, source: str) -> tuple[str, ...]:
    hasher = new_hasher()
    chunks = []
    with map_os_errors(f"read {source}"):
        for data in chunks_of_file(source):
            hasher.update(data)
            chunk_id = blob_id_of(data)
            session.put_bytes(chunk_id, data)
            chunks.append(chunk_id)
    if hasher.hexdigest() != entry.blob_id:
        raise StateError(f"The file {source} changed after it was added; add it again.")
    return tuple(chunks)
