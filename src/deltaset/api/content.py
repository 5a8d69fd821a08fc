"""The content summary stored with a version by ``upload(preview=True)`` and ``finalize()``."""

from __future__ import annotations

import logging
from typing import Any

from deltaset.core.content import summarize
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
    view = current_view(ctx, record)
    summary = summarize(view.path_sizes())
    metadata.set_metadata(ctx, record, METADATA_NAME, summary)
    return summary


def keep_summary(ctx: Context, record: VersionRecord) -> None:
    """:func:`store_summary` after an upload or a close that succeeded: a summary that cannot be
    stored is a warning, not a failure of the work it describes."""
    try:
        store_summary(ctx, record)
    except DeltasetError as exc:
        log.warning("The content summary of version %s was not stored: %s", record.id, exc)
