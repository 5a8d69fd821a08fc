"""A local or network folder as storage (the default), with atomic create-then-publish writes."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat as stat_module
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from deltaset.errors import NotFoundError
from deltaset.storage.base import CountingReader, IOStats, ObjectInfo, file_etag
from deltaset.storage.errors import map_os_errors
from deltaset.storage.keys import check_key, check_prefix

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

TMP_FOLDER = "tmp"
# Times a write makes its key's folder again when a delete of the folder's last file removed it
# between the write's start and its publish (see LocalStorage.delete).
PUBLISH_TRIES = 3
STALE_AFTER_S = 24 * 3600  # a write in progress this old belongs to a process that died


def sweep_stale(folder: Path, older_than: float = STALE_AFTER_S) -> int:
    """Delete what killed processes left in a staging folder; returns how many entries.
    Housekeeping only: a folder that cannot be listed (gone, a file, unreadable) is left to
    the operation that needs it, which names the problem."""
    removed = 0
    deadline = time.time() - older_than
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < deadline:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                    removed += 1
    return removed


def write_best_effort(path: Path, data: bytes | Iterable[ReadableBuffer]) -> None:
    """Write ``data`` (or its pieces, one after the other) to ``path`` through a temporary
    file and a rename, for local files that are only an optimisation: a failure raises
    nothing and leaves no temporary file behind."""
    temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as file:
            for piece in [data] if isinstance(data, bytes) else data:
                file.write(piece)
        os.replace(temporary, path)
    with contextlib.suppress(OSError):
        temporary.unlink(missing_ok=True)


class LocalStorage:
    """Objects are files under ``root``; every write goes through ``root/tmp`` and a rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()
        self.stats = IOStats()
        sweep_stale(root / TMP_FOLDER)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        with self._staged(key) as (tmp, handle):
            yield handle
            self.stats.count(bytes_written=handle.tell())
        with map_os_errors(f"publish {key} in {self.url}"):
            self._publish(os.replace, tmp, key)
        self.stats.count(writes=1)

    def _publish(self, place: Callable[[Path, Path], None], tmp: Path, key: str) -> None:
        """``place`` the staged ``tmp`` at ``key``, making the key's folder again if a delete
        removed it since the write began."""
        path = self._path(key)
        for _ in range(PUBLISH_TRIES - 1):
            try:
                place(tmp, path)
                return
            except FileNotFoundError:
                if not tmp.exists():
                    raise
                path.parent.mkdir(parents=True, exist_ok=True)
        place(tmp, path)

    def _new_tmp(self, key: str) -> Path:
        """A fresh name in the staging folder, with the folders of it and of ``key`` made."""
        self._path(key).parent.mkdir(parents=True, exist_ok=True)
        tmp = self.root / TMP_FOLDER / f"{uuid.uuid4().hex}.tmp"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return tmp

    @contextmanager
    def _staged(self, key: str) -> Iterator[tuple[Path, BinaryIO]]:
        with map_os_errors(f"write {key} to {self.url}"):
            tmp = self._new_tmp(key)
            try:
                with tmp.open("wb") as handle:
                    yield tmp, handle
                    handle.flush()
                    os.fsync(handle.fileno())  # durable before a rename or link publishes it
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> bool:
        if overwrite:
            with self.writer(key) as handle:
                handle.write(data)
            return True
        with self._staged(key) as (tmp, handle):
            handle.write(data)
        try:
            # An existing key is caught here, before map_os_errors would report it as a failure.
            with map_os_errors(f"publish {key} in {self.url}"):
                try:
                    self._publish(os.link, tmp, key)  # fails if the key exists: first wins
                except FileExistsError:
                    return False
        finally:
            tmp.unlink(missing_ok=True)
        self.stats.count(writes=1, bytes_written=len(data))
        return True

    def put_file(self, key: str, path: Path) -> None:
        """A hard link when ``path`` is on the same file system (nothing copied), else a copy."""
        with map_os_errors(f"write {key} to {self.url}"):
            tmp = self._new_tmp(key)
            try:
                try:
                    os.link(path, tmp)
                except OSError:
                    shutil.copyfile(path, tmp)
                with tmp.open("rb+") as handle:
                    os.fsync(handle.fileno())  # durable before the rename publishes it
                size = tmp.stat().st_size
                self._publish(os.replace, tmp, key)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        self.stats.count(writes=1, bytes_written=size)

    def open(self, key: str) -> BinaryIO:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"The object {key} is missing from storage {self.url}.") from exc
        except OSError:
            with map_os_errors(f"read {key} from {self.url}"):
                raise
        self.stats.count(reads=1)
        return cast(BinaryIO, CountingReader(handle, self.stats))

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as handle:
            return handle.read()

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        with self.open(key) as handle:
            handle.seek(offset)
            return handle.read(length)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        with map_os_errors(f"read {key} from {self.url}"):
            return self._path(key).stat().st_size

    def stat(self, key: str) -> ObjectInfo:
        with map_os_errors(f"read {key} from {self.url}"):
            status = self._path(key).stat()
        if not stat_module.S_ISREG(status.st_mode):  # a folder is not an object
            raise NotFoundError(f"The object {key} is missing from storage {self.url}.")
        return ObjectInfo(key, status.st_size, file_etag(status), status.st_mtime)

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        for key in self.list(prefix):
            try:
                yield self.stat(key)
            except NotFoundError:
                continue  # deleted since it was listed

    def list(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self._path(folder) if folder else self.root
        for current, dirs, files in os.walk(base):
            if Path(current) == self.root:
                dirs[:] = [d for d in dirs if d != TMP_FOLDER]  # writes in progress are not keys
            for name in files:
                key = Path(current, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        path = self._path(key)
        with map_os_errors(f"delete {key} from {self.url}"):
            path.unlink(missing_ok=True)
        self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents while they are empty, up to the top folder of
        the key (``packs/``): a gc deleting every pack of a prefix left its 256 folders
        behind, 4 KB each. A write into a folder removed meanwhile makes it again (see
        :meth:`_publish`)."""
        while folder.parent != self.root and folder != self.root:
            try:
                folder.rmdir()
            except OSError:  # not empty (or not ours to remove): the usual case
                return
            folder = folder.parent
