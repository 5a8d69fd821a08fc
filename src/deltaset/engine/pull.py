"""Pulling a version: fetch the blobs the cache lacks, then link them into a read-only folder."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deltaset.cache import locking
from deltaset.cache.links import LinkMode, copy_writable
from deltaset.core import paths
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.views import final_manifest, require_final
from deltaset.errors import InvalidInputError, StateError
from deltaset.faults import failpoint
from deltaset.storage.errors import map_os_errors


def select(
    manifest: Manifest, part: int | None, num_parts: int | None, files: Sequence[str] | None
) -> Manifest:
    """The subset of ``manifest`` a partial pull asks for (by part, by path patterns, or both)."""
    chosen = list(manifest)
    if num_parts is not None or part is not None:
        if part is None or not num_parts or not 0 <= part < num_parts:
            raise InvalidInputError(
                "A partial pull needs 0 <= part < num_parts, for example part=0, num_parts=4."
            )
        chosen = chosen[len(chosen) * part // num_parts : len(chosen) * (part + 1) // num_parts]
    if files:
        chosen = [p for p in chosen if any(paths.matches(p, f) for f in files)]
    return Manifest((p, manifest[p]) for p in chosen)


def tree_key(
    record: VersionRecord,
    mode: LinkMode,
    part: int | None,
    num_parts: int | None,
    files: Sequence[str] | None,
) -> str:
    key = record.id if mode is LinkMode.HARDLINK else f"{record.id}-{mode}"
    if num_parts:
        key += f"-part{part}of{num_parts}"
    if files:
        key += "-files" + hashlib.sha256("\0".join(sorted(files)).encode()).hexdigest()[:12]
    return key


def ensure_cached(
    ctx: Context, storage_url: str, sizes: Mapping[str, int], max_workers: int | None
) -> int:
    """Fetch the blobs (id -> size) the cache lacks from ``storage_url``; returns bytes fetched."""
    cache = ctx.cache
    missing = cache.missing(sizes)
    if not missing:
        return 0
    store = ctx.blobs(storage_url)
    ctx.progress.start("downloading", len(missing), sum(sizes[b] for b in missing))

    fetched: list[tuple[str, int]] = []

    def fetch(blob_id: str) -> int:
        size = cache.fetch(blob_id, store.get_into)
        fetched.append((blob_id, size))
        failpoint("pull.after_blob")
        ctx.progress.advance(1, size)
        return size

    try:
        with ThreadPoolExecutor(max_workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
            return sum(pool.map(fetch, missing))
    finally:
        cache.remember(fetched)
        ctx.progress.finish()


def blob_sizes(manifest: Manifest) -> dict[str, int]:
    return {e.blob_id: e.size for e in manifest.values()}


def get_local_copy(
    ctx: Context,
    record: VersionRecord,
    use_soft_links: bool = False,
    part: int | None = None,
    num_parts: int | None = None,
    files: Sequence[str] | None = None,
    max_workers: int | None = None,
) -> Path:
    """The read-only cached folder of ``record``; a warm call reads nothing but one folder stat."""
    require_final(record, "pull it")
    mode = LinkMode.SYMLINK if use_soft_links else LinkMode.HARDLINK
    cache = ctx.cache
    key = tree_key(record, mode, part, num_parts, files)
    locking.pin(cache.lock_path(key))
    if cache.has_tree(key):
        cache.touch_tree(key)
        return cache.tree_path(key)
    manifest = select(final_manifest(ctx, record), part, num_parts, files)
    with locking.shared(cache.global_lock()):
        ensure_cached(ctx, record.storage, blob_sizes(manifest), max_workers)
        tree = cache.build_tree(key, manifest, mode)
    cache.evict()
    return tree


def get_mutable_local_copy(
    ctx: Context,
    record: VersionRecord,
    target_folder: str,
    overwrite: bool = False,
    part: int | None = None,
    num_parts: int | None = None,
    files: Sequence[str] | None = None,
    max_workers: int | None = None,
) -> Path:
    """A writable copy of ``record`` in ``target_folder``; refuses a non-empty folder."""
    require_final(record, "copy it")
    target = Path(target_folder).expanduser()
    _prepare_target(target, overwrite)
    manifest = select(final_manifest(ctx, record), part, num_parts, files)
    cache = ctx.cache
    with locking.shared(cache.global_lock()):
        ensure_cached(ctx, record.storage, blob_sizes(manifest), max_workers)
        with map_os_errors(f"write into {target}"):
            for path, entry in manifest.items():
                dest = paths.safe_target(target, path)
                dest.parent.mkdir(parents=True, exist_ok=True)
                copy_writable(cache.blob_path(entry.blob_id), dest)
    cache.evict()
    return target


def _prepare_target(target: Path, overwrite: bool) -> None:
    with map_os_errors(f"prepare the folder {target}"):
        if target.is_file():
            raise InvalidInputError(f"The target {target} is a file, not a folder.")
        if target.is_dir() and any(target.iterdir()):
            if not overwrite:
                raise StateError(
                    f"The folder {target} is not empty; pass overwrite=True (--overwrite) "
                    "to replace its contents."
                )
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        target.mkdir(parents=True, exist_ok=True)
