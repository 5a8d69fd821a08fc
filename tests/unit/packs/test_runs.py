"""Line deltas told as runs (codec RUNS, packs/runs.py): round trips of every shape of edit,
the runs they are told by, and damage refused in one sentence."""

from __future__ import annotations

import json
import random

import pytest
import zstandard

from deltaset.errors import IntegrityError
from deltaset.packs import runs
from deltaset.packs.codec import Codec, decode, encode_lines

LINE_START = runs.LINE_ANCHOR + 4  # bytes of a row: enough to tell which row it is
BASE = b"1,2,3 the first row of the base\nshort\n\nlast row without its newline, longer"


def rebuilt(data: bytes, base: bytes) -> bytes:
    return decode(Codec.RUNS, encode_lines(data, base), len(data), "x", base)


def kinds(data: bytes, base: bytes) -> list[int]:
    """The kinds of the operations telling ``data`` against ``base``, in order."""
    body = runs.encode_body(data, base)
    count = runs._HEADER.unpack_from(body)[0]
    return list(body[runs._HEADER.size : runs._HEADER.size + count])


def csv_rows(seed: int, count: int = 2000) -> bytes:
    rng = random.Random(seed)
    rows = (f"{i},{rng.randint(0, 10**6)},label_{i % 7},{rng.random():.4f}\n" for i in range(count))
    return "".join(rows).encode()


def json_rows(seed: int, count: int = 2000) -> bytes:
    rng = random.Random(seed)
    rows = ({"id": i, "user": f"u{rng.randint(0, 9999)}", "x": rng.random()} for i in range(count))
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def with_column(data: bytes, seed: int = 1) -> bytes:
    """A column added to every row: at the end of a CSV row, before a JSON row's brace."""
    rng = random.Random(seed)
    out = []
    for line in data.splitlines():
        value = b"%d" % rng.randint(0, 99)
        if line.endswith(b"}"):
            out.append(line[:-1] + b', "score": ' + value + b"}")
        else:
            out.append(line + b"," + value)
    return b"\n".join(out) + b"\n"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"no newline at all",
        b"\n\n\nblank lines\n\n",
        b"a row that no base line starts like\n" * 3,
        b"1,2,3 the first row of the base,new\n" * 2 + b"last row without its newline",
        b"short\nrows\n",
        BASE,
        BASE + b"\n",
        BASE[:-5],
        b"1,2,3 the first row of the base 100%\nshort%%\n",
    ],
)
def test_any_text_rebuilds_byte_for_byte(data: bytes) -> None:
    assert rebuilt(data, BASE) == data


@pytest.mark.parametrize("base", [b"", b"\n", b"one line", b"one line\n", b"%\n", b"}\n"])
def test_a_base_of_one_line_or_none(base: bytes) -> None:
    for data in (b"", b"one line", b"one line, longer\n", b"one line\nanother\n", b"%%}\n"):
        assert rebuilt(data, base) == data


def test_a_line_revised_in_its_middle_is_one_edit_between_copies() -> None:
    base = csv_rows(5)
    lines = base.split(b"\n")
    lines[700] = lines[700][:20] + b"revised" + lines[700][-3:]
    data = b"\n".join(lines)
    assert kinds(data, base) == [runs.COPY, runs.EDIT, runs.COPY]
    assert rebuilt(data, base) == data


def test_unchanged_lines_are_one_copy_of_the_base() -> None:
    base = csv_rows(1)
    assert kinds(base, base) == [runs.COPY]
    lines = base.split(b"\n")
    lines[1000] = lines[1000] + b"9"  # revised at its end: the rest still copied in two
    data = b"\n".join(lines)
    assert rebuilt(data, base) == data
    assert len(kinds(data, base)) <= 5


@pytest.mark.parametrize("make", [csv_rows, json_rows])
def test_a_column_added_to_every_row_is_a_few_runs(make: object) -> None:
    base = make(2)  # type: ignore[operator]
    data = with_column(base)
    assert rebuilt(data, base) == data
    assert kinds(data, base).count(runs.RUN) == 1  # 2,000 rows told by one run


@pytest.mark.parametrize("make", [csv_rows, json_rows])
def test_a_column_dropped_from_every_row_is_one_cut(make: object) -> None:
    """Older content against newer (a repack, a close in reverse): the rows without the
    column the newer ones gained, told at C speed, a few bytes a row."""
    data = make(2)  # type: ignore[operator]
    base = with_column(data)
    assert rebuilt(data, base) == data
    assert kinds(data, base) == [runs.CUT]
    assert len(encode_lines(data, base)) < 0.1 * len(data)


def test_cuts_rebuild_among_other_edits() -> None:
    data = csv_rows(4)
    base = with_column(data)
    lines = data.split(b"\n")
    lines[10] = b"a new row"
    lines[500] = lines[500][:5]  # shorter than its base line by more than the column
    del lines[900:920]
    lines[1500] = base.split(b"\n")[1500]  # one row kept with its column
    edited = b"\n".join(lines)
    assert rebuilt(edited, base) == edited
    assert kinds(edited, base).count(runs.CUT) >= 3


@pytest.mark.parametrize("tail", [b"", b"}", b"%", b"\\"])
def test_cut_rows_ending_in_any_tail(tail: bytes) -> None:
    base = b"".join(b"row %d,kept%s,dropped %d%s\n" % (i, tail, i * 7, tail) for i in range(50))
    data = b"".join(b"row %d,kept%s%s\n" % (i, tail, tail) for i in range(50))
    assert rebuilt(data, base) == data


def test_a_damaged_cut_is_refused() -> None:
    data = csv_rows(6, 50)
    base = with_column(data)
    body = bytearray(runs.encode_body(data, base))
    body[-1] = 0xFF  # the last cut: past its line
    with pytest.raises(IntegrityError):
        runs.decode_body(bytes(body), base, len(data), "x")


@pytest.mark.parametrize("make", [csv_rows, json_rows])
def test_a_column_added_is_no_larger_than_the_earlier_line_delta(make: object) -> None:
    from tests.unit.packs.test_codec import _reference_lines

    base = make(3)  # type: ignore[operator]
    data = with_column(base)
    assert len(encode_lines(data, base)) <= len(_reference_lines(data, base))


@pytest.mark.parametrize("cut", [LINE_START, 0])
@pytest.mark.parametrize("make", [csv_rows, json_rows])
def test_a_chunk_cut_from_a_table_gaining_a_column_is_told_without_indexing_its_base(
    make: object, cut: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk starts in the middle of a row, and its base (two chunks of the version before)
    elsewhere: its first whole row is searched for, then asked for again (whether it is new,
    then where it is), and the rest follows it. The base's lines are not all indexed for that
    (a close of the table's column version indexed nearly every base). Its last row, cut,
    starts like the base row expected there, or it ends with a row's newline (as the sample
    comparing two deltas does): nor is that looked up."""
    table = make(5, 4000)  # type: ignore[operator]
    wider = with_column(table)
    end = wider.index(b"\n", 2 * len(wider) // 3) + 1 + cut
    data = wider[len(wider) // 3 + 7 : end]
    base = table[len(table) // 4 + 11 : 3 * len(table) // 4]
    indexed: list[int] = []
    index = runs._Base.index

    def counted(self: runs._Base) -> dict[bytes, int]:
        if self._where is None:
            indexed.append(len(self.lines))
        return index(self)

    monkeypatch.setattr(runs._Base, "index", counted)
    assert rebuilt(data, base) == data
    assert indexed == []
    assert kinds(data, base)[:3] == [runs.NEW, runs.EDIT, runs.RUN]


def test_tails_that_occur_inside_lines_or_hold_a_percent_sign() -> None:
    """A run's tail found inside its lines too, or made of ``%``, or of several bytes: the
    rebuild must insert each piece before the line's own end only."""
    for tail in (b"}", b"%", b"ab", b"\\1", b"a%"):
        base = b"".join(b"row %d %s %s\n" % (i, tail, tail) for i in range(300))
        data = b"".join(b"row %d %s new %d%s\n" % (i, tail, i, tail) for i in range(300))
        assert rebuilt(data, base) == data, tail


def _edited(base: bytes, seed: int) -> bytes:
    """``base`` with rows revised at either end, cut, grown, moved, dropped and new ones."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for row in base.split(b"\n"):
        pick = rng.random()
        if pick < 0.04:
            out.append(b"a new row %d nothing starts like" % rng.randint(0, 10**6))
        if pick < 0.08:
            continue  # dropped
        if pick < 0.14:
            row = row[: len(row) // 2]
        elif pick < 0.2:
            row = row[:20] + b"revised" + row[-5:]
        elif pick < 0.26:
            row = row[:-1] + b"grown" + row[-1:]
        elif pick < 0.3:
            out.insert(rng.randrange(len(out) + 1), row)  # moved back
            continue
        elif pick < 0.5:
            row = row + b",%d" % rng.randint(0, 99)  # a run of rows grown alike, broken
        out.append(row)
    return b"\n".join(out)


@pytest.mark.parametrize("seed", range(8))
def test_random_edits_rebuild_byte_for_byte(seed: int) -> None:
    for base in (csv_rows(10 + seed, 1500), json_rows(20 + seed, 1500)):
        data = _edited(base, seed)
        assert rebuilt(data, base) == data
        assert rebuilt(base, data) == base


def test_rows_reordered_rebuild() -> None:
    base = csv_rows(4, 3000)
    rows = base.split(b"\n")
    data = b"\n".join(rows[1500:] + rows[:1500])
    assert rebuilt(data, base) == data


def _body(count: int, kinds: bytes, fields: list[list[int]], pieces: bytes, own: bytes) -> bytes:
    numbers = b"".join(b"".join(value.to_bytes(8, "little") for value in field) for field in fields)
    header = runs._HEADER.pack(count, len(pieces), len(own))
    return zstandard.ZstdCompressor().compress(header + kinds + numbers + pieces + own)


@pytest.mark.parametrize(
    "payload",
    [
        b"not a zstd frame",
        zstandard.ZstdCompressor().compress(b"short"),
        _body(1, b"\x00", [[0], [99], [0], [0]], b"", b""),  # a copy past the base's end
        _body(1, b"\x00", [[1], [2], [0], [0]], b"", b""),  # a copy before the base's start
        _body(1, b"\x07", [[0], [2], [0], [0]], b"", b""),  # an unknown kind
        _body(1, b"\x02", [[0], [4], [3], [0]], b"x\n", b""),  # a run short of pieces
        _body(1, b"\x02", [[0], [4], [1], [0]], b"x\ny\n", b""),  # pieces left over
        _body(1, b"\x02", [[0], [2], [1], [0]], b"x\n", b""),  # a run of a cut line
        _body(1, b"\x01", [[0], [5], [0], [0]], b"", b"ab"),  # own bytes missing
        _body(2, b"\x01", [[0], [2], [0], [0]], b"", b"ab"),  # numbers missing
        _body(1, b"\x00", [[0], [2], [0], [0]], b"", b"") + b"junk",
        _body(1, b"\x03", [[14], [1], [0], [1]], b"", b""),  # an edit past the base's end
        _body(1, b"\x03", [[0], [5], [0], [1]], b"", b""),  # keeping more than its line
        _body(1, b"\x03", [[0], [1], [3], [3]], b"", b"x"),  # own bytes missing
        _body(2, b"\x03\x03", [[0, 0], [2, 2], [0, 0], [1, 1]], b"", b"") + b"",  # one line left
    ],
)
def test_a_damaged_payload_is_refused_in_one_sentence(payload: bytes) -> None:
    base = b"ab\ncd\n"
    with pytest.raises(IntegrityError, match=r"^The stored blob x is damaged\.$"):
        decode(Codec.RUNS, payload, 4, "x", base)


def test_a_run_against_another_base_is_refused() -> None:
    base = json_rows(5, 500)
    data = with_column(base)
    payload = encode_lines(data, base)
    other = json_rows(6, 500)
    with pytest.raises(IntegrityError, match="damaged"):
        decode(Codec.RUNS, payload, len(data), "x", other)
    with pytest.raises(IntegrityError, match="base is unknown"):
        decode(Codec.RUNS, payload, len(data), "x")
