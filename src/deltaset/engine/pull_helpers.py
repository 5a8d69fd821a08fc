"""Helper processes sharing a pull of many files: each fetches the whole blobs of the
batches it is handed and writes them where the pulling process planned, so that the system
calls of a million small files, which bound a pull on one core, run on every core. A pull
whose files are mostly cached already (the next version after one pulled before) hands them
the links instead: each checks a cached file's stat and links it into the folder being built.

The pulling process keeps everything else: it plans each batch (which blobs, which files,
the folders they go in, made once), fetches chunked and external files itself, and writes
every index row once, from what each helper reports: the positions it placed and their
stats. A helper writes only into the build's staging folder (each file its blob's home, see
:mod:`deltaset.cache.homes`), which goes with the build if it fails. A helper that fails
reports what it placed first, then its error.

A helper is a Python process running :func:`main`, fed pickled jobs on its standard
input and answering on its standard output: unlike a multiprocessing start method, that
never runs the caller's main script again (an API script without a ``__main__`` guard).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from deltaset import config
from deltaset.cache.index import IF_FULL
from deltaset.cache.links import write_new
from deltaset.cache.tree_build import HomeLinks, link_homes, write_home
from deltaset.errors import DeltasetError, StorageError
from deltaset.faults import failpoint
from deltaset.objects.store import BlobStore
from deltaset.storage.errors import os_error

SPLIT_ENV = "DELTASET_PULL_SPLIT_FROM"
# Files from which a cold pull takes helpers: below it, starting one (an interpreter and the
# store's index, about a second) costs more than it saves.
SPLIT_FROM = 20_000
JOB_FILES = 4096  # files a job at most: small enough to share the work evenly
# Jobs of links waiting for each helper at most: linking a file costs a helper less than
# checking it costs the pulling process, which places a batch itself only past these.
LINK_JOBS_WAITING = 8
MAX_HELPERS = 3
# How long the pulling process waits for an answer at a time: a signal the kernel gives one
# of its reading threads (Ctrl-C) does not wake the main thread from a wait without an end.
WAKE_SECONDS = 0.2


@dataclass(frozen=True)
class Job:
    """Whole blobs to fetch: (blob id, position, file of a build's staging folder or "",
    files of a writable copy) each."""

    files: list[tuple[str, int, str, tuple[str, ...]]]


@dataclass
class Done:
    """What a helper did with a job: the positions it placed in the build and their stats
    (four numbers each), the blobs and bytes it fetched, and the error that stopped it, if
    one did. ``hard``: the files placed are links of cached files (:class:`HomeLinks`), not
    their blobs' homes."""

    linked: list[int] = field(default_factory=list)
    stats: list[int] = field(default_factory=list)
    files: int = 0
    nbytes: int = 0
    error: BaseException | None = None
    hard: bool = False


def helper_count(files: int, max_workers: int | None) -> int:
    """How many helpers a cold pull of ``files`` files takes: none on one core, below
    :data:`SPLIT_FROM` files (or ``DELTASET_PULL_SPLIT_FROM``), or with one worker asked for."""
    threshold = int(os.environ.get(SPLIT_ENV) or SPLIT_FROM)
    cores = os.cpu_count() or 1
    if files < threshold or cores < 2 or max_workers == 1 or not sys.executable:
        return 0
    return min(cores - 1, MAX_HELPERS, (max_workers or cores) - 1)


class Helpers:
    """``count`` helper processes reading from the storage at ``url`` into the cache at
    ``root``; a context manager (its end stops them)."""

    def __init__(self, settings: config.Settings, url: str, root: str, count: int) -> None:
        self._results: queue.Queue[tuple[_Helper, Done | None]] = queue.Queue()
        self._helpers = [_Helper(self._results) for _ in range(count)]
        for helper in self._helpers:
            helper.send((settings, url, root))
        self.lost = False  # whether a helper stopped before it said what it did

    def has_room(self, waiting: int = 2) -> bool:
        """Whether a helper would start another job soon (each has at most ``waiting``)."""
        return sum(h.pending for h in self._helpers) < waiting * len(self._helpers)

    def submit(self, files: list[tuple[str, int, str, tuple[str, ...]]]) -> None:
        """Hand ``files`` to the least busy helper."""
        min(self._helpers, key=lambda h: h.pending).submit(Job(files))

    def submit_links(self, links: HomeLinks) -> None:
        """Hand ``links`` to the least busy helper."""
        min(self._helpers, key=lambda h: h.pending).submit(links)

    @property
    def pending(self) -> int:
        return sum(h.pending for h in self._helpers)

    def finished(self, wait: bool = False) -> Iterator[Done]:
        """The jobs done since last asked (with ``wait``, every job handed out); a
        StorageError when a helper stopped before it answered."""
        while self.pending:
            try:
                helper, done = self._results.get(block=wait, timeout=WAKE_SECONDS)
            except queue.Empty:
                if wait:
                    continue  # (the interpreter handles a pending signal in between)
                return
            helper.pending -= 1
            if done is None:
                helper.pending = 0
                self.lost = True
                raise StorageError(
                    f"A helper process of the pull stopped unexpectedly (exit code "
                    f"{helper.exit_code()}); get the version again."
                )
            yield done

    def stop(self) -> None:
        """Stop every helper at once, whatever it is doing."""
        for helper in self._helpers:
            helper.kill()

    def __enter__(self) -> Helpers:
        return self

    def __exit__(self, *exc: object) -> None:
        for helper in self._helpers:
            helper.close()


class _Helper:
    """One helper process, with a thread writing its jobs and one reading its answers."""

    def __init__(self, results: queue.Queue[tuple[_Helper, Done | None]]) -> None:
        self.pending = 0
        self._jobs: queue.Queue[object] = queue.Queue()
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from deltaset.engine.pull_helpers import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_helper_environment(),
        )
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._reader = threading.Thread(target=self._read, args=(results,), daemon=True)
        self._writer.start()
        self._reader.start()

    def send(self, message: object) -> None:
        self._jobs.put(message)

    def submit(self, job: Job | HomeLinks) -> None:
        self.pending += 1
        self._jobs.put(job)

    def _write(self) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        with contextlib.suppress(OSError, ValueError):  # the helper stopped: its reader says
            while (message := self._jobs.get()) is not None:
                pickle.dump(message, stdin, pickle.HIGHEST_PROTOCOL)
                stdin.flush()
        with contextlib.suppress(OSError):
            stdin.close()

    def _read(self, results: queue.Queue[tuple[_Helper, Done | None]]) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            while True:
                results.put((self, pickle.load(stdout)))
        except Exception:  # noqa: BLE001 (the helper stopped: killed, or its pipe closed)
            self.kill()  # (or it sent what it should not: it must not block on a full pipe)
            results.put((self, None))

    def exit_code(self) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._process.wait(5)
        return None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._process.kill()

    def close(self) -> None:
        """Let the helper end once its jobs are done (at once when killed), and reap it."""
        self._jobs.put(None)
        self._writer.join()
        try:
            self._process.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
            self._process.wait()
        self._reader.join()
        if self._process.stdout is not None:
            self._process.stdout.close()


def _helper_environment() -> dict[str, str]:
    """This process's environment, with the folder it imported deltaset from first on the
    helper's path: the helper runs the same code, however this process found it."""
    here = str(Path(config.__file__).resolve().parent.parent)  # deltaset/config.py
    found = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": here + (os.pathsep + found if found else "")}


def _serve(jobs: BinaryIO, answers: BinaryIO) -> None:
    """A helper's life: do each job as it comes, until no more come."""
    settings, url, root = pickle.load(jobs)
    store = _Store(settings, url)
    while True:
        try:
            job = pickle.load(jobs)
        except EOFError:
            return
        done = _link(job) if isinstance(job, HomeLinks) else _fetch(store, root, job)
        pickle.dump(done, answers, pickle.HIGHEST_PROTOCOL)
        answers.flush()


class _Store:
    """The store a helper fetches from, opened for its first job that fetches (a job of
    links needs none); the error opening it, if any, is every such job's answer."""

    def __init__(self, settings: config.Settings, url: str) -> None:
        self._settings, self._url = settings, url
        self._store: BlobStore | None = None
        self.failed: Exception | None = None

    def open(self) -> BlobStore | None:
        """The store, or None when it cannot be opened (see :attr:`failed`)."""
        if self._store is None and self.failed is None:
            try:
                self._store = _open_store(self._settings, self._url)
            except Exception as exc:  # noqa: BLE001 (sent as every job's answer)
                self.failed = _sendable(exc)
        return self._store


def _link(links: HomeLinks) -> Done:
    """Link the files of ``links`` that still have the stat they were found with."""
    done = Done(hard=True)
    try:
        link_homes(links, done.linked, done.stats)
    except Exception as exc:  # noqa: BLE001 (sent to the pulling process, which raises it)
        done.error = _sendable(exc)
    return done


def _fetch(store: _Store, root: str, job: Job) -> Done:
    """Fetch the job's blobs into the cache at ``root`` (see :func:`_run`)."""
    done = Done()
    opened = store.open()
    if opened is None:
        done.error = store.failed
    else:
        _run(opened, root, job, done)
    return done


def _open_store(settings: config.Settings, url: str) -> BlobStore:
    from deltaset.engine.context import Context  # it imports the whole engine's needs

    return Context(settings=settings).blobs(url)


def _run(store: BlobStore, root: str, job: Job, done: Done) -> None:
    """Fetch the job's blobs and write each where the pulling process planned; ``done`` says
    what was written, even when an error stops the job."""
    planned = {blob_id: (at, dest, copies) for blob_id, at, dest, copies in job.files}

    def sink(blob_id: str, data: bytes) -> None:
        at, dest, copies = planned[blob_id]
        if dest:
            try:
                write_home(data, dest, done.stats)
            except OSError as exc:
                raise os_error(exc, f"write to the cache {root}", IF_FULL) from exc
            done.linked.append(at)
            failpoint("pull.helper_linked")
        for copy in copies:
            try:
                write_new(data, copy)
            except OSError as exc:
                raise os_error(exc, f"write {copy}") from exc
        done.files += 1
        done.nbytes += len(data)

    try:
        store.read(planned, sink, 1)
    except Exception as exc:  # noqa: BLE001 (sent to the pulling process, which raises it)
        done.error = _sendable(exc)


def _sendable(exc: Exception) -> Exception:
    """``exc`` as the pulling process can be sent it: a DeltasetError as it is, anything
    else (which may not pickle) as text."""
    if isinstance(exc, DeltasetError):
        return exc
    return StorageError(f"A helper process of the pull failed: {exc!r}.")


def main() -> None:
    """Serve jobs on standard input; anything printed goes to standard error, not into the
    answers. Ctrl-C is the pulling process's to handle: it stops its helpers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.buffer, answers)
