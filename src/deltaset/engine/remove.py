"""Removing paths (wildcards and folders inside the dataset) from a draft."""

from __future__ import annotations

import fnmatch
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
    """Remove every path matching ``dataset_path``, and every external file whose URL it is
    (or matches, or is a folder URL above, as it was added); returns how many were removed."""
    require_mutable(ctx, record)
    pattern = _pattern(dataset_path)
    view = current_view(ctx, record)
    doomed = [
        p
        for p, e in view.items()
        if paths.matches(p, pattern, recursive) or (e.link and _by_url(e.link, dataset_path))
    ]
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
    return paths.check_pattern(paths.relative(dataset_path.strip())).strip("/")


def _by_url(link: str, given: str | None) -> bool:
    """Whether ``given`` names the external file at ``link`` by its URL, as ClearML allows."""
    if not given or "://" not in given:
        return False
    given = given.strip()
    below = link.startswith(given.rstrip("/") + "/")  # a folder URL, as add_external_files took
    return link == given or below or fnmatch.fnmatchcase(link, given)
