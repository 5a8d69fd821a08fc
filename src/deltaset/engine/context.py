"""Context: the catalog, storages, caches and progress that every operation works with."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlparse

from deltaset import config
from deltaset.cache.blobs import BlobCache
from deltaset.cache.folders import FolderStates
from deltaset.cache.hashes import HashCache
from deltaset.catalog.base import Catalog
from deltaset.catalog.sqlite import SqliteCatalog
from deltaset.core.manifest import Manifest
from deltaset.objects.store import BlobStore
from deltaset.progress import NoProgress, Progress
from deltaset.storage.base import Storage
from deltaset.storage.layout import describe
from deltaset.storage.registry import (
    SERVER_SCHEMES,
    canonical_url,
    open_storage,
    require_own_server,
)


@dataclass
class DiscoveryState:
    """This process's part of discovery (see ``engine.discovery``): when it last looked at
    each storage, where it looked because a version was missing, and whether it is looking."""

    looked: dict[str, float] = field(default_factory=dict)
    forced: set[str] = field(default_factory=set)
    checked: float = 0.0  # when this process last checked which storages are due
    running: bool = False


@dataclass
class Context:
    settings: config.Settings = field(default_factory=config.load)
    progress: Progress = field(default_factory=NoProgress)
    _stores: dict[str, BlobStore] = field(default_factory=dict, repr=False)
    _storage_ids: dict[str, str] = field(default_factory=dict, repr=False)
    manifests: dict[str, tuple[bytes, Manifest]] = field(default_factory=dict, repr=False)
    discovery: DiscoveryState = field(default_factory=DiscoveryState, repr=False)

    @cached_property
    def catalog(self) -> Catalog:
        """The embedded catalog, or a deltaset server's when one is configured (api-url), or
        in offline mode the session folder's."""
        if self.settings.offline_session is not None:
            from deltaset.engine import offline  # only in offline mode

            path = offline.open_session(self.settings.offline_session, self.storage_url(None))
            return SqliteCatalog(path, on_lookup=self._on_lookup)
        if self.settings.api_url:
            from deltaset.catalog.http import HttpCatalog  # httpx only for client mode

            return HttpCatalog(self.settings.api_url, self.settings.api_token)
        return SqliteCatalog(self.settings.catalog_path, on_lookup=self._on_lookup)

    def _on_lookup(self, missing: bool) -> None:
        from deltaset.engine import discovery  # it imports this module

        discovery.on_lookup(self, missing)

    @cached_property
    def hashes(self) -> HashCache:
        return HashCache(self.settings.hash_cache_path)

    @cached_property
    def folder_states(self) -> FolderStates:
        return FolderStates(self.settings.folder_states_dir)

    @cached_property
    def cache(self) -> BlobCache:
        return BlobCache(self.settings.cache_dir, self.settings.cache_limit)

    def storage_url(self, url: str | None) -> str:
        return canonical_url(url or self.settings.default_storage)

    def storage(self, url: str) -> Storage:
        """The storage at ``url``, opened with this machine's settings.

        The token is sent to a deltaset server only if it is the one this machine is configured
        for (api-url, or the storage setting): with a token, a version record naming another
        server is refused, so whoever wrote the record cannot draw the token to a server of
        theirs. Without a token there is nothing to give away, and any server may be read.
        """
        key = canonical_url(url)
        if self.settings.api_token and urlparse(key).scheme in SERVER_SCHEMES:
            require_own_server(key, self.own_servers)
        return open_storage(key, self.settings.s3, self.settings.api_token)

    @cached_property
    def own_servers(self) -> tuple[str, ...]:
        """The deltaset servers this machine's settings name (the token is theirs)."""
        named = (self.settings.api_url, self.settings.default_storage)
        found = (canonical_url(u) for u in named if u)
        return tuple(dict.fromkeys(u for u in found if urlparse(u).scheme in SERVER_SCHEMES))

    def storage_id(self, url: str) -> str:
        """The id of the storage at ``url``, checking (once per process) that it is usable."""
        if url not in self._storage_ids:
            self._storage_ids[url] = describe(self.storage(url))
        return self._storage_ids[url]

    def blobs(self, url: str) -> BlobStore:
        """The blob store of ``url``, with its pack index loaded (once per process)."""
        if url not in self._stores:
            copies = self.settings.cache_dir / "index" / self.storage_id(url)
            self._stores[url] = BlobStore(self.storage(url), copies)
        return self._stores[url]

    def close(self) -> None:
        """Close the catalog, if this context opened it (a server's holds connections)."""
        if "catalog" in self.__dict__:
            self.catalog.close()
            del self.__dict__["catalog"]

    @property
    def user(self) -> str:
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"


def transfer_workers(max_workers: int | None) -> int:
    """Threads for storage and file I/O: they mostly wait, so a few per core."""
    return max_workers or min(8, (os.cpu_count() or 2) * 2)


def cpu_workers(max_workers: int | None) -> int:
    """Threads for hashing: one per core."""
    return max_workers or os.cpu_count() or 2


_default: Context | None = None


def default_context() -> Context:
    """One context per process, built from the environment on first use."""
    global _default
    if _default is None or _default.settings != config.load():
        if _default is not None:
            _default.close()
        _default = Context()
    return _default
