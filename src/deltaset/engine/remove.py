"""Removing paths (wildcards and folders inside the dataset) from a draft."""

from __future__ import annotations

import logging

from deltaset.catalog.base import DraftChange
from deltaset.core import paths
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.views import current_view, parents_view, require_mutable

log = logging.getLogger("deltaset")


def remove_files(
    ctx: Context, record: VersionRecord, dataset_path: str | None = None, recursive: bool = True
) -> int:
    """Remove every path matching ``dataset_path``; returns how many were removed."""
    require_mutable(ctx, record)
    pattern = _pattern(dataset_path)
    view = current_view(ctx, record)
    doomed = [p for p in view if paths.matches(p, pattern, recursive)]
    if not doomed:  # not an error, as in ClearML, but never a silent success
        log.warning(
            "Nothing in dataset version %s matches %r; nothing removed.",
            record.id,
            pattern,
        )
    remove_paths(ctx, record, doomed)
    return len(doomed)


def remove_paths(ctx: Context, record: VersionRecord, doomed: list[str]) -> None:
    base = parents_view(ctx, record)
    inherited = [p for p in doomed if p in base]
    ctx.catalog.unstage(record.id, [p for p in doomed if p not in base])
    ctx.catalog.stage(record.id, [DraftChange(p, removed=True) for p in inherited])
    for path in doomed:
        log.info("removed %s", path)


def _pattern(dataset_path: str | None) -> str:
    if dataset_path is None or dataset_path.strip() in ("", "*"):
        return "*"
    return paths.check_pattern(dataset_path.strip()).strip("/")
