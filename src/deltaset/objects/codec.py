"""The stored form of one blob: a codec byte, then the raw or zstd-compressed bytes."""

from __future__ import annotations

from enum import IntEnum

import zstandard

SAMPLE_SIZE = 256 * 1024
WORTH_IT = 0.9  # store compressed only when it saves at least 10 %
LEVEL = 3


class Codec(IntEnum):
    RAW = 0
    ZSTD = 1


def encode_small(data: bytes, level: int = LEVEL) -> tuple[Codec, bytes]:
    """The cheaper stored form of a blob held in memory: compressed if that saves enough."""
    if len(data) >= 64:
        compressed = zstandard.ZstdCompressor(level=level).compress(data)
        if len(compressed) < WORTH_IT * len(data):
            return Codec.ZSTD, compressed
    return Codec.RAW, data


def choose(sample: bytes, level: int = LEVEL) -> Codec:
    """Raw for data that does not compress (media, archives), zstd otherwise."""
    return encode_small(sample, level)[0]
