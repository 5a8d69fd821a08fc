"""``deltaset.Dataset``: ClearML Data's ``clearml.Dataset`` surface over deltaset's engine.

Each method validates its arguments, makes one engine call and returns ClearML's result shape.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from deltaset import config
from deltaset.api import content, entries
from deltaset.api.entries import FileEntry as FileEntry  # list_files imports it from here
from deltaset.api.entries import LinkEntry
from deltaset.api.logger import Logger
from deltaset.core.manifest import Manifest
from deltaset.core.records import State, VersionRecord
from deltaset.engine import (
    add,
    compare,
    create,
    delete,
    external,
    finalize,
    lineage,
    pull,
    query,
    reading,
    records,
    remove,
    squash,
    sync,
    uses,
    verify,
)
from deltaset.engine import entries as origins
from deltaset.engine import ids as version_ids
from deltaset.engine import metadata as metadata_op
from deltaset.engine import upload as upload_op
from deltaset.engine.context import Context, default_context
from deltaset.engine.scan import ReadPolicy
from deltaset.engine.views import find
from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError, StateError
from deltaset.packs.codec import zstd_level
from deltaset.progress import NoProgress

log = logging.getLogger("deltaset")

# The status of a ClearML dataset Task in each state: a draft's Task is started, a closed one
# completed, a published one published.
CLEARML_STATUS = {
    State.DRAFT: "in_progress",
    State.FINAL: "completed",
    State.PUBLISHED: "published",
}


def _tags(tags: str | Sequence[str] | None) -> tuple[str, ...]:
    if tags is None:
        return ()
    return (tags,) if isinstance(tags, str) else tuple(tags)


def _ids(items: Sequence[str | Dataset] | str | Dataset | None) -> list[str]:
    if items is None:
        return []
    if isinstance(items, (str, Dataset)):
        items = [items]
    return [i.id if isinstance(i, Dataset) else i for i in items]


class Dataset:
    """One dataset version. Obtain it with :meth:`create` or :meth:`get`."""

    def __init__(self, record: VersionRecord, context: Context | None = None) -> None:
        self._record = record
        self._ctx = context or default_context()
        self._alias: str | None = None  # how Dataset.get's caller names it in its uses
        self._extra_changes: dict[str, int] = {}  # update_changed_files(), as ClearML keeps them
        self._read_manifest: tuple[str, Manifest] | None = None  # kept for open()

    def __repr__(self) -> str:
        r = self._record
        return f"<Dataset {r.project}/{r.name} {r.version} {r.state} id={r.id}>"

    # -- identity ---------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The version's id, unique in its catalog."""
        return self._record.id

    @property
    def name(self) -> str:
        """The dataset's name (shared by all its versions)."""
        return self._record.name

    @property
    def project(self) -> str:
        """The dataset's project, such as ``vision`` or ``vision/pets``."""
        return self._record.project

    @property
    def version(self) -> str:
        """The version string, such as ``1.0.2`` (see :mod:`deltaset.core.version`)."""
        return self._record.version

    @version.setter
    def version(self, version: str) -> None:
        """Renumber a draft, as ClearML's setter does; a final version's number never
        changes (``StateError``)."""
        self._record = records.set_version(self._ctx, self._refresh(), version)

    @property
    def tags(self) -> list[str]:
        """The version's user tags."""
        return list(self._record.tags)

    @tags.setter
    def tags(self, values: Sequence[str] | None) -> None:
        """Replace the tags, as ClearML's setter does (a final version's too)."""
        wanted = list(dict.fromkeys(_tags(values)))
        current = self._refresh().tags
        self._record = records.edit_tags(
            self._ctx,
            self._record,
            add=[t for t in wanted if t not in current],
            remove=[t for t in current if t not in wanted],
        )

    @property
    def description(self) -> str:
        """The version's free-text description."""
        return self._record.description

    @property
    def parents(self) -> list[str]:
        """The ids of the direct parents, in merge order (a later one wins on a path)."""
        return list(self._record.parents)

    @property
    def record(self) -> VersionRecord:
        """The catalog record: state, storage, statistics, creation time and user."""
        return self._record

    @property
    def file_entries(self) -> list[FileEntry]:
        """Every file of the version (path, size, content hash, link of an external file), each
        with the id of the version that brought its content in and, for a draft's file not
        uploaded yet, its ``local_path``."""
        record = self._refresh()
        found = origins.origins(self._ctx, record)
        pending = origins.pending_sources(self._ctx, record)
        return [entries.file_entry(p, e, found, pending) for p, e in self._view().items()]

    def iter_file_entries(self) -> Iterator[FileEntry]:
        """The files of the version in path order, streamed: for versions of millions of files.
        Their ``parent_dataset_id`` and ``local_path`` are None: :attr:`file_entries` has
        them."""
        return (FileEntry(p, e.size, e.blob_id, e.link) for p, e in self._view().items())

    @property
    def file_entries_dict(self) -> dict[str, FileEntry]:
        """``{relative path: FileEntry}`` of the files stored in the version's storage (not the
        external ones: see :attr:`link_entries_dict`), each with the id of the version that
        brought its content in and, for a draft's file not uploaded yet, its ``local_path``."""
        record = self._refresh()
        found = origins.origins(self._ctx, record)
        pending = origins.pending_sources(self._ctx, record)
        return {
            p: entries.file_entry(p, e, found, pending)
            for p, e in self._view().items()
            if not e.link
        }

    @property
    def link_entries(self) -> list[LinkEntry]:
        """The version's external files (added with :meth:`add_external_files`)."""
        return list(self.link_entries_dict.values())

    @property
    def link_entries_dict(self) -> dict[str, LinkEntry]:
        """``{relative path: LinkEntry}`` of the version's external files."""
        found = origins.origins(self._ctx, self._refresh())
        return {p: entries.link_entry(p, e, found) for p, e in self._view().items() if e.link}

    def _view(self) -> Any:
        from deltaset.engine.views import current_view

        return current_view(self._ctx, self._refresh())

    def _refresh(self) -> VersionRecord:
        self._record = self._ctx.catalog.get(self._record.id)
        return self._record

    # -- class methods ----------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        dataset_name: str | None = None,
        dataset_project: str | None = None,
        dataset_tags: Sequence[str] | None = None,
        parent_datasets: Sequence[str | Dataset] | None = None,
        use_current_task: bool = False,
        dataset_version: str | None = None,
        output_uri: str | None = None,
        description: str | None = None,
    ) -> Dataset:
        """Create a draft version; parents merge in the order given. Its files go to
        ``output_uri``, else to the storage of the first parent (unlike ClearML, which uses the
        default storage: a child stays beside its parents), else to the configured storage;
        :meth:`get_default_storage` says which."""
        ctx = default_context()
        record = create.create(
            ctx,
            name=dataset_name,
            project=dataset_project,
            parents=version_ids.resolve_all(ctx.catalog, _ids(parent_datasets)),
            tags=_tags(dataset_tags),
            version=dataset_version,
            storage=output_uri,
            description=description or "",
        )
        return cls(record, ctx)

    @classmethod
    def get(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        dataset_tags: Sequence[str] | None = None,
        only_completed: bool = False,
        only_published: bool = False,
        include_archived: bool = False,
        auto_create: bool = False,
        writable_copy: bool = False,
        dataset_version: str | None = None,
        alias: str | None = None,
        overridable: bool = False,
        shallow_search: bool = False,
        silence_alias_warnings: bool = False,
        **kwargs: Any,
    ) -> Dataset:
        """A version by id (or a unique start of one), or the highest version of project/name
        (optionally version, tags)."""
        unknown = [k for k in kwargs if not k.startswith("_")]
        if unknown:
            raise InvalidInputError(f"Dataset.get() got unknown arguments: {', '.join(unknown)}.")
        if dataset_id and (dataset_project or dataset_name):
            raise InvalidInputError("Give either dataset_id or dataset_project/dataset_name.")
        ctx = default_context()
        try:
            record = (
                ctx.catalog.get(version_ids.resolve(ctx.catalog, dataset_id))
                if dataset_id
                else find(
                    ctx,
                    dataset_project,
                    dataset_name,
                    dataset_version,
                    _tags(dataset_tags),
                    only_completed,
                    only_published,
                )
            )
        except NotFoundError:
            if not auto_create or dataset_id:
                raise
            return cls.create(dataset_name, dataset_project, dataset_tags)
        if dataset_id and only_published and record.state is not State.PUBLISHED:
            raise NotFoundError(f"The dataset version {record.id} is not published.")
        if dataset_id and only_completed and not record.state.is_final:
            raise NotFoundError(f"The dataset version {record.id} is not completed.")
        if writable_copy:
            return cls.create(record.name, record.project, record.tags, [record.id])
        found = cls(record, ctx)
        found._alias = alias
        return found

    @classmethod
    def list_datasets(
        cls,
        dataset_project: str | None = None,
        partial_name: str | None = None,
        tags: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        only_completed: bool = True,
        recursive_project_search: bool = True,
        include_archived: bool = True,
        clearml_status: bool = False,
    ) -> list[dict[str, Any]]:
        """Matching versions as ClearML dicts: name, created (a ``datetime``), project, id,
        tags, version, and state (draft, final or published). ``status`` is the state too, or
        with ``clearml_status`` (beyond ClearML) the status ClearML gives a version in that
        state (``in_progress``, ``completed``, ``published``: see :data:`CLEARML_STATUS`)."""
        found = query.search(
            default_context(),
            project=dataset_project,
            partial_name=partial_name,
            tags=_tags(tags),
            ids=list(ids or []),
            only_completed=only_completed,
            recursive_project_search=recursive_project_search,
        )
        return [
            {
                "name": r.name,
                "created": datetime.fromisoformat(r.created),
                "project": r.project,
                "id": r.id,
                "tags": list(r.tags),
                "version": r.version,
                "state": str(r.state),
                "status": CLEARML_STATUS[r.state] if clearml_status else str(r.state),
            }
            for r in found
        ]

    @classmethod
    def delete(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        force: bool = False,
        dataset_version: str | None = None,
        entire_dataset: bool = False,
        shallow_search: bool = False,
        delete_files: bool = True,
        delete_external_files: bool = False,
        raise_on_error: bool = False,
    ) -> list[str]:
        """Delete a version (or, with ``entire_dataset`` and ``force``, every version); returns
        the ids deleted (ClearML returns nothing). As in ClearML, a version or dataset that does
        not exist is a warning and nothing is deleted; ``raise_on_error`` (beyond ClearML)
        raises ``NotFoundError`` instead."""
        ctx = default_context()
        deleted = []
        try:
            chosen = _to_delete(
                ctx,
                dataset_id,
                dataset_project,
                dataset_name,
                dataset_version,
                entire_dataset,
                force,
            )
        except NotFoundError as exc:
            if raise_on_error:
                raise
            log.warning("Nothing deleted: %s", exc)
            return []
        for record in chosen:
            delete.delete(ctx, record, force=force, delete_files=delete_files)
            deleted.append(record.id)
        return deleted

    @classmethod
    def rename(cls, new_dataset_name: str, dataset_project: str, dataset_name: str) -> None:
        """Give every version of a dataset a new name."""
        ctx = default_context()
        records.rename_dataset(
            ctx, dataset_project, dataset_name, dataset_project, new_dataset_name
        )

    @classmethod
    def move_to_project(
        cls, new_dataset_project: str, dataset_project: str, dataset_name: str
    ) -> None:
        """Move every version of a dataset to another project."""
        ctx = default_context()
        records.rename_dataset(
            ctx, dataset_project, dataset_name, new_dataset_project, dataset_name
        )

    @classmethod
    def squash(
        cls,
        dataset_name: str,
        dataset_ids: Sequence[str | Dataset] | None = None,
        dataset_project_name_pairs: Sequence[tuple[str, str]] | None = None,
        output_url: str | None = None,
        close_squashed_dataset: bool = True,
        dataset_project: str | None = None,
    ) -> Dataset:
        """One new root version with the merged content of the given versions (by id, or the
        highest version of each (project, name) pair), later ones overriding earlier ones and
        their removals applied. In the same storage, no byte is stored again."""
        ctx = default_context()
        sources = [
            ctx.catalog.get(i) for i in version_ids.resolve_all(ctx.catalog, _ids(dataset_ids))
        ]
        sources += [find(ctx, p, n) for p, n in dataset_project_name_pairs or []]
        record = squash.squash(
            ctx,
            dataset_name,
            sources,
            project=dataset_project,
            storage=output_url,
            close=close_squashed_dataset,
        )
        return cls(record, ctx)

    @classmethod
    def compare(
        cls, source_dataset_id: str | Dataset, target_dataset_id: str | Dataset
    ) -> dict[str, Any]:
        """What the target version adds, modifies and removes relative to the source:
        ``{"source", "target", "added", "modified", "removed"}``, each change a dict with its
        ``path`` and its ``size`` in the target and ``source_size`` in the source."""
        ctx = default_context()
        wanted = version_ids.resolve_all(ctx.catalog, _ids([source_dataset_id, target_dataset_id]))
        source, target = (ctx.catalog.get(i) for i in wanted)
        return compare.compare(ctx, source, target).to_dict()

    # -- describing a version ---------------------------------------------------------------
    def add_tags(self, tags: str | Sequence[str]) -> None:
        """Add tags to this version (edits made meanwhile by others are kept)."""
        self._record = records.edit_tags(self._ctx, self._refresh(), add=_tags(tags))

    def remove_tags(self, tags: str | Sequence[str]) -> None:
        """Remove tags from this version (edits made meanwhile by others are kept)."""
        self._record = records.edit_tags(self._ctx, self._refresh(), remove=_tags(tags))

    def set_description(self, description: str) -> None:
        """Replace this version's description (a final version's too)."""
        self._record = records.set_description(self._ctx, self._refresh(), description)

    def set_metadata(
        self, metadata: Any, metadata_name: str = "metadata", ui_visible: bool = True
    ) -> None:
        """Attach a named value to this version: anything JSON holds (numpy arrays and numbers
        too, read back as lists and numbers), or a pandas DataFrame (kept as Parquet).
        ``ui_visible`` is accepted for compatibility."""
        del ui_visible
        metadata_op.set_metadata(self._ctx, self._refresh(), metadata_name, metadata)

    def get_metadata(self, metadata_name: str = "metadata") -> Any:
        """The value attached under ``metadata_name`` (a DataFrame for a table, a list for a
        numpy array); None, with a warning, for a name the version has not (as ClearML)."""
        try:
            return metadata_op.get_metadata(self._ctx, self._refresh(), metadata_name)
        except NotFoundError as exc:
            log.warning("%s", exc)
            return None

    def list_metadata(self) -> list[str]:
        """The names of this version's metadata."""
        return self._ctx.catalog.metadata_names(self.id)

    def get_logger(self) -> Logger:
        """ClearML's ``Logger`` for this version: ``report_table``, ``report_image``,
        ``report_media``, ``report_histogram``, ``report_scalar`` and ``report_text`` keep
        their reports as the version's metadata (``report.*`` names; a final version's too)."""
        return Logger(self._ctx, self._refresh)

    def get_content_summary(self) -> dict[str, Any]:
        """What :meth:`upload` (with ``preview``) or :meth:`finalize` last stored: ``files``,
        ``bytes``, ``by_extension`` and ``by_folder`` (``{key: {"files", "bytes"}}``, largest
        first) and a ``sample`` of paths; also the metadata ``dataset-content``. Beyond
        ClearML, which shows this as its "Dataset Content" table and file-type histogram."""
        found: dict[str, Any] = metadata_op.get_metadata(
            self._ctx, self._refresh(), content.METADATA_NAME
        )
        return found

    @property
    def changed_files(self) -> dict[str, int]:
        """ClearML's counts of the changes relative to the parents (``files added``,
        ``files modified``, ``files removed``), plus what :meth:`update_changed_files` added."""
        changes = self._changes(None)
        counts = {
            "files added": len(changes.added),
            "files modified": len(changes.modified),
            "files removed": len(changes.removed),
        }
        return {key: count + self._extra_changes.get(key, 0) for key, count in counts.items()}

    def update_changed_files(
        self,
        num_files_added: int | None = None,
        num_files_modified: int | None = None,
        num_files_removed: int | None = None,
    ) -> None:
        """Add to the counts :attr:`changed_files` reports, as ClearML does. deltaset counts
        changes from the content itself, so only code that reports changes made elsewhere
        needs this; the counts kept with the version stay the exact ones."""
        for key, number in (
            ("files added", num_files_added),
            ("files modified", num_files_modified),
            ("files removed", num_files_removed),
        ):
            self._extra_changes[key] = self._extra_changes.get(key, 0) + (number or 0)

    def publish(self, raise_on_error: bool = True) -> bool:
        """Mark this final version published; False (or an error) for a draft."""
        try:
            self._record = records.publish(self._ctx, self._refresh())
        except StateError:
            if raise_on_error:
                raise
            return False
        return True

    def is_published(self) -> bool:
        """Whether the version is published."""
        return self._refresh().state is State.PUBLISHED

    # -- changing a draft -------------------------------------------------------------------
    def add_files(
        self,
        path: str | Sequence[str],
        wildcard: str | Sequence[str] | None = None,
        local_base_folder: str | None = None,
        dataset_path: str | None = None,
        recursive: bool = True,
        verbose: bool = False,
        max_workers: int | None = None,
        ignore_failed_read: bool = False,
        copy_unsafe_links: bool = False,
    ) -> int:
        """Add a file, folder or wildcard (or a list of them, all or nothing); returns how many
        new paths were added.

        A file that cannot be read, vanishes or keeps changing while it is read fails the add,
        or with ``ignore_failed_read`` is skipped with a warning naming it. Symbolic links to
        files are followed, but one leading outside the folder added is skipped with a warning
        unless ``copy_unsafe_links``; links to folders are never descended.
        """
        policy = ReadPolicy(ignore_failed_read, copy_unsafe_links)
        with _reporting(self._ctx, True, verbose):
            added, _ = add.add_files(
                self._ctx,
                self._refresh(),
                [str(p) for p in path] if isinstance(path, list | tuple) else str(path),
                wildcard,
                local_base_folder,
                dataset_path,
                recursive,
                max_workers,
                policy,
            )
        return added

    def add_external_files(
        self,
        source_url: str | Sequence[str],
        wildcard: str | Sequence[str] | None = None,
        dataset_path: str | Sequence[str] | None = None,
        recursive: bool = True,
        verbose: bool = False,
        max_workers: int | None = None,
        read_hash: bool = False,
    ) -> int:
        """Add files by reference, without copying them: an object (``s3://``, ``gs://``,
        ``azure://``, ``http(s)://``, a local or network path), or every object below a folder
        URL. Their size and etag are recorded; a pull reads them from where they are and fails
        on one that changed since. Returns how many files were added or modified.

        ``dataset_path`` is one folder for every URL, or one per URL. ``read_hash`` is accepted
        for compatibility: the etag is always recorded, and is what change detection uses.
        """
        del read_hash
        with _reporting(self._ctx, True, verbose):
            return external.add_external_files(
                self._ctx,
                self._refresh(),
                [str(u) for u in source_url]
                if isinstance(source_url, list | tuple)
                else source_url,
                wildcard,
                dataset_path,
                recursive,
                max_workers,
            )

    def remove_files(
        self, dataset_path: str | None = None, recursive: bool = True, verbose: bool = False
    ) -> int:
        """Remove paths (folders or wildcards) from the draft; ``None`` removes everything. An
        external file's URL (or a wildcard over URLs, or a folder URL) removes what it names."""
        with _reporting(self._ctx, True, verbose):
            return remove.remove_files(self._ctx, self._refresh(), dataset_path, recursive)

    def sync_folder(
        self,
        local_path: str,
        dataset_path: str | None = None,
        verbose: bool = False,
        ignore_failed_read: bool = False,
        copy_unsafe_links: bool = False,
        rebase: bool = False,
    ) -> tuple[int, int, int]:
        """Mirror ``local_path``; returns (removed, added, modified). Files that cannot be read
        and symbolic links are treated as by :meth:`add_files`.

        Beyond ClearML, a folder made by :meth:`get_mutable_local_copy` remembers the version
        it was copied from: its changes since that version are applied to the draft, so what
        the draft's parents changed since (and what a partial copy left out) stays. When the
        parents hold changes made since that version (someone made a newer one), the sync is
        refused unless ``rebase``, which applies the folder's changes on top of them."""
        policy = ReadPolicy(ignore_failed_read, copy_unsafe_links)
        with _reporting(self._ctx, True, verbose):
            return sync.sync_folder(
                self._ctx, self._refresh(), str(local_path), dataset_path, None, policy, rebase
            )

    def upload(
        self,
        show_progress: bool = True,
        verbose: bool = False,
        output_url: str | None = None,
        compression: int | str | None = None,
        chunk_size: int | None = None,
        max_workers: int | None = None,
        retries: int = 3,
        preview: bool = True,
        upload_as_external_links: bool = False,
    ) -> bool | None:
        """Upload every file the version's storage lacks; safe to re-run. As in ClearML,
        returns True when no added file was waiting for upload, else None; with ``preview``,
        stores the version's content summary (see :meth:`get_content_summary`).

        ``compression``: blobs are stored with zstd where that saves space, at the level this
        selects (see :func:`deltaset.packs.codec.zstd_level`: ``None`` the fast default, a
        ``zipfile`` constant a level of similar speed, ``"zstd:N"`` level N); ``ZIP_STORED``
        (0) or ``"none"`` stores them as they are.
        ``chunk_size``: the target size of each stored pack in MB (default 32); ``-1`` or ``0``
        puts a whole upload in one pack.
        """
        if upload_as_external_links:
            raise InvalidInputError(
                "deltaset stores a version's files in its storage's packs; to keep files where "
                "they are and reference them, add them with add_external_files()."
            )
        options = _upload_options(output_url, compression, chunk_size, max_workers)
        pending = finalize.is_dirty(self._ctx, self._refresh())
        with _reporting(self._ctx, show_progress, verbose):
            self._record = upload_op.upload(self._ctx, self._record, options)
        if preview:
            content.keep_summary(self._ctx, self._record)
        return None if pending else True

    def finalize(
        self, verbose: bool = False, raise_on_error: bool = True, auto_upload: bool = False
    ) -> bool:
        """Close the version: from now on it never changes and can be pulled. Stores the
        version's content summary (see :meth:`get_content_summary`)."""
        try:
            with _reporting(self._ctx, True, verbose):
                upload = upload_op.UploadOptions() if auto_upload else None
                self._record = finalize.finalize(self._ctx, self._refresh(), upload)
        except DeltasetError:
            if raise_on_error:
                raise
            return False
        return True

    def close(
        self,
        show_progress: bool = True,
        verbose: bool = False,
        output_url: str | None = None,
        compression: int | str | None = None,
        chunk_size: int | None = None,
        max_workers: int | None = None,
    ) -> None:
        """:meth:`upload` with these arguments, then :meth:`finalize`, as ``deltaset close``
        does; the version's file list is worked out once for both."""
        options = _upload_options(output_url, compression, chunk_size, max_workers)
        with _reporting(self._ctx, show_progress, verbose):
            self._record = finalize.finalize(self._ctx, self._refresh(), options)

    # -- state ------------------------------------------------------------------------------
    def is_final(self) -> bool:
        """Whether the version is final (closed or published): it never changes, can be pulled
        and can be a parent."""
        return self._refresh().state.is_final

    def is_dirty(self) -> bool:
        """Whether a draft has added files still waiting for upload."""
        record = self._refresh()
        return not record.state.is_final and finalize.is_dirty(self._ctx, record)

    # -- reading ----------------------------------------------------------------------------
    def get_local_copy(
        self,
        use_soft_links: bool | None = None,
        part: int | None = None,
        num_parts: int | None = None,
        raise_on_error: bool = True,
        max_workers: int | None = None,
        files: Sequence[str] | None = None,
        accept_changed_links: bool = False,
    ) -> str:
        """A read-only cached folder with the version's files; downloads only what is missing.
        ``part`` without ``num_parts`` is one of :meth:`get_num_chunks` parts, as in ClearML.
        Parts are disjoint and together the whole version, balanced by bytes and files, each
        with files of every folder, and the same for a version and a number of parts.
        An external file that changed since it was added is refused unless
        ``accept_changed_links`` (beyond ClearML, which always serves the current content):
        then it is served as it is now, with a warning, in a cached folder of its own."""
        folder = pull.get_local_copy(
            self._ctx,
            self._refresh(),
            bool(use_soft_links),
            part,
            self._num_parts(part, num_parts),
            files,
            max_workers,
            accept_changed_links,
        )
        self._used()
        return str(folder)

    def get_mutable_local_copy(
        self,
        target_folder: str,
        overwrite: bool = False,
        part: int | None = None,
        num_parts: int | None = None,
        raise_on_error: bool = True,
        max_workers: int | None = None,
        files: Sequence[str] | None = None,
        accept_changed_links: bool = False,
    ) -> str | None:
        """A writable copy in ``target_folder``; refuses a non-empty folder unless ``overwrite``.
        ``files`` (beyond ClearML) copies only the paths these folders or wildcards select;
        ``accept_changed_links`` as in :meth:`get_local_copy`."""
        try:
            folder = pull.get_mutable_local_copy(
                self._ctx,
                self._refresh(),
                str(target_folder),
                overwrite,
                part,
                self._num_parts(part, num_parts),
                files,
                max_workers,
                accept_changed_links,
            )
        except StateError:
            if raise_on_error:
                raise
            return None
        self._used()
        return str(Path(folder).absolute())  # as ClearML: absolute even when given relative

    def open(
        self,
        path: str,
        mode: str = "rb",
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> IO[Any]:
        """One file of this final version as a read-only, seekable file object (``"rb"``, or
        ``"r"`` for text), reading in place: only the byte ranges read are fetched, through
        the cache. Beyond ClearML; use it as a context manager."""
        # A final version's files never change: an epoch of opens looks it up once.
        record = self._record if self._record.state.is_final else self._refresh()
        if self._read_manifest is None or self._read_manifest[0] != record.id:
            self._read_manifest = (record.id, reading.readable_manifest(self._ctx, record))
        manifest = self._read_manifest[1]
        opened = reading.open_file(
            self._ctx, record, path, mode, encoding, errors, newline, manifest=manifest
        )
        self._used()
        return opened

    def _used(self) -> None:
        """Keep that this process read the version (see ``deltaset usage``)."""
        uses.record(self._ctx, self._record, self._alias)

    def list_files(
        self, dataset_path: str | None = None, recursive: bool = True, dataset_id: str | None = None
    ) -> list[str]:
        """Paths in the version; with ``dataset_id``, only those whose content that version
        added or changed and that still hold it here."""
        if dataset_id:
            return query.paths_from(
                self._ctx,
                self._refresh(),
                self._ctx.catalog.get(version_ids.resolve(self._ctx.catalog, dataset_id)),
                dataset_path,
                recursive,
            )
        return query.list_paths(self._ctx, self._refresh(), dataset_path, recursive)

    def _changes(self, dataset_id: str | None) -> Any:
        against = (
            self._ctx.catalog.get(version_ids.resolve(self._ctx.catalog, dataset_id))
            if dataset_id
            else None
        )
        return query.changes(self._ctx, self._refresh(), against)

    def list_added_files(self, dataset_id: str | None = None) -> list[str]:
        """Paths this version adds to the merge of its parents, or to version ``dataset_id``."""
        return sorted(self._changes(dataset_id).added)

    def list_modified_files(self, dataset_id: str | None = None) -> list[str]:
        """Paths whose content differs from the merge of the parents, or from ``dataset_id``."""
        return sorted(self._changes(dataset_id).modified)

    def list_removed_files(self, dataset_id: str | None = None) -> list[str]:
        """Paths of the merge of the parents (or of ``dataset_id``) this version lacks."""
        return sorted(self._changes(dataset_id).removed)

    def verify_dataset_hash(
        self, local_copy_path: str | None = None, skip_hash: bool = False, verbose: bool = False
    ) -> list[str]:
        """Paths whose local copy differs from the version (missing, other size or content).

        Without ``local_copy_path`` the cached copy is checked as it stands, so a damaged cache
        entry shows (the next get repairs it).
        """
        folder = local_copy_path or pull.cached_folder_as_is(self._ctx, self._refresh())
        return verify.verify_folder(self._ctx, self._refresh(), Path(folder), skip_hash)

    def verify_storage(self, max_workers: int | None = None) -> int:
        """Read back every stored byte of the version and check it against its hash."""
        return verify.verify_storage(self._ctx, self._refresh(), max_workers)

    def get_dependency_graph(self) -> dict[str, list[str]]:
        """``{version id: [direct parent ids in merge order]}`` for this version and every
        ancestor; a parent deleted with ``force`` shows with no parents."""
        return lineage.dependency_graph(self._ctx.catalog, self._refresh())

    def get_num_chunks(self, include_parents: bool = True) -> int:
        """How many stored packs hold this version's files (only its own changes without
        ``include_parents``); for a draft, as in ClearML, those uploaded so far, and its
        parents'. Unlike ClearML's chunks, packs need not be pulled whole: any
        ``num_parts`` splits a pull."""
        return query.pack_count(self._ctx, self._refresh(), include_parents)

    def _num_parts(self, part: int | None, num_parts: int | None) -> int | None:
        """ClearML's split when only ``part`` is given: one part per chunk. Worked out on each
        call, never taken from the cache, so the answer does not depend on what it holds."""
        if part is None or num_parts is not None or not self._record.state.is_final:
            return num_parts  # a draft is refused by the pull itself
        chunks = self.get_num_chunks()
        parts = max(chunks, 1)  # a version with no packs (empty, or all external) is one part
        if not 0 <= part < parts:
            raise InvalidInputError(
                f"Part {part} is out of range: without num_parts (--num-parts), the version's "
                f"{chunks} chunks make parts 0 to {parts - 1}."
            )
        return parts

    def get_default_storage(self) -> str:
        """The storage URL this version's bytes are uploaded to."""
        return self._refresh().storage

    # -- offline mode -----------------------------------------------------------------------
    @classmethod
    def is_offline(cls) -> bool:
        """Whether offline mode is on: versions are made in this machine's offline session
        folder, and nothing is sent to a server or a shared storage."""
        return config.load().offline_session is not None

    @classmethod
    def set_offline(cls, offline_mode: bool = False) -> None:
        """Turn offline mode on or off for this process (and the processes it starts), as
        ``DELTASET_OFFLINE`` does: while on, create, add, sync, upload and close work with the
        offline session folder's own catalog and storage. A server that cannot be reached
        never turns it on by itself."""
        os.environ[config.OFFLINE_ENV] = "1" if offline_mode else "0"

    def get_offline_mode_folder(self) -> Path | None:
        """The offline session folder this version was made in; None if it was not made in
        offline mode."""
        return self._ctx.settings.offline_session

    @classmethod
    def import_offline_session(
        cls,
        session_folder_zip: str | Path | None = None,
        upload: bool = True,
        finalize: bool = False,
        to: str | None = None,
    ) -> str:
        """Import the versions an offline session made (``session_folder_zip``: its folder or
        a zip of it; default: this machine's) into the configured catalog and storage, or into
        ``to`` (a server's URL or a storage), with their ids, parents, tags and metadata,
        sending only the bytes the target lacks; returns the id of the newest one. Its drafts
        are closed first if ``finalize``; nothing is sent unless ``upload``. Running it again
        finishes an interrupted import and then changes nothing."""
        from deltaset.api import sharing

        return sharing.import_offline_session(session_folder_zip, to, upload, finalize).id


@contextmanager
def _reporting(ctx: Context, show_progress: bool, verbose: bool) -> Iterator[None]:
    """Silence progress when not wanted; print per-file messages when ``verbose``."""
    saved = ctx.progress
    handler = logging.StreamHandler() if verbose and not log.handlers else None
    if not show_progress:
        ctx.progress = NoProgress()
    if handler:
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        ctx.progress = saved
        if handler:
            log.removeHandler(handler)


def _to_delete(
    ctx: Context,
    dataset_id: str | None,
    project: str | None,
    name: str | None,
    version: str | None,
    entire_dataset: bool,
    force: bool,
) -> list[VersionRecord]:
    if dataset_id:
        return [ctx.catalog.get(version_ids.resolve(ctx.catalog, dataset_id))]
    if entire_dataset:
        if not force:
            raise InvalidInputError("Deleting an entire dataset needs force=True (--force).")
        found = query.search(
            ctx, project=project, only_completed=False, recursive_project_search=False
        )
        found = [r for r in found if r.name == name]
        if not found:
            raise NotFoundError(f"No dataset {project}/{name} was found.")
        return sorted(found, key=lambda r: r.created, reverse=True)
    if not name:
        raise InvalidInputError("Give a dataset id, or a project and name, to delete.")
    found = [
        r
        for r in query.search(
            ctx, project=project, only_completed=False, recursive_project_search=False
        )
        if r.name == name and (version is None or r.version == version)
    ]
    if not found:
        raise NotFoundError(
            f"No dataset {project}/{name} {version or ''} was found.".replace(" .", ".")
        )
    if len(found) > 1:
        raise InvalidInputError(
            f"{len(found)} versions of {project}/{name} exist; give a version (--version) or "
            "delete them all with entire_dataset=True (--entire-dataset)."
        )
    return found


def _upload_options(
    output_url: str | None,
    compression: int | str | None,
    chunk_size: int | None,
    max_workers: int | None,
) -> upload_op.UploadOptions:
    """The engine's upload options from ClearML's ``upload()`` arguments."""
    level = zstd_level(compression)
    if chunk_size is not None and chunk_size < -1:
        raise InvalidInputError("chunk_size is a size in MB (or -1 for one pack per upload).")
    pack_size = (1 << 62) if chunk_size in (-1, 0) else (chunk_size or 0) << 20
    return upload_op.UploadOptions(output_url, max_workers, level, pack_size or None)
