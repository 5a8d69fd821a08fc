from __future__ import annotations

import os
import random
import struct
import sys
import zipfile
import zlib
from array import array

import pytest
import zstandard

from deltaset.core.hashing import blob_id_of
from deltaset.errors import IntegrityError, InvalidInputError
from deltaset.packs import codec as codec_module
from deltaset.packs.codec import (
    DELTA_LEVEL,
    DELTA_SURELY,
    FAST_DELTA_FROM,
    LEVEL,
    LINE_ANCHOR,
    LINES_LEVEL,
    SAMPLE,
    Codec,
    _line_text,
    _lines_found,
    _lines_pay_more,
    _plainly_larger,
    _sample_lines_smaller,
    decode,
    encode_against,
    encode_delta,
    encode_lines,
    encode_small,
    zstd_level,
)


def choose(data: bytes) -> Codec:
    return encode_small(data)[0]


def test_random_bytes_are_stored_raw() -> None:
    assert choose(os.urandom(100_000)) is Codec.RAW


def test_already_compressed_bytes_are_stored_raw() -> None:
    assert choose(zlib.compress(os.urandom(50_000) + b"a" * 50_000)) is Codec.RAW


def test_text_is_compressed() -> None:
    text = "".join(f"{i},label_{i % 7},0.{i * 37 % 1000:03d}\n" for i in range(5_000))
    assert choose(text.encode()) is Codec.ZSTD


def test_tiny_samples_are_stored_raw_even_when_compressible() -> None:
    assert choose(b"a" * 63) is Codec.RAW
    assert choose(b"a" * 64) is Codec.ZSTD
    assert choose(b"") is Codec.RAW


def test_codec_values_are_the_stored_header_bytes() -> None:
    assert (int(Codec.RAW), int(Codec.ZSTD)) == (0, 1)


def test_encode_small_returns_the_payload_it_chose() -> None:
    text = b"label,score\n" * 500
    codec, payload = encode_small(text)
    assert codec is Codec.ZSTD
    assert zstandard.ZstdDecompressor().decompress(payload) == text
    noise = os.urandom(5_000)
    assert encode_small(noise) == (Codec.RAW, noise)
    assert encode_small(b"short") == (Codec.RAW, b"short")


def test_decode_returns_the_raw_bytes_of_either_codec() -> None:
    text = b"label,score\n" * 500
    assert decode(Codec.ZSTD, encode_small(text)[1], len(text), "id") == text
    assert decode(Codec.RAW, b"as is", 5, "id") == b"as is"


def test_decode_refuses_an_unknown_codec() -> None:
    with pytest.raises(IntegrityError, match="unknown codec 7"):
        decode(7, b"x", 1, "some-id")


@pytest.mark.parametrize(("at", "bit"), [(0, 0x01), (4, 0x80)])
def test_a_damaged_zstd_payload_is_refused_with_its_id(at: int, bit: int) -> None:
    """Byte 4, bit 7 makes the frame claim an absurd size: refused as damage, not a crash."""
    text = b"".join(b"row %d: %d\n" % (i, i * 7919 % 100_003) for i in range(3_000))
    codec, payload = encode_small(text)
    assert codec is Codec.ZSTD
    damaged = bytearray(payload)
    damaged[at] ^= bit
    with pytest.raises(IntegrityError, match=blob_id_of(text)):
        decode(codec, bytes(damaged), len(text), blob_id_of(text))


@pytest.mark.parametrize(
    ("compression", "level"),
    [
        (None, LEVEL),
        ("zstd", LEVEL),
        (zipfile.ZIP_STORED, None),
        ("none", None),
        ("Stored", None),
        (zipfile.ZIP_DEFLATED, LEVEL),
        (zipfile.ZIP_BZIP2, 9),
        (zipfile.ZIP_LZMA, 19),
        ("zstd:7", 7),
        ("zstd:22", 22),
    ],
)
def test_upload_compression_selects_a_zstd_level(compression: int | str | None, level: int) -> None:
    assert zstd_level(compression) == level


@pytest.mark.parametrize("compression", ["zstd:0", "zstd:23", "zstd:x", "gzip", 3, -1])
def test_unknown_compression_is_refused_in_one_sentence(compression: int | str) -> None:
    with pytest.raises(InvalidInputError, match="Unknown compression"):
        zstd_level(compression)


def test_a_higher_level_stores_text_smaller() -> None:
    text = b"".join(
        b"line %d of a log with some words, %d\n" % (i, i * 7 % 13) for i in range(5000)
    )
    fast = encode_small(text, zstd_level(None) or LEVEL)[1]
    small = encode_small(text, zstd_level("zstd:19") or LEVEL)[1]
    assert len(small) < len(fast) < len(text) // 3
    assert decode(Codec.ZSTD, small, len(text), blob_id_of(text)) == text


def _table(seed: int, count: int = 20_000) -> bytes:
    rng = random.Random(seed)
    return "".join(f"{i},{rng.randint(0, 10**6)},label_{i % 7}\n" for i in range(count)).encode()


def _revised(data: bytes) -> bytes:
    lines = data.split(b"\n")
    for at in range(0, len(lines), 200):
        lines[at] = b"revised," + lines[at]
    return b"\n".join(lines) + b"999,1,appended\n"


def test_a_delta_rebuilds_the_blob_from_its_base() -> None:
    base = _table(1)
    data = _revised(base)
    codec, payload = encode_against(data, base)
    assert codec is Codec.DELTA
    assert len(payload) < 0.1 * len(encode_small(data)[1])
    assert decode(codec, payload, len(data), blob_id_of(data), base) == data


def test_a_delta_that_does_not_pay_is_stored_plain() -> None:
    codec, payload = encode_against(_table(1), _table(2))
    assert codec is Codec.ZSTD
    assert decode(codec, payload, len(_table(1)), "x") == _table(1)


def test_a_delta_reaches_the_start_of_a_large_base() -> None:
    """zstd's fast levels would lose matches far back in a base of several MiB."""
    base = _table(3, 200_000)
    data = _revised(base)
    assert len(base) > 3 << 20
    assert len(encode_delta(data, base)) < 0.02 * len(data)


@pytest.mark.parametrize("size", [0, 100, 4096, 16 * 1024, 16 * 1024 + 1])
def test_a_small_delta_against_a_large_base_rebuilds_and_stays_small(size: int) -> None:
    """A file's last chunk, at most 16 KiB, against a base of MiBs (described to zstd as a
    larger input, so that loading the base stays cheap): whole, and a delta still."""
    base = _table(3, 200_000)
    data = base[len(base) // 2 : len(base) // 2 + size] + b"x"
    payload = encode_delta(data, base, DELTA_LEVEL)
    assert len(payload) < max(100, len(data) // 10)
    assert decode(Codec.DELTA, payload, len(data), blob_id_of(data), base) == data


def test_a_delta_without_its_base_or_against_another_is_refused() -> None:
    base = _table(1)
    data = _revised(base)
    payload = encode_delta(data, base)
    with pytest.raises(IntegrityError, match="base is unknown"):
        decode(Codec.DELTA, payload, len(data), "x")
    with pytest.raises(IntegrityError):
        decode(Codec.DELTA, payload[:-9] + bytes(9), len(data), "x", base)


def test_a_delta_of_a_large_blobs_small_change_is_made_at_the_blob_level() -> None:
    """A delta at the delta level costs half as much again: one of rows revised here and
    there is tiny at the blob's level already."""
    base = _table(4)
    data = _revised(base)
    codec, payload = encode_against(data, base, LEVEL)
    assert len(data) >= FAST_DELTA_FROM
    assert codec is Codec.DELTA
    assert DELTA_LEVEL > LEVEL
    assert payload == encode_delta(data, base, LEVEL) != encode_delta(data, base, DELTA_LEVEL)
    assert len(payload) <= DELTA_SURELY * len(data)
    assert decode(codec, payload, len(data), blob_id_of(data), base) == data


def test_a_delta_of_a_small_blob_is_made_at_the_delta_level() -> None:
    """A small blob's base costs little to load at any level: its smaller delta is kept."""
    base = _table(4, 3000)
    data = _revised(base)
    assert len(data) < FAST_DELTA_FROM
    codec, payload = encode_against(data, base, LEVEL)
    assert codec is Codec.DELTA
    assert payload == encode_delta(data, base, DELTA_LEVEL) != encode_delta(data, base, LEVEL)


def _rewritten(data: bytes, share: float, seed: int) -> bytes:
    """``data`` with about ``share`` of its rows' values drawn again."""
    rng = random.Random(seed)
    rows = data.split(b"\n")
    for at in range(len(rows)):
        if rows[at] and rng.random() < share:
            rows[at] = b"%d,%d,changed" % (at, rng.randint(0, 10**6))
    return b"\n".join(rows)


def test_a_delta_of_a_large_change_is_made_at_the_delta_level() -> None:
    base = _table(4)
    data = _rewritten(base, 0.3, 4)
    codec, payload = encode_against(data, base, LEVEL)
    assert codec is Codec.DELTA
    assert len(encode_delta(data, base, LEVEL)) > DELTA_SURELY * len(data)
    assert payload == encode_delta(data, base, DELTA_LEVEL) != encode_delta(data, base, LEVEL)
    assert decode(codec, payload, len(data), blob_id_of(data), base) == data


def test_a_line_delta_is_not_made_where_a_sample_shows_the_zstd_delta_smaller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows revised here and there (a chain restarting against an older version): the zstd
    delta is not tiny, but a sample shows the line delta larger, so none is made of the whole
    (it would have been larger too)."""
    base = _table(7)
    data = _rewritten(base, 0.3, 7)
    assert _line_text(data)
    assert _lines_found(data, base)
    assert not _sample_lines_smaller(data, base, LINES_LEVEL)
    made: list[int] = []

    def counting(lines: bytes, against: bytes, level: int = LINES_LEVEL) -> bytes:
        made.append(len(lines))
        return encode_lines(lines, against, level)

    monkeypatch.setattr(codec_module, "encode_lines", counting)
    codec, payload = encode_against(data, base, LEVEL)
    assert codec is Codec.DELTA
    assert max(made, default=0) <= SAMPLE  # samples only
    assert len(payload) < len(encode_lines(data, base))
    assert decode(codec, payload, len(data), blob_id_of(data), base) == data


def test_a_sample_shows_a_line_delta_smaller_for_rows_that_moved() -> None:
    base = _wide_table(8)
    assert _sample_lines_smaller(_widened(base), base, LINES_LEVEL)
    assert not _sample_lines_smaller(b"no lines here", base, LINES_LEVEL)


def _widened(data: bytes) -> bytes:
    """``data`` with a column added to every row: each row moves by a different amount."""
    rng = random.Random(9)
    return b"".join(line + b",%d" % rng.randint(0, 99) + b"\n" for line in data.splitlines())


def test_a_table_gaining_a_column_is_stored_as_a_line_delta() -> None:
    base = _table(5)
    data = _widened(base)
    codec, payload = encode_against(data, base)
    assert codec is Codec.RUNS
    assert len(payload) < 0.5 * len(encode_delta(data, base, DELTA_LEVEL))
    assert decode(codec, payload, len(data), blob_id_of(data), base) == data


def test_a_table_with_rows_revised_stays_a_zstd_delta() -> None:
    base = _table(6)
    assert encode_against(_revised(base), base)[0] is Codec.DELTA


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"no newline at all",
        b"\n\n\nblank lines\n\n",
        b"a row that no base line starts like\n" * 3,
        b"1,2,3 the first row of the base,new\n" * 2 + b"last row without its newline",
        b"short\nrows\n",
    ],
)
def test_a_line_delta_rebuilds_any_text(data: bytes) -> None:
    base = b"1,2,3 the first row of the base\nshort\n\nlast row without its newline, longer"
    payload = encode_lines(data, base)
    assert decode(Codec.RUNS, payload, len(data), "x", base) == data


def test_a_line_delta_of_rows_reordered_rebuilds_them() -> None:
    base = _table(7, 3000)
    rows = base.split(b"\n")
    data = b"\n".join(rows[1500:] + rows[:1500])
    assert decode(Codec.RUNS, encode_lines(data, base), len(data), "x", base) == data


def test_a_damaged_line_delta_or_one_against_another_base_is_refused() -> None:
    base = _table(8, 2000)
    data = _widened(base)
    for codec, payload in (
        (Codec.RUNS, encode_lines(data, base)),
        (Codec.LINES, _reference_lines(data, base)),
    ):
        with pytest.raises(IntegrityError, match="base is unknown"):
            decode(codec, payload, len(data), "x")
        with pytest.raises(IntegrityError, match="damaged"):
            decode(codec, payload, len(data), "x", _table(9, 2000))
        with pytest.raises(IntegrityError, match="damaged"):
            decode(codec, payload[:-9] + bytes(9), len(data), "x", base)
    numbers = zstandard.ZstdCompressor().compress(b"\x03\x00\x00\x00" + bytes(5))
    with pytest.raises(IntegrityError, match="damaged"):
        decode(Codec.LINES, numbers, 10, "x", base)


def test_a_line_delta_is_tried_only_when_the_lines_are_in_the_base() -> None:
    base = _table(10, 3000)
    assert _lines_found(_widened(base), base)
    assert not _lines_found(_table(11, 3000).replace(b"label", b"other"), base)
    assert not _lines_found(b"no lines here", base)


class _Searched(bytes):
    """A base that counts the searches made in it."""

    searches = 0

    def __contains__(self, key: object) -> bool:
        type(self).searches += 1
        return super().__contains__(key)  # type: ignore[operator]


def test_the_lines_of_a_sample_are_searched_for_only_until_the_answer_is_known() -> None:
    base = _table(12, 3000)
    for data, searches in ((base, 8), (_table(13, 3000).replace(b"label", b"other"), 9)):
        _Searched.searches = 0
        assert _lines_found(data, _Searched(base)) is (data == base)
        assert _Searched.searches == searches  # of the 16 lines' starts


def _edited(base: bytes, seed: int) -> bytes:
    """``base`` with rows revised at either end, cut short, moved, dropped and new ones among."""
    rng = random.Random(seed)
    rows = base.split(b"\n")
    out: list[bytes] = []
    for row in rows:
        pick = rng.random()
        if pick < 0.05:
            out.append(b"a new row %d nothing starts like" % rng.randint(0, 10**6))
        if pick < 0.1:
            continue  # dropped
        if pick < 0.2:
            row = row[: len(row) // 2]  # its end cut: the base row's start only
        elif pick < 0.3:
            row = row[:20] + b"revised" + row[-5:]
        elif pick < 0.35:
            out.insert(rng.randrange(len(out) + 1), row)  # moved back
            continue
        out.append(row)
    return b"\n".join(out)


@pytest.mark.parametrize("seed", range(6))
def test_a_line_delta_of_any_edits_rebuilds_them_byte_for_byte(seed: int) -> None:
    base = _table(20 + seed, 1500)
    data = _edited(base, seed)
    payload = encode_lines(data, base)
    assert decode(Codec.RUNS, payload, len(data), "x", base) == data


def _wide_table(seed: int, count: int = 20_000) -> bytes:
    rng = random.Random(seed)
    rows = (
        f"{100_000 + i},{rng.randint(0, 10**6)},label_{i % 7},{rng.random():.6f}\n"
        for i in range(count)
    )
    return "".join(rows).encode()


def test_a_table_gaining_a_column_is_encoded_by_lines_without_a_zstd_delta() -> None:
    """A sample of the rows tells that a line delta pays more, so the zstd delta is not made;
    rows only revised still get one."""
    base = _wide_table(30)
    data = _widened(base)
    assert _lines_pay_more(data, base, DELTA_LEVEL)
    assert not _lines_pay_more(_revised(base), base, DELTA_LEVEL)
    assert not _lines_pay_more(_wide_table(31), base, DELTA_LEVEL)  # other rows altogether
    codec, payload = encode_against(data, base)
    assert (codec, payload) == (Codec.RUNS, encode_lines(data, base))
    assert decode(codec, payload, len(data), blob_id_of(data), base) == data


def test_line_deltas_can_be_turned_off() -> None:
    base = _wide_table(32)
    data = _widened(base)
    codec, payload = encode_against(data, base, lines=False)
    assert codec is Codec.DELTA
    assert decode(codec, payload, len(data), blob_id_of(data), base) == data


def _reference_lines(data: bytes, base: bytes, level: int = LINES_LEVEL) -> bytes:
    """A line delta of codec LINES, which earlier versions wrote, made a byte at a time as its
    format tells it."""
    old = base.split(b"\n")
    where: dict[bytes, int] = {}
    for number, line in enumerate(old):
        where.setdefault(line[:LINE_ANCHOR], number)
    moves, keeps, tails, own = array("I"), array("I"), array("I"), []
    expect = 0
    for line in data.split(b"\n"):
        key = line[:LINE_ANCHOR]
        nearby = expect < len(old) and old[expect][:LINE_ANCHOR] == key
        at = expect if nearby else where.get(key)
        if at is None:
            moves.append(0)
            keeps.append(0)
            tails.append(0)
            own.append(line)
            continue
        before, keep, tail = old[at], 0, 0
        while keep < min(len(before), len(line)) and before[keep] == line[keep]:
            keep += 1
        most = min(len(before), len(line)) - keep
        while tail < most and before[-1 - tail] == line[-1 - tail]:
            tail += 1
        moves.append(2 * (at - expect) + 1 if at >= expect else 2 * (expect - at))
        keeps.append(keep)
        tails.append(tail)
        own.append(line[keep : len(line) - tail])
        expect = at + 1
    numbers = b"".join(n.tobytes() for n in (moves, keeps, tails))
    body = struct.pack("<I", len(moves)) + numbers + b"\n".join(own)
    return zstandard.ZstdCompressor(level=level).compress(body)


@pytest.mark.skipif(sys.byteorder != "little", reason="the reference writes native numbers")
@pytest.mark.parametrize("seed", range(4))
def test_a_line_delta_earlier_versions_wrote_still_rebuilds(seed: int) -> None:
    base = _table(40 + seed, 1500) + b"\nshort\n\n" + bytes(range(256)) * 3
    for data in (_edited(base, seed), _widened(base), base[::-1], base + b"\x00tail"):
        payload = _reference_lines(data, base)
        assert decode(Codec.LINES, payload, len(data), "x", base) == data


def test_a_plain_form_is_not_made_when_a_delta_is_far_smaller() -> None:
    data = _wide_table(33)
    assert _plainly_larger(data, b"x" * 100, LEVEL, 0.75)
    assert not _plainly_larger(data, data[: len(data) // 2], LEVEL, 0.75)
    assert not _plainly_larger(data[:1000], b"", LEVEL, 0.75)  # too small to sample
