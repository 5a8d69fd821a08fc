"""Mapping of operating-system errors to deltaset's own, at the storage boundary."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from deltaset.errors import DiskFullError, NotFoundError, StorageError


@contextmanager
def map_os_errors(what: str) -> Iterator[None]:
    """Turn an ``OSError`` raised while doing ``what`` into one clear DeltasetError."""
    try:
        yield
    except FileNotFoundError as exc:
        raise NotFoundError(f"Cannot {what}: {exc.filename or 'a file'} does not exist.") from exc
    except PermissionError as exc:
        raise StorageError(f"Cannot {what}: permission denied on {exc.filename}.") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise DiskFullError(f"Cannot {what}: no space left on the device.") from exc
        raise StorageError(f"Cannot {what}: {exc.strerror or exc}.") from exc
