"""Deleting versions; bytes are removed only when no remaining version in the storage uses them."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from deltaset.core.manifest import Manifest, StoredManifest
from deltaset.core.records import VersionRecord
from deltaset.engine import leases, metadata, staging
from deltaset.engine.context import Context, transfer_workers
from deltaset.engine.liveness import live_ids, staged_ids
from deltaset.engine.views import read_stored_record, stored_manifest
from deltaset.errors import AccessError, NotFoundError, StateError
from deltaset.objects.store import BlobStore
from deltaset.storage.base import Storage
from deltaset.storage.layout import manifest_key, record_key, version_id_of_record_key

log = logging.getLogger("deltaset")


def delete(
    ctx: Context, record: VersionRecord, force: bool = False, delete_files: bool = True
) -> None:
    if not record.state.is_final:  # nobody's parent: only its bytes need a lease
        _refuse_children(ctx, record, [], force)
        doomed = _remove(ctx, ctx.storage(record.storage), record)
        if delete_files and doomed:  # (the pack index loads only then: 0.6 s at 1M files)
            _free_draft(ctx, ctx.blobs(record.storage), record, doomed)
        return
    store = ctx.blobs(record.storage)
    # Under a gc lease: a close of a child that starts meanwhile waits for the delete to end,
    # then finds its parent gone; one that runs already is among ``closes``.
    with leases.excluding_closes(store.storage, f"delete {record.id}") as closes:
        _refuse_closing_children(store.storage, record, closes)
        stored_children = _stored_children(store.storage, record.id)
        _refuse_children(ctx, record, stored_children, force)
        for child in stored_children:
            _store_whole_manifest(ctx, store.storage, child.id)
        doomed = _remove(ctx, store.storage, record)
        if delete_files and doomed:
            _free(ctx, store, record, doomed, closes)


def _remove(ctx: Context, storage: Storage, record: VersionRecord) -> set[str]:
    """Remove the version from storage and catalog; returns the blobs it used."""
    doomed = _own_blobs(ctx, record)
    metadata.delete_stored(ctx, record)
    storage.delete(record_key(record.id))
    storage.delete(manifest_key(record.id))
    ctx.catalog.delete(record.id)
    staging.discard(ctx, record.id)
    return doomed


def _refuse_closing_children(
    storage: Storage, record: VersionRecord, closes: list[leases.Lease]
) -> None:
    """A version being closed (on any machine) may inherit from ``record``: even force cannot
    take its files away. A close lease that does not name its parents may be one of them."""
    for lease in closes:
        if lease.parents is None or record.id in lease.parents:
            raise StateError(
                f"The dataset version {record.id} is a parent of a version being closed into "
                f"{storage.url} ({lease.describe()}); delete it once that close is done."
            )


def _refuse_children(
    ctx: Context, record: VersionRecord, stored_children: list[VersionRecord], force: bool
) -> None:
    children = ctx.catalog.children(record.id)
    known = {c.id for c in children}
    children += [c for c in stored_children if c.id not in known]
    if children and not force:
        names = ", ".join(f"{c.name} {c.version} ({c.id})" for c in children[:3])
        raise StateError(
            f"The dataset version {record.id} is a parent of {len(children)} other version(s) "
            f"({names}); pass --force (force=True) to delete it anyway."
        )
    drafts = [c for c in children if not c.state.is_final]
    if drafts:
        # A draft still reads its files through its parents, so even force cannot orphan it.
        raise StateError(
            f"The dataset version {record.id} is a parent of the draft {drafts[0].id}; "
            "close or delete that draft first."
        )


def _free(
    ctx: Context,
    store: BlobStore,
    record: VersionRecord,
    doomed: set[str],
    closes: list[leases.Lease],
) -> None:
    """Delete the packs that held the version's blobs and hold nothing live now (the caller
    holds a gc lease), unless a close into the storage runs: then they are left for a later
    gc, which never races a close. Other unused packs are gc's to judge by their age: one may
    be a draft's upload on another machine."""
    if closes:
        log.warning(
            "kept the stored bytes of %s for a later gc: a version is being closed into %s (%s)",
            record.id,
            store.storage.url,
            closes[0].describe(),
        )
        return
    live = live_ids(ctx, store.storage, record.storage)
    if doomed - live:
        freed = store.drop_unreferenced(live, among=_packs_of(store, doomed))
        log.info("freed %d stored bytes no other version uses", freed)


def _packs_of(store: BlobStore, blob_ids: set[str]) -> set[str]:
    store.refresh()
    return {loc.pack_id for b in blob_ids if (loc := store.index.get(b)) is not None}


def _free_draft(ctx: Context, store: BlobStore, record: VersionRecord, doomed: set[str]) -> None:
    """Free the bytes a deleted draft alone uploaded, unless this token may not take the gc
    lease that needs (on a deltaset server, an admin's): then a later gc frees them."""
    try:
        with leases.excluding_closes(store.storage, f"delete {record.id}") as closes:
            _free(ctx, store, record, doomed, closes)
    except AccessError as exc:
        log.warning("kept the stored bytes of %s for a later gc: %s", record.id, exc)


def _stored_children(storage: Storage, version_id: str) -> list[VersionRecord]:
    """The final versions in ``storage`` that name ``version_id`` as a parent, whichever
    catalog (this machine's or another's) knows them."""
    others = [
        child_id
        for key in storage.list("versions/")
        if (child_id := version_id_of_record_key(key)) not in (None, version_id)
    ]

    def read(child_id: str) -> VersionRecord | None:
        try:
            return read_stored_record(storage, child_id)
        except NotFoundError:
            return None  # deleted while we listed

    # Concurrently: on an object store each record is a request.
    with ThreadPoolExecutor(transfer_workers(None)) as pool:
        records = list(pool.map(read, others))
    return [r for r in records if r is not None and version_id in r.parents]


def _store_whole_manifest(ctx: Context, storage: Storage, version_id: str) -> None:
    """Replace a stored change-set by the whole manifest it stands for (same files), so the
    version stays readable once a parent it was relative to is gone."""
    key = manifest_key(version_id)
    if StoredManifest.from_bytes(storage.get_bytes(key)).complete:
        return
    whole = stored_manifest(ctx, storage, version_id)
    storage.put_bytes(key, StoredManifest(whole).to_bytes(), overwrite=True)
    log.info("stored the whole manifest of %s, a child of a deleted version", version_id)


def _own_blobs(ctx: Context, record: VersionRecord) -> set[str]:
    if record.state.is_final:
        data = ctx.catalog.manifest(record.id)
        return Manifest.from_bytes(data).stored_ids() if data else set()
    return staged_ids(ctx, record)
