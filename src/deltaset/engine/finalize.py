"""Closing a draft: write ordering blobs -> manifest -> record -> catalog ``final``.

Each step is create-then-publish, and the catalog flips to final only after storage holds every
byte the version references, so a process killed at any point leaves a resumable draft.
"""

from __future__ import annotations

import json
from dataclasses import replace

from deltaset.core.changeset import change_counts
from deltaset.core.records import State, VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.upload import upload_view
from deltaset.engine.views import current_view, parents_view, require_draft, with_chunks
from deltaset.errors import StateError
from deltaset.faults import failpoint
from deltaset.storage.layout import manifest_key, record_key


def is_dirty(ctx: Context, record: VersionRecord) -> bool:
    """Whether staged files still wait for upload."""
    return any(not c.removed and not c.uploaded for c in ctx.catalog.staged(record.id))


def finalize(ctx: Context, record: VersionRecord, auto_upload: bool = False) -> VersionRecord:
    require_draft(record)
    view = current_view(ctx, record)
    if auto_upload:
        record = upload_view(ctx, record, view)
    store = ctx.blobs(record.storage)
    store.refresh()
    view = with_chunks(ctx, view)  # now with the chunk lists the upload just made
    missing = sum(1 for e in view.values() if not store.holds(e))
    if missing:
        raise StateError(
            f"{missing} files of dataset version {record.id} are not uploaded yet; "
            "upload first (or close without --disable-upload)."
        )
    added, modified, removed = change_counts(parents_view(ctx, record), view)
    stats = replace(
        record.stats,
        file_count=len(view),
        total_size=view.total_size,
        added=added,
        modified=modified,
        removed=removed,
    )
    final = record.evolve(state=State.FINAL, stats=stats)
    manifest = view.to_bytes()
    storage = store.storage
    storage.put_bytes(manifest_key(record.id), manifest)
    failpoint("finalize.after_manifest")
    storage.put_bytes(record_key(record.id), json.dumps(final.to_dict(), indent=1).encode())
    failpoint("finalize.after_record")
    ctx.catalog.finalize(final, manifest)
    return final
