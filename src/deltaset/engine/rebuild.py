"""Rebuilding the catalog from storage alone: every final version's record and manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine import metadata
from deltaset.engine.context import Context
from deltaset.engine.views import read_stored_record, stored_manifest
from deltaset.errors import DeltasetError, NotFoundError
from deltaset.storage.layout import DESCRIPTOR_KEY, describe, version_id_of_record_key


@dataclass(frozen=True)
class SkippedVersion:
    """A version found in storage and not imported, and why."""

    id: str
    reason: str


@dataclass
class RebuildReport:
    """What a rebuild imported, and every version it found but could not import."""

    storage: str
    imported: int = 0
    skipped: list[SkippedVersion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rebuild_catalog(ctx: Context, storage_url: str | None = None) -> RebuildReport:
    """Import every final version found in the storage; a version whose record or manifest
    cannot be read is skipped and reported, and the others are imported all the same."""
    url = ctx.storage_url(storage_url)
    storage = ctx.storage(url)
    report = RebuildReport(url)
    if not storage.exists(DESCRIPTOR_KEY):
        if storage_url is None:
            return report  # nothing was ever stored in the default storage
        raise NotFoundError(f"There is no deltaset storage at {storage.url}.")
    describe(storage)
    for key in sorted(storage.list("versions/")):
        version_id = version_id_of_record_key(key)
        if version_id is None:
            continue
        try:
            record, manifest = read_stored_version(ctx, url, version_id)
        except DeltasetError as exc:  # damaged, or deleted while we listed: the rest still count
            report.skipped.append(SkippedVersion(version_id, exc.message))
            continue
        report.imported += import_read_version(ctx, url, record, manifest)
    return report


def read_stored_version(ctx: Context, url: str, version_id: str) -> tuple[VersionRecord, Manifest]:
    """The record (naming the storage as ``url`` does) and whole manifest of a final version
    that the storage at ``url`` keeps."""
    storage = ctx.storage(url)
    record = read_stored_record(storage, version_id)
    manifest = stored_manifest(ctx, storage, version_id)
    return record.evolve(storage=url), manifest  # as named here (a server's, not its bucket's)


def import_read_version(ctx: Context, url: str, record: VersionRecord, manifest: Manifest) -> bool:
    """Import a version read by :func:`read_stored_version`, with its metadata; False when
    the catalog knows it already."""
    if not ctx.catalog.import_final(record, manifest.to_bytes()):
        return False
    metadata.import_stored(ctx, url, record.id)
    return True
