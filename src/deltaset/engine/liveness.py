"""What a storage must keep: every blob a stored version or a draft of this catalog needs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from deltaset.catalog.base import Query
from deltaset.core.manifest import StoredManifest
from deltaset.core.records import State, VersionRecord
from deltaset.engine.context import Context, transfer_workers
from deltaset.errors import NotFoundError
from deltaset.storage.base import Storage


def live_ids(ctx: Context, storage: Storage, url: str) -> set[str]:
    """Everything a version left in ``storage``, or a draft of this catalog, still needs."""

    def needed(key: str) -> set[str]:
        try:
            # Every referenced blob is in the change-set of the version that brought it in, or
            # of a descendant that stores its whole manifest since that version was deleted.
            return StoredManifest.from_bytes(storage.get_bytes(key)).files.stored_ids()
        except NotFoundError:
            return set()  # deleted concurrently: it needs nothing any more

    live: set[str] = set()
    with ThreadPoolExecutor(transfer_workers(None)) as pool:
        for ids in pool.map(needed, list(storage.list("manifests/"))):
            live |= ids
    for draft in ctx.catalog.search(Query(states=(State.DRAFT,))):
        if draft.storage == url:  # as versions name it, which may not be storage.url
            live |= staged_ids(ctx, draft)
    return live


def staged_ids(ctx: Context, record: VersionRecord) -> set[str]:
    staged = {c.blob_id for c in ctx.catalog.staged(record.id) if not c.removed}
    chunks = ctx.catalog.chunk_lists(staged)
    return staged | {c for ids in chunks.values() for c in ids}
