"""Verifying a version: its stored bytes against their hashes, or a local folder against it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import blake3

from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context, cpu_workers, transfer_workers
from deltaset.engine.views import final_manifest, require_final
from deltaset.errors import IntegrityError
from deltaset.storage import external


def verify_storage(ctx: Context, record: VersionRecord, max_workers: int | None = None) -> int:
    """Read back every stored byte ``record`` references and check it; returns bytes checked."""
    require_final(record, "verify it")
    manifest = final_manifest(ctx, record)
    store = ctx.blobs(record.storage)
    store.refresh()
    missing = [e for e in manifest.values() if not store.holds(e)]
    if missing:
        raise IntegrityError(
            f"{len(missing)} files of dataset version {record.id} are missing from storage."
        )
    _check_external(ctx, manifest, max_workers)
    ctx.progress.start("verifying", len(manifest), manifest.total_size)
    try:
        return store.read(
            manifest.stored_ids(),
            lambda _, data: ctx.progress.advance(0, len(data)),
            transfer_workers(max_workers),
        )
    finally:
        ctx.progress.finish()


def _check_external(ctx: Context, manifest: Manifest, max_workers: int | None) -> None:
    """Every external file of ``manifest`` is still where it was, as it was."""
    linked = [e for e in manifest.values() if e.link] if manifest.external_count else []

    def check(entry: Entry) -> None:
        found = external.ExternalObject(entry.link, entry.size, entry.etag)
        external.check_unchanged(found, ctx.settings.s3)

    with ThreadPoolExecutor(transfer_workers(max_workers)) as pool:
        list(pool.map(check, linked))


def verify_folder(
    ctx: Context,
    record: VersionRecord,
    folder: Path,
    skip_hash: bool = False,
    max_workers: int | None = None,
) -> list[str]:
    """The paths of ``record`` that ``folder`` lacks or holds with other content."""
    manifest = final_manifest(ctx, record)

    def wrong(item: tuple[str, Entry]) -> str | None:
        path, entry = item
        local = folder / path
        try:
            if local.stat().st_size != entry.size:
                return path
            if skip_hash or entry.link:  # an external file's id is not a hash of its bytes
                return None
            hasher = blake3.blake3()
            if entry.size:
                hasher.update_mmap(local)
            return None if hasher.hexdigest() == entry.blob_id else path
        except OSError:
            return path

    with ThreadPoolExecutor(cpu_workers(max_workers)) as pool:
        return sorted(p for p in pool.map(wrong, manifest.items()) if p is not None)
