"""Codecs of stored blobs: raw, or zstd where compression pays."""

from __future__ import annotations

import threading
from enum import IntEnum

import zstandard

from deltaset.errors import IntegrityError

WORTH_IT = 0.9  # store compressed only when it saves at least 10 %
LEVEL = 3


class Codec(IntEnum):
    RAW = 0
    ZSTD = 1


# zstd contexts are costly to create (more than compressing a small file) and not thread-safe,
# so each thread keeps its own.
_contexts = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    cache: dict[int, zstandard.ZstdCompressor] = _contexts.__dict__.setdefault("compressors", {})
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level)
    return cache[level]


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_contexts, "decompressor"):
        _contexts.decompressor = zstandard.ZstdDecompressor()
    found: zstandard.ZstdDecompressor = _contexts.decompressor
    return found


def encode_small(data: bytes, level: int = LEVEL) -> tuple[Codec, bytes]:
    """The cheaper stored form of a blob held in memory: compressed if that saves enough."""
    if len(data) >= 64:
        compressed = _compressor(level).compress(data)
        if len(compressed) < WORTH_IT * len(data):
            return Codec.ZSTD, compressed
    return Codec.RAW, data


def decode(codec: int, payload: bytes, raw_length: int, blob_id: str) -> bytes:
    """The raw bytes of a stored blob; a damaged payload raises IntegrityError."""
    if codec == Codec.RAW:
        return payload
    if codec == Codec.ZSTD:
        try:
            return _decompressor().decompress(payload, max_output_size=raw_length)
        except (zstandard.ZstdError, MemoryError) as exc:  # a damaged frame can claim any size
            raise IntegrityError(f"The stored blob {blob_id} is damaged.") from exc
    raise IntegrityError(f"The stored blob {blob_id} has an unknown codec {codec}.")
