"""BLAKE3 content ids: ``blob_id`` is the hex BLAKE3 of a file's uncompressed bytes."""

from __future__ import annotations

import re

import blake3

BLOB_ID_LENGTH = 64
_BLOB_ID = re.compile(r"^[0-9a-f]{64}$")


def new_hasher() -> blake3.blake3:
    return blake3.blake3()


def blob_id_of(data: bytes | memoryview) -> str:
    return str(blake3.blake3(data).hexdigest())


def is_blob_id(text: str) -> bool:
    return bool(_BLOB_ID.match(text))


def external_id(url: str, size: int, etag: str) -> str:
    """The blob id of an external file: a BLAKE3 of what identifies it, kept apart from every
    content id by its prefix, so the same object at the same state always has the same id."""
    text = f"deltaset-external\0{url}\0{size}\0{etag}".encode()
    return str(blake3.blake3(text).hexdigest())
