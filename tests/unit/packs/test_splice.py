"""Rebuilding line deltas by runs (packs/splice.py): byte for byte what the line-by-line reading
of the same stored delta gives, whatever lines the runs meet."""

from __future__ import annotations

import json
import random
import struct
import sys
from array import array

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from deltaset.errors import IntegrityError
from deltaset.packs.codec import Codec, decode, encode_lines
from deltaset.packs.splice import Splice, _flags, _runs, skip_lines
from tests.unit.properties import PROPERTY


def line_by_line(payload: bytes, base: bytes) -> bytes:
    """A line delta read the way every stored one was before runs: each line from the split
    base's line it names (the reference the stored format is defined by)."""
    body = zstandard.ZstdDecompressor().decompress(payload, max_output_size=1 << 26)
    (count,) = struct.unpack_from("<I", body)
    numbers = [array("I", body[4 + 4 * count * n : 4 + 4 * count * (n + 1)]) for n in range(3)]
    if sys.byteorder == "big":
        for part in numbers:
            part.byteswap()
    old, lines, expect = base.split(b"\n"), [], 0
    own = body[4 + 12 * count :].split(b"\n")
    for move, keep, tail, mine in zip(*numbers, own, strict=True):
        if not move:
            lines.append(mine)
            continue
        at = expect + ((move - 1) >> 1 ^ -((move - 1) & 1)) if move > 1 else expect
        if at < 0:
            raise IndexError(at)
        before, expect = old[at], at + 1
        lines.append(before[:keep] + mine + (before[len(before) - tail :] if tail else b""))
    return b"\n".join(lines)


def rebuilt(data: bytes, base: bytes) -> bytes:
    payload = encode_lines(data, base)
    found = decode(Codec.LINES, payload, len(data), "x", base)
    assert found == line_by_line(payload, base)
    return found


class Counting(Splice):
    """A splice that counts the lines it rebuilt alone, and from where it rebuilt the rest line
    by line."""

    alone = 0
    rest_from: int | None = None

    def _line(self, at: int) -> int:
        Counting.alone += 1
        return super()._line(at)

    def _line_by_line(self, at: int) -> None:
        Counting.rest_from = at
        super()._line_by_line(at)


def counted(data: bytes, base: bytes) -> bytes:
    """``data`` rebuilt from its line delta against ``base`` by a :class:`Counting` splice."""
    payload = encode_lines(data, base)
    Counting.alone, Counting.rest_from = 0, None
    body = zstandard.ZstdDecompressor().decompress(payload, max_output_size=1 << 26)
    count = struct.unpack_from("<I", body)[0]
    keeps = array("I", body[4 + 4 * count : 4 + 8 * count])
    if sys.byteorder == "big":
        keeps.byteswap()
    moves, tails = body[4 : 4 + 4 * count], body[4 + 8 * count : 4 + 12 * count]
    own = body[4 + 12 * count :].split(b"\n")
    found = b"".join(Counting(base, moves, keeps, tails, own).pieces())
    assert found == line_by_line(payload, base)
    return found


def _rows(count: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [
        {"id": i, "user": f"user{rng.randint(0, 99999)}", "v": rng.random()} for i in range(count)
    ]


def _jsonl(rows: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _csv(rows: list[dict[str, object]]) -> bytes:
    return b"".join(",".join(map(str, row.values())).encode() + b"\n" for row in rows)


def _with_score(rows: list[dict[str, object]], revise_every: int = 0) -> list[dict[str, object]]:
    out = []
    for at, row in enumerate(rows):
        row = {**row, "score": at * 7 % 101}
        if revise_every and at % revise_every == 3:
            row["user"] = "revised"
        out.append(row)
    return out


@pytest.mark.parametrize("form", [_jsonl, _csv])
@pytest.mark.parametrize("revise_every", [0, 20, 150])
def test_a_table_gaining_a_column_is_rebuilt_by_runs(form: object, revise_every: int) -> None:
    rows = _rows(2000, 1)
    base, data = form(rows), form(_with_score(rows, revise_every))  # type: ignore[operator]
    assert counted(data, base) == data
    assert Counting.rest_from is None
    # Rebuilt alone: the revised rows whose end changed too (another tail), the rows before the
    # first revision (a run too short) and the empty line after the last newline.
    assert Counting.alone <= (len(rows) // revise_every if revise_every else 0) + 5


def test_lines_ending_otherwise_now_and_then_end_runs_without_ending_the_runs() -> None:
    """A JSON line ending with another byte than the run's separator cuts its run short: that
    line is rebuilt alone and the runs go on (not the line-by-line reading)."""
    rows = [
        row if at % 30 else row[:-1] + b"]"
        for at, row in enumerate(_jsonl(_rows(3000, 5)).split(b"\n"))
    ]
    base = b"\n".join(rows)
    data = b"\n".join(row[:-1] + b', "s": 1 ' + row[-1:] if row else row for row in rows)
    assert counted(data, base) == data
    assert Counting.rest_from is None
    assert Counting.alone <= len(rows) // 30 + 2


def _shuffled(rows: list[bytes]) -> list[bytes]:
    random.Random(3).shuffle(rows)
    return rows


@pytest.mark.parametrize(
    "edit",
    [
        lambda rows: [
            row + b" " if at % 2 else row[:-1] + b', "s": 1}' for at, row in enumerate(rows)
        ],
        lambda rows: [row[:-1] + b', "s": 1}' for row in _shuffled(rows)],
        lambda rows: [row[:20] + b"x" * 30 + row[-2:] for row in rows],  # ends alike, bytes not
    ],
    ids=["tails changing line by line", "rows shuffled", "every row revised"],
)
def test_deltas_the_runs_do_not_fit_are_rebuilt_line_by_line(edit: object) -> None:
    """Rebuilt alone, those lines would cost more than the line-by-line reading (a jump scans
    the lines it skips): after a few, the rest of the delta is read line by line."""
    rows = _jsonl(_rows(3000, 4)).split(b"\n")[:-1]
    base = b"\n".join(rows)
    data = b"\n".join(edit(rows[:]))  # type: ignore[operator]
    assert counted(data, base) == data
    assert Counting.rest_from is not None
    assert Counting.rest_from < 200


def test_runs_meet_every_kind_of_line() -> None:
    """Empty lines, a line ending otherwise than the run's, moved, new and revised lines, CRLF
    lines and a last line without its newline, all inside runs of alike lines."""
    lines = _jsonl(_rows(400, 2)).split(b"\n")
    lines[50] = lines[50][:-1] + b"]"  # the run's split merges it with the next line
    lines[60] = b""
    lines[70:70] = [b""] * 3
    base = b"\n".join(lines[:-1])  # the last line without its newline
    data_lines = [line[:-1] + b', "s": %d ' % at + line[-1:] if line else line
                  for at, line in enumerate(lines[:-1])]  # fmt: skip
    data_lines[100] = data_lines[100][:30] + b"revised" + data_lines[100][-5:]
    data_lines[200:200] = [b"a new line nothing starts like"] * 12
    data_lines.append(data_lines.pop(20))  # moved to the end
    data = b"\n".join(data_lines)
    assert rebuilt(data, base) == data
    assert rebuilt(data + b"\n", base) == data + b"\n"
    crlf = b"".join(line + b"\r\n" for line in lines[300:350])
    widened = b"".join(line + b",1\r\n" for line in lines[300:350])
    assert rebuilt(widened, crlf) == widened


def test_a_run_whose_first_line_outgrows_the_split_is_rebuilt_alone() -> None:
    """A revised line far longer than its kept bytes tell leaves no whole piece in the stretch
    of base split for the run."""
    base = b"\n".join([b"%016d" % 0 + b"x" * 3000 + b"}"] + [b"%016d}" % i for i in range(1, 30)])
    data = b"\n".join([b"%016d,1}" % 0] + [b"%016d,1}" % i for i in range(1, 30)])
    assert rebuilt(data, base) == data


def test_a_run_shorter_than_its_tail_or_past_the_base_is_rebuilt_alone() -> None:
    base = b"\n".join(b"%020d}" % i for i in range(40)) + b"\n}"
    data = b"\n".join(b"%020d,1}" % i for i in range(40)) + b"\n,2}"
    assert rebuilt(data, base) == data
    assert rebuilt(data + b"\nmore", base) == data + b"\nmore"


def _delta(moves: list[int], keeps: list[int], tails: list[int], own: list[bytes]) -> bytes:
    count = len(moves)
    numbers = struct.pack(f"<I{3 * count}I", count, *moves, *keeps, *tails)
    return zstandard.ZstdCompressor().compress(numbers + b"\n".join(own))


@pytest.mark.parametrize(
    "moves",
    [
        [1] * 12 + [2 * 20],  # a jump back before the first base line
        [1] * 12 + [1] * 9,  # past the last base line
        [1] * 12 + [2 * 9 + 1],  # a jump past it
    ],
)
def test_numbers_naming_no_base_line_are_refused_as_damaged(moves: list[int]) -> None:
    base = b"\n".join(b"%020d}" % i for i in range(20))
    count = len(moves)
    payload = _delta(moves, [20] * count, [1] * count, [b",1"] * count)
    with pytest.raises(IndexError):
        line_by_line(payload, base)
    with pytest.raises(IntegrityError, match="damaged"):
        decode(Codec.LINES, payload, 1000, "x", base)


_alphabet = st.sampled_from([b"a", b"b", b",", b"}", b"]", b" ", b"\r", b"0"])
_bits = st.lists(_alphabet, max_size=12).map(b"".join)
_edits = st.sampled_from(["same", "append", "insert", "revise", "drop", "new", "move", "cut"])


@st.composite
def histories(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A base of lines (unique starts, varied ends, empty ones) and data made of runs of the
    same edit over consecutive lines, each run sometimes broken by another edit."""
    count = draw(st.integers(1, 80))
    ends = draw(
        st.lists(st.sampled_from([b"", b"}", b"]}", b"\r", b"}\r"]), min_size=1, max_size=3)
    )
    base = [
        b"" if draw(st.integers(0, 20)) == 0 else b"%016d" % i + draw(_bits) + ends[i % len(ends)]
        for i in range(count)
    ]
    data: list[bytes] = []
    at = 0
    while at < count:
        edit, size = draw(_edits), draw(st.integers(1, 30))
        own, back = draw(_bits), draw(st.integers(0, 3))
        for line in base[at : at + size]:
            kind = draw(_edits) if draw(st.integers(0, 9)) == 0 else edit
            cut = max(0, len(line) - back)
            if kind == "append":
                data.append(line + own)
            elif kind == "insert":
                data.append(line[:cut] + own + line[cut:])
            elif kind == "revise":
                data.append(line[: len(line) // 2] + b"revised" + own + line[cut:])
            elif kind == "new":
                data += [b"new " + own, line]
            elif kind == "move" and data:
                data.insert(draw(st.integers(0, len(data) - 1)), line)
            elif kind == "cut":
                data.append(line[:cut])
            elif kind != "drop":
                data.append(line)
        at += size
    return b"\n".join(base) + draw(st.sampled_from([b"", b"\n"])), b"\n".join(data) + draw(
        st.sampled_from([b"", b"\n"])
    )


@PROPERTY
@given(histories())
def test_any_line_delta_is_rebuilt_byte_for_byte(history: tuple[bytes, bytes]) -> None:
    base, data = history
    assert rebuilt(data, base) == data


_short_lines = st.lists(st.binary(max_size=5).map(lambda b: b.replace(b"\n", b"")), min_size=1)


@PROPERTY
@given(_short_lines, st.data())
def test_skipping_lines_finds_the_line_or_refuses(lines: list[bytes], data: st.DataObject) -> None:
    base = b"\n".join(lines)
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    first = data.draw(st.integers(0, len(lines) - 1))
    further = data.draw(st.integers(0, len(lines) + 2))
    if first + further < len(lines):
        assert skip_lines(base, starts[first], further) == starts[first + further]
    else:
        with pytest.raises(IndexError):
            skip_lines(base, starts[first], further)


def test_skipping_many_lines_counts_them_span_by_span() -> None:
    lines = [b"x" * (i % 300) for i in range(20_000)]
    base = b"\n".join(lines)
    assert skip_lines(base, 0, 15_000) == sum(map(len, lines[:15_000])) + 15_000
    with pytest.raises(IndexError):
        skip_lines(base, 0, 20_000)


@PROPERTY
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=64))
def test_flags_mark_the_numbers_that_are_not_zero(numbers: list[int]) -> None:
    packed = int.from_bytes(struct.pack(f"<{len(numbers)}I", *numbers), "little")
    flags = _flags(packed, len(numbers))
    assert list(flags) == [int(n != 0) for n in numbers]
    marked = [at for start, end in _runs(flags) for at in range(start, end)]
    assert marked == [at for at, n in enumerate(numbers) if n]
