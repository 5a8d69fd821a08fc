"""StorageManager: ClearML's companion for single files in and out of storage.

The class methods, parameter names and defaults are ClearML's (``clearml/storage/manager.py``),
so a script that fetches its raw data with ``StorageManager.get_local_copy`` runs after its
import is renamed. Underneath are deltaset's own storage backends (``s3://``, ``gs://``,
``azure://``, ``http(s)://``, ``file://`` and paths, with the credentials and endpoints
deltaset honours) and a cache like the version cache (see :mod:`deltaset.cache.files`).

Where ClearML logs a failure and returns ``None``, deltaset raises a DeltasetError saying it
in one sentence, unless the method takes ``silence_errors`` and it is set (see the migration
guide for each difference).
"""

from __future__ import annotations

import builtins
import fnmatch
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from deltaset import config
from deltaset.cache.archives import archive_suffix
from deltaset.cache.files import DEFAULT_FILE_LIMIT, FileCache
from deltaset.errors import DeltasetError, InvalidInputError, NotFoundError, StorageError
from deltaset.storage import remote
from deltaset.storage.base import S3Settings

DEFAULT_CONTEXT = "global"
T = TypeVar("T")


def _settings() -> config.Settings:
    return config.load()


def kept_downloads() -> FileCache | None:
    """The cache of downloads when there is one (None, and nothing made, when there is none:
    showing or emptying the cache must work on a full disk)."""
    if not (_settings().cache_dir / "files" / "index.db").exists():
        return None
    return download_cache()


def download_cache(settings: config.Settings | None = None) -> FileCache:
    """The files ``StorageManager`` downloaded (``deltaset cache`` shows and empties them)."""
    settings = settings or _settings()
    return FileCache(settings.cache_dir / "files", settings.cache_limit)


class StorageManager:
    """Upload files to storage and download them from it, keeping downloads in a cache."""

    _file_limits: ClassVar[dict[str, int]] = {}
    _report_chunk_mb: ClassVar[dict[str, int]] = {"upload": 5, "download": 5}

    @classmethod
    def get_local_copy(
        cls,
        remote_url: str,
        cache_context: str | None = None,
        extract_archive: bool = True,
        name: str | None = None,
        force_download: bool = False,
    ) -> str | None:
        """A local path to the file at ``remote_url``: the file itself when it is local,
        else its copy in the cache, downloaded first unless it is there already. With
        ``extract_archive``, an archive (.zip, .tar, .tar.gz, .tgz, .tar.zst) gives the cached
        folder it is extracted into; ``name`` names that extraction apart from others."""
        context = cache_context or DEFAULT_CONTEXT
        settings = _settings()
        cache, s3 = download_cache(settings), settings.s3
        if remote.kind(remote_url) == "local":
            path = remote.local_path(remote_url)
            if not path.exists():
                raise NotFoundError(f"No file {remote_url} was found.")
            copy, key = path, path.absolute().as_uri()
        else:
            key = remote_url
            copy = cache.get(
                context, remote_url, lambda dest: remote.download(remote_url, dest, s3),
                force=force_download,
            )  # fmt: skip
        if extract_archive and copy.is_file() and archive_suffix(copy.name):
            copy = cache.extracted(context, key, copy, name)
        cache.evict(cls._file_limits)
        return str(copy)

    @classmethod
    def get_stream(cls, remote_url: str, chunk_size: int | None = None) -> Iterator[bytes] | None:
        """The bytes of the file at ``remote_url`` as they arrive, ``chunk_size`` at a time,
        with no copy on disk."""
        return remote.chunks(remote_url, chunk_size, _settings().s3)

    @classmethod
    def upload_file(
        cls,
        local_file: str,
        remote_url: str,
        wait_for_upload: bool = True,
        retries: int | None = None,
    ) -> str:
        """Publish ``local_file`` at ``remote_url`` (a bucket object or a path, with its file
        name); returns ``remote_url``. It always waits for the upload, which the storage
        backend retries on its own (``wait_for_upload`` and ``retries`` are ClearML's)."""
        remote.upload(Path(local_file).expanduser(), remote_url, _settings().s3)
        return remote_url

    @classmethod
    def set_cache_file_limit(cls, cache_file_limit: int, cache_context: str | None = None) -> int:
        """Keep at most ``cache_file_limit`` files in the cache context (in this process);
        the byte limit (``deltaset cache --limit``) holds as well. Returns the new limit."""
        context = cache_context or DEFAULT_CONTEXT
        cls._file_limits[context] = int(cache_file_limit)
        download_cache().evict(cls._file_limits)
        return cls._file_limits[context]

    @classmethod
    def get_files_server(cls) -> str:
        """Where deltaset stores what it uploads by default: its default storage."""
        return _settings().default_storage

    @classmethod
    def upload_folder(
        cls,
        local_folder: str,
        remote_url: str,
        match_wildcard: str | None = None,
        retries: int | None = None,
    ) -> str | None:
        """Publish every file below ``local_folder`` (those whose name matches
        ``match_wildcard``, if given) below ``remote_url``, keeping their subfolders."""
        folder = Path(local_folder).expanduser()
        if not folder.is_dir():
            raise NotFoundError(f"Cannot upload the folder {local_folder}: it does not exist.")
        base = remote_url.rstrip("/")
        files = [p for p in sorted(folder.rglob(match_wildcard or "*")) if p.is_file()]
        s3 = _settings().s3
        _run_all(
            [
                _uploading(path, f"{base}/{path.relative_to(folder).as_posix()}", s3)
                for path in files
            ],
            None,
        )
        return remote_url

    @classmethod
    def download_file(
        cls,
        remote_url: str,
        local_folder: str | None = None,
        overwrite: bool = False,
        skip_zero_size_check: bool = False,
        silence_errors: bool = False,
    ) -> str | None:
        """Download the file at ``remote_url`` below ``local_folder`` (by default a folder of
        the cache), keeping its path in its bucket; returns the local path. A file already
        there is kept unless ``overwrite``; an empty file is an error unless
        ``skip_zero_size_check``, and ``silence_errors`` turns errors into ``None``."""
        try:
            settings = _settings()
            return str(
                _download(remote_url, local_folder, overwrite, skip_zero_size_check, settings)
            )
        except DeltasetError:
            if silence_errors:
                return None
            raise

    @classmethod
    def exists_file(cls, remote_url: str) -> bool:
        """Whether ``remote_url`` is a file (a folder is not one)."""
        if remote_url.endswith("/"):
            return False
        try:
            remote.stat(remote_url, _settings().s3)
        except NotFoundError:
            return False
        return True

    @classmethod
    def get_file_size_bytes(cls, remote_url: str, silence_errors: bool = False) -> int | None:
        """The size of the file at ``remote_url`` in bytes (``None`` on an error when
        ``silence_errors``)."""
        try:
            return remote.stat(remote_url, _settings().s3).size
        except DeltasetError:
            if silence_errors:
                return None
            raise

    @classmethod
    def download_folder(
        cls,
        remote_url: str,
        local_folder: str | None = None,
        match_wildcard: str | None = None,
        overwrite: bool = False,
        skip_zero_size_check: bool = False,
        silence_errors: bool = False,
        max_workers: int | None = None,
    ) -> str | None:
        """Download every file below ``remote_url`` (those whose URL matches
        ``match_wildcard``, if given) below ``local_folder``, keeping their paths, with
        ``max_workers`` downloads at a time; returns the local folder."""
        settings = _settings()
        target = Path(local_folder).expanduser() if local_folder else _downloads_folder(settings)
        try:
            found = remote.listing(remote_url, settings.s3)
        except DeltasetError:
            if silence_errors:
                return str(target)
            raise
        wanted = [f for f in found if not match_wildcard or fnmatch.fnmatch(f.url, match_wildcard)]
        tasks = [
            _downloading(f.url, target, overwrite, skip_zero_size_check, settings) for f in wanted
        ]
        try:
            _run_all(tasks, max_workers)
        except DeltasetError:
            if not silence_errors:
                raise
        return str(target)

    @classmethod
    def list(
        cls,
        remote_url: str,
        return_full_path: bool = False,
        with_metadata: bool = False,
        read_hash: bool = False,
    ) -> builtins.list[str | dict[str, Any]] | None:
        """The files under ``remote_url`` (in a bucket, every key it starts; in a folder,
        every file below it), by name or, with ``with_metadata``, as ``{"name", "size"}``;
        ``None`` for a web server, which lists nothing."""
        if remote.kind(remote_url) == "http":
            return None
        found = remote.listing(remote_url, _settings().s3)
        names = [file.url if return_full_path else file.name for file in found]
        if not with_metadata:
            return builtins.list(names)
        return [{"name": n, "size": file.size} for n, file in zip(names, found, strict=True)]

    @classmethod
    def get_metadata(
        cls,
        remote_url: str,
        return_full_path: bool = False,
        read_hash: bool = False,
    ) -> dict[str, Any] | None:
        """``{"name", "size"}`` of the file at ``remote_url``; ``None`` when there is none."""
        try:
            found = remote.stat(remote_url, _settings().s3)
        except NotFoundError:
            return None
        return {"name": found.url if return_full_path else found.name, "size": found.size}

    @classmethod
    def set_report_upload_chunk_size(cls, chunk_size_mb: int) -> None:
        """Kept for ClearML's scripts: deltaset shows no per-chunk upload reports."""
        cls._report_chunk_mb["upload"] = int(chunk_size_mb)

    @classmethod
    def set_report_download_chunk_size(cls, chunk_size_mb: int) -> None:
        """Kept for ClearML's scripts: deltaset shows no per-chunk download reports."""
        cls._report_chunk_mb["download"] = int(chunk_size_mb)


def cache_file_limit(context: str | None = None) -> int:
    """The number of files the cache context keeps (see ``set_cache_file_limit``)."""
    return StorageManager._file_limits.get(context or DEFAULT_CONTEXT, DEFAULT_FILE_LIMIT)


def _downloads_folder(settings: config.Settings) -> Path:
    return settings.cache_dir / "files" / "downloads"


def _download(
    remote_url: str,
    local_folder: str | None,
    overwrite: bool,
    skip_zero_size_check: bool,
    settings: config.Settings,
) -> Path:
    folder = Path(local_folder).expanduser() if local_folder else _downloads_folder(settings)
    relative = remote.relative_path(remote_url)
    if not relative or ".." in relative.split("/"):
        raise InvalidInputError(
            f"The URL {remote_url} names no file, or one whose path climbs with '..' out of "
            f"the folder {folder} it would be downloaded into."
        )
    dest = folder.absolute() / relative
    if not overwrite and dest.is_file() and (skip_zero_size_check or dest.stat().st_size > 0):
        return dest
    size = remote.download(remote_url, dest, settings.s3)
    if size == 0 and not skip_zero_size_check:
        dest.unlink(missing_ok=True)
        raise StorageError(
            f"The file {remote_url} is empty; pass skip_zero_size_check=True to download it."
        )
    return dest


def _uploading(path: Path, url: str, s3: S3Settings) -> Callable[[], None]:
    return lambda: remote.upload(path, url, s3)


def _downloading(
    url: str, folder: Path, overwrite: bool, skip_zero: bool, settings: config.Settings
) -> Callable[[], Path]:
    return lambda: _download(url, str(folder), overwrite, skip_zero, settings)


def _run_all(tasks: builtins.list[Callable[[], T]], max_workers: int | None) -> None:
    """Run every task on a pool of threads, then raise the first failure, if any."""
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        futures: builtins.list[Future[T]] = [pool.submit(task) for task in tasks]
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
