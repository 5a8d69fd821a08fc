"""Bringing datasets over from ClearML Data (``deltaset import-clearml`` on the command line)::

import deltaset
report = deltaset.import_clearml("s3://team-bucket/clearml")
"""

from __future__ import annotations

from deltaset.engine.clearml.importer import ImportReport, Notify, Outcome
from deltaset.engine.clearml.importer import import_clearml as _import
from deltaset.engine.context import default_context

__all__ = ["ImportReport", "Outcome", "import_clearml"]


def import_clearml(
    source: str,
    project: str | None = None,
    storage: str | None = None,
    max_workers: int | None = None,
    notify: Notify | None = None,
) -> ImportReport:
    """Import every ClearML dataset version under ``source``: the output URI ClearML uploaded
    to (a folder, ``file://``, ``s3://``, ``gs://`` or ``azure://``), or an offline session
    folder or zip. Parents come first and keep the lineage; ``project`` puts every dataset in
    that project instead of its own; ``storage`` is where the bytes go (default: where the
    parent's are, else the configured storage). Every file is checked against ClearML's
    SHA-256 and only bytes the storage lacks are stored. A version whose chunks are missing or
    damaged is skipped with its descendants and named in the report (``notify`` is told of
    each version as it is done). Running it again finishes an interrupted import and changes
    nothing after a complete one."""
    return _import(default_context(), source, project, storage, max_workers, notify)
