"""The one JSON form of a dataset version, printed by every command that prints a version.

Its contract is ``schema.json`` beside this module (``$defs/version``), described in
docs/json.md; each command's whole output has its own definition there too.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from deltaset.core.records import VersionRecord

SCHEMA_FILE = "schema.json"


def version_doc(record: VersionRecord) -> dict[str, Any]:
    """``record`` as scripts see it. ``files``, ``bytes`` and ``changes`` are known once the
    version is final (null for a draft: ``show`` counts a draft's files itself)."""
    stats = record.stats
    final = record.state.is_final
    return {
        "id": record.id,
        "project": record.project,
        "name": record.name,
        "version": record.version,
        "state": str(record.state),
        "parents": list(record.parents),
        "tags": list(record.tags),
        "description": record.description,
        "created": record.created,
        "user": record.user,
        "storage": record.storage,
        "files": stats.file_count if final else None,
        "bytes": stats.total_size if final else None,
        "stored_bytes": stats.stored_bytes,
        "changes": (
            {"added": stats.added, "modified": stats.modified, "removed": stats.removed}
            if final
            else None
        ),
    }


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of every command's ``--json`` output (its ``$defs``)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    found: dict[str, Any] = json.loads(text)
    return found
