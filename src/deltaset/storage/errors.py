"""Mapping of operating-system errors to deltaset's own, at the storage boundary."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from deltaset.errors import DeltasetError, DiskFullError, NotFoundError, StorageError


@contextmanager
def map_os_errors(what: str, if_full: str = "") -> Iterator[None]:
    """Turn an ``OSError`` raised while doing ``what`` into one clear DeltasetError; ``if_full``
    says what to do when the device is full."""
    try:
        yield
    except OSError as exc:
        raise os_error(exc, what, if_full) from exc


def os_error(exc: OSError, what: str, if_full: str = "") -> DeltasetError:
    """The one clear DeltasetError for an ``OSError`` raised while doing ``what`` (``if_full``
    is added to the sentence for a full device)."""
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(f"Cannot {what}: {exc.filename or 'a file'} does not exist.")
    if isinstance(exc, PermissionError):
        return StorageError(f"Cannot {what}: permission denied on {exc.filename}.")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        advice = f"; {if_full}" if if_full else ""
        return DiskFullError(f"Cannot {what}: no space left on the device{advice}.")
    return StorageError(f"Cannot {what}: {exc.strerror or exc}.")
