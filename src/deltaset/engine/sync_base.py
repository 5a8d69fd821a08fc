"""What a sync of a folder is compared with, and which parent a new version synced from it gets.

A writable copy remembers the version it was copied from (see :mod:`deltaset.engine.origins`):
its changes are those since that version. Syncing them onto a version made since (a newer one of
the same dataset, or a sibling) would undo that version's changes if the folder were mirrored;
it is refused unless asked to rebase, as git refuses a push that is not a fast-forward.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from deltaset.catalog.base import Query
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import origins, pull
from deltaset.engine.context import Context
from deltaset.engine.lineage import dependency_graph
from deltaset.engine.views import FINAL_STATES, final_manifest, find, parent_records
from deltaset.errors import NotFoundError, StateError

log = logging.getLogger("deltaset")


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
                f"pass rebase=True (--rebase) to apply the folder's changes on top of it."
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
        return ChosenParents(
            [latest], f"the newest; the folder's changes since {source.version} go on top"
        )
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
        Query(
            project=source.project, name=source.name, states=FINAL_STATES, recursive_project=False
        )
    )
    return sorted((r for r in found if r.created > source.created), key=lambda r: r.created)
