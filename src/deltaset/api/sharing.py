"""Sharing versions: seeing what teammates wrote to a shared storage, and copying versions
with their ancestors to and from a deltaset server or another storage.

``deltaset refresh``, ``deltaset push`` and ``deltaset pull`` on the command line::

    import deltaset
    deltaset.push([version_id], to="https://deltaset.example.com")
    deltaset.pull([version_id], source="s3://team-bucket/datasets")
    deltaset.refresh()
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from deltaset.engine.context import Context, default_context
from deltaset.engine.discovery import DiscoveryReport, discover
from deltaset.engine.offline import SessionReport, import_session
from deltaset.engine.transfer import (
    Place,
    TransferReport,
    copy_versions,
    local_place,
    remote_place,
)

__all__ = [
    "DiscoveryReport",
    "SessionReport",
    "TransferReport",
    "import_offline_session",
    "pull",
    "push",
    "refresh",
]


def refresh(storage: str | None = None) -> list[DiscoveryReport]:
    """Import now the final versions other machines wrote to ``storage``, or to every
    storage this machine's catalog knows (those its versions live in, and the default one)."""
    return discover(default_context(), storage)


def push(dataset_ids: Sequence[str], to: str, max_workers: int | None = None) -> TransferReport:
    """Copy the final versions ``dataset_ids``, with the ancestors the target lacks, from this
    machine's catalog to ``to``: a deltaset server's URL (its catalog and storage) or a
    storage (a folder, ``s3://``, ``gs://``, ``azure://``). Ids and lineage are kept and only
    missing bytes are sent; running it again finishes an interrupted copy."""
    ctx = default_context()
    return _copy(ctx, dataset_ids, local_place(ctx), remote_place(ctx, to), max_workers)


def pull(
    dataset_ids: Sequence[str],
    source: str,
    storage: str | None = None,
    max_workers: int | None = None,
) -> TransferReport:
    """Copy the final versions ``dataset_ids``, with the ancestors this machine's catalog
    lacks, from ``source`` (a deltaset server's URL or a storage) into this machine's catalog
    and ``storage`` (default: the configured storage)."""
    ctx = default_context()
    return _copy(
        ctx, dataset_ids, remote_place(ctx, source), local_place(ctx, storage), max_workers
    )


def import_offline_session(
    session: str | Path | None = None,
    to: str | None = None,
    upload: bool = True,
    finalize: bool = False,
    max_workers: int | None = None,
) -> SessionReport:
    """Copy the versions an offline session made (``session``: its folder or a zip of it;
    default: this machine's, ``$DELTASET_HOME/offline``) with their lineage, metadata and tags
    into this machine's configured catalog and storage (the server's, with api-url), or into
    ``to`` (a server's URL or a storage); its drafts are closed first if ``finalize``, and
    nothing is sent unless ``upload``. Running it again finishes an interrupted import."""
    ctx = default_context()
    location = Path(session).expanduser() if session else ctx.settings.offline_folder
    target = remote_place(ctx, to) if to else local_place(ctx)
    try:
        return import_session(ctx, location, target, upload, finalize, max_workers)
    finally:
        if target.catalog is not None and target.catalog is not ctx.catalog:
            target.catalog.close()


def _copy(
    ctx: Context,
    dataset_ids: Sequence[str],
    source: Place,
    target: Place,
    max_workers: int | None,
) -> TransferReport:
    if isinstance(dataset_ids, str):
        dataset_ids = [dataset_ids]
    try:
        return copy_versions(ctx, dataset_ids, source, target, max_workers)
    finally:
        for place in (source, target):
            if place.catalog is not None and place.catalog is not ctx.catalog:
                place.catalog.close()
