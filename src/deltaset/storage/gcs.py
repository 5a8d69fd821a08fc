"""Google Cloud Storage as storage, through ``google-cloud-storage``.

Like the other object stores: writes are spooled to a local temporary file and sent when the
writer closes (resumable uploads in :data:`PART_SIZE` parts above that size), and
``put_bytes(overwrite=False)`` is a create-only upload (``if_generation_match=0``).
Credentials are Google's application default credentials (``GOOGLE_APPLICATION_CREDENTIALS``,
``gcloud auth application-default login``, or the metadata server); with
``STORAGE_EMULATOR_HOST`` set (an emulator), requests are anonymous.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlparse

from deltaset import extras
from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError, StorageError
from deltaset.storage.base import IOStats, ObjectInfo
from deltaset.storage.keys import check_prefix
from deltaset.storage.object_store import ObjectStore
from deltaset.storage.retry import retried

PART_SIZE = 8 << 20  # resumable uploads send parts of this size (a multiple of 256 KiB)
TIMEOUT_S = 120
T = TypeVar("T")


def _client_library() -> tuple[Any, Any]:
    try:
        import google.api_core.exceptions as exceptions
        import google.cloud.storage as storage
    except ImportError as exc:
        raise extras.needs("gcs", "google-cloud-storage") from exc
    return storage, exceptions


class GcsStorage(ObjectStore):
    """Objects under ``prefix`` in one Google Cloud Storage bucket."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stats = IOStats()
        storage, self._exceptions = _client_library()
        # The library's own retries, shortened (its default waits start at a second) and on
        # every request, uploads included: all of deltaset's requests are idempotent.
        self._retry = storage.retry.DEFAULT_RETRY.with_delay(initial=0.1, maximum=2.0)
        parsed = urlparse(url)
        self._bucket_name = parsed.netloc
        if not self._bucket_name:
            raise InvalidInputError(f"The storage {url!r} names no bucket.")
        prefix = parsed.path.strip("/")
        self._prefix = f"{prefix}/" if prefix else ""
        self._bucket = _client(storage).bucket(self._bucket_name)

    def _blob(self, key: str) -> Any:
        return self._bucket.blob(self._prefix + key, chunk_size=PART_SIZE)

    # -- writing ------------------------------------------------------------------------------

    def _send(self, key: str, handle: BinaryIO, size: int) -> None:
        self._blob(key).upload_from_file(handle, size=size, timeout=TIMEOUT_S, retry=self._retry)

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> bool:
        create_only = None if overwrite else 0
        with self._errors(f"write {key}"):
            try:
                self._retried(
                    lambda: self._blob(key).upload_from_string(
                        data, if_generation_match=create_only, timeout=TIMEOUT_S, retry=self._retry
                    )
                )
            except self._exceptions.PreconditionFailed:
                return False  # another writer was first (or a retry found our own write)
        self.stats.count(writes=1, bytes_written=len(data))
        return True

    # -- reading ------------------------------------------------------------------------------

    def _download(self, key: str) -> bytes:
        try:
            return super()._download(key)
        except self._exceptions.RequestRangeNotSatisfiable:
            return b""  # an empty object: some servers answer 416 to a read of it

    def _fetch(self, key: str) -> bytes:
        return bytes(self._blob(key).download_as_bytes(timeout=TIMEOUT_S, retry=self._retry))

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        with self._errors(f"read {key}"):
            blob = self._blob(key)
            try:
                data = self._retried(
                    lambda: bytes(
                        blob.download_as_bytes(
                            start=offset,
                            end=offset + length - 1,
                            timeout=TIMEOUT_S,
                            retry=self._retry,
                        )
                    )
                )
            except self._exceptions.RequestRangeNotSatisfiable:
                data = b""  # the range starts past the end
        self.stats.count(reads=1, bytes_read=len(data))
        return data

    def stat(self, key: str) -> ObjectInfo:
        with self._errors(f"read {key}"):
            found = self._retried(
                lambda: self._bucket.get_blob(
                    self._prefix + key, timeout=TIMEOUT_S, retry=self._retry
                )
            )
        if found is None:
            raise NotFoundError(f"The object {key} is missing from {self.url}.")
        return self._info(found)

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        check_prefix(prefix)

        def listing() -> list[ObjectInfo]:
            pages = self._bucket.client.list_blobs(
                self._bucket_name,
                prefix=self._prefix + prefix,
                timeout=TIMEOUT_S,
                retry=self._retry,
            )
            return [self._info(blob) for blob in pages]

        with self._errors(f"list {prefix or 'the storage'}"):
            found = self._retried(listing)  # whole, so a retry never repeats a key
        yield from found

    def _info(self, blob: Any) -> ObjectInfo:
        modified = blob.updated.timestamp() if blob.updated is not None else 0.0
        key = str(blob.name)[len(self._prefix) :]
        return ObjectInfo(key, int(blob.size), str(blob.etag or ""), modified)

    def delete(self, key: str) -> None:
        try:
            with self._errors(f"delete {key}"):
                self._retried(lambda: self._blob(key).delete(timeout=TIMEOUT_S, retry=self._retry))
        except NotFoundError:
            pass  # already gone

    # -- errors -------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """One clear sentence for whatever the service or the network says."""
        found = self._exceptions
        try:
            yield
        except (found.PreconditionFailed, found.RequestRangeNotSatisfiable):
            raise  # answers the callers handle, not failures
        except DeltasetError:
            raise
        except (found.GoogleAPIError, OSError) as exc:
            raise self._error(exc, what) from exc

    def _retried(self, call: Callable[[], T]) -> T:
        found = self._exceptions
        answers = (
            found.NotFound,
            found.Forbidden,
            found.Unauthorized,
            found.PreconditionFailed,
            found.RequestRangeNotSatisfiable,
        )
        return retried(call, lambda exc: isinstance(exc, answers))

    def _bucket_exists(self) -> bool:
        try:
            return bool(self._bucket.exists(timeout=TIMEOUT_S, retry=self._retry))
        except (self._exceptions.GoogleAPIError, OSError):
            return True  # cannot tell: report the object as missing, as the service did

    def _error(self, exc: BaseException, what: str) -> DeltasetError:
        where = f"Cannot {what} in {self.url}"
        message = str(exc).lower()
        if isinstance(exc, self._exceptions.NotFound):
            if "bucket" in message or not self._bucket_exists():
                return StorageError(f"{where}: the bucket {self._bucket_name} does not exist.")
            return NotFoundError(f"The object {what.split()[-1]} is missing from {self.url}.")
        if isinstance(exc, self._exceptions.Forbidden | self._exceptions.Unauthorized):
            return StorageError(f"{where}: access denied; check the credentials.")
        text = str(exc).strip().splitlines()
        return StorageError(f"{where}: {(text[0] if text else type(exc).__name__).rstrip('.')}.")


def _client(storage: Any) -> Any:
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or "emulator"
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return storage.Client(project=project, credentials=anonymous)
    try:
        return storage.Client()
    except Exception as exc:  # google.auth's DefaultCredentialsError and kin
        raise StorageError(
            "No Google Cloud credentials found: set GOOGLE_APPLICATION_CREDENTIALS or run "
            "'gcloud auth application-default login'."
        ) from exc
