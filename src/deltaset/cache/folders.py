"""What each local folder held at its last add or sync, read back in one go.

Syncing a large folder that barely changed is mostly learning, file by file, that files did not
change. A folder's state file lists every file seen at the last add or sync of that folder, one
line each: ``dataset path NUL device NUL inode NUL size NUL mtime_ns NUL blob id``. A file found
again at the same path with the same stat, where the draft's view holds that same blob id, is
unchanged: one set lookup of a string, without a hash-cache query or an object per file.

A line states what a hash-cache row states (a file of this device, inode, size and mtime holds
this content) plus where it was seen, so a stale line, or one from another dataset, can only
fail to match. A file changed too recently to trust its stat (see ``RACY``) is listed with its
id behind a mark that no lookup ever matches: a watcher's journal (:mod:`deltaset.cache.journal`)
still learns from it that the file exists. A damaged file is ignored (its checksum is checked),
and a missing one costs a normal scan.

There is no limit on the number of lines: the lines are kept as one string each (about 150
bytes a file), and a sync drops each line it matches from the loaded set as it keeps the new
one, so a million files cost one copy of their lines, not two.

Beside the lines, a header (:class:`Meta`) says where the watcher's journal stood before the
walk that made them, and a digest of the draft's files under the folder's dataset path after
that add or sync: a later sync that finds both unchanged has nothing to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

import blake3

KEEP_SECONDS = 30 * 24 * 3600  # the state of a folder not added or synced for this long goes
RACY = "?"  # before the blob id of a file whose stat a later walk must not trust
_HEADER = b"deltaset-folder-state 3 "
# The header, BLAKE3 hexes of the meta line and of the lines after it, a line break.
_HEADER_LENGTH = len(_HEADER) + 64 + 1 + 64 + 1
_SUFFIX = ".state"


def state_line(path: str, dev: int, ino: int, size: int, mtime_ns: int, blob_id: str) -> str:
    """The line saying the file at ``path`` with this stat holds ``blob_id``."""
    return f"{path}\0{dev}\0{ino}\0{size}\0{mtime_ns}\0{blob_id}"


@dataclass(frozen=True)
class Meta:
    """What a state file says about its lines as a whole.

    ``session`` and ``seq``: the watcher's journal position taken before the walk (every change
    made after it is in that journal past ``seq``); ``prefix``: the dataset path the folder's
    files land under; ``digest``: of the draft's files under ``prefix`` once the lines were
    made (see :meth:`deltaset.core.manifest.Manifest.digest`); ``watchable``: no line shares
    its file with another path (a symbolic link, a hard link), so that a change is always
    reported under the path of a line."""

    session: str = ""
    seq: int = -1
    prefix: str = ""
    digest: str = ""
    watchable: bool = False


@dataclass(frozen=True)
class FolderState:
    """A state file's meta as read; its lines are read (and checked) only when asked: a sync
    that tells from the meta alone that nothing changed never reads them."""

    meta: Meta
    path: Path | None = None
    header: bytes = b""  # its first line, with the digests of the meta and of the lines
    start: int = 0  # where its lines start

    def lines(self) -> set[str] | None:
        """The lines; None when they are damaged or the file was replaced since its meta."""
        if self.path is None:
            return set()
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        body = memoryview(data)[self.start :]
        if not data.startswith(self.header) or _digest(body) != self.header[-65:-1]:
            return None
        return set(str(body, "utf-8", "surrogateescape").split("\n")) if body else set()


_NO_STATE = FolderState(Meta())


class FolderStates:
    """One state file per local folder (named after its absolute path) under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def name(self, folder: str) -> str:
        """The name the files kept for ``folder`` start with (the journal's too)."""
        return blake3.blake3(os.fsencode(os.path.abspath(folder))).hexdigest(16)

    def _file(self, folder: str) -> Path:
        return self.directory / f"{self.name(folder)}{_SUFFIX}"

    def load(self, folder: str) -> set[str]:
        """The lines saved for ``folder``; none when there are none or they are damaged."""
        return self.load_state(folder).lines() or set()

    def load_state(self, folder: str) -> FolderState:
        """The state saved for ``folder``; an empty one when there is none or it is damaged."""
        path = self._file(folder)
        try:
            with open(path, "rb") as stored:
                header, meta_line = stored.readline(), stored.readline()
        except OSError:
            return _NO_STATE
        if len(header) != _HEADER_LENGTH or not header.startswith(_HEADER):
            return _NO_STATE
        if _digest(meta_line) != header[len(_HEADER) : len(_HEADER) + 64]:
            return _NO_STATE
        try:
            meta = Meta(**json.loads(meta_line))
        except (ValueError, TypeError):
            return _NO_STATE
        return FolderState(meta, path, header, len(header) + len(meta_line))

    def save(self, folder: str, lines: Iterable[str], meta: Meta = Meta()) -> None:
        """Replace what ``folder`` held by ``lines``; a failure only costs the next sync time.

        Names with a line break are left out (they would split their line). Written block by
        block: a million lines never stand in memory a second time as one text."""
        target = self._file(folder)
        temporary = target.with_suffix(f".{os.getpid()}-{time.monotonic_ns()}.tmp")
        meta_line = json.dumps(asdict(meta), sort_keys=True).encode() + b"\n"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as out:
                out.write(b"0" * _HEADER_LENGTH + meta_line)
                hasher = blake3.blake3()
                for part in _parts(lines):
                    hasher.update(part)
                    out.write(part)
                out.seek(0)
                digests = _digest(meta_line) + b" " + hasher.hexdigest().encode()
                out.write(_HEADER + digests + b"\n")
            os.replace(temporary, target)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            return
        self._forget_old(target)

    def _forget_old(self, kept: Path) -> None:
        """Remove the states of folders left alone for a month (each may take megabytes)."""
        cutoff = time.time() - KEEP_SECONDS
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.directory):
                old = entry.name.endswith(_SUFFIX) and entry.stat().st_mtime < cutoff
                if old and entry.path != str(kept):
                    os.unlink(entry.path)


def _digest(data: bytes | memoryview) -> bytes:
    return blake3.blake3(data).hexdigest().encode()


def _parts(lines: Iterable[str], block: int = 4096) -> Iterator[bytes]:
    """The lines joined by line breaks, in blocks (names with a line break are left out:
    they would split their line)."""
    kept = (line for line in lines if "\n" not in line)
    first = True
    while chunk := list(islice(kept, block)):
        if not first:
            yield b"\n"  # apart: prefixed, a block's text would be copied once more
        yield "\n".join(chunk).encode("utf-8", "surrogateescape")
        first = False
