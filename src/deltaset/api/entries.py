"""ClearML's ``FileEntry`` and ``LinkEntry``: one file of a version, stored or external."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from deltaset.core.manifest import Entry


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file whose bytes the version's storage holds (or will, for a draft's pending file).

    ``hash`` is the content id; ``parent_dataset_id`` the version that brought this content
    in (this one, or an ancestor); ``local_path`` the local file a draft's file was added from,
    until it is uploaded; ``artifact_name`` is always None (bytes live in shared packs, not in
    per-version chunks). ``link`` is set only on the entries of :attr:`Dataset.file_entries`
    that are external files (see :class:`LinkEntry`)."""

    relative_path: str
    size: int
    hash: str
    link: str = ""
    parent_dataset_id: str | None = None
    local_path: str | None = None
    artifact_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """ClearML's form: ``local_path`` only when there is one."""
        state = asdict(self)
        del state["link"]
        if not self.local_path:
            del state["local_path"]
        return state


@dataclass(frozen=True, slots=True)
class LinkEntry:
    """An external file: read from ``link`` (its URL), never copied into storage; ``hash`` is
    the id deltaset gives its content (from its URL and the etag it had when added)."""

    link: str
    relative_path: str
    parent_dataset_id: str | None
    size: int
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_entry(
    path: str, entry: Entry, origins: Mapping[str, str], pending: Mapping[str, str]
) -> FileEntry:
    return FileEntry(
        path, entry.size, entry.blob_id, entry.link, origins.get(path), pending.get(path)
    )


def link_entry(path: str, entry: Entry, origins: Mapping[str, str]) -> LinkEntry:
    return LinkEntry(entry.link, path, origins.get(path), entry.size, entry.blob_id)
