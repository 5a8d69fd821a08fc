"""Closing a draft: write ordering blobs -> manifest -> record -> catalog ``final``.

Each step is create-then-publish, and the catalog flips to final only after storage holds every
byte the version references, so a process killed at any point leaves a resumable draft.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from deltaset.core.changeset import Closed
from deltaset.core.manifest import Manifest, StoredManifest
from deltaset.core.records import State, VersionRecord
from deltaset.engine import content, leases, page_indexes, reverse, staging
from deltaset.engine.context import Context, transfer_workers
from deltaset.engine.upload import UploadOptions, upload_view
from deltaset.engine.views import (
    DraftView,
    draft_changes,
    draft_view,
    own_positions,
    parent_records,
    require_draft,
    with_chunks,
)
from deltaset.errors import StateError
from deltaset.faults import failpoint
from deltaset.objects.store import BlobStore
from deltaset.storage.layout import manifest_key, record_key

MAX_MANIFEST_DEPTH = 16
log = logging.getLogger("deltaset")


def is_dirty(ctx: Context, record: VersionRecord) -> bool:
    """Whether staged files still wait for upload."""
    return any(not c.removed and not c.uploaded for c in ctx.catalog.staged(record.id))


def finalize(
    ctx: Context, record: VersionRecord, upload: UploadOptions | None = None
) -> VersionRecord:
    """Make the draft final, after uploading what is pending when ``upload`` says how."""
    require_draft(record)
    draft = draft_view(ctx, record)  # the one read of the staged changes
    if upload is not None:
        # Not marked uploaded: the catalog drops the staged rows at the end, and rewriting
        # every row of a large draft first cost a sixth of its close. If the close dies before,
        # the draft still says its files wait for upload, and the next close finds them held.
        record = upload_view(ctx, record, draft, upload, mark=False)
    store = ctx.blobs(record.storage)
    failpoint("finalize.before_lease")
    # From the check that storage holds every file to the record that names the version's
    # parents, no gc may delete what the check found, nor a delete a parent (see leases): a
    # delete that comes later finds the record, so it knows the version inherits.
    storage = store.storage
    with leases.closing(storage, record.id, record.parents):
        _require_parents(ctx, record, store)
        record, view = _held_view(ctx, record, draft, store, upload)
        failpoint("finalize.after_check")
        files, removed = draft_changes(draft, view)
        final, stored = _final_form(ctx, record, draft.base, view, files, removed)
        whole = view.to_bytes()
        storage.put_bytes(manifest_key(record.id), whole if stored.complete else stored.to_bytes())
        failpoint("finalize.after_manifest")
        storage.put_bytes(record_key(record.id), json.dumps(final.to_dict(), indent=1).encode())
        failpoint("finalize.after_record")
    sources = reverse.sources(ctx, final, files) if ctx.settings.reverse_on_close else {}
    ctx.catalog.finalize(final, whole)
    staging.discard(ctx, record.id)
    closed = Closed(view, draft.base, files, removed)
    if ctx.settings.reverse_on_close:
        reverse.store_replaced_as_deltas(ctx, final, closed, sources)
    content.keep_at_close(ctx, final, closed)
    page_indexes.keep_at_close(ctx, final, closed)  # see its doc
    _warn_if_empty(final)
    return final


def _warn_if_empty(final: VersionRecord) -> None:
    """Closing a draft that changes nothing is allowed, as in ClearML, but never silent."""
    stats = final.stats
    if stats.added or stats.modified or stats.removed:
        return
    if not final.parents:
        log.warning("Closed dataset version %s with no files: nothing was added to it.", final.id)
    else:
        log.warning(
            "Closed dataset version %s with no changes: it holds the same files as its parents.",
            final.id,
        )


def _require_parents(ctx: Context, record: VersionRecord, store: BlobStore) -> None:
    """Refuse a draft whose parent in the same storage was deleted (on another machine, whose
    catalog did not know the draft): its inherited files may be gone, and a change-set
    manifest would name a parent that no longer exists.

    With this check under the close lease, the storage holds every inherited file: gc and
    delete free bytes only while no close runs, and only those no stored manifest needs,
    which a parent's stored manifest, with its own ancestors', does. A parent in another
    storage does not count: then the whole view is checked in this one (see own_positions).
    """
    storage = store.storage
    for parent in parent_records(ctx, record):
        if parent.storage != record.storage:
            continue
        if not (storage.exists(record_key(parent.id)) and storage.exists(manifest_key(parent.id))):
            raise StateError(
                f"The parent {parent.id} of dataset version {record.id} was deleted from its "
                "storage; this draft can no longer be closed (delete it, or create a new "
                "version)."
            )


def _held_view(
    ctx: Context,
    record: VersionRecord,
    draft: DraftView,
    store: BlobStore,
    upload: UploadOptions | None,
) -> tuple[VersionRecord, Manifest]:
    """The draft's view (with its chunk lists) once the storage holds all of it.

    A gc that ran between the upload and the close's lease may have deleted packs the upload
    found in the storage and so did not send again, or packs an upload (this one, or one on
    another machine) wrote but had not named in an index file yet, which that index file then
    names all the same: the packs are looked at, not only the index. With ``upload`` those
    files go up once more, now that no gc can run; without it the close refuses in one
    sentence.
    """
    store.refresh()
    view = with_chunks(ctx, draft.view)  # now with the chunk lists the upload just made
    among = own_positions(ctx, record, draft)
    held, missing = store.packs_and_unheld(view, among)
    if store.forget_missing_packs(held, transfer_workers(None)):
        missing = _missing(store, view, among)  # the files of the packs found gone too
    if missing and upload is not None:
        record = upload_view(ctx, record, draft, upload, mark=False)
        view = with_chunks(ctx, draft.view)
        missing = _missing(store, view, among)
    if missing:
        raise StateError(
            f"{missing} files of dataset version {record.id} are not uploaded yet; "
            "upload first (or close without --disable-upload)."
        )
    return record, view


def _missing(store: BlobStore, view: Manifest, among: list[int] | None) -> int:
    return sum(1 for _ in store.unheld_positions(view, among))


def _final_form(
    ctx: Context,
    record: VersionRecord,
    base: Manifest,
    view: Manifest,
    files: Manifest,
    removed: tuple[str, ...],
) -> tuple[VersionRecord, StoredManifest]:
    """The final record of the draft, and the stored form of its file list (``files`` and
    ``removed``: its changes from ``base``, the merge of its parents)."""
    added = sum(1 for at in base.positions_of(files) if at is None) if base else len(files)
    stored, depth = _stored_form(ctx, record, view, files, removed)
    stats = replace(
        record.stats,
        file_count=len(view),
        total_size=view.total_size,
        added=added,
        modified=len(files) - added,
        removed=len(removed),
        manifest_depth=depth,
    )
    return record.evolve(state=State.FINAL, stats=stats), stored


def _stored_form(
    ctx: Context, record: VersionRecord, view: Manifest, files: Manifest, removed: tuple[str, ...]
) -> tuple[StoredManifest, int]:
    """What storage keeps of the version's file list, and how many change-sets deep it is.

    A change-set when that is much smaller than the whole list and every parent lives in the
    same storage (so the storage alone still rebuilds it); the whole list every
    :data:`MAX_MANIFEST_DEPTH` versions, so reading one never walks a long chain.
    """
    parents = [ctx.catalog.get(p) for p in record.parents]
    depth = 1 + max((p.stats.manifest_depth for p in parents), default=-1)
    if (
        not parents
        or depth > MAX_MANIFEST_DEPTH
        or any(p.storage != record.storage for p in parents)
        or len(files) + len(removed) > len(view) // 2
    ):
        return StoredManifest(view), 0
    return StoredManifest(files, removed, complete=False), depth
