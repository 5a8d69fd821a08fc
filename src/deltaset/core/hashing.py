"""BLAKE3 content ids: ``blob_id`` is the hex BLAKE3 of a file's uncompressed bytes."""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import blake3

BLOB_ID_LENGTH = 64
_BLOB_ID = re.compile(r"^[0-9a-f]{64}$")
READ_SIZE = 1 << 20  # one read call: large enough that its cost is the copy, not the call
THREADED_FROM = 64 << 20  # a file this large is worth hashing on every core
THREADED_READ_SIZE = 8 << 20  # each of the two buffers of a threaded hash


class Readable(Protocol):
    """A binary file opened for reading (``open(path, "rb", buffering=0)``)."""

    def readinto(self, buffer: bytearray | memoryview, /) -> int | None: ...


def new_hasher() -> blake3.blake3:
    return blake3.blake3()


def blob_id_of(data: bytes | memoryview) -> str:
    return str(blake3.blake3(data).hexdigest())


def is_blob_id(text: str) -> bool:
    return bool(_BLOB_ID.match(text))


def hash_stream(stream: Readable, threaded: bool = False) -> tuple[str, int]:
    """The blob id of what ``stream`` holds from where it is to its end, and the bytes read.

    Read calls, never a memory map: a mapped file that another process truncates kills the
    reading process with SIGBUS, where a read just returns fewer bytes. ``threaded`` (for one
    large file) hashes on every core and reads the next piece while hashing the last one,
    which brings the speed back close to a memory map's.
    """
    if threaded:
        return _hash_pipelined(stream)
    hasher = blake3.blake3()
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    total = 0
    while count := stream.readinto(buffer):
        hasher.update(view[:count])
        total += count
    return str(hasher.hexdigest()), total


def _hash_pipelined(stream: Readable) -> tuple[str, int]:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    buffers = (bytearray(THREADED_READ_SIZE), bytearray(THREADED_READ_SIZE))
    total, turn = 0, 0
    hashing: Future[object] | None = None
    with ThreadPoolExecutor(1) as pool:
        while True:
            buffer = buffers[turn]
            count = stream.readinto(buffer)  # the other buffer is being hashed meanwhile
            if hashing is not None:
                hashing.result()
            if not count:
                break
            hashing = pool.submit(hasher.update, memoryview(buffer)[:count])
            total += count
            turn = 1 - turn
    return str(hasher.hexdigest()), total


def external_id(url: str, size: int, etag: str) -> str:
    """The blob id of an external file: a BLAKE3 of what identifies it, kept apart from every
    content id by its prefix, so the same object at the same state always has the same id."""
    text = f"deltaset-external\0{url}\0{size}\0{etag}".encode()
    return str(blake3.blake3(text).hexdigest())
