"""External files in versions: staged by reference (URL, size, etag), fetched on pull.

An external file is never uploaded: its blob id is made from its URL, size and etag
(:func:`~deltaset.core.hashing.external_id`), so it diffs like any other file (a changed
object is a modified file), and a pull reads it from where it lives into the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import blake3

from deltaset.cache.blobs import Assembler
from deltaset.cache.tree_build import TreeBuild
from deltaset.catalog.base import DraftChange
from deltaset.core import paths
from deltaset.core.hashing import external_id
from deltaset.core.manifest import Entry, Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.add import stage_files
from deltaset.engine.context import Context, transfer_workers
from deltaset.engine.views import current_view, require_mutable
from deltaset.errors import InvalidInputError
from deltaset.faults import failpoint
from deltaset.storage import external

log = logging.getLogger("deltaset")
TAG = "external files"  # as ClearML Data tags a dataset holding them


@dataclass(frozen=True, slots=True)
class ExternalFile:
    """An external object about to land at ``path`` in a draft."""

    path: str
    found: external.ExternalObject

    @property
    def blob_id(self) -> str:
        return external_id(self.found.url, self.found.size, self.found.etag)

    def change(self) -> DraftChange:
        found = self.found
        return DraftChange(
            self.path, size=found.size, blob_id=self.blob_id, link=found.url, etag=found.etag
        )


def add_external_files(
    ctx: Context,
    record: VersionRecord,
    source_url: str | Sequence[str],
    wildcard: str | Sequence[str] | None = None,
    dataset_path: str | Sequence[str] | None = None,
    recursive: bool = True,
    max_workers: int | None = None,
) -> int:
    """Stage, by reference, the objects at ``source_url`` (one URL or several): an object, or
    every object below a folder URL, landing under ``dataset_path`` (one for all URLs, or one
    per URL). Returns how many files were added or modified; all or nothing."""
    require_mutable(ctx, record)
    urls = [source_url] if isinstance(source_url, str) else list(source_url)
    folders = _folders(dataset_path, len(urls))
    patterns = [wildcard] if isinstance(wildcard, str) else list(wildcard or [])

    def listing(url: str) -> list[tuple[str, external.ExternalObject]]:
        return list(external.find(url, ctx.settings.s3))

    with ThreadPoolExecutor(transfer_workers(max_workers)) as pool:
        listings = list(pool.map(listing, urls))
    chosen: dict[str, ExternalFile] = {}
    matched: set[str] = set()
    for folder, found in zip(folders, listings, strict=True):
        for name, obj in found:
            if not recursive and "/" in name:
                continue
            hits = {p for p in patterns if paths.matches(name, p)}
            if patterns and not hits:
                continue
            matched |= hits
            path = paths.join(folder, name)
            chosen[path] = ExternalFile(path, obj)  # the last URL naming a path wins
    for pattern in (p for p in patterns if p not in matched):
        log.warning("No file of %s matches the wildcard %r.", ", ".join(urls), pattern)
    added, modified = stage_files(
        ctx, record, (chosen[p] for p in sorted(chosen)), current_view(ctx, record)
    )
    if added or modified:
        _tag(ctx, record.id)
    return added + modified


def _folders(dataset_path: str | Sequence[str] | None, count: int) -> list[str]:
    if dataset_path is None or isinstance(dataset_path, str):
        return [paths.normalize_folder(dataset_path)] * count
    if len(dataset_path) != count:
        raise InvalidInputError(
            f"Give one dataset_path for all the URLs or one per URL: {count} URLs, "
            f"{len(dataset_path)} dataset paths."
        )
    return [paths.normalize_folder(p) for p in dataset_path]


def _tag(ctx: Context, version_id: str) -> None:
    ctx.catalog.edit_tags(version_id, add=[TAG])


def fetch_external(
    ctx: Context,
    entries: Mapping[str, Entry],
    max_workers: int | None,
    copies: Mapping[str, list[str]] | None = None,
    build: TreeBuild | None = None,
    keep: bool = True,
) -> None:
    """Read the external files ``entries`` (blob id -> entry, none cached yet) into the cache,
    and into the files of a writable copy that ``copies`` names for them. Each is accounted
    for as it is placed, with its stat then, which the folder ``build`` linking them next is
    told (see :mod:`deltaset.cache.blob_writes`).

    A file a copy reads from this machine's disks is written into the copy only, as a copy
    from a folder storage there leaves the cache as it is: reading it again costs no download,
    and caching would double every write. With ``keep`` False, no file is cached."""
    copies = copies or {}

    def fetch(entry: Entry) -> None:
        dests = copies.get(entry.blob_id, [])
        cached = not dests or (keep and not external.on_this_machine(entry.link))
        if cached:
            assembler = ctx.cache.assembler(entry.blob_id, entry.size, content_id=False)
        else:  # built in its first copy
            assembler = Assembler.writable(entry.blob_id, entry.size, dests[0], content_id=False)
            dests = dests[1:]
        try:
            assembler.mirror_to(dests)
            found = external.ExternalObject(entry.link, entry.size, entry.etag)
            external.read(found, assembler.write_at, ctx.settings.s3)
            placed = assembler.finish()
            if cached:
                writes.written(entry.blob_id, entry.size, placed)
            if cached and build is not None:
                build.cached(entry.blob_id, placed)
        finally:
            assembler.discard()
        failpoint("pull.after_blob")
        ctx.progress.advance(1, entry.size)

    with (
        ctx.cache.writes() as writes,
        ThreadPoolExecutor(transfer_workers(max_workers)) as pool,
    ):
        writes.expect(entries)
        list(pool.map(fetch, entries.values()))


def current_links(
    ctx: Context, manifest: Manifest, max_workers: int | None
) -> tuple[Manifest, str]:
    """``manifest`` with each external file that changed since it was added taken as it is now,
    and a suffix for the key of a cached folder of it ("" when none changed).

    A changed file gets the blob id of its current URL, size and etag, so the cache keeps its
    current bytes under their own id, never under the id the version recorded, and the
    version's own cached folder never holds them: a read without this option still refuses.
    A warning names each such file.
    """
    linked = [(p, e) for p, e in manifest.items() if e.link] if manifest.external_count else []

    def now(item: tuple[str, Entry]) -> external.ExternalObject:
        return external.stat(item[1].link, ctx.settings.s3)

    with ThreadPoolExecutor(transfer_workers(max_workers)) as pool:
        found = list(pool.map(now, linked))
    current: dict[str, Entry] = {}
    for (path, entry), obj in zip(linked, found, strict=True):
        recorded = external.ExternalObject(entry.link, entry.size, entry.etag)
        if external.is_unchanged(recorded, obj):
            continue
        log.warning(
            "The external file %s (%s) changed after it was added to the dataset; "
            "serving its current content.",
            path,
            entry.link,
        )
        blob_id = external_id(entry.link, obj.size, obj.etag)
        current[path] = Entry(obj.size, blob_id, link=entry.link, etag=obj.etag)
    if not current:
        return manifest, ""
    ids = "\0".join(current[p].blob_id for p in sorted(current))
    return manifest.changed(current), "-current" + blake3.blake3(ids.encode()).hexdigest(6)
