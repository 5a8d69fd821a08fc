"""Copying final versions, with the ancestors the target lacks, between catalogs and storages.

The one mechanism behind ``deltaset push`` and ``deltaset pull``: a version made on a laptop
sent to the team's server with its history, a server's version brought into a local catalog,
a team moving from a folder to a bucket.

A :class:`Place` is a catalog with the storage its copies go into (this machine's embedded
catalog, a deltaset server's), or a storage alone (a folder or a bucket: the records it keeps
are its catalog, which every machine sharing it picks up, see ``engine.discovery``).

In the target, each version is written as a close writes one, ancestors first, under a close
lease (no gc deletes the packs before the record names them): the blobs it lacks (packs, then
the index naming them: content addressed, so what is there is not sent again), its metadata,
its whole manifest, its record; then its catalog learns it, with the uses the source catalog
recorded of it (who read it: an offline session's runs). A version counts as copied once
its record is in the target storage and its catalog knows it, so a copy cut short is finished
by running it again, and a copy of what is there changes nothing. Ids, parents, version
numbers, tags and states are kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlparse

from deltaset.catalog.base import Catalog
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord, check_version_id
from deltaset.engine import leases
from deltaset.engine.context import Context, transfer_workers
from deltaset.engine.metadata import put_stored, read_stored
from deltaset.engine.views import read_stored_record, stored_manifest
from deltaset.errors import IntegrityError, NotFoundError, StateError, StorageError
from deltaset.faults import failpoint
from deltaset.objects.store import BlobStore
from deltaset.storage.base import Storage
from deltaset.storage.layout import describe, manifest_key, record_key
from deltaset.storage.registry import (
    SERVER_SCHEMES,
    canonical_url,
    open_storage,
    require_own_server,
)

MetadataItem = tuple[str, str, bytes]  # name, kind, bytes


@dataclass(frozen=True)
class Place:
    """Where versions are: ``url`` names its storage (the one copies go into); ``catalog``
    is None for a storage alone; ``open`` opens a storage as this place reaches it."""

    url: str
    catalog: Catalog | None
    open: Callable[[str], Storage]

    @property
    def storage(self) -> Storage:
        return self.open(self.url)


@dataclass
class TransferReport:
    """What a copy did: the versions it copied (ancestors first), those the target had."""

    source: str
    target: str
    copied: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    stored_bytes: int = 0  # bytes of packs written to the target

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def copy_versions(
    ctx: Context,
    version_ids: Iterable[str],
    source: Place,
    target: Place,
    max_workers: int | None = None,
) -> TransferReport:
    """Copy the final versions ``version_ids`` and the ancestors the target lacks from
    ``source`` to ``target``."""
    report = TransferReport(source.url, target.url)
    storage = target.storage
    describe(storage)  # a new storage gets its descriptor; a foreign one is refused
    store = BlobStore(storage)
    for record in _missing_lineage(source, target, version_ids, report):
        manifest = _manifest(ctx, source, record)
        metadata = _metadata(source, record)
        report.stored_bytes += _copy_one(
            source, target, store, record, manifest, metadata, transfer_workers(max_workers)
        )
        report.copied.append(record.id)
    return report


def _missing_lineage(
    source: Place, target: Place, version_ids: Iterable[str], report: TransferReport
) -> list[VersionRecord]:
    """The records of ``version_ids`` and of their ancestors that ``target`` lacks, every
    version after its parents; those it has go into ``report.present``."""
    ordered: list[VersionRecord] = []
    seen: set[str] = set()

    def visit(version_id: str, asked: bool) -> None:
        if version_id in seen:
            return
        seen.add(version_id)
        if _has(target, version_id):
            if asked:
                report.present.append(version_id)
            return  # and its ancestors, copied before it or made there
        record = _record(source, version_id, asked)
        if record is None:
            return  # a parent deleted with force: its child's manifest holds every file
        if not record.state.is_final:
            raise StateError(
                f"The dataset version {record.id} is still a draft; close it before you copy it."
            )
        for parent_id in record.parents:
            visit(parent_id, False)
        ordered.append(record)

    for version_id in dict.fromkeys(version_ids):
        visit(check_version_id(version_id), True)
    return ordered


def _has(place: Place, version_id: str) -> bool:
    """Whether ``place`` has the version: its catalog knows it (in whichever storage), or,
    for a storage alone, the storage keeps its record (written last)."""
    if place.catalog is None:
        return place.storage.exists(record_key(version_id))
    try:
        place.catalog.get(version_id)
    except NotFoundError:
        return False
    return True


def _record(place: Place, version_id: str, asked: bool) -> VersionRecord | None:
    """The record of ``version_id`` in ``place``; None for a missing ancestor."""
    try:
        if place.catalog is not None:
            return place.catalog.get(version_id)
        return read_stored_record(place.storage, version_id).evolve(storage=place.url)
    except NotFoundError as exc:
        if asked:
            raise NotFoundError(f"No dataset version {version_id} is in {place.url}.") from exc
        return None


def _manifest(ctx: Context, place: Place, record: VersionRecord) -> Manifest:
    data = place.catalog.manifest(record.id) if place.catalog is not None else None
    if data is None:
        return stored_manifest(ctx, place.open(record.storage), record.id)
    try:
        return Manifest.from_bytes(data)
    except StorageError as exc:
        raise StorageError(f"The manifest of dataset version {record.id} is damaged.") from exc


def _metadata(place: Place, record: VersionRecord) -> list[MetadataItem]:
    if place.catalog is not None:
        found = []
        for name in place.catalog.metadata_names(record.id):
            kept = place.catalog.get_metadata(record.id, name)
            if kept is not None:
                found.append((name, *kept))
        return found
    return read_stored(place.open(record.storage), record.id)


def _copy_one(
    source: Place,
    target: Place,
    store: BlobStore,
    record: VersionRecord,
    manifest: Manifest,
    metadata: list[MetadataItem],
    workers: int,
) -> int:
    """Write one version into ``target`` (its parents are there); returns the pack bytes."""
    storage = store.storage
    final = record.evolve(storage=target.url, stats=replace(record.stats, manifest_depth=0))
    needed = manifest.stored_ids()
    whole = manifest.to_bytes()
    with leases.closing(storage, record.id, record.parents):
        store.refresh()  # a gc may have run since the last version's copy
        origin = BlobStore(source.open(record.storage))
        written = origin.copy_to(store, needed, max_workers=workers)
        lacking = store.missing(needed)
        if lacking:
            raise IntegrityError(
                f"{len(lacking)} blobs of dataset version {record.id} did not reach "
                f"{target.url}; run the copy again."
            )
        failpoint("transfer.after_blobs")
        for name, kind, data in metadata:
            put_stored(storage, record.id, name, kind, data)
        storage.put_bytes(manifest_key(record.id), whole)
        storage.put_bytes(record_key(record.id), json.dumps(final.to_dict(), indent=1).encode())
    if target.catalog is not None:
        target.catalog.import_final(final, whole)
        for name, kind, data in metadata:
            target.catalog.set_metadata(record.id, name, kind, data)
        if source.catalog is not None:  # who read it goes along (an offline session's runs)
            target.catalog.add_uses(source.catalog.uses(record.id))
    return written


def local_place(ctx: Context, storage_url: str | None = None) -> Place:
    """This machine's catalog, copies going into ``storage_url`` or the default storage."""
    return Place(ctx.storage_url(storage_url), ctx.catalog, ctx.storage)


def remote_place(ctx: Context, url: str) -> Place:
    """The place ``url`` names: a deltaset server (its catalog and storage), or a storage
    alone.

    The server gets this machine's api-token when it is the configured one (api-url), or when
    none is configured (the token is then given for the server named, as in
    ``DELTASET_API_TOKEN=... deltaset push --to URL``); never a token of another server.
    """
    key = canonical_url(url)
    if urlparse(key).scheme not in SERVER_SCHEMES:
        return Place(key, None, ctx.storage)
    from deltaset.catalog.http import HttpCatalog  # httpx only for a server

    configured = ctx.settings.api_url
    ours = configured is None or canonical_url(configured) == key
    token = ctx.settings.api_token if ours else None
    settings = ctx.settings.s3

    def open_there(where: str) -> Storage:
        found = canonical_url(where)
        if urlparse(found).scheme in SERVER_SCHEMES:
            require_own_server(found, (key,))  # a record naming another server gets no token
            return open_storage(found, settings, token)
        return ctx.storage(found)

    return Place(key, HttpCatalog(key, token), open_there)
