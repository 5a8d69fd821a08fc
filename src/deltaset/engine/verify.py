"""Verifying a version: its stored bytes against their hashes, or a local folder against it."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from deltaset.core import paths
from deltaset.core.hashing import hash_stream
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context, cpu_workers, transfer_workers
from deltaset.engine.views import (
    final_manifest,
    read_stored_record,
    require_final,
    stored_manifest,
)
from deltaset.errors import IntegrityError, NotFoundError
from deltaset.objects.store import BlobStore
from deltaset.packs.writer import pack_id_of, pack_key
from deltaset.storage import external
from deltaset.storage.layout import manifest_key


def verify_storage(ctx: Context, record: VersionRecord, max_workers: int | None = None) -> int:
    """Read back every stored byte ``record`` references and check it; returns bytes checked.

    Beyond each blob and chunk against its own hash: the stored manifest and record (what a
    rebuild of the catalog reads) against the catalog's, and each chunked file's chunks, in
    order, against the file's id (a wrong chunk list holds only intact chunks)."""
    require_final(record, "verify it")
    manifest = final_manifest(ctx, record)
    store = ctx.blobs(record.storage)
    store.index.reread_from_storage()
    _check_stored_form(ctx, record, manifest)
    missing = [e for e in manifest.values() if not store.holds(e)]
    if missing and store.index.cover_unnamed():  # an index file may have been lost
        missing = [e for e in missing if not store.holds(e)]
    if missing:
        raise IntegrityError(
            f"{len(missing)} files of dataset version {record.id} are missing from storage."
        )
    _check_external(ctx, manifest, max_workers)
    stored = [e for e in manifest.values() if not e.link]
    ctx.progress.start("verifying", len(stored), sum(e.size for e in stored))
    try:
        # Files per whole blob: one read checks every file that holds the same content.
        whole = Counter(e.blob_id for e in stored if not e.chunks)
        checked = store.read(
            whole,
            lambda blob_id, data: ctx.progress.advance(whole[blob_id], whole[blob_id] * len(data)),
            transfer_workers(max_workers),
        )
        checked += _check_chunked(ctx, store, record, manifest, max_workers)
    except NotFoundError:
        _check_packs(store, record, manifest)
        raise
    finally:
        ctx.progress.finish()
    _check_index(store, record)
    return checked


def _check_index(store: BlobStore, record: VersionRecord) -> None:
    """The storage's damaged index files, reported even though every byte was found."""
    damaged = sorted(store.index.damaged)
    if damaged:
        raise IntegrityError(
            f"Every stored byte of {record.id} matches its hash, but {len(damaged)} pack index "
            f"files of {store.storage.url} are damaged (first: {damaged[0]}); 'deltaset gc "
            "--delete' rewrites them from the packs."
        )


def _check_packs(store: BlobStore, record: VersionRecord, manifest: Manifest) -> None:
    """The packs the index names for ``record`` that the storage lacks, named (one listing of
    the packs, made only once a read found something missing)."""
    listed = {pack_id_of(key) for key in store.storage.list("packs/")}
    lost = sorted(store.packs_holding(manifest) - listed)
    if lost:
        raise IntegrityError(
            f"The pack {pack_key(lost[0])} holding files of dataset version {record.id} is "
            f"missing from {store.storage.url}, so their stored bytes are lost"
            + (f" ({len(lost) - 1} other packs too)." if len(lost) > 1 else ".")
        )


def _check_stored_form(ctx: Context, record: VersionRecord, manifest: Manifest) -> None:
    """The version's manifest and record in storage read, and list what the catalog lists."""
    storage = ctx.storage(record.storage)
    read_stored_record(storage, record.id)
    if stored_manifest(ctx, storage, record.id) != manifest:
        raise IntegrityError(
            f"The stored manifest {manifest_key(record.id)} of dataset version {record.id} in "
            f"{storage.url} lists other files than the catalog does."
        )


def _check_chunked(
    ctx: Context,
    store: BlobStore,
    record: VersionRecord,
    manifest: Manifest,
    max_workers: int | None,
) -> int:
    """Each chunked file's chunks, joined in order, against the file's id; returns the stored
    bytes read."""
    wrong, checked = [], 0
    for at in range(len(manifest)):
        if not manifest.has_chunks_at(at):
            continue
        entry = manifest.entry_at(at)
        if store.content_id(entry.chunks, transfer_workers(max_workers)) != entry.blob_id:
            wrong.append(manifest.path_at(at))
        checked += sum(store.stored_size(c) for c in entry.chunks)
        ctx.progress.advance(1, entry.size)
    if wrong:
        raise IntegrityError(
            f"{len(wrong)} files of dataset version {record.id} do not rebuild from the chunks "
            f"stored for them (first: {wrong[0]})."
        )
    return checked


def _check_external(ctx: Context, manifest: Manifest, max_workers: int | None) -> None:
    """Every external file of ``manifest`` is still where it was, as it was."""
    linked = [e for e in manifest.values() if e.link] if manifest.external_count else []

    def check(entry: Entry) -> None:
        found = external.ExternalObject(entry.link, entry.size, entry.etag)
        external.check_unchanged(found, ctx.settings.s3)

    with ThreadPoolExecutor(transfer_workers(max_workers)) as pool:
        list(pool.map(check, linked))


@dataclass(frozen=True)
class FolderReport:
    """How a local folder differs from a version, each list in path order."""

    differ: list[str]  # other size or content, or unreadable
    missing: list[str]
    extra: list[str]  # files the version does not have

    def __bool__(self) -> bool:
        return bool(self.differ or self.missing or self.extra)


def verify_folder(
    ctx: Context,
    record: VersionRecord,
    folder: Path,
    skip_hash: bool = False,
    max_workers: int | None = None,
) -> list[str]:
    """The paths of ``record`` that ``folder`` lacks or holds with other content."""
    report = check_folder(ctx, record, folder, skip_hash, max_workers, extra=False)
    return sorted(report.differ + report.missing)


def check_folder(
    ctx: Context,
    record: VersionRecord,
    folder: Path,
    skip_hash: bool = False,
    max_workers: int | None = None,
    extra: bool = True,
) -> FolderReport:
    """What ``folder`` holds with other content, lacks, and (with ``extra``) holds besides."""
    manifest = final_manifest(ctx, record)

    def state(item: tuple[str, Entry]) -> str:
        path, entry = item
        try:
            return _state(folder / path, entry, skip_hash)
        finally:
            ctx.progress.advance(1, entry.size)

    ctx.progress.start("verifying", len(manifest), manifest.total_size)
    try:
        with ThreadPoolExecutor(cpu_workers(max_workers)) as pool:
            states = list(zip(manifest, pool.map(state, manifest.items()), strict=True))
    finally:
        ctx.progress.finish()
    return FolderReport(
        differ=[path for path, found in states if found == "differs"],
        missing=[path for path, found in states if found == "missing"],
        extra=_extra_files(folder, manifest) if extra else [],
    )


def _state(local: Path, entry: Entry, skip_hash: bool) -> str:
    """``"same"``, ``"differs"`` or ``"missing"``: a local file against a version's entry."""
    try:
        if local.stat().st_size != entry.size:
            return "differs"
        if skip_hash or entry.link:  # an external file's id is not a hash of its bytes
            return "same"
        with open(local, "rb", buffering=0) as handle:  # not mapped: see hash_stream
            blob_id, count = hash_stream(handle)
        return "same" if count == entry.size and blob_id == entry.blob_id else "differs"
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "differs"


def _extra_files(folder: Path, manifest: Manifest) -> list[str]:
    """Files (and links) under ``folder`` that are not paths of ``manifest``; ``.deltaset``
    folders (a copy's origin marker) are skipped, as every walk of a folder skips them."""
    found = []
    for root, folders, names in os.walk(folder):
        folders[:] = [f for f in folders if f != paths.OWN_FOLDER]
        base = Path(root).relative_to(folder)
        for name in names:
            path = (base / name).as_posix()
            if path not in manifest:
                found.append(path)
    return sorted(found)
