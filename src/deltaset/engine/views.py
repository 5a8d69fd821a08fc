"""Reading versions: records by id or name, full manifests, and the live view of a draft."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from deltaset.catalog.base import Query, StagedFile
from deltaset.core import version as semver
from deltaset.core.changeset import apply, merge_parents
from deltaset.core.chunking import CHUNK_FROM
from deltaset.core.manifest import Manifest, StoredManifest
from deltaset.core.records import State, VersionRecord
from deltaset.engine.context import Context
from deltaset.errors import InvalidInputError, NotFoundError, StateError, StorageError
from deltaset.storage.base import Storage
from deltaset.storage.layout import manifest_key, record_key

FINAL_STATES = (State.FINAL, State.PUBLISHED)


def find(
    ctx: Context,
    project: str | None,
    name: str | None,
    version: str | None = None,
    tags: tuple[str, ...] = (),
    only_completed: bool = False,
    only_published: bool = False,
) -> VersionRecord:
    """The version of ``project/name`` asked for, else the latest (see :func:`semver.latest`)."""
    if project is None and name is None and not tags:
        raise InvalidInputError("Give a dataset id, or a project and name, to find a dataset.")
    states = (State.PUBLISHED,) if only_published else FINAL_STATES if only_completed else ()
    query = Query(
        project=project,
        name=name,
        version=version,
        tags=tags,
        states=states,
        recursive_project=False,
    )
    found = ctx.catalog.search(query)
    if not found:
        label = "/".join(p for p in (project, name) if p) or f"tags {', '.join(tags)}"
        extra = f" version {version}" if version else ""
        raise NotFoundError(f"No dataset {label}{extra} was found.")
    return semver.latest(found)


def final_manifest(ctx: Context, record: VersionRecord) -> Manifest:
    """The manifest of a final version, decoded once per process for the same stored bytes."""
    data = ctx.catalog.manifest(record.id)
    if data is None:  # known to the catalog without its manifest: read it from storage
        return stored_manifest(ctx, ctx.storage(record.storage), record.id)
    kept = ctx.manifests.get(record.id)
    if kept is not None and kept[0] == data:
        return kept[1]
    manifest = _decode_manifest(record.id, data)
    ctx.manifests.clear()  # keep one: several could hold gigabytes for large datasets
    ctx.manifests[record.id] = (data, manifest)
    return manifest


def stored_manifest(ctx: Context, storage: Storage, version_id: str) -> Manifest:
    """A final version's whole manifest read from ``storage``: a stored change-set is applied to
    its parents' manifests (from the catalog when it has them, else from the same storage)."""
    key = manifest_key(version_id)
    stored_bytes = storage.get_bytes(key)
    try:
        stored = StoredManifest.from_bytes(stored_bytes)
    except StorageError as exc:
        raise StorageError(
            f"The stored manifest {key} of dataset version {version_id} in {storage.url} "
            "is damaged."
        ) from exc
    if stored.complete:
        return stored.files
    record = read_stored_record(storage, version_id)
    parents = []
    for parent_id in record.parents:
        data = ctx.catalog.manifest(parent_id)
        parents.append(
            _decode_manifest(parent_id, data)
            if data is not None
            else stored_manifest(ctx, storage, parent_id)
        )
    return stored.resolve(merge_parents(parents))


def read_stored_record(storage: Storage, version_id: str) -> VersionRecord:
    key = record_key(version_id)
    data = storage.get_bytes(key)  # outside the try: a missing record is a NotFoundError
    try:
        return VersionRecord.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"The stored record {key} in {storage.url} is damaged.") from exc


def _decode_manifest(version_id: str, data: bytes) -> Manifest:
    try:
        return Manifest.from_bytes(data)
    except StorageError as exc:
        raise StorageError(f"The manifest of dataset version {version_id} is damaged.") from exc


def require_final(record: VersionRecord, action: str) -> None:
    if not record.state.is_final:
        raise StateError(
            f"The dataset version {record.id} is still a draft; close it before you {action}."
        )


def require_draft(record: VersionRecord) -> None:
    if record.state.is_final:
        raise StateError(
            f"The dataset version {record.id} is final and cannot be modified; "
            "create a new version with it as a parent."
        )


def require_mutable(ctx: Context, record: VersionRecord) -> None:
    """A draft whose close was interrupted after its record reached storage is closing: another
    machine may already read it as final, so its content must not change any more."""
    require_draft(record)
    if ctx.storage(record.storage).exists(record_key(record.id)):
        raise StateError(
            f"The dataset version {record.id} was interrupted while closing; run 'deltaset "
            "close' to finish it, then create a new version to change it."
        )


def parents_view(ctx: Context, record: VersionRecord) -> Manifest:
    """The merge of ``record``'s parents, in order."""
    return merge_parents([final_manifest(ctx, p) for p in parent_records(ctx, record)])


def parent_records(ctx: Context, record: VersionRecord) -> list[VersionRecord]:
    found = []
    for parent_id in record.parents:
        try:
            found.append(ctx.catalog.get(parent_id))
        except NotFoundError:
            if not record.state.is_final:
                raise
            # deleted with force: a final version's manifest holds all its files on its own
    return found


@dataclass(frozen=True, slots=True)
class DraftView:
    """A draft as it stands, from one read of its staged changes: the merge of its parents
    (``base``), its staged files (``puts``) and removals, and what it shows (``view``)."""

    base: Manifest
    puts: Manifest
    removes: tuple[str, ...]
    view: Manifest


def staged_view(base: Manifest, staged: Iterable[StagedFile]) -> DraftView:
    """``base`` with a draft's staged changes (given in path order) applied."""
    removes: list[str] = []

    def puts() -> Iterator[tuple[str, int, str, str, str]]:
        for path, size, blob_id, link, etag, removed in staged:
            if removed:
                removes.append(path)
            else:
                yield path, size, blob_id, link, etag

    staged_files = Manifest.from_sorted_files(puts())
    view = apply(base, staged_files, removes)
    return DraftView(base, staged_files, tuple(removes), view)


def draft_view(ctx: Context, record: VersionRecord) -> DraftView:
    return staged_view(parents_view(ctx, record), ctx.catalog.staged_files(record.id))


def own_positions(ctx: Context, record: VersionRecord, draft: DraftView) -> list[int] | None:
    """Where in a draft's view the files are that its parents do not bring: the ones it
    staged. None when a parent lives in another storage, whose files this one may lack too.

    Every other file of the view is a file of a final parent in the same storage, which holds
    it: an upload or a close need not look at it, whatever the size of the version.
    """
    parents = parent_records(ctx, record)
    if any(p.storage != record.storage for p in parents):
        return None
    return [at for at in draft.view.positions_of(draft.puts) if at is not None]


def draft_changes(draft: DraftView, view: Manifest) -> tuple[Manifest, tuple[str, ...]]:
    """``view.changes_since(draft.base)`` for ``view`` (the draft's view, chunk lists and all),
    from its staged changes alone: the cost follows the change, not the size of the version."""
    base, changed = draft.base, []
    puts = draft.puts
    olds = base.positions_of(puts) if base else itertools.repeat(None)
    for at, old in zip(view.positions_of(puts), olds, strict=False):  # repeat() never ends
        if at is None:
            continue
        if old is None or base.raw_id_at(old) != view.raw_id_at(at):
            changed.append(at)
    removed = tuple(p for p in draft.removes if p in base and p not in view)
    return view.picked(changed), removed


def with_chunks(ctx: Context, view: Manifest) -> Manifest:
    """``view`` with the known chunk lists of its large files that do not carry them yet."""
    large = view.positions_from(CHUNK_FROM)  # no Entry made for the many small files, nor links
    lacking = {view.raw_id_at(at).hex() for at in large if not view.has_chunks_at(at)}
    if not lacking:
        return view
    chunked = (view.entry_at(at) for at in large if view.has_chunks_at(at))
    known = {e.blob_id: e.chunks for e in chunked if e.blob_id in lacking}
    # Trusted as they come: the embedded catalog holds only the lists this machine's uploads
    # made, and a server keeps a list only once its storage shows the chunks make the blob
    # (see the server's PUT /chunk-lists); a close skips uploading a file whose chunks are held.
    known |= ctx.catalog.chunk_lists(lacking - known.keys())
    return view.with_chunk_lists(known) if known else view


def current_view(ctx: Context, record: VersionRecord) -> Manifest:
    """What the version shows now: its manifest if final, parents plus staged changes if a draft."""
    if record.state.is_final:
        return final_manifest(ctx, record)
    return draft_view(ctx, record).view
