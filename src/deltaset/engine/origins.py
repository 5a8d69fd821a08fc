"""The version a writable copy came from, kept in a marker file inside the copy.

A folder made by ``get --copy`` (``get_mutable_local_copy``) holds ``.deltaset/origin.json``:
the id of the version copied, and the selection when only part of it was. A sync of that folder
then diffs it against that version, not against whatever is newest, so changes others made
since are never undone without a word (see :mod:`deltaset.engine.sync`).

The marker lives in the folder rather than in the home (keyed by device and inode, say) so that
it travels with the folder when it is copied, moved or reached from another machine over a
network share, and so that a reused inode can never lend a new folder an old origin. Walks of
folders skip every ``.deltaset`` folder (see :mod:`deltaset.engine.scan`), as git skips ``.git``:
the marker is never added as data.

A sync that makes a version equal to the folder (not a rebase, nor a copy of a numbered part)
appends that version to ``synced_into``; once it is final, it is the folder's origin.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from deltaset.core.paths import OWN_FOLDER
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.errors import NotFoundError
from deltaset.storage.errors import map_os_errors

MARKER = "origin.json"
FORMAT = 1
KEEP_SYNCED = 8  # the drafts a folder was last synced into that are remembered


@dataclass(frozen=True)
class Origin:
    """What a writable copy was made from, as its marker says."""

    version_id: str
    label: str  # "project/name version", for messages once the version is gone
    part: int | None = None
    num_parts: int | None = None
    files: tuple[str, ...] = ()
    synced_into: tuple[str, ...] = field(default=())

    @property
    def partial(self) -> bool:
        return self.num_parts is not None or bool(self.files)

    def describe_part(self) -> str:
        """How the copy was cut, for messages: ``part 0 of 4``, ``files images/*``."""
        cuts = [f"part {self.part} of {self.num_parts}"] if self.num_parts is not None else []
        cuts += [f"files {' '.join(self.files)}"] if self.files else []
        return ", ".join(cuts)


def label(record: VersionRecord) -> str:
    return f"{record.project}/{record.name} {record.version}"


def marker_path(folder: Path) -> Path:
    return folder / OWN_FOLDER / MARKER


def write(
    folder: Path,
    record: VersionRecord,
    part: int | None,
    num_parts: int | None,
    files: Sequence[str] | None,
) -> None:
    """Mark ``folder`` as a copy of ``record`` (all of it, or the part selected)."""
    _save(folder, Origin(record.id, label(record), part, num_parts, tuple(files or ())))


def read(folder: Path) -> Origin | None:
    """The origin ``folder``'s marker names; None without a marker or with one that is not
    deltaset's (a damaged marker is no origin: the folder is synced as one without)."""
    try:
        doc = json.loads(marker_path(folder).read_bytes())
        return Origin(
            version_id=str(doc["version_id"]),
            label=str(doc.get("label", doc["version_id"])),
            part=_optional_int(doc.get("part")),
            num_parts=_optional_int(doc.get("num_parts")),
            files=tuple(str(f) for f in doc.get("files") or ()),
            synced_into=tuple(str(i) for i in doc.get("synced_into") or ()),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def synced_into(folder: Path, origin: Origin, draft: VersionRecord) -> None:
    """Note that ``draft`` was made equal to the folder: once final, it is its origin."""
    if draft.id not in origin.synced_into:
        kept = (*origin.synced_into, draft.id)[-KEEP_SYNCED:]
        _save(folder, replace(origin, synced_into=kept))


def current(ctx: Context, origin: Origin) -> Origin:
    """``origin`` moved on to the newest final version the folder was synced into."""
    for version_id in reversed(origin.synced_into):
        try:
            record = ctx.catalog.get(version_id)
        except NotFoundError:
            continue
        if record.state.is_final:
            return replace(origin, version_id=record.id, label=label(record), synced_into=())
    return origin


def _save(folder: Path, origin: Origin) -> None:
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version_id": origin.version_id,
        "label": origin.label,
        "part": origin.part,
        "num_parts": origin.num_parts,
        "files": list(origin.files),
        "synced_into": list(origin.synced_into),
    }
    target = marker_path(folder)
    temporary = target.with_name(f"{MARKER}.{uuid.uuid4().hex}.tmp")
    with map_os_errors(f"write {target}"):
        target.parent.mkdir(exist_ok=True)
        temporary.write_text(json.dumps(doc, indent=1))
        os.replace(temporary, target)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
