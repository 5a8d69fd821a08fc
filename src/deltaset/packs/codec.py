"""Codecs of stored blobs: raw, zstd where compression pays, or a zstd delta against a base blob
(the base's raw bytes as a raw-content dictionary) where that pays more."""

from __future__ import annotations

import struct
import threading
from array import array
from enum import IntEnum

import zstandard

from deltaset.errors import IntegrityError, InvalidInputError
from deltaset.packs import prefixed
from deltaset.packs.runs import LINE_ANCHOR, decode_body, encode_body, little_numbers

WORTH_IT = 0.9  # store compressed only when it saves at least 10 %
# zstd's fastest standard level: on the benchmark's text it compresses 1.8x faster than level 3
# and stores 1 % more, and compression is most of the cost of a first upload.
LEVEL = 1
MAX_LEVEL = 22
# ClearML passes a zipfile constant; each maps to a zstd level of a similar speed and ratio.
_ZIP_LEVELS = {0: None, 8: LEVEL, 12: 9, 14: 19}  # STORED, DEFLATED, BZIP2, LZMA


# A delta is kept only when it is at most this share of the blob compressed on its own.
DELTA_WORTH_IT = 0.75
# A delta this small (a share of the raw size) is kept without compressing the blob on its own.
DELTA_SURELY = 0.05
# Deltas of a large change are made at least at this level: its lazy matching stores them
# 10-35 % smaller than level 1 (a column added to every row: 4.7 MB instead of 5.3 MB for a
# 23 MB CSV). A delta of a large blob's small change is made at the upload's level first and
# kept when tiny (see encode_against): on the growing table's chunks, 0.20 s a version at level
# 1 against 0.30 s at level 9 (more than compressing them alone at level 1, 0.24 s), for deltas
# of a few hundred bytes either way.
DELTA_LEVEL = 9
# Blobs this large at least are tried at the upload's level first: smaller ones cost little to
# delta at any level (a source tree's files: 2 % more bytes at level 1, for no time measured).
FAST_DELTA_FROM = 128 * 1024
# Line deltas' bodies (and the samples comparing the two kinds of delta) are compressed at this
# level: on the growing table's column added, 2.94 MB at a sixth of level 9's time (2.71 MB).
LINES_LEVEL = 3
SMALL_INPUT = 16 * 1024  # zstd's parameters change below this input size (see encode_delta)
FAST_LEVELS = 2  # zstd's levels of its fast strategy (one match table, no chains)
# zstd's levels whose strategies (fast, dfast) hash a prefix at every few positions only, and
# a dictionary at every position once digested (see encode_delta).
SPARSE_PREFIX_LEVELS = 4
# Data this large at least is delta'd against a digested dictionary at those levels.
FULL_BASE_FROM = 1024 * 1024


class Codec(IntEnum):
    RAW = 0
    ZSTD = 1
    DELTA = 2  # zstd with the base blob's raw bytes as a raw-content dictionary
    # Each line as the base line it extends and its new bytes, zstd-compressed: written by
    # earlier versions, read still (see _decode_lines).
    LINES = 3
    GROUP = 4  # one of the whole blobs of a shared zstd frame (see packs/groups.py)
    RUNS = 5  # a line delta as copies of the base's bytes, new bytes and runs (packs/runs.py)


LINE_DELTAS = (Codec.LINES, Codec.RUNS)  # rebuilt in Python: a chain holds few (see objects/)
DELTAS = (Codec.DELTA, *LINE_DELTAS)  # the codecs rebuilt from a base
# Text with lines this long on average at most is tried as a line delta too.
LINE_DELTA_UP_TO = 512
_HEADER = struct.Struct("<I")


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
    made it two to three times slower.

    Data of at most 16 KiB (a file's last chunk) is described to zstd as larger: for such
    inputs its levels choose a binary-tree search whose cost in loading a large base is
    forty times the whole delta's (16 ms against 0.4 ms for 4 KiB against a 200 KB base), for
    deltas a few bytes smaller at best. At zstd's fast levels (1-2: one table, filled from
    the whole base) an eighth of an entry a byte: on the growing table's chunks, deltas 1 %
    larger in 15 % less time; a thirty-second lost most matches.

    The base is given to zstd as a prefix (see packs/prefixed.py), but for data of at least
    :data:`FULL_BASE_FROM` at levels up to :data:`SPARSE_PREFIX_LEVELS`: there the prefix's
    sparse hashing made daily dumps' deltas 10-23 % larger (the whole history 10 %), while
    digesting the base costs 2-3 ms a file. A file's chunks are at most 1 MiB, and each
    digest's fixed cost made their deltas four times slower: they keep the prefix."""
    window = _delta_window(base, data)
    fast = level <= FAST_LEVELS
    tables = min(window, 24) - (3 if fast else 2)
    source_size = max(len(data), SMALL_INPUT + 1)
    sparse = level <= SPARSE_PREFIX_LEVELS and len(data) >= FULL_BASE_FROM
    if prefixed.available() and not sparse:  # see packs/prefixed.py: faster, the same frames
        params = zstandard.ZstdCompressionParameters.from_level(
            level,
            source_size=source_size,
            window_log=window,
            hash_log=tables + (prefixed.HASH_LOG_EXTRA if fast else 0),
            chain_log=tables,
        )
        made = prefixed.compress(data, base, params)
        if made is not None:
            return made
    params = zstandard.ZstdCompressionParameters.from_level(
        level, source_size=source_size, window_log=window, hash_log=tables, chain_log=tables
    )
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdCompressor(compression_params=params, dict_data=dictionary).compress(data)


def encode_against(
    data: bytes,
    base: bytes,
    level: int = LEVEL,
    delta_level: int = DELTA_LEVEL,
    worth_it: float = DELTA_WORTH_IT,
    lines: bool = True,
) -> tuple[Codec, bytes]:
    """The cheaper stored form of ``data`` given a similar ``base``: a delta (made at
    ``delta_level`` or ``level`` if higher; one of at least :data:`FAST_DELTA_FROM` bytes at
    ``level`` when that comes out tiny) when it is at most ``worth_it`` of the plain form,
    else what :func:`encode_small` gives at ``level``.

    Text that did not come out a tiny zstd delta is tried line by line too (see
    :func:`encode_lines`; not with ``lines`` false), and the smaller kept. Where a sample
    shows its rows rewritten and the line delta far smaller (a column added to every row),
    the zstd delta is not made at all, and the plain form only when the delta may not pay."""
    high = max(level, delta_level)
    by_lines_level = max(level, LINES_LEVEL)
    # The sample first: it tells rows kept whole from a few of their bytes, while telling
    # text by its lines reads the whole blob.
    if lines and _lines_pay_more(data, base, by_lines_level) and _line_text(data):
        codec, delta = Codec.RUNS, encode_lines(data, base, by_lines_level)
    else:
        first = level if len(data) >= FAST_DELTA_FROM else high
        codec, delta = Codec.DELTA, encode_delta(data, base, first)
        if len(delta) <= DELTA_SURELY * len(data):
            return codec, delta
        if high > first:  # a large change: worth a slower level's smaller delta
            delta = encode_delta(data, base, high)
        if (
            lines
            and _line_text(data)
            and _lines_found(data, base)
            and _sample_lines_smaller(data, base, by_lines_level)
        ):
            by_lines = encode_lines(data, base, by_lines_level)
            if len(by_lines) < len(delta):
                codec, delta = Codec.RUNS, by_lines
    if _plainly_larger(data, delta, level, worth_it):
        return codec, delta
    plain_codec, payload = encode_small(data, level)
    if len(delta) <= worth_it * len(payload):
        return codec, delta
    return plain_codec, payload


def lines_may_pay(data: bytes, base: bytes, codec: Codec, payload: bytes) -> bool:
    """Whether a line delta of ``data`` against ``base`` may store less than ``payload``,
    what :func:`encode_against` made without one (as ``codec``): it would have tried one."""
    if codec == Codec.DELTA and len(payload) <= DELTA_SURELY * len(data):
        return False
    return _line_text(data) and _lines_found(data, base)


def _line_text(data: bytes) -> bool:
    return data.count(b"\n") * LINE_DELTA_UP_TO >= len(data)


# The sample of a blob whose encodings are compared before encoding it all.
SAMPLE = 32 * 1024
# A line delta of the sample this share of its zstd delta at most is taken without making the
# zstd delta of the whole (on the growing table's column added, the shares seen were 0.33-0.47
# and the whole's line delta then 0.22-0.83 of its zstd delta).
LINES_SURELY = 0.6


def _lines_pay_more(data: bytes, base: bytes, level: int) -> bool:
    """Whether the first :data:`SAMPLE` bytes of ``data`` show most of its rows rewritten
    (their starts in ``base``, but not they) and their line delta at most
    :data:`LINES_SURELY` of their zstd delta, both against the part of ``base`` they come
    from: a delta of rows kept whole is tiny, and made as a zstd delta."""
    found = _sampled(data, base)
    if found is None:
        return False
    sample, part, rows = found
    if 2 * sum(row in part for row in rows) >= len(rows):
        return False
    if 2 * sum(row[:LINE_ANCHOR] in part for row in rows) < len(rows):
        return False
    by_lines = encode_lines(sample, part, level)
    return len(by_lines) <= LINES_SURELY * len(encode_delta(sample, part, level))


def _sample_lines_smaller(data: bytes, base: bytes, level: int) -> bool:
    """Whether the line delta of the first :data:`SAMPLE` bytes of ``data`` is smaller than
    their zstd delta, both against the part of ``base`` they come from: else a line delta of
    the whole is not made (rows revised here and there: on the benchmark's tables and dumps,
    every such line delta came out larger than the zstd delta, and cost a close of a dump
    0.4 s)."""
    found = _sampled(data, base)
    if found is None:
        return False
    sample, part, _ = found
    return len(encode_lines(sample, part, level)) < len(encode_delta(sample, part, level))


def _sampled(data: bytes, base: bytes) -> tuple[bytes, bytes, list[bytes]] | None:
    """The first :data:`SAMPLE` bytes of ``data`` (whole lines), the part of ``base`` they
    come from (found by the start of their first whole line) and their first whole lines;
    None when that start is not in ``base``."""
    sample = data[: data.rfind(b"\n", 0, SAMPLE) + 1]
    rows = sample.split(b"\n")[1:17]  # the first may be cut
    if len(rows) < 8 or len(rows[0]) < LINE_ANCHOR:
        return None
    found = base.find(rows[0][:LINE_ANCHOR])
    if found < 0:
        return None
    return sample, base[max(0, found - SAMPLE // 8) : found + 2 * len(sample)], rows


def _plainly_larger(data: bytes, delta: bytes, level: int, worth_it: float) -> bool:
    """Whether ``data`` compressed alone surely stores more than ``delta`` would pay for: its
    first :data:`SAMPLE` bytes compressed, scaled to its size, hold twice enough."""
    if len(data) < 4 * SAMPLE:
        return False
    sample = len(_compressor(level).compress(data[:SAMPLE]))
    return len(delta) <= worth_it * sample * len(data) / SAMPLE / 2


def encode_lines(data: bytes, base: bytes, level: int = LINES_LEVEL) -> bytes:
    """``data`` as a line delta against ``base`` (codec RUNS, see :func:`decode`).

    Each line is told by the base line it extends (found by its first :data:`LINE_ANCHOR`
    bytes; the one after the last found, when that one starts alike), how many of that line's
    first and last bytes it keeps, and its own bytes between; lines unchanged or extended
    alike one after the other are told together (see packs/runs.py). When every row of a
    table moved by a different amount (a column added), a zstd delta pays a whole offset for
    each row's match, while here each row costs its new bytes: a table gaining a column
    stores a quarter of the zstd delta."""
    return _compressor(level).compress(encode_body(data, base))


def _lines_found(data: bytes, base: bytes, sample: int = 16) -> bool:
    """Whether at least half of the first ``sample`` whole lines of ``data`` start like a line
    of ``base``: else (rows appended, say) a line delta stores them whole, and is not tried."""
    lines = data[: sample * LINE_DELTA_UP_TO].split(b"\n")[1 : sample + 1]
    keys = [line[:LINE_ANCHOR] for line in lines if len(line) >= LINE_ANCHOR]
    need = (len(keys) + 1) // 2
    found = 0
    # each search may read the whole base: stop as soon as the answer is known
    for left, key in zip(range(len(keys) - 1, -1, -1), keys, strict=True):
        found += key in base
        if found >= need or found + left < need:
            break
    return bool(keys) and found >= need


def decode(
    codec: int, payload: bytes, raw_length: int, blob_id: str, base: bytes | None = None
) -> bytes:
    """The raw bytes of a stored blob (``base``: the raw bytes of its base, for a delta); a
    damaged payload raises IntegrityError."""
    if codec in DELTAS:
        if base is None:
            raise IntegrityError(f"The stored blob {blob_id} is a delta whose base is unknown.")
        if codec == Codec.RUNS:
            return _decode_runs(payload, raw_length, blob_id, base)
        if codec == Codec.LINES:
            return _decode_lines(payload, raw_length, blob_id, base)
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


def _decode_runs(payload: bytes, raw_length: int, blob_id: str, base: bytes) -> bytes:
    try:  # at most four operations of 33 bytes a line, and there are raw_length + 1 lines
        body = _decompressor().decompress(payload, max_output_size=140 * raw_length + 256)
    except (zstandard.ZstdError, MemoryError) as exc:
        raise IntegrityError(f"The stored blob {blob_id} is damaged.") from exc
    return decode_body(body, base, raw_length, blob_id)


def _decode_lines(payload: bytes, raw_length: int, blob_id: str, base: bytes) -> bytes:
    try:  # the numbers take 12 bytes a line at most, and there are raw_length + 1 lines
        body = _decompressor().decompress(payload, max_output_size=13 * raw_length + 16)
        (count,) = _HEADER.unpack_from(body)
        ends = [_HEADER.size + 4 * count * n for n in (1, 2, 3)]
        moves, keeps, tails = (  # 4 bytes a number in this older format
            little_numbers(body[start:end], "I")
            for start, end in zip((_HEADER.size, *ends[:2]), ends, strict=True)
        )
        own = body[ends[2] :].split(b"\n")
        data = b"\n".join(_spliced(base.split(b"\n"), moves, keeps, tails, own))
    except (zstandard.ZstdError, MemoryError, struct.error, ValueError, IndexError) as exc:
        raise IntegrityError(f"The stored blob {blob_id} is damaged.") from exc
    if len(data) != raw_length:
        raise IntegrityError(f"The stored blob {blob_id} is damaged.")
    return data


def _spliced(
    old: list[bytes], moves: array[int], keeps: array[int], tails: array[int], own: list[bytes]
) -> list[bytes]:
    """The lines a line delta tells, from the lines ``old`` of its base.

    Per line in Python, so kept lean (most lines extend the base line after the last one,
    and keep no end of it when only their end changed): 20 % faster than the plain form."""
    lines: list[bytes] = []
    add = lines.append
    expect = 0
    for move, keep, tail, mine in zip(moves, keeps, tails, own, strict=True):
        if move == 1:
            before = old[expect]
            expect += 1
        elif not move:
            add(mine)
            continue
        else:
            at = expect + ((move - 1) >> 1 ^ -((move - 1) & 1))
            if at < 0:
                raise IndexError(at)
            before = old[at]
            expect = at + 1
        if tail:
            add(before[:keep] + mine + before[len(before) - tail :])
        else:
            add(before[:keep] + mine)
    return lines
