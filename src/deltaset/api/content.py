"""The content summary stored with a version by ``upload(preview=True)``; ``finalize()`` keeps
one at the close (see :mod:`deltaset.engine.content`)."""

from __future__ import annotations

import logging

from deltaset.core.records import VersionRecord
from deltaset.engine.content import METADATA_NAME, store_summary
from deltaset.engine.context import Context
from deltaset.errors import DeltasetError

log = logging.getLogger("deltaset")

__all__ = ["METADATA_NAME", "keep_summary", "store_summary"]


def keep_summary(ctx: Context, record: VersionRecord) -> None:
    """:func:`store_summary` after an upload that succeeded: a summary that cannot be stored is
    a warning, not a failure of the work it describes."""
    try:
        store_summary(ctx, record)
    except DeltasetError as exc:
        log.warning("The content summary of version %s was not stored: %s", record.id, exc)
