"""Verifying a version: its stored bytes against their hashes, or a local folder against it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import blake3

from deltaset.core.manifest import Entry
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context, cpu_workers, transfer_workers
from deltaset.engine.views import final_manifest, require_final
from deltaset.errors import IntegrityError


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
    ctx.progress.start("verifying", len(manifest), manifest.total_size)
    try:
        return store.read(
            manifest.stored_ids(),
            lambda _, data: ctx.progress.advance(0, len(data)),
            transfer_workers(max_workers),
        )
    finally:
        ctx.progress.finish()


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
            if skip_hash:
                return None
            hasher = blake3.blake3()
            if entry.size:
                hasher.update_mmap(local)
            return None if hasher.hexdigest() == entry.blob_id else path
        except OSError:
            return path

    with ThreadPoolExecutor(cpu_workers(max_workers)) as pool:
        return sorted(p for p in pool.map(wrong, manifest.items()) if p is not None)
