"""Building what a page of a large final version reads (its folder index, its changes), for
versions closed elsewhere, while the page says it is indexing and reloads itself instead of
keeping the browser waiting seconds for an answer.

A thread takes the jobs one at a time and hands each to a worker process
(:mod:`deltaset.ui.index_worker`): a build is seconds of Python, which in a thread of the
pages' process would hold the interpreter lock and delay every page meanwhile. At start-up
the newest large versions lacking their indexes are queued; any other version or comparison
when its page is first asked for.
"""

from __future__ import annotations

import logging
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from deltaset.catalog.base import Query
from deltaset.core.records import VersionRecord
from deltaset.engine import diff, page_indexes
from deltaset.engine.context import Context
from deltaset.engine.views import final_manifest, parent_records
from deltaset.errors import DeltasetError
from deltaset.ui.index_worker import Job

INLINE_MOST = 20_000  # files of a version (or two compared) whose page builds them inline
RECENT = 20  # the newest final versions looked at when the UI starts
log = logging.getLogger("deltaset")

Key = tuple[str, ...]  # a version id, or the ids of two versions compared


class Indexer:
    """One daemon thread having what pages of large versions read built, one job at a time.

    ``lock`` is the pages' lock: the catalog is read under it (the embedded catalog keeps one
    connection), the indexes are written outside it so pages keep answering meanwhile."""

    def __init__(
        self,
        context: Callable[[], Context],
        lock: AbstractContextManager[Any],
        inline_most: int = INLINE_MOST,
    ) -> None:
        self._context, self._lock, self.inline_most = context, lock, inline_most
        self._jobs: queue.Queue[Key] = queue.Queue()
        self._queued: set[Key] = set()
        self._failed: set[Key] = set()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def version_ready(self, ctx: Context, record: VersionRecord) -> bool:
        """Whether a page of ``record`` can be made now; if not, its build is queued."""
        if not record.state.is_final or record.stats.file_count <= self.inline_most:
            return True
        if page_indexes.ready(ctx, record) or (record.id,) in self._failed:
            return True
        self._queue((record.id,))
        return False

    def comparison_ready(self, ctx: Context, source: VersionRecord, target: VersionRecord) -> bool:
        """Whether the compare page of the two versions can be made now; else it is queued."""
        if not (source.state.is_final and target.state.is_final):
            return True
        if source.stats.file_count + target.stats.file_count <= self.inline_most:
            return True
        if diff.has_changes(ctx, source, target) or (source.id, target.id) in self._failed:
            return True
        self._queue((source.id, target.id))
        return False

    def queue_recent(self) -> None:
        """Queue the newest large final versions that lack what their pages read."""
        with self._lock:
            ctx = self._context()
            found = [r for r in ctx.catalog.search(Query()) if r.state.is_final]
            found.sort(key=lambda r: r.created, reverse=True)
            for record in found[:RECENT]:
                self.version_ready(ctx, record)

    def wait(self) -> None:
        """Until every queued job is done (for tests and benchmarks)."""
        self._jobs.join()

    def _queue(self, job: Key) -> None:
        with self._guard:
            if job in self._queued:
                return
            self._queued.add(job)
            self._jobs.put(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ui-indexer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                self._build(job)
            except (DeltasetError, OSError) as exc:  # the page then builds it inline
                self._failed.add(job)
                log.warning("Could not index %s for the web catalog: %s", " ".join(job), exc)
            finally:
                with self._guard:
                    self._queued.discard(job)
                self._jobs.task_done()

    def _build(self, job: Key) -> None:
        with self._lock:
            ctx = self._context()
            work = self._work(ctx, job)
        if work is None:
            return
        done = subprocess.run(
            [sys.executable, "-m", "deltaset.ui.index_worker"],
            input=pickle.dumps(work),
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            self._failed.add(job)  # its page then builds it inline
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            log.warning("Could not index %s for the web catalog: %s", " ".join(job), *tail)

    def _work(self, ctx: Context, job: Key) -> Job | None:
        """What the worker needs to index ``job``; None when it is kept already."""
        cache_dir = str(ctx.settings.cache_dir)
        if len(job) == 2:
            source, target = (ctx.catalog.get(i) for i in job)
            if diff.has_changes(ctx, source, target):
                return None
            return Job(
                cache_dir,
                target.to_dict(),
                _encoded(ctx, target),
                [_encoded(ctx, source)],
                source.to_dict(),
            )
        record = ctx.catalog.get(job[0])
        if page_indexes.ready(ctx, record):
            return None
        parents = [_encoded(ctx, p) for p in parent_records(ctx, record)]
        return Job(cache_dir, record.to_dict(), _encoded(ctx, record), parents)


def _encoded(ctx: Context, record: VersionRecord) -> bytes:
    """The whole manifest of the final ``record``, encoded (as the catalog keeps it)."""
    kept = ctx.catalog.manifest(record.id)
    return kept if kept is not None else final_manifest(ctx, record).to_bytes()


def started(indexer: Indexer) -> Indexer:
    """``indexer`` with the newest large versions queued (a catalog that cannot be read now
    only means their first pages build them)."""
    try:
        indexer.queue_recent()
    except DeltasetError as exc:
        log.warning("Could not look for versions to index for the web catalog: %s", exc)
    return indexer
