"""The changes a ``deltaset watch`` saw in a folder, for syncs that then need not walk it.

A watcher writes a journal beside the folder's state (:mod:`deltaset.cache.folders`): a header
line naming its session (a random token, new whenever the watcher could have missed a change),
then one entry per change it saw: a sequence number and the path that changed, relative to the
folder. A sync learns where the journal stands by dropping a cookie file into the folder and
waiting for the watcher to note it (as git's fsmonitor does): every change made before the
cookie then sits in the journal before it, whatever the clocks say.

A journal is trusted only while its watcher lives: the watcher holds an exclusive lock on its
``.watcher`` file for its whole life, so the kernel releases it the moment the process dies,
even killed with ``-9``. Writers and readers of the journal itself take its ``.lock``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from deltaset.cache import locking

COOKIE = "c"  # an entry kind: a sync's cookie was seen
CHANGED = "p"  # an entry kind: something changed at a path


@dataclass(frozen=True)
class Header:
    """Who writes a journal, and the folder (by device and inode) it watches."""

    session: str
    pid: int
    folder: str
    dev: int
    ino: int


@dataclass(frozen=True)
class Entry:
    seq: int
    kind: str
    path: str  # relative to the folder ("" for the folder itself), or a cookie's token


@dataclass(frozen=True)
class Contents:
    header: Header
    entries: list[Entry]


def new_session() -> str:
    return os.urandom(8).hex()  # (secrets imports hmac and hashlib: 4 ms)


class Journal:
    """The journal of one folder, named like its state file under ``directory``."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / f"{name}.journal"
        self._lock = directory / f"{name}.journal.lock"
        self._alive = directory / f"{name}.watcher"

    @contextmanager
    def watching(self) -> Iterator[bool]:
        """Held by the watcher for its whole life; yields False if another watcher holds it."""
        with locking.exclusive(self._alive, wait=False) as taken:
            yield taken

    def watched(self) -> bool:
        """Whether a watcher holds this journal now."""
        if not self._alive.exists():
            return False  # (not made here: a folder never watched gets no file)
        with locking.exclusive(self._alive, wait=False) as taken:
            return not taken

    def start(self, header: Header) -> None:
        """Begin a new session: the journal holds nothing but ``header`` (replaced atomically)."""
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        with locking.exclusive(self._lock):
            temporary.write_bytes(json.dumps(asdict(header)).encode() + b"\n")
            os.replace(temporary, self.path)

    def append(self, entries: Iterable[Entry]) -> None:
        data = b"".join(_encode(e) for e in entries)
        if data:
            with locking.exclusive(self._lock), open(self.path, "ab") as out:
                out.write(data)

    def end(self) -> None:
        with locking.exclusive(self._lock):
            self.path.unlink(missing_ok=True)

    def read(self) -> Contents | None:
        """The journal as it stands, or None when there is none (or it cannot be read)."""
        try:
            with locking.shared(self._lock):
                data = self.path.read_bytes()
        except OSError:
            return None
        first, _, rest = data.partition(b"\n")
        try:
            header = Header(**json.loads(first))
        except (ValueError, TypeError):
            return None
        # A last line without its line break is being written: the next read will see it.
        lines = rest.split(b"\n")[:-1]
        return Contents(header, [_decode(line) for line in lines])


def _encode(entry: Entry) -> bytes:
    return f"{entry.seq}\0{entry.kind}\0{entry.path}\n".encode("utf-8", "surrogateescape")


def _decode(line: bytes) -> Entry:
    seq, kind, path = line.decode("utf-8", "surrogateescape").split("\0", 2)
    return Entry(int(seq), kind, path)
