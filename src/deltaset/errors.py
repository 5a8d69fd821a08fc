"""Every failure deltaset reports, as one tree rooted in :class:`DeltasetError`.

Each message is one sentence a user can act on; the CLI prints it and exits with ``exit_code``.

    DeltasetError
    ├── NotFoundError            unknown id, project/name, path or storage       (a ValueError)
    ├── InvalidInputError        bad arguments: paths with '..', absolute paths   (a ValueError)
    ├── StateError               the version is in the wrong state (final, ...)  (a ValueError)
    ├── StorageError             storage unreadable, corrupt or not writable
    │   ├── IntegrityError       bytes do not match their hash
    │   └── DiskFullError        no space left on a device
    ├── CatalogError             the catalog database is unusable
    └── AccessError              a deltaset server refused the token (missing, wrong, read-only)

The three marked are also ``ValueError``s, as ClearML raises ``ValueError`` for a dataset not
found, bad arguments and a version in the wrong state: ClearML's get-or-create pattern
``try: Dataset.get(...) except ValueError: Dataset.create(...)`` keeps working.
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


class NotFoundError(DeltasetError, ValueError):
    http_status = 404


class InvalidInputError(DeltasetError, ValueError):
    http_status = 400


class StateError(DeltasetError, ValueError):
    http_status = 409


class StorageError(DeltasetError):
    http_status = 502


class IntegrityError(StorageError):
    pass


class DiskFullError(StorageError):
    http_status = 507


class CatalogError(DeltasetError):
    pass


class AccessError(DeltasetError):
    """``http_status`` is 401 for a missing or unknown token, 403 for a read-only one."""

    http_status = 401

    def __init__(self, message: str, http_status: int = 401) -> None:
        super().__init__(message)
        self.http_status = http_status


SHOWN_CHARS = 80  # user input echoed in a message is cut here: an error stays one readable line


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` quoted for a message; past ``limit`` characters, its start and an ellipsis."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[: limit - 1]) + "…"


def from_http(status: int, message: str) -> DeltasetError:
    """The error a deltaset server's answer of HTTP ``status`` stands for (see ``http_status``)."""
    if status in (401, 403):
        return AccessError(message, status)
    kinds: dict[int, type[DeltasetError]] = {
        400: InvalidInputError,
        404: NotFoundError,
        409: StateError,
        413: InvalidInputError,  # a body larger than the server takes
        422: InvalidInputError,
        502: StorageError,
        507: DiskFullError,
    }
    return kinds.get(status, CatalogError)(message)
