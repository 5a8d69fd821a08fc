"""Leases in a storage that keep a close and a garbage collection apart.

A close decides which blobs the storage already holds, then writes the manifest that makes
them referenced; a gc deletes what no manifest references. Were the two to interleave, a
close could reference a pack the gc is deleting. Each writes its lease under ``locks/`` and
then lists the other kind: whichever writes second sees the first, so the gc gives up or the
close waits. A lease left by a killed process stops counting once it is older than its TTL.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from deltaset.errors import StateError
from deltaset.storage.base import ObjectInfo, Storage

LOCKS = "locks/"
CLOSE_TTL_S = 3600.0  # a close holds its lease from its check of the storage to its manifest
GC_TTL_S = 6 * 3600.0
WAIT_FOR_GC_S = 120.0
POLL_S = 1.0


def _key(kind: str) -> str:
    return f"{LOCKS}{kind}-{uuid.uuid4().hex}.json"


def _body(what: str) -> bytes:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    doc = {"what": what, "host": platform.node(), "pid": os.getpid(), "since": now}
    return json.dumps(doc).encode()


def live_leases(storage: Storage, kind: str, ttl: float) -> list[ObjectInfo]:
    now = time.time()
    found = storage.list_info(f"{LOCKS}{kind}-")
    # A service that does not say when an object was written: the lease counts as live.
    return [i for i in found if not i.modified or now - i.modified < ttl]


@contextmanager
def closing(storage: Storage, version_id: str) -> Iterator[None]:
    """Hold a close lease; waits while a gc runs on ``storage``, then gives up with a sentence."""
    key = _key("close")
    storage.put_bytes(key, _body(f"close {version_id}"))
    try:
        _wait_for_gc(storage)
        yield
    finally:
        storage.delete(key)


def _wait_for_gc(storage: Storage) -> None:
    deadline = time.monotonic() + WAIT_FOR_GC_S
    while running := live_leases(storage, "gc", GC_TTL_S):
        if time.monotonic() > deadline:
            raise StateError(
                f"A garbage collection is running on {storage.url} ({running[0].key}); close "
                "again once it ends, or delete that object if no gc is running any more."
            )
        time.sleep(POLL_S)


@contextmanager
def collecting(storage: Storage) -> Iterator[None]:
    """Hold a gc lease; refuses (StateError) while a close of a version into ``storage`` runs."""
    key = _key("gc")
    storage.put_bytes(key, _body("gc"))
    try:
        closes = live_leases(storage, "close", CLOSE_TTL_S)
        if closes:
            raise StateError(
                f"A version is being closed into {storage.url} ({closes[0].key}); run gc "
                "again once it is done."
            )
        yield
    finally:
        storage.delete(key)
