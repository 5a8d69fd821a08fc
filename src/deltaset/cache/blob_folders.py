"""Hard links into the cache's ``blobs/`` made through an open descriptor of each prefix
folder, for a cold pull linking every file it writes.

``os.link(source, "blobs/ab/<id>")`` walks the whole path of the cache for every file: on a
cold get of 200,000 files, a quarter of the kernel's time for the links (0.7 of 2.7 s of
system time, measured with the bare system calls). A link named relative to the prefix
folder's descriptor walks nothing but the new name. Where descriptors are few (a limit of
open files under 1,024, as macOS's 256) or the system cannot link relative to one, the
links take whole paths, as before.
"""

from __future__ import annotations

import contextlib
import os

_FOLDERS = 256  # prefix folders of blobs/: two hex digits
_NEEDED = 4 * _FOLDERS  # open files allowed before a process keeps one for each


def _fits() -> bool:
    """Whether this system links relative to a folder's descriptor, and this process may
    keep one open for every prefix folder with room to spare."""
    if os.link not in os.supports_dir_fd:
        return False
    try:
        import resource  # (not on Windows, which has no dir_fd links either)
    except ImportError:  # pragma: no cover
        return False
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft == resource.RLIM_INFINITY or soft >= _NEEDED


class BlobFolders:
    """The prefix folders of the blob folder ``blobs``, each opened at its first link; a
    context manager (its end closes them)."""

    def __init__(self, blobs: str) -> None:
        self.root = blobs
        self._fds: dict[str, int] | None = {} if _fits() else None

    def link(self, source: str, blob_id: str) -> None:
        """Link the file ``source`` as ``blob_id`` in its prefix folder, made if need be;
        FileExistsError when the folder holds that name already (errors as ``os.link``)."""
        fds = self._fds
        if fds is None:
            self._link_by_path(source, blob_id)
            return
        prefix = blob_id[:2]
        fd = fds.get(prefix)
        if fd is None:
            fd = fds[prefix] = self._open(prefix)
        try:
            os.link(source, blob_id, dst_dir_fd=fd)
        except FileNotFoundError:
            if os.path.exists(source):  # the prefix folder went (a purge): open it anew
                os.close(fds.pop(prefix))
                fd = fds[prefix] = self._open(prefix)
            os.link(source, blob_id, dst_dir_fd=fd)

    def _open(self, prefix: str) -> int:
        folder = f"{self.root}/{prefix}"
        try:
            return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:  # first blob of its prefix folder
            os.makedirs(folder, exist_ok=True)
            return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)

    def _link_by_path(self, source: str, blob_id: str) -> None:
        target = f"{self.root}/{blob_id[:2]}/{blob_id}"
        try:
            os.link(source, target)
        except FileNotFoundError:  # first blob of its prefix folder
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.link(source, target)

    def close(self) -> None:
        for fd in (self._fds or {}).values():
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._fds:
            self._fds.clear()

    def __enter__(self) -> BlobFolders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
