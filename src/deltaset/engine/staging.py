"""Packing small files while they are hashed, so that uploading them reads nothing again.

Adding files reads each one to hash it. While its bytes are in memory, a small file is also
compressed into a pack in the draft's own staging folder (``<home>/staging/<draft id>``): packs
of the storage format, with no index (each is read by its own header). Upload then sends every
staged pack whose blobs the target storage lacks as it is (a hard link on the same file system,
else one file copy), whatever the target, and reads from the sources only what no whole staged
pack holds. The staging store is an
optimisation only: deleting it, or uploading at another compression level, just means the
sources are read again. It goes when the draft is finalized or deleted.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from deltaset.core.chunking import should_chunk
from deltaset.core.manifest import Manifest
from deltaset.core.records import VersionRecord
from deltaset.engine.context import Context
from deltaset.engine.hash_process import Keeper
from deltaset.errors import DeltasetError
from deltaset.faults import failpoint
from deltaset.objects.store import BlobStore
from deltaset.packs.codec import LEVEL
from deltaset.packs.groups import whole_form
from deltaset.packs.reader import read_pack_rows
from deltaset.packs.writer import PackWriter, pack_id_of
from deltaset.storage.local import LocalStorage

log = logging.getLogger("deltaset")
STOPPED = "stopped packing files as they are added (%s); upload reads them"


def staging_path(ctx: Context, draft_id: str) -> Path:
    return ctx.settings.staging_dir / draft_id


@contextmanager
def packing(ctx: Context, record: VersionRecord, view: Manifest) -> Iterator[Keeper | None]:
    """A ``keep`` for :func:`deltaset.engine.scan.hash_files` that packs what it is given into
    the draft's staging store, or None when packing on add is turned off. Files whose content
    ``view`` (the draft as it is) already has at their path are not packed: stored already."""
    if not ctx.settings.pack_on_add:
        yield None
        return

    def held_at(path: str) -> bytes | None:
        at = view.position(path)
        return None if at is None else view.raw_id_at(at)

    keeper = _Keeper(staging_path(ctx, record.id), held_at if view else None)
    try:
        yield keeper
    except BaseException as exc:
        keeper.close(exc)
        raise
    keeper.close(None)


def discard(ctx: Context, draft_id: str) -> None:
    """Forget the draft's staged packs (after finalize or delete)."""
    shutil.rmtree(staging_path(ctx, draft_id), ignore_errors=True)


def send_staged(
    ctx: Context, draft_id: str, view: Manifest, store: BlobStore, unheld: Sequence[int]
) -> int:
    """Publish in ``store`` every staged pack of the draft whose blobs are all files of ``view``
    that ``store`` lacks (at the positions ``unheld``); returns the bytes sent. One index file
    names them all, written last (an interruption before it leaves packs that
    :meth:`BlobStore.recover` indexes).

    Each pack is judged by its own header, so the staging store's index is never loaded.
    """
    folder = staging_path(ctx, draft_id)
    if not folder.is_dir():
        return 0
    staged = LocalStorage(folder)
    chunked = view.chunked_count
    wanted = {
        raw_id
        for at, size, raw_id in view.sized_raw_ids(unheld)
        if not should_chunk(size) and not (chunked and view.has_chunks_at(at))
    }
    rows, pairs = bytearray(), bytearray()
    size = 0
    for key in staged.list("packs/"):
        pack_id = pack_id_of(key)
        if pack_id is None:
            continue
        try:
            found = read_pack_rows(staged, pack_id)  # rows straight from the header
        except DeltasetError:
            continue  # not a whole pack: its files are read from their sources instead
        if wanted.issuperset(found.raw_ids):
            wanted.difference_update(found.raw_ids)  # a later pack holding one is not sent
            store.storage.put_file(key, folder.joinpath(*key.split("/")))
            failpoint("upload.after_staged_pack")
            rows += found.rows
            pairs += found.pairs
            size += staged.size(key)
    if rows:
        store.index.publish_rows(rows, pairs=pairs)
    return size


class _Keeper(Keeper):
    """Opens the staging pack writer on the first file to pack, not before: adding files whose
    hashes are known reads and packs nothing. Unchanged files (hashed again because their stat
    changed, say in a copied folder) are not packed, nor any content twice in one pack.
    Nothing is indexed and only the raw ids of the pack being written are kept. A failure to
    pack (a full disk, say) stops packing, not the add: upload then reads the files as it
    would have anyway. Pickled (for a second hashing process), it is a keeper of the same
    folder that packs whatever it is told."""

    def __init__(self, folder: Path, held: Callable[[str], bytes | None] | None) -> None:
        """``held`` (the raw id the draft holds at a path) is None when it holds no file yet."""
        self._folder = folder
        self._held = held
        self._writer: PackWriter | None = None
        self._lock = threading.Lock()
        self._failure: Exception | None = None
        self._packed: set[bytes] = set()

    def __reduce__(self) -> tuple[type[_Keeper], tuple[Path, None]]:
        return _Keeper, (self._folder, None)

    def held_at(self, path: str) -> bytes | None:
        return None if self._held is None else self._held(path)

    def __call__(self, files: list[tuple[str, str, bytes]]) -> None:
        """Pack ``files`` (dataset path, blob id, bytes), one lock taken for them all."""
        if self._failure is not None:
            return
        held = self._held
        wanted = []
        for path, blob_id, data in files:
            raw = bytes.fromhex(blob_id)
            if held is None or held(path) != raw:
                wanted.append((raw, blob_id, data))
        try:
            with self._lock:
                packed = self._packed
                fresh = []
                for raw, blob_id, data in wanted:
                    if raw not in packed:
                        packed.add(raw)
                        fresh.append((blob_id, data))
            if not fresh:
                return
            writer = self._writer or self._open()
            writer.add_many(
                (blob_id, *whole_form(data, LEVEL), len(data)) for blob_id, data in fresh
            )
            failpoint("staging.after_keep")
        except (DeltasetError, OSError) as exc:
            with self._lock:
                if self._failure is None:
                    log.warning(STOPPED, exc)
                    self._failure = exc

    def _open(self) -> PackWriter:
        with self._lock:
            if self._writer is None:
                self._writer = PackWriter(
                    LocalStorage(self._folder), on_pack=self._published, make_rows=False
                )
            return self._writer

    def _published(self, rows: bytes, pairs: bytes) -> None:
        # Duplicates only matter within one pack: upload sends no blob twice across packs.
        with self._lock:
            self._packed.clear()

    def close(self, exc: BaseException | None) -> None:
        if self._writer is None:
            return
        exc = exc or self._failure
        try:
            if exc is None:
                self._writer.close()
            else:
                self._writer.abort(exc)
        except (DeltasetError, OSError) as failed:
            # The staged packs are an optimisation: whatever failed, upload reads the files.
            # A storage opens without touching its folder, so a write here may be the first
            # to find it unusable: said as a failure while packing is.
            if exc is None:
                log.warning(STOPPED, failed)
