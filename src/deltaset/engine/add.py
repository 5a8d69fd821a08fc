"""Adding local files to a draft: only paths whose content differs from the view are staged."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from deltaset.catalog.base import DraftChange
from deltaset.core.records import VersionRecord
from deltaset.engine import scan
from deltaset.engine.context import Context
from deltaset.engine.views import current_view, parents_view, require_mutable

log = logging.getLogger("deltaset")


def add_files(
    ctx: Context,
    record: VersionRecord,
    path: str | Sequence[str],
    wildcard: str | Sequence[str] | None = None,
    local_base_folder: str | None = None,
    dataset_path: str | None = None,
    recursive: bool = True,
    max_workers: int | None = None,
) -> tuple[int, int]:
    """Stage the files of ``path`` (or of several paths, all or nothing); returns (added, modified).

    Every path is found and hashed before anything is staged, so a missing or unreadable one
    leaves the draft as it was.
    """
    require_mutable(record)
    patterns = [wildcard] if isinstance(wildcard, str) else list(wildcard or [])
    sources = [path] if isinstance(path, str) else list(path)
    found = {
        f.path: f
        for source in sources
        for f in scan.collect(source, patterns, local_base_folder, dataset_path, recursive)
    }
    files = list(found.values())
    hashed = scan.hash_files(ctx, files, max_workers)
    return stage_files(ctx, record, hashed)


def stage_files(
    ctx: Context, record: VersionRecord, hashed: list[scan.HashedFile]
) -> tuple[int, int]:
    view = current_view(ctx, record)
    base = parents_view(ctx, record)
    changes, added, modified = [], 0, 0
    for item in hashed:
        old = view.get(item.path)
        if old is not None and old.blob_id == item.blob_id:
            continue
        if old is None:
            added += 1
            log.info("added %s", item.path)
        else:
            modified += 1
            log.info("modified %s", item.path)
        changes.append(item)
    # Content equal to the parents' is no change at all: drop whatever was staged for it.
    same_as_parent = {
        c.path for c in changes if (e := base.get(c.path)) is not None and e.blob_id == c.blob_id
    }
    ctx.catalog.unstage(record.id, same_as_parent)
    ctx.catalog.stage(
        record.id,
        [
            DraftChange(c.path, size=c.size, blob_id=c.blob_id, source=str(c.source))
            for c in changes
            if c.path not in same_as_parent
        ],
    )
    return added, modified
