"""Leases in a storage that keep a close and a garbage collection apart.

A close decides which blobs the storage already holds, then writes the manifest that makes
them referenced; a gc deletes what no manifest references. Were the two to interleave, a
close could reference a pack the gc is deleting. Each writes its lease under ``locks/`` and
then lists the other kind: whichever writes second sees the first, so the gc gives up or the
close waits. Holders renew their lease while they run, so one a killed process left stops
counting a few minutes later.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from deltaset.errors import DeltasetError, StateError
from deltaset.storage.base import ObjectInfo, Storage

LOCKS = "locks/"
TTL_S = 600.0  # a lease not renewed for this long was left by a killed process
RENEW_S = 60.0  # how often a holder renews its lease
WAIT_FOR_GC_S = 900.0  # how long a close waits for a gc to end
POLL_S = 1.0


def _key(kind: str) -> str:
    return f"{LOCKS}{kind}-{uuid.uuid4().hex}.json"


def _body(what: str) -> bytes:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    doc = {"what": what, "host": platform.node(), "pid": os.getpid(), "since": now}
    return json.dumps(doc).encode()


def live_leases(storage: Storage, kind: str) -> list[ObjectInfo]:
    now = time.time()
    found = storage.list_info(f"{LOCKS}{kind}-")
    # A service that does not say when an object was written: the lease counts as live.
    return [i for i in found if not i.modified or now - i.modified < TTL_S]


@contextmanager
def _held(storage: Storage, kind: str, what: str) -> Iterator[None]:
    """Hold a lease of ``kind``, renewed every RENEW_S seconds until the block ends; one a
    killed process leaves stops counting TTL_S after its last renewal."""
    key, body = _key(kind), _body(what)
    storage.put_bytes(key, body)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RENEW_S):
            with suppress(DeltasetError):  # the next renewal may get through
                storage.put_bytes(key, body)

    renewer = threading.Thread(target=renew, name=f"deltaset-{kind}-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        storage.delete(key)


@contextmanager
def closing(storage: Storage, version_id: str) -> Iterator[None]:
    """Hold a close lease; waits while a gc runs on ``storage``, then gives up with a sentence."""
    with _held(storage, "close", f"close {version_id}"):
        _wait_for_gc(storage)
        yield


def _wait_for_gc(storage: Storage) -> None:
    deadline = time.monotonic() + WAIT_FOR_GC_S
    while running := live_leases(storage, "gc"):
        if time.monotonic() > deadline:
            raise StateError(
                f"A garbage collection is running on {storage.url} ({running[0].key}); close "
                "again once it ends."
            )
        time.sleep(POLL_S)


@contextmanager
def collecting(storage: Storage) -> Iterator[None]:
    """Hold a gc lease; refuses (StateError) while a close of a version into ``storage`` runs."""
    with _held(storage, "gc", "gc"):
        closes = live_leases(storage, "close")
        if closes:
            raise StateError(
                f"A version is being closed into {storage.url} ({closes[0].key}); run gc "
                "again once it is done."
            )
        yield
