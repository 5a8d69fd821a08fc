"""Leases in a storage that keep a close apart from a garbage collection or a delete.

A close decides which blobs the storage already holds, then writes the manifest that makes
them referenced; a gc deletes what no manifest references, and a delete removes a version
that a closing child may inherit from. Were they to interleave, a close could reference a
pack the gc is deleting, or a parent a delete is removing. Each writes its lease under
``locks/`` and then lists the other kind: whichever writes second sees the first, so the gc
or delete gives up or the close waits. Holders renew their lease while they run, so one a
killed process left stops counting a few minutes later; one whose holder is seen dead (its
process no longer runs on this machine) is released at once.

A lease is ``locks/<kind>-<32 hex digits>.json`` holding what :func:`_body` writes; anything
else under ``locks/`` (planted by a token that may write objects, or damaged) is not a lease.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache

from deltaset.errors import DeltasetError, DiskFullError, NotFoundError, StateError
from deltaset.storage.base import ObjectInfo, Storage

LOCKS = "locks/"
TTL_S = 600.0  # a lease not renewed for this long was left by a killed process
RENEW_S = 60.0  # how often a holder renews its lease
WAIT_FOR_GC_S = 900.0  # how long a close waits for a gc to end
POLL_S = 1.0
# A gc must be able to run on a full storage, which is when it is most needed, but its lease
# must come before it deletes anything. A lease with no body takes no byte of a disk (only a
# name), so a gc that cannot write its lease's body writes the lease empty (see _write).
EMPTY = b""
_KEY = re.compile(r"^locks/(close|gc)-[0-9a-f]{32}\.json$")  # a delete takes a gc lease

log = logging.getLogger("deltaset")


@dataclass(frozen=True, slots=True)
class Lease:
    """A live lease, as its body describes its holder."""

    key: str
    what: str
    host: str
    pid: int
    since: str
    parents: tuple[str, ...] | None  # those of the version a close makes final; None: unknown
    machine: str | None = None  # the holder's boot and process namespace (see _machine)

    def holder(self) -> str:
        if not self.host:
            return "an unknown process (it was written on a full disk)"
        return f"process {self.pid} on {self.host} since {self.since}"

    def describe(self) -> str:
        return f"{self.key}: {self.what or 'gc'}, held by {self.holder()}"


def _key(kind: str) -> str:
    return f"{LOCKS}{kind}-{uuid.uuid4().hex}.json"


def kind_of(key: str) -> str | None:
    """The kind of lease ``key`` names (``close`` or ``gc``), or None if it names no lease."""
    found = _KEY.match(key)
    return found[1] if found else None


@cache
def _machine() -> str | None:
    """What tells this machine's processes apart from those of another machine with the same
    host name (a container sharing its host's network, say): the boot and the process
    namespace; "" where there are no namespaces; None where a process cannot be tested."""
    if os.name != "posix":
        return None  # on Windows, os.kill would end the process rather than test it
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            return f"{boot.read().strip()}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return "" if platform.system() == "Darwin" else None


def _body(what: str, parents: Sequence[str] | None = None) -> bytes:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    doc: dict[str, object] = {"what": what, "host": platform.node(), "pid": os.getpid()}
    doc["since"] = now
    if parents is not None:
        doc["parents"] = list(parents)
    if _machine():
        doc["machine"] = _machine()
    return json.dumps(doc).encode()


def parse(key: str, data: bytes) -> Lease | None:
    """The lease ``data`` at ``key`` describes, or None when ``key`` is not a lease's or
    ``data`` is not what :func:`_body` writes for its kind."""
    kind = kind_of(key)
    if kind is None:
        return None
    if data == EMPTY:
        return Lease(key, "", "", 0, "", None) if kind == "gc" else None  # see EMPTY
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    what, host, pid, since = (doc.get(k) for k in ("what", "host", "pid", "since"))
    parents, machine = doc.get("parents"), doc.get("machine")
    if not (isinstance(what, str) and isinstance(host, str) and host and isinstance(since, str)):
        return None
    if not isinstance(pid, int) or isinstance(pid, bool) or not isinstance(machine, str | None):
        return None
    if parents is not None and not (
        isinstance(parents, list) and all(isinstance(p, str) for p in parents)
    ):
        return None
    lease = Lease(key, what, host, pid, since, None if parents is None else tuple(parents), machine)
    return lease if _of_kind(lease, kind) else None


def _of_kind(lease: Lease, kind: str) -> bool:
    """Whether ``lease`` is one its kind's holders write: a close names its version and its
    parents; a gc lease is a gc's, a delete's or a rewrite's after a close (engine/reverse.py)."""
    if kind == "close":
        return lease.what.startswith("close ") and lease.parents is not None
    return lease.what == "gc" or lease.what.startswith(("delete ", "rewrite "))


def _holder_gone(lease: Lease) -> bool:
    """Whether the process holding ``lease`` ran on this machine and no longer does."""
    here = _machine()
    if here is None or lease.pid <= 0 or lease.host != platform.node():
        return False
    if here and lease.machine != here:  # another boot or another container: not ours to test
        return False
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it runs, as another user
    return False


def live_leases(storage: Storage, kind: str) -> list[Lease]:
    """The leases of ``kind`` renewed in the last TTL_S seconds. One whose body is not a
    lease's (planted, or damaged) does not count, and is reported."""
    now = time.time()
    found = storage.list_info(f"{LOCKS}{kind}-")
    # A service that does not say when an object was written: the lease counts as live.
    fresh = [i for i in found if not i.modified or now - i.modified < TTL_S]

    def read(info: ObjectInfo) -> Lease | None:
        try:
            data = storage.get_bytes(info.key)
        except NotFoundError:
            return None  # its holder is done
        lease = parse(info.key, data)
        if lease is None:
            log.warning(
                "ignored %s in %s: it is not a lease deltaset writes (delete it)",
                info.key,
                storage.url,
            )
        elif _holder_gone(lease):
            _release(storage, lease)
            return None
        return lease

    if len(fresh) < 2:
        leases = [read(i) for i in fresh]
    else:
        with ThreadPoolExecutor(min(len(fresh), 8)) as pool:
            leases = list(pool.map(read, fresh))
    return [lease for lease in leases if lease is not None]


def _release(storage: Storage, lease: Lease) -> None:
    """Delete a lease whose holder is seen dead; it no longer counts, deleted or not."""
    try:
        storage.delete(lease.key)
    except DeltasetError as exc:  # a gc lease, on a server, only an admin token may delete
        log.warning(
            "ignored the lease %s in %s: its holder, process %d on this machine, is no longer "
            "running (%s)",
            lease.key,
            storage.url,
            lease.pid,
            exc,
        )
        return
    log.warning(
        "released the lease %s in %s: its holder, process %d on this machine, is no longer running",
        lease.key,
        storage.url,
        lease.pid,
    )


def _write(storage: Storage, key: str, body: bytes, kind: str) -> None:
    try:
        storage.put_bytes(key, body)
    except DiskFullError:
        if kind != "gc":
            raise
        storage.put_bytes(key, EMPTY)  # see EMPTY


@contextmanager
def _held(storage: Storage, kind: str, body: bytes) -> Iterator[str]:
    """Hold a lease of ``kind`` (the block gets its key), renewed every RENEW_S seconds until
    the block ends; one a killed process leaves stops counting TTL_S after its last renewal."""
    key = _key(kind)
    _write(storage, key, body, kind)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RENEW_S):
            with suppress(DeltasetError):  # the next renewal may get through
                _write(storage, key, body, kind)

    renewer = threading.Thread(target=renew, name=f"deltaset-{kind}-lease", daemon=True)
    renewer.start()
    try:
        yield key
    finally:
        stop.set()
        renewer.join()
        storage.delete(key)


@contextmanager
def closing(storage: Storage, version_id: str, parents: Sequence[str]) -> Iterator[None]:
    """Hold a close lease (naming the version's parents, which no delete may remove while it
    runs); waits while a gc runs on ``storage``, then gives up with a sentence."""
    with _held(storage, "close", _body(f"close {version_id}", parents)):
        _wait_for_gc(storage, time.monotonic() + WAIT_FOR_GC_S, "close")
        yield


def _wait_for_gc(
    storage: Storage, deadline: float, again: str, told: set[str] | None = None
) -> None:
    """Wait while a gc or a delete holds a lease on ``storage``; past ``deadline``, a
    StateError tells the user to run ``again`` later."""
    told = set() if told is None else told
    while running := live_leases(storage, "gc"):
        if time.monotonic() > deadline:
            raise StateError(
                f"A garbage collection or a delete is running on {storage.url} "
                f"({running[0].describe()}); {again} again once it ends."
            )
        for lease in running:
            if lease.key not in told:
                told.add(lease.key)
                log.warning(
                    "waiting at most %s for the gc lease %s in %s to end (%s, held by %s)",
                    _duration(WAIT_FOR_GC_S),
                    lease.key,
                    storage.url,
                    lease.what or "gc",
                    lease.holder(),
                )
        time.sleep(POLL_S)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} seconds"


@contextmanager
def excluding_closes(storage: Storage, what: str) -> Iterator[list[Lease]]:
    """Hold a gc lease (no close starts while it is held, no other gc or delete runs) and
    yield the close leases that were live once it was written: closes that may run meanwhile.

    Two collectors at once would each rewrite the index files the other reads, and leave one
    naming a pack the other deleted; so each waits until it is the only one."""
    deadline = time.monotonic() + WAIT_FOR_GC_S
    again = what.split(" ", 1)[0]  # gc, or delete
    told: set[str] = set()
    while True:
        _wait_for_gc(storage, deadline, again, told)
        with _held(storage, "gc", _body(what)) as key:
            if not [lease for lease in live_leases(storage, "gc") if lease.key != key]:
                yield live_leases(storage, "close")
                return
        # Another wrote its lease meanwhile, and may have seen ours and backed off too: a
        # random pause lets one of them go first.
        time.sleep(random.uniform(0, POLL_S))


@contextmanager
def collecting(storage: Storage) -> Iterator[None]:
    """Hold a gc lease; refuses (StateError) while a close of a version into ``storage`` runs."""
    with excluding_closes(storage, "gc") as closes:
        if closes:
            raise StateError(
                f"A version is being closed into {storage.url} ({closes[0].describe()}); run "
                "gc again once it is done."
            )
        yield


@contextmanager
def alone(storage: Storage, what: str) -> Iterator[bool]:
    """Hold a gc lease when no close, gc or delete holds a lease on ``storage``, yielding
    whether it does: never waits (what the holder does may as well be left for later). A close
    starting meanwhile waits for it, as for a gc."""
    if live_leases(storage, "gc") or live_leases(storage, "close"):
        yield False
        return
    with _held(storage, "gc", _body(what)) as key:
        others = [lease for lease in live_leases(storage, "gc") if lease.key != key]
        yield not others and not live_leases(storage, "close")
