"""Reading a ClearML version's own files out of its zip chunks (or, in an offline session,
from where they lie), each checked against the SHA-256 its state records.

Each file is read once: the same pass computes ClearML's SHA-256, deltaset's BLAKE3 and writes
the bytes to a work folder, from which upload sends them.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from deltaset.catalog.base import DraftChange
from deltaset.core import paths
from deltaset.core.hashing import new_hasher
from deltaset.engine.clearml.layout import ClearMLVersion, DamagedVersion, FileItem
from deltaset.errors import InvalidInputError
from deltaset.storage.errors import map_os_errors

READ_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """A file whose bytes matched ClearML's hash, ready to stage from ``source``."""

    path: str
    blob_id: str
    size: int
    source: str

    def change(self) -> DraftChange:
        return DraftChange(self.path, size=self.size, blob_id=self.blob_id, source=self.source)


Advance = Callable[[int, int], None]


def check_own_files(
    version: ClearMLVersion, work: Path, workers: int, advance: Advance
) -> list[CheckedFile]:
    """The files ``version`` itself added or changed, read and checked; raises DamagedVersion
    naming the first missing or damaged chunk or file (nothing of the version is staged)."""
    by_chunk: dict[str | None, list[FileItem]] = {}
    for item in version.own_files:
        by_chunk.setdefault(item.artifact, []).append(item)
    chunks = version.chunks
    missing = sorted(a for a in by_chunk if a is not None and a not in chunks)
    if missing:
        raise DamagedVersion(f"its chunk {missing[0]!r} is missing.")
    work.mkdir(parents=True, exist_ok=True)

    def one(artifact: str | None) -> list[CheckedFile]:
        items = by_chunk[artifact]
        if artifact is None:
            return [_local(item, advance) for item in items]
        return _unzip(version, artifact, items, work, advance)

    with ThreadPoolExecutor(workers) as pool:
        return [f for done in pool.map(one, list(by_chunk)) for f in done]


def dataset_path(path: str) -> str:
    """A ClearML relative path as deltaset keeps it; one that would leave the dataset's
    folder (absolute, ``..``) makes the version damaged."""
    try:
        return paths.check_new(paths.normalize(path.replace("\\", "/")))
    except InvalidInputError as exc:
        raise DamagedVersion(str(exc)) from exc


def _local(item: FileItem, advance: Advance) -> CheckedFile:
    """A file of an offline session: read where the state says it lies."""
    if not item.local_path:
        raise DamagedVersion(f"its file {item.path!r} is in no chunk and has no local copy.")
    try:
        with open(item.local_path, "rb") as handle:
            blob_id = _checked(handle, item, None, advance)
    except OSError as exc:
        raise DamagedVersion(
            f"its file {item.path!r} cannot be read at {item.local_path} ({exc.strerror})."
        ) from exc
    return CheckedFile(dataset_path(item.path), blob_id, item.size, item.local_path)


def _unzip(
    version: ClearMLVersion, artifact: str, items: list[FileItem], work: Path, advance: Advance
) -> list[CheckedFile]:
    key = version.chunks[artifact]
    folder = work / artifact
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    archive = folder / "chunk.zip"
    with (
        map_os_errors(f"write {archive}"),
        version.storage.open(key) as source,
        open(archive, "wb") as target,
    ):
        shutil.copyfileobj(source, target, READ_SIZE)
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = set(zipped.namelist())
            found = [
                _extract(zipped, _member(names, item, artifact), item, folder / str(n), advance)
                for n, item in enumerate(items)
            ]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise DamagedVersion(f"its chunk {artifact!r} is damaged ({exc}).") from exc
    archive.unlink()
    return found


def _member(names: set[str], item: FileItem, artifact: str) -> str:
    # ZipFile.write normalises the arcname ClearML gives it (the relative path)
    for name in (item.path, posixpath.normpath(item.path.replace("\\", "/")).lstrip("/")):
        if name in names:
            return name
    raise DamagedVersion(f"its chunk {artifact!r} lacks the file {item.path!r}.")


def _extract(
    zipped: zipfile.ZipFile, member: str, item: FileItem, target: Path, advance: Advance
) -> CheckedFile:
    with zipped.open(member) as source, open(target, "wb") as copy:
        blob_id = _checked(source, item, copy, advance)
    return CheckedFile(dataset_path(item.path), blob_id, item.size, str(target))


def _checked(source: IO[bytes], item: FileItem, copy: IO[bytes] | None, advance: Advance) -> str:
    """The BLAKE3 of what ``source`` holds, after checking its SHA-256 and size."""
    sha = hashlib.sha256()
    blake = new_hasher()
    size = 0
    while data := source.read(READ_SIZE):
        sha.update(data)
        blake.update(data)
        size += len(data)
        if copy is not None:
            copy.write(data)
    if size != item.size or sha.hexdigest() != item.sha256:
        raise DamagedVersion(
            f"its file {item.path!r} does not match ClearML's SHA-256 and size "
            f"({size} bytes read, {item.size} recorded)."
        )
    advance(1, size)
    return str(blake.hexdigest())


def total(items: Iterable[FileItem]) -> tuple[int, int]:
    listed = list(items)
    return len(listed), sum(i.size for i in listed)
