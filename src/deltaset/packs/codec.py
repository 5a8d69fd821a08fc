"""Codecs of stored blobs: raw, zstd where compression pays, or a zstd delta against a base blob
(the base's raw bytes as a raw-content dictionary) where that pays more."""

from __future__ import annotations

import threading
from enum import IntEnum

import zstandard

from deltaset.errors import IntegrityError, InvalidInputError

WORTH_IT = 0.9  # store compressed only when it saves at least 10 %
# zstd's fastest standard level: on the benchmark's text it compresses 1.8x faster than level 3
# and stores 1 % more, and compression is most of the cost of a first upload.
LEVEL = 1
MAX_LEVEL = 22
# ClearML passes a zipfile constant; each maps to a zstd level of a similar speed and ratio.
_ZIP_LEVELS = {0: None, 8: LEVEL, 12: 9, 14: 19}  # STORED, DEFLATED, BZIP2, LZMA


# A delta is kept only when it is at most this share of the blob compressed on its own.
DELTA_WORTH_IT = 0.5
# A delta this small (a share of the raw size) is kept without compressing the blob on its own.
DELTA_SURELY = 0.05
# Deltas are made at least at this level: they are small, so a slower level costs little, and
# its lazy matching stores evolving tables' deltas 10-35 % smaller than level 1 (a column added
# to every row: 4.7 MB instead of 5.3 MB for a 23 MB CSV, about 0.4 s more to close).
DELTA_LEVEL = 9


class Codec(IntEnum):
    RAW = 0
    ZSTD = 1
    DELTA = 2  # zstd with the base blob's raw bytes as a raw-content dictionary


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


def zstd_level(compression: int | str | None) -> int | None:
    """The zstd level ``upload(compression=...)`` asks for, or None to store blobs raw.

    ``None`` is the default level; a ``zipfile`` constant maps to a level of similar speed
    (``ZIP_STORED``: raw, ``ZIP_DEFLATED``: default, ``ZIP_BZIP2``: 9, ``ZIP_LZMA``: 19);
    ``"none"``/``"stored"`` mean raw, ``"zstd"`` the default, ``"zstd:N"`` level N (1-22).
    """
    if compression is None or compression == "zstd":
        return LEVEL
    if isinstance(compression, bool):
        return LEVEL if compression else None
    if isinstance(compression, int) and compression in _ZIP_LEVELS:
        return _ZIP_LEVELS[compression]
    if isinstance(compression, str):
        text = compression.strip().lower()
        if text in ("none", "stored", "raw"):
            return None
        name, _, level = text.partition(":")
        if name == "zstd" and level.isdigit() and 1 <= int(level) <= MAX_LEVEL:
            return int(level)
    raise InvalidInputError(
        f"Unknown compression {compression!r}: use None, a zipfile constant (ZIP_STORED, "
        "ZIP_DEFLATED, ZIP_BZIP2, ZIP_LZMA), 'none', 'zstd' or 'zstd:1' to 'zstd:22'."
    )


def encode_small(data: bytes, level: int = LEVEL) -> tuple[Codec, bytes]:
    """The cheaper stored form of a blob held in memory: compressed if that saves enough."""
    if len(data) >= 64:
        compressed = _compressor(level).compress(data)
        if len(compressed) < WORTH_IT * len(data):
            return Codec.ZSTD, compressed
    return Codec.RAW, data


def _delta_window(base: bytes, data: bytes | int) -> int:
    """The window (log2) a delta needs to reach the start of its base from the end of its data."""
    size = data if isinstance(data, int) else len(data)
    return max(10, min(30, (len(base) + size).bit_length()))


def encode_delta(data: bytes, base: bytes, level: int = LEVEL) -> bytes:
    """``data`` as a zstd frame that ``base`` (its dictionary) rebuilds (see :func:`decode`).

    zstd's fast levels size their match tables for the input alone, so matches into a larger
    dictionary are mostly lost: the tables are sized for base and data together, a quarter of
    an entry a byte (at most 16 MiB each: a delta is made in every upload thread at once).
    Tables of an entry a byte store deltas 0-2 % smaller, but clearing them for each delta
    made it two to three times slower."""
    window = _delta_window(base, data)
    tables = min(window, 24) - 2
    params = zstandard.ZstdCompressionParameters.from_level(
        level, source_size=len(data), window_log=window, hash_log=tables, chain_log=tables
    )
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdCompressor(compression_params=params, dict_data=dictionary).compress(data)


def encode_against(
    data: bytes,
    base: bytes,
    level: int = LEVEL,
    delta_level: int = DELTA_LEVEL,
    worth_it: float = DELTA_WORTH_IT,
) -> tuple[Codec, bytes]:
    """The cheaper stored form of ``data`` given a similar ``base``: a delta (made at
    ``delta_level`` or ``level`` if higher) when it is at most ``worth_it`` of the plain
    form, else what :func:`encode_small` gives at ``level``."""
    delta = encode_delta(data, base, max(level, delta_level))
    if len(delta) <= DELTA_SURELY * len(data):
        return Codec.DELTA, delta
    codec, payload = encode_small(data, level)
    if len(delta) <= worth_it * len(payload):
        return Codec.DELTA, delta
    return codec, payload


def decode(
    codec: int, payload: bytes, raw_length: int, blob_id: str, base: bytes | None = None
) -> bytes:
    """The raw bytes of a stored blob (``base``: the raw bytes of its base, for a delta); a
    damaged payload raises IntegrityError."""
    if codec == Codec.DELTA:
        if base is None:
            raise IntegrityError(f"The stored blob {blob_id} is a delta whose base is unknown.")
        return _decode_delta(payload, raw_length, blob_id, base)
    if codec == Codec.RAW:
        return payload
    if codec == Codec.ZSTD:
        try:
            return _decompressor().decompress(payload, max_output_size=raw_length)
        except (zstandard.ZstdError, MemoryError) as exc:  # a damaged frame can claim any size
            raise IntegrityError(f"The stored blob {blob_id} is damaged.") from exc
    raise IntegrityError(f"The stored blob {blob_id} has an unknown codec {codec}.")


def _decode_delta(payload: bytes, raw_length: int, blob_id: str, base: bytes) -> bytes:
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    window = 1 << _delta_window(base, raw_length)
    try:
        return zstandard.ZstdDecompressor(dict_data=dictionary, max_window_size=window).decompress(
            payload, max_output_size=raw_length
        )
    except (zstandard.ZstdError, MemoryError) as exc:
        raise IntegrityError(f"The stored blob {blob_id} is damaged.") from exc
