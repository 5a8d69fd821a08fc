"""Every failure deltaset reports, as one tree rooted in :class:`DeltasetError`.

Each message is one sentence a user can act on; the CLI prints it and exits with ``exit_code``.

    DeltasetError
    ├── NotFoundError            unknown id, project/name, path or storage
    ├── InvalidInputError        bad arguments: paths with '..', absolute in-dataset paths, versions
    ├── StateError               the version is in the wrong state (final, draft, has children)
    ├── StorageError             storage unreadable, corrupt or not writable
    │   ├── IntegrityError       bytes do not match their hash
    │   └── DiskFullError        no space left on a device
    └── CatalogError             the catalog database is unusable
"""

from __future__ import annotations


class DeltasetError(Exception):
    """Base of every error deltaset raises on purpose."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFoundError(DeltasetError):
    http_status = 404


class InvalidInputError(DeltasetError):
    http_status = 400


class StateError(DeltasetError):
    http_status = 409


class StorageError(DeltasetError):
    http_status = 502


class IntegrityError(StorageError):
    pass


class DiskFullError(StorageError):
    http_status = 507


class CatalogError(DeltasetError):
    pass
