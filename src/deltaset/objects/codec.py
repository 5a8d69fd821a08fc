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


def choose(sample: bytes, level: int = LEVEL) -> Codec:
    """Raw for data that does not compress (media, archives), zstd otherwise."""
    if len(sample) < 64:
        return Codec.RAW
    compressed = zstandard.ZstdCompressor(level=level).compress(sample)
    return Codec.ZSTD if len(compressed) < WORTH_IT * len(sample) else Codec.RAW
