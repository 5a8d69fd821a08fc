"""Listing and comparing versions: files, change-sets against parents, searches."""

from __future__ import annotations

from collections.abc import Sequence

from deltaset.catalog.base import Query
from deltaset.core import paths
from deltaset.core.changeset import ChangeSet, diff
from deltaset.core.manifest import Manifest
from deltaset.core.name_pattern import name_matcher
from deltaset.core.records import State, VersionRecord
from deltaset.engine import ids as version_ids
from deltaset.engine.context import Context
from deltaset.engine.views import (
    current_view,
    draft_changes,
    draft_view,
    final_manifest,
    parent_records,
    parents_view,
    with_chunks,
)


def list_paths(
    ctx: Context, record: VersionRecord, dataset_path: str | None = None, recursive: bool = True
) -> list[str]:
    return _selected(current_view(ctx, record), dataset_path, recursive)


def _selected(view: Manifest, dataset_path: str | None, recursive: bool) -> list[str]:
    if dataset_path is None:
        return list(view)
    return [p for p in view if paths.matches(p, dataset_path, recursive)]


def paths_from(
    ctx: Context,
    record: VersionRecord,
    source: VersionRecord,
    dataset_path: str | None = None,
    recursive: bool = True,
) -> list[str]:
    """The paths of ``record`` whose content ``source`` brought in (added or changed there)
    and that still hold it here: ClearML's ``list_files(dataset_id=...)``."""
    brought = changes(ctx, source)
    from_source = {**brought.added, **brought.modified}
    view = current_view(ctx, record)
    return [
        p
        for p in _selected(view, dataset_path, recursive)
        if p in from_source and view[p].blob_id == from_source[p].blob_id
    ]


def changes(ctx: Context, record: VersionRecord, against: VersionRecord | None = None) -> ChangeSet:
    """What ``record`` changes relative to ``against``, or to the merge of its parents."""
    base = current_view(ctx, against) if against else parents_view(ctx, record)
    return diff(base, current_view(ctx, record))


def search(
    ctx: Context,
    *,
    project: str | None = None,
    partial_name: str | None = None,
    tags: Sequence[str] = (),
    ids: Sequence[str] = (),
    only_completed: bool = True,
    recursive_project_search: bool = True,
) -> list[VersionRecord]:
    """Versions matching every filter given; each of ``ids`` is a whole id or the start of the
    ids to find."""
    if partial_name:
        name_matcher(partial_name)  # a bad pattern is refused before any catalog is asked
    if ids:
        ids = [found for text in ids for found in version_ids.starting_with(ctx.catalog, text)]
        if not ids:
            return []
    states = (State.FINAL, State.PUBLISHED) if only_completed else ()
    return ctx.catalog.search(
        Query(
            project=project.strip("/") if project else None,
            partial_name=partial_name,
            tags=tuple(tags),
            ids=tuple(ids),
            states=states,
            recursive_project=recursive_project_search,
        )
    )


def pack_count(ctx: Context, record: VersionRecord, include_parents: bool = True) -> int:
    """How many stored packs hold the files of ``record`` (only its own changes without
    ``include_parents``): ClearML's number of chunks."""
    if not record.state.is_final:
        return _draft_pack_count(ctx, record, include_parents)
    view = final_manifest(ctx, record)
    if not include_parents:
        view, _ = view.changes_since(parents_view(ctx, record))
    store = ctx.blobs(record.storage)
    return len({store.location(b).pack_id for b in view.stored_ids()})


def _draft_pack_count(ctx: Context, record: VersionRecord, include_parents: bool) -> int:
    """A draft's packs so far, as ClearML counts a draft's chunks: what it has uploaded (files
    staged but not uploaded count for none), plus the packs of its parents' files, each in the
    storage of the draft or else of the first parent holding it."""
    draft = draft_view(ctx, record)
    view = with_chunks(ctx, draft.view)
    urls = [record.storage]
    if include_parents:
        urls += [p.storage for p in parent_records(ctx, record)]
    else:
        view, _ = draft_changes(draft, view)
    stores = [ctx.blobs(url) for url in dict.fromkeys(urls)]
    wanted = view.stored_ids()
    if any(not any(s.has(i) for s in stores) for i in wanted):
        for store in stores:
            store.refresh()  # another process may have uploaded since this one read the indexes
    packs = set()
    for stored_id in wanted:
        holder = next((s for s in stores if s.has(stored_id)), None)
        if holder is not None:
            packs.add((holder.storage.url, holder.location(stored_id).pack_id))
    return len(packs)
