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
