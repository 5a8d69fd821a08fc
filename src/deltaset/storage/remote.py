"""Single files addressed by URL, outside any dataset: what ``StorageManager`` reads and writes.

A URL is an object in a bucket (``s3://``, ``gs://``, ``azure://``: the bucket's storage
backend, with its credentials, endpoints and retries), a file on a web server (``http(s)://``,
read through ``httpx``; nothing is written there), or a file in a folder (``file://`` or a
plain path). Reads go through :mod:`deltaset.storage.external`, which checks that the object
does not change while it is read; writes are published whole (a temporary file and a rename,
or one object-store put), so a cut-off transfer never leaves a partial file under its name.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from deltaset.errors import InvalidInputError, NotFoundError
from deltaset.storage import external
from deltaset.storage.base import S3Settings, Storage
from deltaset.storage.errors import map_os_errors
from deltaset.storage.keys import check_key

BUCKET_SCHEMES = external.BUCKET_SCHEMES
HTTP_SCHEMES = external.HTTP_SCHEMES
PIECE = external.PIECE


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file as a listing or a look-up finds it: ``name`` is its key in its bucket, its path
    on its web server, or its path below the listed folder; ``url`` its full address."""

    name: str
    url: str
    size: int


def kind(url: str) -> str:
    """``"bucket"``, ``"http"`` or ``"local"``; an unknown scheme is refused."""
    scheme = urlparse(url).scheme
    if scheme in BUCKET_SCHEMES:
        return "bucket"
    if scheme in HTTP_SCHEMES:
        return "http"
    if scheme == "file" or len(scheme) <= 1:  # a Windows drive letter is no scheme
        return "local"
    raise InvalidInputError(
        f"The URL {url!r} uses an unknown scheme {scheme!r}; use s3://, gs://, azure://, "
        "http(s)://, file:// or a path."
    )


def local_path(url: str) -> Path:
    """The file or folder a ``file://`` URL or a plain path names."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path, errors="surrogateescape"))
    return Path(url).expanduser()


def bucket_of(url: str, s3: S3Settings | None) -> tuple[str, str, Storage]:
    """The root URL (``scheme://bucket``) of a bucket URL, its key, and the bucket's storage."""
    from deltaset.storage.registry import open_storage

    parsed = urlparse(plain(url))
    if not parsed.netloc:
        raise InvalidInputError(f"The URL {url!r} names no bucket.")
    root = f"{parsed.scheme}://{parsed.netloc}"
    return root, unquote(parsed.path).lstrip("/"), open_storage(root, s3)


def plain(url: str) -> str:
    """``url`` in deltaset's spelling: ClearML's ``azure://ACCOUNT.blob.core.windows.net/
    CONTAINER/KEY`` is ``azure://CONTAINER/KEY`` (a container name has no dot; the account
    comes from the Azure variables)."""
    parsed = urlparse(url)
    if parsed.scheme == "azure" and "." in parsed.netloc:
        return f"azure:/{parsed.path}"
    return url


def relative_path(url: str) -> str:
    """Where ``url`` sits below its bucket, web server or file system root: the path a
    download keeps below the folder it goes to."""
    if kind(url) == "local":
        return local_path(url).expanduser().absolute().as_posix().lstrip("/")
    return unquote(urlparse(plain(url)).path).lstrip("/")


def stat(url: str, s3: S3Settings | None = None) -> RemoteFile:
    """The file at ``url``; raises NotFoundError when there is none (a folder is none)."""
    url = plain(url)
    if kind(url) == "local" and local_path(url).is_dir():
        raise NotFoundError(f"{url} is a folder, not a file.")
    if kind(url) == "bucket" and not bucket_of(url, s3)[1]:
        raise NotFoundError(f"{url} is a bucket, not a file.")
    found = external.stat(url, s3)
    name = local_path(url).name if kind(url) == "local" else relative_path(url)
    return RemoteFile(name, url, found.size)


def download(url: str, dest: Path, s3: S3Settings | None = None) -> int:
    """Write the file at ``url`` to ``dest`` through a partial file beside it, renamed only
    once every byte arrived; returns its size."""
    url = plain(url)
    found = external.stat(url, s3)
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.partial")
    with map_os_errors(f"write {dest}"):
        dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with map_os_errors(f"write {dest}"), partial.open("wb") as handle:
            external.read(found, lambda offset, data: _write_at(handle, offset, data), s3)
            handle.truncate(found.size)  # a retry restarted from 0: nothing past the end
        with map_os_errors(f"write {dest}"):
            os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return found.size


def _write_at(handle: BinaryIO, offset: int, data: bytes) -> None:
    handle.seek(offset)
    handle.write(data)


def chunks(
    url: str, chunk_size: int | None = None, s3: S3Settings | None = None
) -> Iterator[bytes]:
    """The bytes of the file at ``url``, ``chunk_size`` at a time, without a local copy."""
    size = chunk_size if chunk_size and chunk_size > 0 else PIECE
    found = stat(url, s3)  # a missing file is said before the first chunk is asked for
    where = kind(url)
    if where == "bucket":
        return _bucket_chunks(url, found.size, size, s3)
    if where == "http":
        return _http_chunks(url, size)
    return _local_chunks(local_path(url), size)


def _bucket_chunks(url: str, total: int, size: int, s3: S3Settings | None) -> Iterator[bytes]:
    _, key, storage = bucket_of(url, s3)
    offset = 0
    while offset < total:
        data = storage.read_range(key, offset, min(size, total - offset))
        if not data:
            return
        offset += len(data)
        yield data


def _http_chunks(url: str, size: int) -> Iterator[bytes]:
    import httpx

    try:
        with external.http_client().stream("GET", url) as answer:
            answer.raise_for_status()
            yield from answer.iter_bytes(size)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        raise external.http_failure(url, exc) from exc


def _local_chunks(path: Path, size: int) -> Iterator[bytes]:
    with map_os_errors(f"read {path}"), path.open("rb") as handle:
        while data := handle.read(size):
            yield data


def listing(url: str, s3: S3Settings | None = None) -> list[RemoteFile]:
    """Every file whose key starts with the key of ``url`` in its bucket (a folder, or the
    start of names), or every file below the folder ``url`` names; web servers list nothing."""
    where = kind(url)
    if where == "bucket":
        root, key, storage = bucket_of(url, s3)
        return [
            RemoteFile(info.key, f"{root}/{info.key}", info.size) for info in storage.list_info(key)
        ]
    if where == "http":
        raise InvalidInputError(f"A web server lists no files: {url} cannot be listed.")
    folder = local_path(url)
    found: list[RemoteFile] = []
    with map_os_errors(f"list {folder}"):
        for current, folders, files in os.walk(folder):
            folders.sort()
            for name in sorted(files):
                file = Path(current, name)
                relative = file.relative_to(folder).as_posix()
                found.append(RemoteFile(relative, str(file), file.stat().st_size))
    return found


def upload(path: Path, url: str, s3: S3Settings | None = None) -> None:
    """Publish the local file ``path`` as the file at ``url``, whole or not at all."""
    with map_os_errors(f"read {path}"):
        if not path.is_file():
            raise NotFoundError(f"Cannot upload {path}: it is not a file.")
    where = kind(url)
    if where == "bucket":
        _, key, storage = bucket_of(url, s3)
        if not key or key.endswith("/"):
            raise InvalidInputError(f"The URL {url} names no file to upload {path} to.")
        storage.put_file(check_key(key), path)
    elif where == "http":
        raise InvalidInputError(
            f"deltaset uploads to buckets and folders, not to web servers such as {url}."
        )
    elif url.endswith("/") or local_path(url).is_dir():
        raise InvalidInputError(f"The path {url} is a folder; name the file to upload {path} to.")
    else:
        _copy_whole(path, local_path(url))


def _copy_whole(source: Path, dest: Path) -> None:
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.partial")
    with map_os_errors(f"write {dest}"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
