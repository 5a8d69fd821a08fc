"""The content summary kept with a version as its metadata ``dataset-content`` (see
:mod:`deltaset.core.content`).

A close that changes a few files of a large parent works its summary out from the parent's and
the changes, so it costs the changes rather than a walk over every file; the summary is exactly
the one a walk gives, and a walk it is when the parent's summary is missing or not the one its
files give.
"""

from __future__ import annotations

import logging
from typing import Any

from deltaset.core.changeset import Closed
from deltaset.core.content import summarize, summarize_change
from deltaset.core.records import VersionRecord
from deltaset.engine import metadata
from deltaset.engine.context import Context
from deltaset.engine.views import current_view
from deltaset.errors import DeltasetError

log = logging.getLogger("deltaset")

METADATA_NAME = "dataset-content"


def store_summary(ctx: Context, record: VersionRecord) -> dict[str, Any]:
    """Summarize the version's files as they are now and keep that as its metadata
    ``dataset-content``; returns the summary."""
    summary = summarize(current_view(ctx, record).path_sizes())
    metadata.set_metadata(ctx, record, METADATA_NAME, summary)
    return summary


def keep_at_close(ctx: Context, final: VersionRecord, closed: Closed) -> None:
    """Keep the summary of the version just closed. A summary that cannot be stored is a
    warning, not a failure of the close."""
    try:
        summary = _closed_summary(ctx, final, closed)
        metadata.set_metadata(ctx, final, METADATA_NAME, summary)
    except DeltasetError as exc:
        log.warning("The content summary of version %s was not stored: %s", final.id, exc)


def _closed_summary(ctx: Context, final: VersionRecord, closed: Closed) -> dict[str, Any]:
    view, base, files, removed = closed
    if len(final.parents) == 1:
        before = _kept_summary(ctx, final.parents[0])
        found = None if before is None else summarize_change(before, base, files, removed, view)
        if found is not None:
            return found
    return summarize(view.path_sizes())


def _kept_summary(ctx: Context, version_id: str) -> dict[str, Any] | None:
    """The summary the catalog keeps of ``version_id``, if it holds one that reads."""
    found = ctx.catalog.get_metadata(version_id, METADATA_NAME)
    if found is None or found[0] != "json":
        return None
    try:
        value = metadata.decode(*found)
    except DeltasetError:
        return None
    return value if isinstance(value, dict) else None
