"""Mapping of operating-system errors to deltaset's own, at the storage boundary."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from deltaset.core.paths import printable
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
    if exc.errno == errno.ENAMETOOLONG:
        refused = os.fsdecode(exc.filename) if exc.filename else "a path"
        return StorageError(
            f"Cannot {what}: {printable(refused)} is too long ({LIMITS}); "
            "use a folder with a shorter path."
        )
    return StorageError(f"Cannot {what}: {exc.strerror or exc}.")


# Linux's limits (PATH_MAX and NAME_MAX): a dataset path may be longer than a whole path the
# system takes once a folder is put in front of it.
LIMITS = "the system takes 4,096 bytes for a whole path, 255 for a name"
TOO_LONG = f"its path is too long ({LIMITS})"
