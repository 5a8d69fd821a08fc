"""Creating a draft version, optionally inheriting from final parents."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from deltaset.catalog.base import NewVersion
from deltaset.core import version as semver
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.views import require_final
from deltaset.errors import InvalidInputError

log = logging.getLogger("deltaset")


def create(
    ctx: Context,
    *,
    name: str | None,
    project: str | None,
    parents: Sequence[str] = (),
    tags: Sequence[str] = (),
    version: str | None = None,
    storage: str | None = None,
    description: str = "",
) -> VersionRecord:
    parent_records = [ctx.catalog.get(p) for p in dict.fromkeys(parents)]
    for parent in parent_records:
        require_final(parent, "use it as a parent")
    if not name:
        raise InvalidInputError("A dataset name is required (--name / dataset_name).")
    if not project:
        if not parent_records:
            raise InvalidInputError(
                "A dataset project is required (--project / dataset_project) when there are "
                "no parents to take it from."
            )
        project = parent_records[-1].project
    storage_url = child_storage(ctx, storage, parent_records)
    ctx.storage_id(storage_url)  # fails now, not at upload, if the storage is unusable
    return ctx.catalog.create_version(
        NewVersion(
            project=project.strip("/"),
            name=name,
            version=checked_version(version) if version else None,
            parents=tuple(p.id for p in parent_records),
            tags=tuple(dict.fromkeys(tags)),
            description=description,
            storage=storage_url,
            user=ctx.user,
        )
    )


def child_storage(ctx: Context, storage: str | None, parents: Sequence[VersionRecord]) -> str:
    """Where a new version's files go: ``storage`` when given, else where its first parent's
    are (a child stays beside its parents, so whoever reads them finds it too), else the
    configured storage."""
    if storage:
        return ctx.storage_url(storage)
    return parents[0].storage if parents else ctx.storage_url(None)


def checked_version(version: str) -> str:
    """``version`` as ClearML takes it: any string, with a warning when it cannot be ordered
    (it then ranks below every version that can, see :func:`semver.latest`)."""
    clean = semver.validate(version)
    if not semver.is_semantic(clean):
        log.warning("Setting non-semantic dataset version %r", clean)
    return clean
