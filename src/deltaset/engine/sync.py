"""Making a draft mirror a local folder: additions, modifications and removals."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import blake3

from deltaset.catalog.base import Query
from deltaset.core import paths
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import origins, pull, scan, staging
from deltaset.engine.add import stage_files
from deltaset.engine.context import Context
from deltaset.engine.lineage import dependency_graph
from deltaset.engine.remove import remove_paths
from deltaset.engine.unchanged import FolderPass
from deltaset.engine.views import (
    FINAL_STATES,
    current_view,
    find,
    final_manifest,
    parent_records,
    parents_view,
    require_mutable,
)
from deltaset.errors import InvalidInputError, NotFoundError, StateError
from deltaset.storage.layout import record_key
from deltaset.storage.local import write_best_effort

log = logging.getLogger("deltaset")

SYNCS = "syncs"  # under the home: the draft each unfinished run of a sync left


def sync_folder(
    ctx: Context,
    record: VersionRecord,
    local_path: str,
    dataset_path: str | None = None,
    max_workers: int | None = None,
    policy: scan.ReadPolicy = scan.STRICT,
    rebase: bool = False,
) -> tuple[int, int, int]:
    """Returns (removed, added, modified). A file ``policy`` skips as unreadable is neither
    added nor removed: the draft keeps what it had at its path.

    A folder without an origin (see :mod:`~deltaset.engine.origins`) is mirrored: the draft
    becomes what it holds. A writable copy's changes are those since the version it was
    copied from (the part copied), applied to the draft: what its parents changed since, and
    what lies outside a partial copy, stay. A draft whose parents hold changes made since that
    version (a newer version of it, or a sibling) is refused unless ``rebase``."""
    require_mutable(ctx, record)
    folder = Path(local_path).expanduser()
    if not folder.exists():
        raise NotFoundError(f"The folder {local_path} does not exist.")
    if not folder.is_dir():
        raise InvalidInputError(f"{local_path} is a file; sync needs a folder.")
    prefix = paths.normalize_folder(dataset_path)
    base = None if prefix else folder_base(ctx, record, folder, rebase)
    if base is None:
        return _mirror(ctx, record, folder, prefix, max_workers, policy)
    counts = _apply_changes(ctx, record, folder, base.files, max_workers, policy)
    if base.origin.version_id in record.parents and base.origin.num_parts is None:
        origins.synced_into(folder, base.origin, record)  # the draft is what the folder holds
    return counts


def _mirror(
    ctx: Context,
    record: VersionRecord,
    folder: Path,
    prefix: str,
    max_workers: int | None,
    policy: scan.ReadPolicy,
) -> tuple[int, int, int]:
    view = current_view(ctx, record)
    folder_pass = FolderPass(ctx, str(folder), view)
    files = folder_pass.sift(scan.find(str(folder), None, None, prefix, True, policy))
    gone = _gone(view, prefix, {f.path for f in files}.union(folder_pass.unchanged))
    with staging.packing(ctx, record, view) as keep:
        hashed = scan.hash_files(ctx, files, max_workers, keep, policy)
        added, modified = stage_files(ctx, record, folder_pass.recording(hashed), view)
    remove_paths(ctx, record, gone)
    folder_pass.save()
    return len(gone), added, modified


def _gone(view: Manifest, prefix: str, present: set[str]) -> list[str]:
    """The paths of ``view`` under ``prefix`` that the folder no longer holds."""
    return [p for p in view if (not prefix or p.startswith(prefix + "/")) and p not in present]


@dataclass(frozen=True)
class FolderBase:
    """What a writable copy is compared with: the files of its origin it was copied with."""

    origin: origins.Origin
    files: Manifest


def folder_base(
    ctx: Context, record: VersionRecord, folder: Path, rebase: bool
) -> FolderBase | None:
    """The base of a sync of ``folder`` into the draft ``record``; None to mirror it."""
    marked = origins.read(folder)
    if marked is None:
        return None
    origin = origins.current(ctx, marked)
    try:
        source = ctx.catalog.get(origin.version_id)
    except NotFoundError:
        log.warning(
            "%s was copied from %s, which no longer exists: the draft mirrors the folder.",
            folder,
            origin.label,
        )
        return None
    if source.id not in record.parents:
        newer = diverged_parents(ctx, source, record)
        if not newer:
            return None  # an older or unrelated parent: the folder's own files are the change
        if not rebase:
            raise StateError(
                f"{folder} was copied from {origin.label}, but the draft's parent "
                f"{origins.label(newer[0])} holds changes made since that a sync would undo; "
                f"pass --rebase (rebase=True) to apply the folder's changes on top of it."
            )
    if origin.partial:
        log.warning(
            "%s holds only part of %s (%s): files outside that part are kept as they are.",
            folder,
            origin.label,
            origin.describe_part(),
        )
    files = pull.select(final_manifest(ctx, source), origin.part, origin.num_parts, origin.files)
    return FolderBase(origin, files)


def diverged_parents(
    ctx: Context, source: VersionRecord, record: VersionRecord
) -> list[VersionRecord]:
    """The parents of ``record`` related to ``source`` (sharing an ancestor) that hold changes
    ``source`` lacks: a sync diffing a copy of ``source`` against them would undo those."""
    before_source = set(dependency_graph(ctx.catalog, source))
    found = []
    for parent in parent_records(ctx, record):
        ancestry = set(dependency_graph(ctx.catalog, parent))
        if parent.id not in before_source and ancestry & before_source:
            found.append(parent)
    return found


def _apply_changes(
    ctx: Context,
    record: VersionRecord,
    folder: Path,
    base: Manifest,
    max_workers: int | None,
    policy: scan.ReadPolicy,
) -> tuple[int, int, int]:
    """Apply the folder's changes since ``base`` to the draft; a path the folder holds as in
    ``base`` gets (back) what the parents hold there."""
    view, parents = current_view(ctx, record), parents_view(ctx, record)
    had_changes = next(iter(ctx.catalog.staged(record.id)), None) is not None
    folder_pass = FolderPass(ctx, str(folder), base)
    files = folder_pass.sift(scan.find(str(folder), None, None, "", True, policy))
    present = {f.path for f in files}.union(folder_pass.unchanged)
    untouched = list(folder_pass.unchanged)
    with staging.packing(ctx, record, view) as keep:
        hashed = folder_pass.recording(scan.hash_files(ctx, files, max_workers, keep, policy))
        added, modified = stage_files(ctx, record, _changed(hashed, base, untouched), view)
    if had_changes:  # an earlier run's change to a path the folder now holds as it was
        ctx.catalog.unstage(record.id, [p for p in untouched if not _same(view, parents, p)])
    gone = [
        p for p in view if p not in present and (p in base or not _same(view, parents, p))
    ]
    remove_paths(ctx, record, gone)
    folder_pass.save()
    return len(gone), added, modified


def _changed(
    hashed: Iterable[scan.HashedFile], base: Manifest, untouched: list[str]
) -> Iterator[scan.HashedFile]:
    """The files of ``hashed`` whose content ``base`` lacks; the others go to ``untouched``."""
    for item in hashed:
        at = base.position(item.path)
        if at is not None and base.raw_id_at(at) == bytes.fromhex(item.blob_id):
            untouched.append(item.path)
        else:
            yield item


def _same(first: Manifest, second: Manifest, path: str) -> bool:
    """Whether both manifests hold the same content at ``path`` (or both lack it)."""
    at, other = first.position(path), second.position(path)
    if at is None or other is None:
        return at is other
    return first.raw_id_at(at) == second.raw_id_at(other)


# A sync that creates its version and is killed before the close leaves a draft, which took
# the next version number. Each such run marks its draft under a key made of its arguments,
# so that the same sync run again continues that draft instead of leaving it behind.


def run_key(*arguments: object) -> str:
    """The key of a sync run made with ``arguments`` (any JSON-encodable values)."""
    encoded = json.dumps(arguments, sort_keys=True, default=str).encode()
    return blake3.blake3(encoded).hexdigest(16)


def unfinished_draft(ctx: Context, key: str) -> VersionRecord | None:
    """The draft a run of the same sync left unfinished, if it is still a draft."""
    marker = ctx.settings.home / SYNCS / key
    try:
        version_id = marker.read_text().strip()
        record: VersionRecord | None = ctx.catalog.get(version_id)
    except (OSError, UnicodeDecodeError, NotFoundError, InvalidInputError):
        record = None
    if record is None or record.state.is_final:
        forget_run(ctx, key)
        return None
    return record


def was_closing(ctx: Context, record: VersionRecord) -> bool:
    """Whether the draft's close was interrupted once its record was stored: then it can only
    be closed (see views.require_mutable)."""
    return ctx.storage(record.storage).exists(record_key(record.id))


def mark_run(ctx: Context, key: str, version_id: str) -> None:
    write_best_effort(ctx.settings.home / SYNCS / key, version_id.encode())


def forget_run(ctx: Context, key: str) -> None:
    with contextlib.suppress(OSError):
        (ctx.settings.home / SYNCS / key).unlink(missing_ok=True)


@dataclass(frozen=True)
class ChosenParents:
    """The parents of a new version a sync makes, and why they were chosen."""

    records: list[VersionRecord]
    reason: str
    rebase: bool = False


def choose_parents(
    ctx: Context, project: str, name: str, folder: Path, rebase: bool
) -> ChosenParents:
    """The parent of a new version of ``project/name`` synced from ``folder``: the version a
    writable copy of the dataset was copied from, else the dataset's highest final version.

    A copy of a version that newer ones followed is refused unless ``rebase`` (then its
    changes go on top of the highest), as git refuses a push that is not a fast-forward."""
    latest = highest_final(ctx, project, name)
    marked = origins.read(folder)
    newest = ChosenParents([latest] if latest else [], "the newest version")
    if marked is None:
        return newest
    origin = origins.current(ctx, marked)
    try:
        source = ctx.catalog.get(origin.version_id)
    except NotFoundError:
        raise StateError(
            f"{folder} was copied from {origin.label}, which no longer exists; pass --parents "
            "with the id of the version to sync against."
        ) from None
    if (source.project, source.name) != (project.strip("/"), name):
        return newest  # a copy of another dataset: its files start this one's change
    if latest is None or latest.id == source.id:
        return ChosenParents([source], f"the version {folder} was copied from")
    if rebase:
        return ChosenParents([latest], f"the newest; the folder's changes since {source.version} go on top")
    later = ", ".join(r.version for r in newer_versions(ctx, source))
    raise StateError(
        f"{folder} was copied from {origins.label(source)}, but {later or latest.version} came "
        f"after it; pass --rebase to apply the folder's changes on top of {latest.version}, or "
        f"--parents {source.id} to branch from {source.version}."
    )


def highest_final(ctx: Context, project: str, name: str) -> VersionRecord | None:
    try:
        return find(ctx, project, name, only_completed=True)
    except NotFoundError:
        return None


def newer_versions(ctx: Context, source: VersionRecord) -> list[VersionRecord]:
    """The final versions of ``source``'s dataset made after it, oldest first."""
    found = ctx.catalog.search(
        Query(project=source.project, name=source.name, states=FINAL_STATES, recursive_project=False)
    )
    return sorted((r for r in found if r.created > source.created), key=lambda r: r.created)
