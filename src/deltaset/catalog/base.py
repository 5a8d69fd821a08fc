"""The Catalog protocol: version records, their manifests, and the staged changes of drafts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from deltaset.core.records import State, VersionRecord

# A staged change as a draft's view takes it: path, size, blob id, link, etag, removed.
StagedFile = tuple[str, int, str, str, str, int]


def staged_file(change: DraftChange) -> StagedFile:
    return change.path, change.size, change.blob_id, change.link, change.etag, change.removed


class DraftChange(NamedTuple):
    """A staged change of a draft: a file put at ``path`` (from the local file ``source``, or
    by reference to the external file ``link`` as it was at ``etag``) or a removal.

    A tuple, immutable and hashable as a frozen dataclass is, but made in a third of the time:
    one is made for every file an add stages and again for every staged row a close reads."""

    path: str
    removed: bool = False
    size: int = 0
    blob_id: str = ""
    source: str = ""
    uploaded: bool = False
    link: str = ""
    etag: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    """A search over version records; unset fields match everything."""

    project: str | None = None
    name: str | None = None
    partial_name: str | None = None
    version: str | None = None
    tags: Sequence[str] = ()
    ids: Sequence[str] = ()
    id_prefix: str | None = None  # versions whose id starts with this (lowercase hex digits)
    states: Sequence[State] = ()
    recursive_project: bool = True


@dataclass(frozen=True, slots=True)
class NewVersion:
    project: str
    name: str
    version: str | None
    parents: tuple[str, ...]
    tags: tuple[str, ...]
    description: str
    storage: str
    user: str


@dataclass(frozen=True, slots=True)
class Use:
    """One process's read of a version: who read it, from where, and under which run.

    A read made under several runs at once (an MLflow run inside ``DELTASET_RUN``) is one
    use per run, so each run finds its data; ``run_kind`` is empty outside any run."""

    version_id: str
    alias: str
    used: str  # when, ISO 8601 in UTC
    user: str
    host: str
    command: str
    git_commit: str = ""
    git_dirty: bool | None = None  # None: not in a git repository
    run_kind: str = ""  # deltaset, mlflow, wandb or clearml
    run_id: str = ""
    run_name: str = ""
    experiment: str = ""  # MLflow's experiment id, W&B's entity/project, ClearML's project

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Use:
        return cls(**{f.name: doc[f.name] for f in dataclasses.fields(cls) if f.name in doc})


class Catalog(Protocol):
    def create_version(self, new: NewVersion) -> VersionRecord:
        """Insert a draft; allocates the next version number atomically when none is given."""
        ...

    def get(self, version_id: str) -> VersionRecord: ...

    def search(self, query: Query) -> list[VersionRecord]: ...

    def storages(self) -> list[str]:
        """Every storage a version lives in, each once, in order (not every record read)."""
        ...

    def children(self, version_id: str) -> list[VersionRecord]: ...

    def update(self, record: VersionRecord) -> None: ...

    def update_storage(self, version_id: str, storage: str) -> None: ...

    def edit_tags(
        self, version_id: str, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """Add and remove tags in one transaction (no edit made meanwhile is lost); returns
        the version's tags."""
        ...

    def rename_dataset(self, project: str, name: str, new_project: str, new_name: str) -> int:
        """Give every version of ``project/name`` a new project and name, all or none;
        returns how many versions it moved. A version number the target already has is a
        StateError."""
        ...

    def finalize(self, record: VersionRecord, manifest: bytes) -> None:
        """Store the manifest, mark the record final and drop the draft's staged changes."""
        ...

    def import_final(self, record: VersionRecord, manifest: bytes) -> bool:
        """Add a final version read back from storage; False when it is already known."""
        ...

    def manifest(self, version_id: str) -> bytes | None: ...

    def delete(self, version_id: str) -> None: ...

    def stage(self, version_id: str, changes: Iterable[DraftChange]) -> None:
        """Record staged changes, replacing any earlier change of the same path.

        ``changes`` may be a long lazy stream: all of it is staged, or none of it when it
        raises."""
        ...

    def unstage(self, version_id: str, paths: Iterable[str]) -> None: ...

    def staged(self, version_id: str) -> Iterator[DraftChange]:
        """The staged changes of a draft in path order, streamed."""
        ...

    def staged_files(self, version_id: str) -> Iterator[StagedFile]:
        """What a draft's view takes of :meth:`staged`, in the same order: no local source."""
        ...

    def staged_sources(self, version_id: str, blob_ids: Iterable[str]) -> dict[str, str]:
        """The local file each of ``blob_ids`` was staged from, where one was."""
        ...

    def put_chunk_lists(self, lists: Mapping[str, Sequence[str]]) -> None:
        """Remember the chunks of large files by content id."""
        ...

    def chunk_lists(self, blob_ids: Iterable[str]) -> dict[str, tuple[str, ...]]: ...

    def mark_uploaded(self, version_id: str) -> None:
        """Record that every file staged in the draft is now in storage (after an upload).

        Only ``is_dirty`` reads this flag; closing checks storage itself."""
        ...

    def set_metadata(self, version_id: str, name: str, kind: str, data: bytes) -> None:
        """Keep ``data`` (encoded as ``kind``: json or parquet) as the version's ``name``."""
        ...

    def get_metadata(self, version_id: str, name: str) -> tuple[str, bytes] | None:
        """The kind and bytes of the version's metadata ``name``, or None."""
        ...

    def metadata_names(self, version_id: str) -> list[str]: ...

    def add_uses(self, uses: Sequence[Use]) -> None:
        """Record reads of versions, all at once."""
        ...

    def uses(self, version_id: str | None = None, run: str | None = None) -> list[Use]:
        """The uses of a version, or those made under a run (its id or name), oldest first."""
        ...

    def close(self) -> None: ...
