"""Squashing: the merged content of several versions as one new root version.

Every version the given ones descend from is replayed oldest first, each applying its own
change-set (its files added or modified, its removals), so a later version's removal stays
removed and no ancestor's file is lost. The new version references the blobs its sources
already stored: in the same storage it stores no byte again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from deltaset.catalog.base import DraftChange
from deltaset.core.changeset import merge_parents
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import create, finalize
from deltaset.engine.context import Context
from deltaset.engine.pull import by_blob, cache_from
from deltaset.engine.upload import UploadOptions
from deltaset.engine.views import final_manifest, parent_records, require_final
from deltaset.errors import InvalidInputError


def squash(
    ctx: Context,
    name: str,
    sources: Sequence[VersionRecord],
    *,
    project: str | None = None,
    storage: str | None = None,
    close: bool = True,
    max_workers: int | None = None,
) -> VersionRecord:
    """A new root version ``project/name`` holding the merge of ``sources`` (in order)."""
    if not sources:
        raise InvalidInputError("Give at least one dataset version to squash.")
    for record in sources:
        require_final(record, "squash it")
    content = squashed_manifest(ctx, sources)
    draft = create.create(
        ctx,
        name=name,
        project=project or sources[0].project,
        storage=storage or sources[0].storage,  # as a child's: beside the first source
        description="Squashed from " + ", ".join(r.id for r in sources),
    )
    ctx.catalog.stage(draft.id, _staged(content))
    # Only the lists whose chunks the draft's storage holds: the others' files are chunked
    # again as the close uploads them (a server keeps no list naming chunks it lacks).
    target = ctx.blobs(draft.storage)
    chunked = {e.blob_id: e.chunks for e in content.chunked() if target.holds(e)}
    ctx.catalog.put_chunk_lists(chunked)
    _bring_to_storage(ctx, draft, content, sources, max_workers)
    if not close:
        return draft
    merged = tuple(dict.fromkeys(r.storage for r in sources))  # a damaged cache file's source
    return finalize.finalize(ctx, draft, UploadOptions(max_workers=max_workers, sources=merged))


def squashed_manifest(ctx: Context, sources: Sequence[VersionRecord]) -> Manifest:
    """Every ancestor of ``sources`` replayed oldest first, each applying its own changes."""
    content = Manifest()
    for record in _oldest_first(ctx, sources):
        own = final_manifest(ctx, record)
        parents = [final_manifest(ctx, p) for p in parent_records(ctx, record)]
        files, removed = own.changes_since(merge_parents(parents))
        content = content.changed(files, removed)
    return content


def _oldest_first(ctx: Context, sources: Sequence[VersionRecord]) -> Iterator[VersionRecord]:
    """The sources and their ancestors, each after its parents, in the order given."""
    seen: set[str] = set()

    def visit(record: VersionRecord) -> Iterator[VersionRecord]:
        if record.id in seen:
            return
        seen.add(record.id)
        for parent in parent_records(ctx, record):
            yield from visit(parent)
        yield record

    for record in sources:
        yield from visit(record)


def _staged(content: Manifest) -> Iterator[DraftChange]:
    for path, entry in content.items():
        yield DraftChange(
            path, size=entry.size, blob_id=entry.blob_id, link=entry.link, etag=entry.etag
        )


def _bring_to_storage(
    ctx: Context,
    draft: VersionRecord,
    content: Manifest,
    sources: Sequence[VersionRecord],
    max_workers: int | None,
) -> None:
    """Fetch into the cache the files the draft's storage lacks, from the sources' storages, so
    the upload of the close sends them from there."""
    target = ctx.blobs(draft.storage)
    wanted = by_blob(content.entry_at(at) for at in target.unheld_positions(content))
    others = (r.storage for r in sources if r.storage != draft.storage)
    cache_from(ctx, others, wanted, max_workers)  # what none holds, the close names
