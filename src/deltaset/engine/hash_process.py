"""A second process that reads, hashes and packs the files of a large add of tiny files.

Adding a folder of tiny files is Python per file, under one interpreter lock: threads cannot
share it (see :func:`deltaset.engine.scan.hashing_threads`). A second *process* can: this one
walks and stages rows while the second reads, hashes and packs, batch by batch, in order. It
packs every file read in the add, so no blob is packed by two processes: the draft's staging
store holds what one process would have written (see ``engine/staging.py``).

It is a spawned process (the start method of every platform), fed through queues; it tells its
results back in the order asked, never applies the read policy (the calling process does, so a
file it could not read gives the same sentence or warning as one the caller read), ignores
Ctrl-C (the caller stops it), and stops on its own when the caller is gone.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import time
import traceback
import types
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from deltaset.cache.hashes import HashCache, Key
from deltaset.engine.found import Landing, LocalFile
from deltaset.errors import DeltasetError

# multiprocessing takes 13 ms to import, which every command would pay: it is imported where
# the process starts.
if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess
    from multiprocessing.queues import Queue

PROCESS_FROM_ENV = "DELTASET_HASH_PROCESS_FROM"
PROCESS_FROM = 100_000  # files an add must have before a second process hashes them (see RESULTS)
WAIT_S = 0.5  # how often a waiting side checks that the other is still there
STOP_S = 10.0  # how long a stopped process may take to discard its pack before it is ended
RACY_SECONDS = 2.0  # a file changed this recently may change again within its mtime tick

log = logging.getLogger("deltaset")


class Unread(NamedTuple):
    """Why a file could not be read: a sentence for ``ReadPolicy.failed`` and its kind."""

    reason: str
    kind: type[DeltasetError]


class Keeper(ABC):
    """A ``keep`` of ``engine.scan.hash_files`` that packs into a staging store, which a second
    process can pack into instead: pickled, it becomes a keeper of its own over the same store,
    told only files to pack (the calling process tells it what the draft holds already)."""

    @abstractmethod
    def __call__(self, files: list[tuple[str, str, bytes]]) -> object:
        """Pack ``files`` (dataset path, blob id, bytes)."""

    @abstractmethod
    def held_at(self, path: str) -> bytes | None:
        """The raw id of the file the draft holds at ``path``, if any: not packed again."""

    @abstractmethod
    def close(self, exc: BaseException | None) -> None:
        """Publish the pack in progress (or discard it, after ``exc``)."""


# A file read: its key and content id; or why it could not be read.
Outcome = tuple[Key, str] | Unread
# A batch to hash: source paths, five stat fields a file (see found.py), and the raw id the
# draft holds at each file's path (None: every file is new to it).
Task = tuple[list[str], list[int], list[bytes | None] | None]
_END = "end"  # publish the pack in progress and stop
_ABORT = "abort"  # discard it and stop
_CRASHED = "crashed"
_NOWHERE = Landing("", 0)  # the second process reads sources; it never needs dataset paths


def process_from() -> int:
    """Files an add must hash before a second process takes the hashing (the environment may
    lower it, as the tests do, or raise it)."""
    return int(os.environ.get(PROCESS_FROM_ENV) or PROCESS_FROM)


def wanted(count: int, workers: int) -> bool:
    """Whether ``count`` files are hashed by a second process, given ``workers`` allowed."""
    return workers >= 2 and (os.cpu_count() or 1) >= 2 and count >= process_from()


class HashingProcess:
    """The calling side: :meth:`submit` batches, take each one's :meth:`outcomes` in the same
    order, then :meth:`close` (which waits for the last pack) or :meth:`abort`."""

    def __init__(self, keeper: Keeper | None, hashes: Path | None = None) -> None:
        """``keeper`` packs what is read; the hashes of the files read may be remembered in
        the hash cache at ``hashes`` by the process (see :func:`serve`)."""
        import multiprocessing

        spawn = multiprocessing.get_context("spawn")
        self._tasks: Queue[Task | str] = spawn.Queue()
        self._results: Queue[Any] = spawn.Queue()
        # Batches hashed, counted by the process alone. Shared memory, not a semaphore: a
        # named semaphore's clean-up races the process's end when an add fails, and Python
        # then warns on the user's terminal of a "leaked semaphore".
        self._hashed = spawn.RawValue("q", 0)
        self._submitted = 0
        self.remembered = False  # whether the process remembered the last batch's hashes
        self._process: SpawnProcess = spawn.Process(
            target=serve,
            args=(self._tasks, self._results, keeper, self._hashed, hashes),
            name="deltaset-hashing",
            daemon=True,  # ended with its caller, whatever happens to it
        )
        _start_without_main(self._process)

    def submit(self, files: Sequence[LocalFile], held: list[bytes | None] | None) -> None:
        fields: list[int] = []
        for f in files:
            fields.extend(f.key)
            fields.append(f.ctime)
        self._tasks.put(([f.source for f in files], fields, held))
        self._submitted += 1

    def in_flight(self) -> int:
        """Batches submitted that the process has not hashed yet (it may be told more then)."""
        return self._submitted - int(self._hashed.value)

    def outcomes(self) -> list[Outcome]:
        """The outcome of each file of the oldest batch not yet taken, in its order."""
        outcomes, logged, self.remembered = self._next()
        for level, message in logged:
            log.log(level, "%s", message)
        return list(outcomes)

    def close(self) -> None:
        """Have the process publish its last pack, and wait until it has."""
        self._tasks.put(_END)
        done = self._next()
        if done != _END:
            raise RuntimeError(f"the hashing process answered {done!r} to its end")
        self._process.join()

    def abort(self) -> None:
        """Stop the process (its pack in progress discarded), without waiting for long."""
        self._tasks.cancel_join_thread()  # never wait on a queue no one reads any more
        if self._process.is_alive():
            self._tasks.put(_ABORT)
            self._process.join(STOP_S)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()

    def _next(self) -> Any:
        while True:
            try:
                found = self._results.get(timeout=WAIT_S)
            except queue.Empty:
                if not self._process.is_alive():
                    raise _ended(self._process.exitcode) from None
                continue
            if isinstance(found, _Crash):
                raise RuntimeError(f"the hashing process failed:\n{found.text}")
            return found


def _start_without_main(process: SpawnProcess) -> None:
    """Start ``process`` without it importing the caller's main module: a spawned process runs
    the script that started its parent again, unless guarded by ``if __name__ ==
    "__main__"``, and a script using the API (creating a dataset, say) need not be."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")  # nothing to import again
    try:
        process.start()
    finally:
        sys.modules["__main__"] = main


class HashingProcessEnded(DeltasetError):
    """The second process died (killed, or out of memory) before it answered."""


def _ended(code: int | None) -> HashingProcessEnded:
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return HashingProcessEnded(
        f"The process hashing the files ended before it was done ({how}); nothing was added."
    )


class _Crash:
    """A failure in the second process that is not a file's: the traceback, for the caller."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Told(logging.Handler):
    """Holds what the second process logs (a warning that packing stopped, say), for the
    caller to log in its turn."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.held: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.held.append((record.levelno, record.getMessage()))

    def take(self) -> list[tuple[int, str]]:
        held, self.held = self.held, []
        return held


def serve(
    tasks: Queue[Task | str],
    results: Queue[Any],
    keeper: Keeper | None,
    hashed: Any,
    hashes_at: Path | None,
) -> None:
    """The second process: hash each batch of ``tasks`` into ``results`` until told to stop,
    counting them in ``hashed`` (a shared number). It remembers a batch's hashes (in the
    hash cache at ``hashes_at``) when no batch waits for it: the caller is then the slower, and
    remembers them otherwise."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the caller, who stops this
    told = _Told()
    log.addHandler(told)
    log.setLevel(logging.INFO)
    log.propagate = False
    import multiprocessing

    parent = multiprocessing.parent_process()
    end: str | None = _ABORT
    hashes = HashCache(hashes_at) if hashes_at is not None else None
    try:
        while not isinstance(task := _next_task(tasks, parent), str | None):
            outcomes = hash_batch(task, keeper)
            ahead = hashes is not None and tasks.empty()
            if ahead:
                assert hashes is not None
                hashes.remember(settled(outcomes))
            results.put((outcomes, told.take(), ahead))
            hashed.value += 1
        end = task
    except BaseException:  # noqa: BLE001 (told to the caller, who raises it)
        results.put(_Crash(traceback.format_exc()))
        end = _CRASHED
    if hashes is not None:
        hashes.close()
    if keeper is not None:
        keeper.close(None if end == _END else DeltasetError("the add was stopped"))
    if end == _END:
        results.put(_END)
    elif end != _CRASHED:  # stopped, or the caller is gone: no one reads what is left
        results.cancel_join_thread()


def _next_task(tasks: Queue[Task | str], parent: Any) -> Task | str | None:
    """The next task, or None once the caller is gone."""
    while True:
        try:
            return tasks.get(timeout=WAIT_S)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return None


def hash_batch(task: Task, keeper: Keeper | None) -> list[Outcome]:
    """Read and hash the files of ``task`` in order; small ones the draft does not hold as
    they are go to ``keeper``, a group of files at a time."""
    from deltaset.engine.scan import HASH_GROUP, read_file  # scan itself starts this process

    sources, fields, held = task
    outcomes: list[Outcome] = []
    kept: list[tuple[str, str, bytes]] = []
    keeping = keeper is not None
    for at, source in enumerate(sources):
        dev, ino, size, mtime, ctime = fields[at * 5 : at * 5 + 5]
        item = LocalFile.of(source, _NOWHERE, (dev, ino, size, mtime), ctime)
        found = read_file(item, keeping)
        if isinstance(found, Unread):
            outcomes.append(found)
            continue
        key, blob_id, data = found
        outcomes.append((key, blob_id))
        if data is not None and (held is None or held[at] != bytes.fromhex(blob_id)):
            kept.append((source, blob_id, data))
            if len(kept) >= HASH_GROUP:
                assert keeper is not None
                keeper(kept)
                kept = []
    if kept and keeper is not None:
        keeper(kept)
    return outcomes


def settled(outcomes: list[Outcome]) -> list[tuple[Key, str]]:
    """The hashes of the files read whose mtime is old enough for the hash cache: a file
    changed more recently may change again within its mtime's tick, unseen."""
    before_ns = (time.time() - RACY_SECONDS) * 1e9
    return [o for o in outcomes if not isinstance(o, Unread) and o[0][3] < before_ns]
