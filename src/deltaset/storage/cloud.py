"""Object stores (S3 and S3-compatible services, Azure Blob) as storage, through ``obstore``.

Objects are immutable and every put is atomic on these services, so create-then-publish needs
no staging: a write is spooled to a local temporary file and sent when the writer closes
(in parallel parts above :data:`PART_SIZE`), and ``put_bytes(overwrite=False)`` is a
conditional put. Credentials come from where their tools keep them (environment variables,
profiles, single sign-on, roles: see :mod:`deltaset.storage.aws`); they are never part of a
URL, a message or a record.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlparse

from deltaset import extras
from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError, StorageError
from deltaset.storage.aws import s3_config
from deltaset.storage.base import IOStats, ObjectInfo, S3Settings
from deltaset.storage.keys import check_prefix
from deltaset.storage.object_store import ObjectStore
from deltaset.storage.retry import retried

PART_SIZE = 8 << 20  # multipart uploads send parts of this size, several at a time
PART_CONCURRENCY = 8
RETRIES = 2  # inside each of storage.retry's attempts: connection errors and 5xx
T = TypeVar("T")


def _obstore(scheme: str) -> Any:
    try:
        import obstore

        if scheme == "s3":
            import boto3  # noqa: F401  (the AWS credential chain, through obstore.auth)
    except ImportError as exc:
        raise extras.needs(scheme, (exc.name or "obstore").split(".")[0]) from exc
    return obstore


class CloudStorage(ObjectStore):
    """Objects under ``prefix`` in one bucket (S3) or container (Azure)."""

    def __init__(self, url: str, s3: S3Settings | None = None) -> None:
        self.url = url
        self.stats = IOStats()
        parsed = urlparse(url)
        self._obs = _obstore(parsed.scheme)
        self._bucket = parsed.netloc
        if not self._bucket:
            raise InvalidInputError(f"The storage {url!r} names no bucket.")
        try:
            self._store = _open_store(
                parsed.scheme, self._bucket, parsed.path.strip("/"), s3 or S3Settings()
            )
        except self._obs.exceptions.BaseError as exc:
            if "MissingAccount" in repr(exc) or "Account must be specified" in str(exc):
                raise InvalidInputError(
                    "No Azure account: set AZURE_STORAGE_CONNECTION_STRING, or "
                    "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY."
                ) from exc
            raise StorageError(f"Cannot open the storage {url}: {_first_line(exc)}") from exc

    # -- writing ------------------------------------------------------------------------------

    def _send(self, key: str, handle: BinaryIO, size: int) -> None:
        self._obs.put(
            self._store, key, handle, chunk_size=PART_SIZE, max_concurrency=PART_CONCURRENCY
        )

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = True) -> bool:
        mode = "overwrite" if overwrite else "create"
        with self._errors(f"write {key}"):
            try:
                self._retried(
                    lambda: self._obs.put(self._store, key, data, mode=mode, chunk_size=PART_SIZE)
                )
            except self._obs.exceptions.AlreadyExistsError:
                return False  # another writer was first (or a retry found our own write)
        self.stats.count(writes=1, bytes_written=len(data))
        return True

    # -- reading ------------------------------------------------------------------------------

    def _fetch(self, key: str) -> bytes:
        return bytes(self._obs.get(self._store, key).bytes())

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        with self._errors(f"read {key}"):
            try:
                data = self._retried(
                    lambda: bytes(
                        self._obs.get_range(self._store, key, start=offset, length=length)
                    )
                )
            except self._obs.exceptions.GenericError as exc:
                if not _past_the_end(exc):
                    raise
                # A range running past the end is refused: clamp it, as files do.
                end = min(offset + length, self.size(key))
                if offset >= end:
                    return b""
                data = self._retried(
                    lambda: bytes(self._obs.get_range(self._store, key, start=offset, end=end))
                )
        self.stats.count(reads=1, bytes_read=len(data))
        return data

    def read_range_if(self, key: str, offset: int, length: int, etag: str) -> bytes | None:
        if length <= 0:
            return b""
        options = {"range": (offset, offset + length), "if_match": f'"{etag}"'}
        with self._errors(f"read {key}"):
            try:
                data = self._retried(
                    lambda: bytes(self._obs.get(self._store, key, options=options).bytes())
                )
            except self._obs.exceptions.PreconditionError:
                return None
        self.stats.count(reads=1, bytes_read=len(data))
        return data

    def stat(self, key: str) -> ObjectInfo:
        with self._errors(f"read {key}"):
            return _info(self._retried(lambda: self._obs.head(self._store, key)))

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        check_prefix(prefix)

        def listing() -> list[ObjectInfo]:
            batches = self._obs.list(self._store, prefix or None)
            return [_info(meta) for batch in batches for meta in batch]

        with self._errors(f"list {prefix or 'the storage'}"):
            found = self._retried(listing)  # whole, so a retry never repeats a key
        yield from (info for info in found if info.key.startswith(prefix))

    def delete(self, key: str) -> None:
        try:
            with self._errors(f"delete {key}"):
                self._retried(lambda: self._obs.delete(self._store, key))
        except NotFoundError:
            pass  # already gone: Azure and GCS say so, S3 does not

    # -- errors -------------------------------------------------------------------------------

    def _retried(self, call: Callable[[], T]) -> T:
        errors = self._obs.exceptions
        answers = (
            FileNotFoundError,
            errors.AlreadyExistsError,
            errors.PreconditionError,
            errors.PermissionDeniedError,
            errors.UnauthenticatedError,
        )
        return retried(call, lambda exc: isinstance(exc, answers) or _past_the_end(exc))

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """One clear sentence for whatever the service or the network says."""
        try:
            yield
        except self._obs.exceptions.AlreadyExistsError:
            raise  # a conditional put that lost: the caller's answer, not a failure
        except (self._obs.exceptions.BaseError, OSError) as exc:
            raise self._error(exc, what) from exc

    def _error(self, exc: BaseException, what: str) -> DeltasetError:
        errors = self._obs.exceptions
        where = f"Cannot {what} in {self.url}"
        if _names_missing_bucket(str(exc)):
            return StorageError(f"{where}: the bucket {self._bucket} does not exist.")
        if isinstance(exc, FileNotFoundError):
            return NotFoundError(f"The object {what.split()[-1]} is missing from {self.url}.")
        if isinstance(exc, errors.PermissionDeniedError | errors.UnauthenticatedError):
            return StorageError(f"{where}: access denied; check the credentials.")
        if "Error performing token request" in str(exc):  # no key given, no identity answered
            return StorageError(
                f"{where}: no credentials worked (no key or connection string is set, and no "
                "managed identity answered); check the credentials."
            )
        return StorageError(f"{where}: {_first_line(exc)}")


def _open_store(scheme: str, bucket: str, prefix: str, s3: S3Settings) -> Any:
    from obstore.store import AzureStore, S3Store

    retry: Any = {"max_retries": RETRIES, "retry_timeout": timedelta(seconds=60)}
    if scheme == "s3":
        config = s3_config(s3.endpoint, s3.region)
        return S3Store(bucket, prefix=prefix or None, retry_config=retry, **config)
    if scheme == "azure":
        return AzureStore(bucket, prefix=prefix or None, retry_config=retry, **_azure_config())
    raise InvalidInputError(f"No cloud storage for the scheme {scheme!r}.")


def _azure_config() -> dict[str, Any]:
    """Account, key and endpoint from a connection string, or obstore's own AZURE_* variables."""
    text = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
    config: dict[str, Any] = {}
    if "AccountName" in parts:
        config["account_name"] = parts["AccountName"]
    if "AccountKey" in parts:
        config["account_key"] = parts["AccountKey"]
    endpoint = parts.get("BlobEndpoint") or os.environ.get("AZURE_STORAGE_ENDPOINT")
    if endpoint:
        config["endpoint"] = endpoint
        if endpoint.startswith("http://"):
            config["client_options"] = {"allow_http": True}
    return config


def _info(meta: Any) -> ObjectInfo:
    # Azure quotes the etag in a HEAD answer and not in a listing: one spelling for both.
    etag = str(meta.get("e_tag") or "").strip('"')
    written = meta.get("last_modified")
    modified = written.timestamp() if written is not None else 0.0
    return ObjectInfo(str(meta["path"]), int(meta["size"]), etag, modified)


def _past_the_end(exc: BaseException) -> bool:
    """Whether the service refused a range that starts or ends past the end of the object."""
    text = str(exc)
    return "416" in text or "Range Not Satisfiable" in text or "InvalidRange" in text


def _names_missing_bucket(message: str) -> bool:
    return any(code in message for code in ("NoSuchBucket", "ContainerNotFound"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".") + "."
