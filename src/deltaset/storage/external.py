"""External files: objects outside deltaset's storage that versions reference by URL.

deltaset only ever lists and reads them, never writes or deletes them. Buckets (``s3://``,
``gs://``, ``azure://``) are reached through the storage backends, with their credentials and
retries; folders (plain paths, ``file://``) directly; ``http(s)://`` files through ``httpx``.
Each object is known by its size and etag, and a read checks both are still the ones recorded
(before and after reading a bucket's or a folder's object, and in the answer itself over HTTP),
so a version never silently serves an object that changed after it was added, or as it was read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import unquote, urlparse

from deltaset.errors import IntegrityError, InvalidInputError, NotFoundError, StorageError
from deltaset.storage.base import ConditionalReads, S3Settings, Storage, file_etag
from deltaset.storage.errors import map_os_errors
from deltaset.storage.mounts import on_local_disk
from deltaset.storage.retry import retried

if TYPE_CHECKING:
    import httpx  # imported on first use: it costs every command tens of ms to start

PIECE = 8 << 20  # bytes read at a time: a large object never sits whole in memory
HTTP_TIMEOUT_S = 60
BUCKET_SCHEMES = ("s3", "gs", "azure")
HTTP_SCHEMES = ("http", "https")

Write = Callable[[int, bytes], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ExternalObject:
    url: str
    size: int
    etag: str


def find(url: str, s3: S3Settings | None = None) -> Iterator[tuple[str, ExternalObject]]:
    """The object at ``url`` named by its file name, or else every object below ``url`` as a
    folder, named by its path below it; raises NotFoundError when there is neither."""
    scheme = urlparse(url).scheme
    if scheme in BUCKET_SCHEMES:
        return _Bucket(url, s3).find()
    if scheme in HTTP_SCHEMES:
        return iter([(_file_name(url), _http_head(url))])
    return _find_local(_local_path(url))


def stat(url: str, s3: S3Settings | None = None) -> ExternalObject:
    """The object at ``url`` as it is now; raises NotFoundError when it is gone."""
    scheme = urlparse(url).scheme
    if scheme in BUCKET_SCHEMES:
        return _Bucket(url, s3).stat()
    if scheme in HTTP_SCHEMES:
        return _http_head(url)
    return _local_object(_local_path(url))


def is_unchanged(obj: ExternalObject, now: ExternalObject) -> bool:
    """Whether ``now`` (the object as it is) still has the size and etag ``obj`` recorded."""
    return (now.size, now.etag) == (obj.size, obj.etag)


def check_unchanged(obj: ExternalObject, s3: S3Settings | None = None) -> None:
    """Raise IntegrityError when ``obj`` no longer has the size and etag it was recorded with."""
    _check_unchanged(obj, stat(obj.url, s3))


def read(obj: ExternalObject, write: Write, s3: S3Settings | None = None) -> None:
    """Pass the bytes of ``obj`` to ``write(offset, data)`` piece by piece, after checking that
    it still has the size and etag it was recorded with."""
    scheme = urlparse(obj.url).scheme
    if scheme in BUCKET_SCHEMES:
        _Bucket(obj.url, s3).read(obj, write)
    elif scheme in HTTP_SCHEMES:
        _http_read(obj, write)
    else:
        _read_local(obj, write)


def _check_unchanged(obj: ExternalObject, now: ExternalObject) -> None:
    if not is_unchanged(obj, now):
        raise IntegrityError(
            f"The external file {obj.url} changed after it was added to the dataset (it had "
            f"{obj.size} bytes, etag {obj.etag!r}; it now has {now.size} bytes, etag "
            f"{now.etag!r}); to read its current content, pass accept_changed_links=True to "
            f"get_local_copy or get_mutable_local_copy (deltaset get --accept-changed-links), "
            f"or add it again to a new version with add_external_files (deltaset add --links "
            f"URL)."
        )


def _checked_length(obj: ExternalObject, received: int) -> None:
    if received != obj.size:
        raise IntegrityError(
            f"Reading the external file {obj.url} gave {received} bytes, not its {obj.size}."
        )


def _file_name(url: str) -> str:
    name = unquote(urlparse(url).path.rstrip("/").rsplit("/", 1)[-1], errors="surrogateescape")
    if not name:
        raise InvalidInputError(f"The external file {url!r} names no file.")
    return name


# -- buckets ----------------------------------------------------------------------------------


class _Bucket:
    """An object, or a folder of objects, in a bucket: ``scheme://bucket/key``."""

    def __init__(self, url: str, s3: S3Settings | None) -> None:
        from deltaset.storage.registry import open_storage

        parsed = urlparse(url)
        self.root = f"{parsed.scheme}://{parsed.netloc}"
        self.key = unquote(parsed.path).strip("/")
        self.url = url
        self.storage: Storage = open_storage(self.root, s3)

    def find(self) -> Iterator[tuple[str, ExternalObject]]:
        if self.key:
            try:
                info = self.storage.stat(self.key)
                yield _file_name(self.url), self._object(info.key, info.size, info.etag)
                return
            except NotFoundError:
                pass  # not an object: a folder, perhaps
        prefix = f"{self.key}/" if self.key else ""
        found = False
        for info in self.storage.list_info(prefix):
            found = True
            yield info.key[len(prefix) :], self._object(info.key, info.size, info.etag)
        if not found:
            raise NotFoundError(f"No external file or folder {self.url} was found.")

    def _object(self, key: str, size: int, etag: str) -> ExternalObject:
        return ExternalObject(f"{self.root}/{key}", size, etag)

    def stat(self) -> ExternalObject:
        info = self.storage.stat(self.key)
        return self._object(info.key, info.size, info.etag)

    def read(self, obj: ExternalObject, write: Write) -> None:
        """Checked before and after the read: the object replaced as its pieces were read
        would give pieces of both under the etag it was added with. Where the service can
        refuse each piece of another object (S3, Azure), that refusal is the check: one
        request a piece instead of two more an object."""
        storage = self.storage
        if obj.size and obj.etag and isinstance(storage, ConditionalReads):  # no etag: no If-Match

            def piece(offset: int, length: int) -> bytes:
                data = storage.read_range_if(self.key, offset, length, obj.etag)
                if data is None:
                    _check_unchanged(obj, self.stat())  # how it changed, in the message
                    raise IntegrityError(f"The external file {obj.url} changed as it was read.")
                return data

            _checked_length(obj, _read_pieces(obj, piece, write))
            return
        _check_unchanged(obj, self.stat())
        read = _read_pieces(obj, lambda at, length: storage.read_range(self.key, at, length), write)
        _check_unchanged(obj, self.stat())
        _checked_length(obj, read)


def _read_pieces(obj: ExternalObject, piece: Callable[[int, int], bytes], write: Write) -> int:
    """Pass ``obj`` to ``write`` as ``piece(offset, length)`` gives it, :data:`PIECE` bytes
    at a time, to its end or to the first empty piece; the bytes passed."""
    offset = 0
    while offset < obj.size:
        data = piece(offset, min(PIECE, obj.size - offset))
        if not data:
            break
        write(offset, data)
        offset += len(data)
    return offset


# -- folders ----------------------------------------------------------------------------------


def _local_path(url: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path, errors="surrogateescape"))  # the name's very bytes
    if parsed.scheme and len(parsed.scheme) > 1:
        raise InvalidInputError(f"The external file {url!r} uses an unknown scheme.")
    return Path(url).expanduser()


def _local_object(path: Path) -> ExternalObject:
    with map_os_errors(f"read {path}"):
        status = path.stat()
    return ExternalObject(path.resolve().as_uri(), status.st_size, file_etag(status))


def _find_local(path: Path) -> Iterator[tuple[str, ExternalObject]]:
    if path.is_file():
        yield path.name, _local_object(path)
        return
    if not path.is_dir():
        raise NotFoundError(f"No external file or folder {path} was found.")
    for current, folders, files in os.walk(path):
        folders.sort()
        for name in sorted(files):
            file = Path(current, name)
            yield file.relative_to(path).as_posix(), _local_object(file)


def _read_local(obj: ExternalObject, write: Write) -> None:
    """Checked before and after the read: a write while it ran changes the file's etag."""
    path = _local_path(obj.url)
    _check_unchanged(obj, _local_object(path))
    offset = 0
    with map_os_errors(f"read {path}"), path.open("rb") as handle:
        while data := handle.read(PIECE):
            write(offset, data)
            offset += len(data)
        after = os.fstat(handle.fileno())
    _check_unchanged(obj, ExternalObject(obj.url, after.st_size, file_etag(after)))
    _checked_length(obj, offset)


def on_this_machine(url: str) -> bool:
    """Whether ``url`` names a file on a disk of this machine (not in a bucket, on a web
    server or on a network file system): reading it again costs no download."""
    scheme = urlparse(url).scheme
    if scheme in BUCKET_SCHEMES or scheme in HTTP_SCHEMES:
        return False
    try:
        folder = _local_path(url).parent
    except InvalidInputError:
        return False
    return on_local_disk(str(folder))


# -- HTTP -------------------------------------------------------------------------------------


_http_client: httpx.Client | None = None
_http_lock = threading.Lock()  # threads listing files at once would each make a client


def _http() -> httpx.Client:
    """One client per process, its connections kept between requests. Bodies come as they are
    stored ("identity"), so their length is the Content-Length the server announces."""
    global _http_client
    with _http_lock:
        if _http_client is None:
            import httpx

            from deltaset.storage.http_client import tls_context

            _http_client = httpx.Client(
                timeout=HTTP_TIMEOUT_S,
                follow_redirects=True,
                headers={"Accept-Encoding": "identity"},
                verify=tls_context(),
            )
        return _http_client


def close_http() -> None:
    """Close the kept connections to web servers (a later request opens new ones)."""
    global _http_client
    with _http_lock:
        if _http_client is not None:
            _http_client.close()
            _http_client = None


def _http_head(url: str) -> ExternalObject:
    def head() -> ExternalObject:
        answer = _http().head(url)
        answer.raise_for_status()
        return _http_object(url, answer.headers)

    return _http_call(url, head)


def _http_object(url: str, headers: httpx.Headers) -> ExternalObject:
    length = headers.get("Content-Length")
    if length is None:
        raise StorageError(f"The web server of {url} does not say the size of the file.")
    etag = headers.get("ETag") or headers.get("Last-Modified") or ""
    return ExternalObject(url, int(length), etag)


def _http_read(obj: ExternalObject, write: Write) -> None:
    def fetch() -> None:
        with _http().stream("GET", obj.url) as answer:
            answer.raise_for_status()
            _check_unchanged(obj, _http_object(obj.url, answer.headers))
            offset = 0
            for data in answer.iter_bytes(PIECE):
                write(offset, data)
                offset += len(data)
            _checked_length(obj, offset)

    _http_call(obj.url, fetch)


def _http_call(url: str, call: Callable[[], T]) -> T:
    import httpx

    def is_answer(exc: Exception) -> bool:
        if isinstance(exc, httpx.HTTPStatusError):
            code = exc.response.status_code
            return code < 500 and code != 429  # a server error or throttling may pass
        return isinstance(exc, IntegrityError | httpx.InvalidURL | httpx.UnsupportedProtocol)

    try:
        return retried(call, is_answer)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        raise http_failure(url, exc) from exc


def http_client() -> httpx.Client:
    """The kept client, for a caller that reads an answer as it comes."""
    return _http()


def http_failure(url: str, exc: Exception) -> StorageError | NotFoundError:
    """The one sentence for a request to ``url`` that failed with ``exc`` (an httpx error,
    an error status included, or an OSError)."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        answer = exc.response
        if answer.status_code == 404:
            return NotFoundError(f"No external file {url} was found (HTTP 404).")
        return StorageError(f"Cannot read {url}: HTTP {answer.status_code} {answer.reason_phrase}.")
    return StorageError(f"Cannot read {url}: {_http_reason(exc)}.")


def _http_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".")
