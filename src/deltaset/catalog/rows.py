"""How version records and staged changes become database rows, for both SQL catalogs (the
embedded one on sqlite3, the server's on SQLAlchemy), and the rules they share."""

from __future__ import annotations

import heapq
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from deltaset.catalog.base import DraftChange, NewVersion, Use
from deltaset.core import names
from deltaset.core.records import State, Stats, VersionRecord
from deltaset.errors import StateError

T = TypeVar("T")

# The columns of the versions table, in the order the embedded catalog selects them.
VERSION_COLUMNS = (
    "id",
    "project",
    "name",
    "version",
    "state",
    "parents",
    "tags",
    "description",
    "created",
    "user",
    "storage",
    "stats",
)

# The columns of the uses table, the fields of a Use in their order.
USE_COLUMNS = tuple(f.name for f in fields(Use))


def use_row(use: Use) -> tuple[Any, ...]:
    dirty = None if use.git_dirty is None else int(use.git_dirty)
    return tuple(dirty if name == "git_dirty" else getattr(use, name) for name in USE_COLUMNS)


def use_of(row: Mapping[str, Any]) -> Use:
    dirty = row["git_dirty"]
    return Use.from_dict({**row, "git_dirty": None if dirty is None else bool(dirty)})


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_record(new: NewVersion, number: str) -> VersionRecord:
    """The draft record of ``new``, numbered ``number``, with a fresh id."""
    return VersionRecord(
        id=uuid.uuid4().hex,
        project=new.project,
        name=new.name,
        version=number,
        state=State.DRAFT,
        parents=new.parents,
        tags=new.tags,
        description=new.description,
        created=now_iso(),
        user=new.user,
        storage=new.storage,
    )


def stats_json(stats: Stats) -> str:
    return json.dumps(asdict(stats))


def record_columns(record: VersionRecord) -> dict[str, Any]:
    """The versions-table row of ``record``, by column name."""
    return {
        "id": record.id,
        "project": record.project,
        "name": record.name,
        "version": record.version,
        "state": str(record.state),
        "parents": json.dumps(list(record.parents)),
        "tags": json.dumps(list(record.tags)),
        "description": record.description,
        "created": record.created,
        "user": record.user,
        "storage": record.storage,
        "stats": stats_json(record.stats),
    }


def record_of(row: Mapping[Any, Any]) -> VersionRecord:
    """The record a versions-table row (by column name) holds."""
    return VersionRecord(
        id=row["id"],
        project=row["project"],
        name=row["name"],
        version=row["version"],
        state=State(row["state"]),
        parents=tuple(json.loads(row["parents"])),
        tags=tuple(json.loads(row["tags"])),
        description=row["description"],
        created=row["created"],
        user=row["user"],
        storage=row["storage"],
        stats=Stats(**json.loads(row["stats"])),
    )


def change_columns(change: DraftChange) -> dict[str, Any]:
    """A staged change by column name (the field names of DraftChange), its path and source
    as text (see :mod:`deltaset.core.names`): how catalogs and the server's API hold it."""
    # From the tuple, not by asdict, which deep-copies each value: a change is made into
    # columns once a staged file on each side of a server, and asdict took a second of CPU
    # for 100,000 files each time.
    columns = dict(zip(_CHANGE_FIELDS, change, strict=True))
    columns["path"] = names.to_text(change.path)
    columns["source"] = names.to_text(change.source)
    return columns


def change_of(columns: Mapping[str, Any]) -> DraftChange:
    """The staged change :func:`change_columns` made ``columns`` of (a column left out takes
    its default; a column DraftChange lacks is ignored)."""
    get = columns.get
    return DraftChange(
        names.from_text(columns["path"]),
        bool(get("removed", False)),
        get("size", 0),
        get("blob_id", ""),
        names.from_text(get("source", "")),
        bool(get("uploaded", False)),
        get("link", ""),
        get("etag", ""),
    )


_CHANGE_FIELDS = DraftChange._fields


def sources_of(found: Mapping[str, str]) -> dict[str, str]:
    """Local source paths by blob id, read back from their text form."""
    return {blob_id: names.from_text(source) for blob_id, source in found.items()}


def in_path_order(
    escaped: Iterable[T], every: Iterable[T], key: Callable[[T], str] | None = None
) -> Iterator[T]:
    """Staged changes in path order, from ``every`` change as a database orders their text
    and the few whose path that text holds in the second form of :mod:`deltaset.core.names`
    (``escaped``, any order): those sort by their text, not their name, so they are sorted
    here and merged into the rest. ``key``: a change's path (its name, not its text)."""
    key = key or _path
    first = sorted(escaped, key=key)
    if not first:  # almost always: nothing to merge
        return iter(every)
    rest = (change for change in every if not names.is_escaped(key(change)))
    return heapq.merge(first, rest, key=key)


def _path(change: Any) -> str:
    return str(change.path)


def edited_tags(tags: Sequence[str], add: Sequence[str], remove: Sequence[str]) -> tuple[str, ...]:
    """``tags`` with ``add`` appended (once each) and ``remove`` taken out, in order."""
    kept = [t for t in dict.fromkeys([*tags, *add]) if t not in set(remove)]
    return tuple(kept)


def number_taken(project: str, name: str, number: str) -> StateError:
    return StateError(
        f"Version {number} of {project}/{name} already exists; choose another --version."
    )


def renaming_clash(project: str, name: str) -> StateError:
    return StateError(
        f"The dataset {project}/{name} already has versions with the same numbers; "
        "choose another name or delete those versions first."
    )
