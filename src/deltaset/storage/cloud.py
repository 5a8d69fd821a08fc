"""Object stores (S3 and S3-compatible services, Azure Blob) as storage, through ``obstore``.

Objects are immutable and every put is atomic on these services, so create-then-publish needs
no staging: a write is spooled to a local temporary file and sent when the writer closes
(in parallel parts above :data:`PART_SIZE`), and ``put_bytes(overwrite=False)`` is a
conditional put. Credentials come from where their tools keep them (environment variables,
profiles); they are never part of a URL, a message or a record.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlparse

from deltaset import extras
from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError, StorageError
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
    except ImportError as exc:
        raise extras.needs(scheme, "obstore") from exc
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
        config = _aws_profile()
        # deltaset's own settings first, then the AWS variables, then the AWS profile.
        endpoint = (
            s3.endpoint
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or config.pop("endpoint", None)
        )
        if endpoint:
            config["endpoint"] = endpoint
        config["region"] = (
            s3.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or config.get("region")
            or "us-east-1"
        )
        keyless = not os.environ.get("AWS_ACCESS_KEY_ID") and "access_key_id" not in config
        if keyless and os.environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
            raise InvalidInputError(
                "No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a "
                "profile in ~/.aws/credentials (AWS_PROFILE names it)."
            )
        options: Any = {"allow_http": True} if endpoint and endpoint.startswith("http://") else {}
        return S3Store(
            bucket,
            prefix=prefix or None,
            client_options=options,
            retry_config=retry,
            **config,
        )
    if scheme == "azure":
        return AzureStore(bucket, prefix=prefix or None, retry_config=retry, **_azure_config())
    raise InvalidInputError(f"No cloud storage for the scheme {scheme!r}.")


def _aws_profile() -> dict[str, Any]:
    """Keys, region and endpoint of the AWS CLI profile (``AWS_PROFILE``, else ``default``)
    from ``~/.aws/credentials`` and ``~/.aws/config``, for what the environment does not set."""
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    home = Path.home() / ".aws"
    credentials = _ini_section(
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / "credentials", profile
    )
    section = profile if profile == "default" else f"profile {profile}"
    settings = _ini_section(os.environ.get("AWS_CONFIG_FILE") or home / "config", section)
    found: dict[str, Any] = {}
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            value = credentials.get(name) or settings.get(name)
            if value:
                found[name.removeprefix("aws_")] = value
    if settings.get("region"):
        found["region"] = settings["region"]
    if settings.get("endpoint_url"):
        found["endpoint"] = settings["endpoint_url"]
    return found


def _ini_section(path: str | Path, section: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except configparser.Error as exc:
        raise InvalidInputError(f"Cannot read the AWS settings in {path}: {exc}.") from exc
    return dict(parser[section]) if parser.has_section(section) else {}


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
