"""Adding local files to a draft: only paths whose content differs from the view are staged."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from typing import Protocol

from deltaset.catalog.base import DraftChange
from deltaset.core import paths
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import scan, staging
from deltaset.engine.context import Context
from deltaset.engine.unchanged import FolderPass
from deltaset.engine.views import current_view, parents_view, require_mutable

log = logging.getLogger("deltaset")


def add_files(
    ctx: Context,
    record: VersionRecord,
    path: str | Sequence[str],
    wildcard: str | Sequence[str] | None = None,
    local_base_folder: str | None = None,
    dataset_path: str | None = None,
    recursive: bool = True,
    max_workers: int | None = None,
    policy: scan.ReadPolicy = scan.STRICT,
) -> tuple[int, int]:
    """Stage the files of ``path`` (or of several paths, all or nothing); returns (added, modified).

    Every path is found before anything is hashed, and staging is all or nothing, so a missing
    or unreadable one leaves the draft as it was (unless ``policy`` skips unreadable files).
    """
    require_mutable(ctx, record)
    patterns = [wildcard] if isinstance(wildcard, str) else list(wildcard or [])
    sources = [path] if isinstance(path, str) else list(path)
    view = current_view(ctx, record)
    single = len(sources) == 1 and not patterns and recursive
    whole = scan.whole_folder(sources[0]) if single else None
    prefix = paths.normalize_folder(dataset_path)
    with (
        staging.packing(ctx, record, view) as keep,
        scan.EarlyHashing(ctx, keep, max_workers) as early,
    ):
        # A folder's files are told to a second hashing process as they are walked.
        folder_pass = FolderPass(ctx, whole, view, prefix, policy, early if whole else None)
        files = _found(
            folder_pass,
            whole,
            sources,
            patterns,
            local_base_folder,
            dataset_path,
            recursive,
            policy,
        )
        with closing(scan.hash_files(ctx, files, max_workers, keep, policy, early)) as hashed:
            counts = stage_files(ctx, record, folder_pass.recording(hashed), view)
    folder_pass.save(lambda: current_view(ctx, record) if any(counts) else view)
    return counts


def _found(
    folder_pass: FolderPass,
    whole: str | None,
    sources: list[str],
    patterns: list[str],
    local_base_folder: str | None,
    dataset_path: str | None,
    recursive: bool,
    policy: scan.ReadPolicy,
) -> Sequence[scan.LocalFile]:
    """The files to hash: a whole folder's through ``folder_pass``, else each source's."""
    if whole and local_base_folder is None:
        return folder_pass.find(allow_nothing=True)
    if whole:
        found = scan.find(whole, None, local_base_folder, dataset_path, True, policy)
        return folder_pass.sift(found)
    files = [
        f
        for source in sources
        for f in scan.collect(source, patterns, local_base_folder, dataset_path, recursive, policy)
    ]
    files = scan.unique_paths(files) if len(sources) > 1 else files
    for pattern in scan.unmatched_wildcards(files, patterns):
        shown = ", ".join(paths.printable(s) for s in sources)
        log.warning("No file of %s matches the wildcard %r.", shown, pattern)
    return files


class Candidate(Protocol):
    """A file that may be staged: a hashed local file, or an external file."""

    @property
    def path(self) -> str: ...

    @property
    def blob_id(self) -> str: ...

    def change(self) -> DraftChange: ...


def stage_files(
    ctx: Context,
    record: VersionRecord,
    hashed: Iterable[Candidate],
    view: Manifest | None = None,
) -> tuple[int, int]:
    """Stage the files whose content differs from ``view`` (the draft's current view), as a
    stream, all or nothing; returns (added, modified)."""
    view = current_view(ctx, record) if view is None else view
    base = parents_view(ctx, record)
    counts = {"added": 0, "modified": 0}
    same_as_parent: list[str] = []
    # Asked once: this loop runs for every file.
    told, in_view, in_base = log.isEnabledFor(logging.INFO), bool(view), bool(base)

    def changes() -> Iterator[DraftChange]:
        for item in hashed:
            path = item.path
            old = view.position(path) if in_view else None
            raw = bytes.fromhex(item.blob_id)
            if old is not None and view.raw_id_at(old) == raw:
                continue  # unchanged: compared by raw id, no entry made for the many such files
            kind = "added" if old is None else "modified"
            counts[kind] += 1
            if told:
                log.info("%s %s", kind, path)
            # Content equal to the parents' is no change at all: whatever was staged goes.
            parent = base.position(path) if in_base else None
            if parent is not None and base.raw_id_at(parent) == raw:
                same_as_parent.append(path)
            else:
                yield item.change()

    ctx.catalog.stage(record.id, changes())
    ctx.catalog.unstage(record.id, same_as_parent)
    return counts["added"], counts["modified"]
