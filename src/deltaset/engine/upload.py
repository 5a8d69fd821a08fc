"""Uploading a draft's bytes: every blob its view references that its storage lacks."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.pull import blob_sizes, ensure_cached
from deltaset.engine.views import current_view, final_manifest, require_draft
from deltaset.errors import StateError
from deltaset.faults import failpoint
from deltaset.objects.store import BlobStore
from deltaset.storage.registry import canonical_url

log = logging.getLogger("deltaset")


def upload(
    ctx: Context,
    record: VersionRecord,
    output_url: str | None = None,
    max_workers: int | None = None,
    compress: bool = True,
) -> VersionRecord:
    """Send what is missing; safe to re-run after an interruption. Returns the updated record."""
    require_draft(record)
    if output_url and canonical_url(output_url) != record.storage:
        record = record.evolve(storage=ctx.storage_url(output_url))
        ctx.catalog.update_storage(record.id, record.storage)
    store = ctx.blobs(record.storage)
    view = current_view(ctx, record)
    sources = _local_sources(ctx, record)
    missing = [b for b in sorted(view.blob_ids()) if not store.has(b)]
    _bring_inherited(ctx, record, [b for b in missing if b not in sources], max_workers)
    todo = [(b, sources.get(b) or ctx.cache.blob_path(b)) for b in missing]
    stored = _put_all(ctx, store, todo, view, max_workers, compress)
    ctx.catalog.mark_uploaded(record.id, [b for b, _ in todo])
    log.info("uploaded %d files to %s", len(todo), record.storage)
    stats = replace(record.stats, stored_bytes=record.stats.stored_bytes + stored)
    record = record.evolve(stats=stats)
    ctx.catalog.update(record)
    return record


def _local_sources(ctx: Context, record: VersionRecord) -> dict[str, Path]:
    return {c.blob_id: Path(c.source) for c in ctx.catalog.staged(record.id) if not c.removed}


def _bring_inherited(
    ctx: Context, record: VersionRecord, blob_ids: list[str], max_workers: int | None
) -> None:
    """Fetch into the cache the inherited blobs that live in another storage than this version's."""
    wanted = set(blob_ids)
    for parent_id in record.parents:
        if not wanted:
            return
        parent = ctx.catalog.get(parent_id)
        sizes = blob_sizes(final_manifest(ctx, parent))
        found = wanted & sizes.keys()
        ensure_cached(ctx, parent.storage, {b: sizes[b] for b in found}, max_workers)
        wanted -= found
    if wanted:
        raise StateError(f"{len(wanted)} inherited files of {record.id} are missing from storage.")


def _put_all(
    ctx: Context,
    store: BlobStore,
    todo: list[tuple[str, Path]],
    view: Manifest,
    max_workers: int | None,
    compress: bool,
) -> int:
    sizes = {e.blob_id: e.size for e in view.values()}
    ctx.progress.start("uploading", len(todo), sum(sizes[b] for b, _ in todo))

    def put(item: tuple[str, Path]) -> int:
        blob_id, source = item
        stored = store.put_file(blob_id, source, compress)
        failpoint("upload.after_blob")
        ctx.progress.advance(1, sizes[blob_id])
        return stored

    try:
        with ThreadPoolExecutor(max_workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
            return sum(pool.map(put, todo))
    finally:
        ctx.progress.finish()
