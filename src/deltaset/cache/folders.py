"""What each local folder held at its last add or sync, read back in one go.

Syncing a large folder that barely changed is mostly learning, file by file, that files did not
change. A folder's state file lists every file seen at the last add or sync of that folder, one
line each: ``dataset path NUL device NUL inode NUL size NUL mtime_ns NUL blob id``. A file found
again at the same path with the same stat, where the draft's view holds that same blob id, is
unchanged: one set lookup of a string, without a hash-cache query or an object per file.

A line states what a hash-cache row states (a file of this device, inode, size and mtime holds
this content) plus where it was seen, so a stale line, or one from another dataset, can only
fail to match. A damaged file is ignored (its checksum is checked), and a missing one costs a
normal scan.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

import blake3

from deltaset.storage.local import write_best_effort

MAX_FILES = 250_000  # above this, the batch-by-batch hash cache keeps memory bounded instead
KEEP_SECONDS = 30 * 24 * 3600  # the state of a folder not added or synced for this long goes
_HEADER = b"deltaset-folder-state 1 "
_HEADER_LENGTH = len(_HEADER) + 64 + 1  # the header, a BLAKE3 hex of the body, a newline


def state_line(path: str, dev: int, ino: int, size: int, mtime_ns: int, blob_id: str) -> str:
    """The line saying the file at ``path`` with this stat holds ``blob_id``."""
    return f"{path}\0{dev}\0{ino}\0{size}\0{mtime_ns}\0{blob_id}"


class FolderStates:
    """One state file per local folder (named after its absolute path) under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, folder: str) -> Path:
        name = blake3.blake3(os.fsencode(os.path.abspath(folder))).hexdigest(16)
        return self.directory / f"{name}.state"

    def load(self, folder: str) -> set[str]:
        """The lines saved for ``folder``; none when there are none or they are damaged."""
        try:
            data = self._file(folder).read_bytes()
        except OSError:
            return set()
        body = data[_HEADER_LENGTH:]
        digest = data[len(_HEADER) : _HEADER_LENGTH - 1]
        if not data.startswith(_HEADER) or blake3.blake3(body).hexdigest().encode() != digest:
            return set()
        return set(body.decode("utf-8", "surrogateescape").split("\n")) if body else set()

    def save(self, folder: str, lines: Iterable[str]) -> None:
        """Replace what ``folder`` held by ``lines``; a failure only costs the next sync time.

        Names with a line break are left out (they would split their line)."""
        body = "\n".join(line for line in lines if "\n" not in line)
        data = body.encode("utf-8", "surrogateescape")
        target = self._file(folder)
        write_best_effort(target, _HEADER + blake3.blake3(data).hexdigest().encode() + b"\n" + data)
        self._forget_old(target)

    def _forget_old(self, kept: Path) -> None:
        """Remove the states of folders left alone for a month (each may take megabytes)."""
        cutoff = time.time() - KEEP_SECONDS
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.directory):
                if entry.path != str(kept) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
