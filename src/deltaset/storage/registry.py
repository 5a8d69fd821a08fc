"""Picks the Storage implementation for a URL; the one place that knows every scheme."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from deltaset.errors import InvalidInputError
from deltaset.storage.base import S3Settings, Storage
from deltaset.storage.local import LocalStorage

CLOUD_SCHEMES = ("s3", "gs", "azure", "http", "https")
OBJECT_STORE_SCHEMES = ("s3", "azure")  # the schemes deltaset.storage.cloud serves
SERVER_SCHEMES = ("http", "https")  # a deltaset server's storage

_open: dict[str, Storage] = {}


def canonical_url(url: str) -> str:
    """The one spelling of a storage location: a ``file://`` URI for folders."""
    parsed = urlparse(url)
    if parsed.scheme in CLOUD_SCHEMES:
        return url.rstrip("/")
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).resolve().as_uri()
    if parsed.scheme and len(parsed.scheme) > 1:
        raise InvalidInputError(f"The storage {url!r} uses an unknown scheme {parsed.scheme!r}.")
    return Path(url).expanduser().resolve().as_uri()


def require_own_server(url: str, own: tuple[str, ...]) -> None:
    """Refuse the deltaset server at ``url`` unless it is one of ``own``, the servers this
    machine is configured for: the token is theirs and goes nowhere else."""
    if url not in own:
        configured = " or ".join(own) or "none is configured"
        raise InvalidInputError(
            f"The storage {url} is a deltaset server other than this machine's ({configured}); "
            f"deltaset sends its token only there, so set api-url to {url} to use that server."
        )


def open_storage(url: str, s3: S3Settings | None = None, api_token: str | None = None) -> Storage:
    """The storage at ``url`` (a folder, ``file://`` URI, cloud URL or deltaset server), opened
    once per process; ``s3`` holds deltaset's own S3 endpoint and region, if any are configured,
    and ``api_token`` the token for a deltaset server."""
    key = canonical_url(url)
    if key not in _open:
        parsed = urlparse(key)
        if parsed.scheme in SERVER_SCHEMES:
            from deltaset.storage.server import open_server_storage

            _open[key] = open_server_storage(key, api_token, lambda url: open_storage(url, s3))
            return _open[key]
        if parsed.scheme in OBJECT_STORE_SCHEMES:
            from deltaset.storage.cloud import CloudStorage

            _open[key] = CloudStorage(key, s3)
            return _open[key]
        if parsed.scheme == "gs":
            from deltaset.storage.gcs import GcsStorage

            _open[key] = GcsStorage(key)
            return _open[key]
        _open[key] = LocalStorage(Path(unquote(parsed.path)))
    return _open[key]


def close_all() -> None:
    """Forget every open storage, closing the connections of those that hold any, and those
    kept to the web servers of external files."""
    from deltaset.storage.external import close_http

    close_http()
    for storage in _open.values():
        close = getattr(storage, "close", None)
        if close is not None:
            close()
    _open.clear()
