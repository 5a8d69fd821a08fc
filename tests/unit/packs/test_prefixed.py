"""zstd deltas made with their base as a prefix read back through the dictionary decoder."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import zstandard

from deltaset.core.hashing import blob_id_of
from deltaset.packs import codec, prefixed
from deltaset.packs.codec import DELTA_LEVEL, LEVEL, Codec, decode, encode_against, encode_delta

needs_prefix = pytest.mark.skipif(not prefixed.available(), reason="zstandard's cffi backend")


def _table(seed: int, rows: int = 20_000) -> bytes:
    rng = random.Random(seed)
    rows_made = (b"%d,%d,%s\n" % (at, rng.randint(0, 10**9), b"x" * rng.randint(0, 30))
                 for at in range(rows))  # fmt: skip
    return b"".join(rows_made)


def _revised(data: bytes, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    lines = data.split(b"\n")
    for _ in range(len(lines) // 200):
        at = rng.randrange(len(lines))
        lines[at] = b"revised," + lines[at]
    return b"\n".join(lines) + b"999,1,appended\n"


def _params(data: bytes, base: bytes, level: int) -> zstandard.ZstdCompressionParameters:
    """As encode_delta chooses them: match tables sized for the base and the data together."""
    window = codec._delta_window(base, data)
    tables = min(window, 24) - 2
    return zstandard.ZstdCompressionParameters.from_level(
        level, source_size=len(data) + 1, window_log=window, hash_log=tables, chain_log=tables
    )


CASES = {
    "revised rows": (_revised(_table(1)), _table(1)),
    "empty": (b"", _table(1)),
    "a few bytes": (b"1,2,x\n", _table(1)),
    "unrelated": (random.Random(3).randbytes(50_000), _table(1)),
    "empty base": (_table(2, 500), b""),
    "far back in a large base": (_table(4, 200_000)[:1000] + b"new", _table(4, 200_000)),
}


@needs_prefix
@pytest.mark.parametrize("level", [LEVEL, DELTA_LEVEL])
@pytest.mark.parametrize("case", CASES)
def test_a_frame_made_with_a_prefix_rebuilds_through_the_dictionary_decoder(
    case: str, level: int
) -> None:
    data, base = CASES[case]
    frame = prefixed.compress(data, base, _params(data, base, level))
    assert frame is not None
    assert decode(Codec.DELTA, frame, len(data), blob_id_of(data), base) == data
    if case in ("revised rows", "far back in a large base"):  # matches in the base
        assert len(frame) < 0.05 * len(data)


@needs_prefix
def test_a_delta_is_made_without_a_digested_dictionary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Digesting the base as a dictionary was four fifths of a delta's time at level 1."""

    def digested(*args: object, **kwargs: object) -> None:
        raise AssertionError("the base was made a dictionary")

    monkeypatch.setattr(zstandard, "ZstdCompressionDict", digested)
    data, base = CASES["revised rows"]
    for level in (LEVEL, DELTA_LEVEL):
        payload = encode_delta(data, base, level)
        assert len(payload) < 0.05 * len(data)
    codec_used, payload = encode_against(data, base)
    assert codec_used is Codec.DELTA
    monkeypatch.undo()
    assert decode(codec_used, payload, len(data), blob_id_of(data), base) == data


def test_deltas_are_made_with_a_dictionary_where_no_prefix_can_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prefixed, "_backend", False)  # as where cffi is not installed
    assert not prefixed.available()
    data, base = CASES["revised rows"]
    assert prefixed.compress(data, base, _params(data, base, LEVEL)) is None
    payload = encode_delta(data, base, LEVEL)
    assert len(payload) < 0.05 * len(data)
    assert decode(Codec.DELTA, payload, len(data), blob_id_of(data), base) == data


@needs_prefix
def test_deltas_made_in_several_threads_at_once_each_rebuild() -> None:
    """Each thread has its own context and output buffer, large deltas after small ones
    and small after large."""
    bases = [_table(seed, 2000 * (1 + seed % 5)) for seed in range(24)]
    pairs = [(_revised(base, seed), base) for seed, base in enumerate(bases)]

    def made(pair: tuple[bytes, bytes]) -> bytes:
        return encode_delta(pair[0], pair[1], LEVEL)

    with ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(made, pairs))
    for (data, base), frame in zip(pairs, frames, strict=True):
        assert decode(Codec.DELTA, frame, len(data), blob_id_of(data), base) == data


def _dump(records: int, revised: float = 0.0) -> bytes:
    """A daily dump: one JSON record a line, ``revised`` of their values changed."""
    rng, edits = random.Random(7), random.Random(1)
    lines = []
    for at in range(records):
        value = rng.randint(0, 10**6)
        if edits.random() < revised:
            value = edits.randint(0, 10**6)
        kind = rng.choice([b"alpha", b"beta", b"gamma"])
        lines.append(b'{"id": %d, "value": %d, "kind": "%s"}\n' % (at, value, kind))
    return b"".join(lines)


@needs_prefix
def test_a_large_file_is_delta_d_against_its_whole_base_and_a_chunk_against_a_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At zstd's fast levels a prefix is hashed every few positions: a whole file's small
    change stored 10-14 % more than against its base digested whole. A chunk keeps the
    prefix, for which digesting cost four times the delta."""
    made_with_prefix: list[int] = []
    real = prefixed.compress

    def noted(data: bytes, base: bytes, params: zstandard.ZstdCompressionParameters) -> object:
        made_with_prefix.append(len(data))
        return real(data, base, params)

    monkeypatch.setattr(prefixed, "compress", noted)
    base, data = _dump(40_000), _dump(40_000, revised=0.05)
    assert len(data) >= 1024 * 1024  # larger than any chunk of a file
    whole = encode_delta(data, base, LEVEL)
    assert made_with_prefix == []
    with monkeypatch.context() as always_prefixed:
        always_prefixed.setattr(codec, "FULL_BASE_FROM", len(data) + 1)
        sparse = encode_delta(data, base, LEVEL)
    assert made_with_prefix == [len(data)]
    assert len(whole) < 0.95 * len(sparse)
    assert decode(Codec.DELTA, whole, len(data), blob_id_of(data), base) == data

    chunk, chunk_base = data[: 256 * 1024], base[: 256 * 1024]
    part = encode_delta(chunk, chunk_base, LEVEL)
    assert made_with_prefix == [len(data), len(chunk)]
    assert decode(Codec.DELTA, part, len(chunk), blob_id_of(chunk), chunk_base) == chunk
    assert len(encode_delta(data, base, DELTA_LEVEL)) > 0
    assert made_with_prefix[-1] == len(data)  # at level 9 the prefix stores as little
