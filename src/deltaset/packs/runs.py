"""Line deltas told as runs (codec ``RUNS``): the body of a line delta whose rebuild does no
Python work per line.

A body is a list of operations on the base's bytes, each at a byte offset told from the end
of the last one read (zigzag):

- COPY: a stretch of the base, whole lines unchanged as one stretch (or a line's kept start,
  or its kept end and newline);
- NEW: bytes of their own (new or revised lines, or the middle of a revised line);
- EDIT: one line told by the base line it extends (at the offset told), how many of that
  line's first bytes it keeps (the length), its own bytes (as many as the lines field
  tells), how many of that line's last bytes it keeps and whether a newline follows (the
  tail field: twice the first, plus one for the second);
- RUN: a stretch of whole base lines (each ending in a newline and in the same ``tail`` of
  bytes before it), each extended by a piece of its own inserted before that tail: a column
  added to every row, at the end of a CSV row or before a JSON object's closing brace.
- CUT: a stretch of whole base lines (each ending in a newline and in the same ``tail`` of
  bytes before it), each shortened by a number of bytes of its own before that tail (told as
  a u32 each, among the own bytes): a column dropped from every row, as older content of a
  table that gained one is told against the newer (``gc --repack``, a close in reverse).

A RUN is rebuilt at C speed: its stretch is made a ``%`` format with a ``%b`` before each
line's tail and filled with its pieces; a CUT, by slicing each line and joining them with the
tail. Layout, little endian, zstd-compressed as a whole::

    u64 operations || u64 bytes of pieces || u64 bytes of own bytes ||
    u8 kind * n || u64 offset * n || u64 length * n || u64 lines * n || u64 tail * n ||
    the RUNs' pieces, each followed by a newline || the NEW bytes
"""

from __future__ import annotations

import operator
import re
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate, repeat
from typing import cast

from deltaset.errors import IntegrityError

COPY, NEW, RUN, EDIT, CUT = 0, 1, 2, 3, 4
LINE_ANCHOR = 16  # bytes of a line's start that find the base line it extends
_HEADER = struct.Struct("<QQQ")
_FIELDS = 4  # offset, length, lines, tail: one u64 each an operation
_FIRST_BLOCK = 64  # lines compared at once after a line changed; doubled while they match
_MOST_BLOCK = 4096

_cut = cast(Callable[[bytes, slice], bytes], operator.getitem)  # a line's part, mapped at C speed
_anchor_of = operator.itemgetter(slice(None, LINE_ANCHOR))


class _Operations:
    """The operations of a body, merged as they come: whole lines copied one after the
    other become one COPY, runs with the same tail one RUN."""

    def __init__(self) -> None:
        self.kinds = array("B")
        self.fields = [array("Q") for _ in range(_FIELDS)]
        self.pieces: list[bytes] = []
        self.own: list[bytes] = []
        self.cursor = 0  # where in the base the last operation ended
        self.last_end = -1  # the base offset a COPY or RUN ended at; -1: the last was NEW
        self.tail = b""  # the tail of the lines of the last RUN

    def copy(self, start: int, length: int) -> None:
        if length:
            self._base_part(COPY, start, length, 0, b"")

    def new(self, own: bytes) -> None:
        if not own:
            return
        if self.kinds and self.kinds[-1] == NEW:
            self.fields[1][-1] += len(own)
        else:
            self._add(NEW, 0, len(own), 0, 0)
            self.last_end = -1
        self.own.append(own)

    def edit(self, start: int, size: int, keep: int, own: bytes, tail: int, newline: bool) -> None:
        """One line from the base line of ``size`` bytes at ``start`` (see EDIT); the next
        base line is expected next."""
        skip = start - self.cursor
        offset = skip << 1 if skip >= 0 else (-skip << 1) - 1
        self._add(EDIT, offset, keep, len(own), (tail << 1) + newline)
        self.own.append(own)
        self.cursor, self.last_end = start + size, -1

    def run(self, start: int, length: int, pieces: list[bytes], tail: bytes) -> None:
        self._base_part(RUN, start, length, len(pieces), tail)
        self.pieces += pieces

    def cut(self, start: int, length: int, cuts: array[int], tail: bytes) -> None:
        # Merged CUTs keep their own bytes together: nothing else adds own bytes between.
        self._base_part(CUT, start, length, len(cuts), tail)
        self.own.append(_little(cuts))

    def _base_part(self, kind: int, start: int, length: int, lines: int, tail: bytes) -> None:
        fields = self.fields
        if self.last_end == start and self.kinds[-1] == kind and self.tail == tail:
            fields[1][-1] += length
            fields[2][-1] += lines
        else:
            skip = start - self.cursor
            offset = skip << 1 if skip >= 0 else (-skip << 1) - 1
            self._add(kind, offset, length, lines, len(tail))
        self.cursor = self.last_end = start + length
        self.tail = tail

    def _add(self, kind: int, offset: int, length: int, lines: int, tail: int) -> None:
        self.kinds.append(kind)
        for field, value in zip(self.fields, (offset, length, lines, tail), strict=True):
            field.append(value)

    def body(self) -> bytes:
        pieces = b"\n".join(self.pieces) + b"\n" if self.pieces else b""
        own = b"".join(self.own)
        header = _HEADER.pack(len(self.kinds), len(pieces), len(own))
        numbers = b"".join(_little(field) for field in self.fields)
        return header + self.kinds.tobytes() + numbers + pieces + own


class _Base:
    """A base's lines, where each starts, and where the first line starting with an anchor is:
    searched for in the bytes the first few times, then from an index of every line's
    anchor (a line cut by a chunk's start is looked for once; a table's new rows, each)."""

    SEARCHES = 2

    def __init__(self, base: bytes) -> None:
        self.base = base
        self.lines = base.split(b"\n")
        self._starts: list[int] | None = None
        self._known = (0, 0)  # a line and where it starts
        self._where: dict[bytes, int] | None = None
        self._searches = 0
        self._searched: tuple[bytes | None, int | None] = (None, None)  # the last, its answer

    def start(self, line: int) -> int:
        """Where ``line`` starts: summed from the last line asked for when it is further on
        (lines are mostly asked for in order), else from every line's start, worked out once."""
        known, at = self._known
        if known <= line <= known + _MOST_BLOCK:
            at += sum(map(len, self.lines[known:line])) + line - known
        else:
            if self._starts is None:
                lengths = map(operator.add, map(len, self.lines), repeat(1))
                self._starts = list(accumulate(lengths, initial=0))
            at = self._starts[line]
        self._known = (line, at)
        return at

    def where(self, key: bytes) -> int | None:
        if self._where is None and key == self._searched[0]:
            # A line found by a search is often asked for again at once (whether it is new,
            # then where it is): asked again, it would have every line indexed.
            return self._searched[1]
        if self._where is None and self._searches < self.SEARCHES:
            self._searches += 1
            self._searched = (key, self._search(key))
            return self._searched[1]
        return self.index().get(key)

    def _search(self, key: bytes) -> int | None:
        if self.base.startswith(key):
            return 0
        found = self.base.find(b"\n" + key)
        return self.base.count(b"\n", 0, found + 1) if found >= 0 else None

    def index(self) -> dict[bytes, int]:
        """Where the first line starting with each anchor is."""
        if self._where is None:
            count = len(self.lines)
            anchors = map(_anchor_of, reversed(self.lines))  # dict keeps the last: the first line
            self._where = dict(zip(anchors, range(count - 1, -1, -1), strict=True))
        return self._where


def encode_body(data: bytes, base: bytes) -> bytes:
    """The uncompressed body telling ``data`` from ``base`` (see the module's docstring).

    Lines are compared a block at a time at C speed (``map`` over the two lists of lines):
    unchanged ones become one COPY, ones extending their base line alike one RUN; a line that
    is neither is told on its own, by the base line it extends (found by its first
    :data:`LINE_ANCHOR` bytes: the next base line when that one starts alike, as most lines
    of a table do) and how many of that line's first and last bytes it keeps."""
    old = _Base(base)
    lines = data.split(b"\n")
    ops = _Operations()
    ended, old_ended = len(lines) - 1, len(old.lines) - 1  # lines followed by a newline
    at = expect = 0
    block = _FIRST_BLOCK
    while at < len(lines):
        count = min(block, ended - at, old_ended - expect)
        if count > 0:
            done = (
                _same(lines, old, at, expect, count, ops)
                or _extended(lines, old, at, expect, count, ops)
                or _shortened(lines, old, at, expect, count, ops)
            )
            if done:
                at, expect = at + done, expect + done
                block = min(2 * block, _MOST_BLOCK) if done == count else _FIRST_BLOCK
                continue
        block = _FIRST_BLOCK
        found = _missing(lines, at, ended, old, expect, ops)
        if found:
            at += found
            continue
        expect = _one_line(lines[at], at < ended, old, expect, ops)
        at += 1
    return ops.body()


def _missing(
    lines: list[bytes], at: int, ended: int, old: _Base, expect: int, ops: _Operations
) -> int:
    """How many lines from ``at`` (followed by a newline) start like no base line (told as
    new bytes, together): rows added, or a base that holds only part of the rows. Their
    anchors are looked up a block at a time once two in a row miss."""
    if at + 1 >= ended or not _misses(lines[at], old, expect):
        return 0
    if not _misses(lines[at + 1], old, expect):
        ops.new(lines[at] + b"\n")
        return 1
    where = old.index()
    block = lines[at + 2 : min(ended, at + _MOST_BLOCK)]
    anchors = map(_anchor_of, block)
    count = 2 + _first_false(map(operator.is_, map(where.get, anchors), repeat(None)), len(block))
    ops.new(b"\n".join(lines[at : at + count]) + b"\n")
    return count


def _misses(line: bytes, old: _Base, expect: int) -> bool:
    key = line[:LINE_ANCHOR]
    if expect < len(old.lines) and old.lines[expect][:LINE_ANCHOR] == key:
        return False
    return old.where(key) is None


def _first_false(flags: Iterable[bool], count: int) -> int:
    """Where the first false of ``count`` flags is (``count``: none), computing no flag past it."""
    try:
        return operator.indexOf(flags, False)
    except ValueError:
        return count


def _same(
    lines: list[bytes], old: _Base, at: int, expect: int, count: int, ops: _Operations
) -> int:
    """How many lines from ``at`` are the base's from ``expect`` unchanged (copied)."""
    if lines[at] != old.lines[expect]:
        return 0
    same = _first_false(
        map(operator.eq, lines[at : at + count], old.lines[expect : expect + count]), count
    )
    if same:
        start = old.start(expect)
        ops.copy(start, old.start(expect + same) - start)
    return same


def _extended(
    lines: list[bytes], old: _Base, at: int, expect: int, count: int, ops: _Operations
) -> int:
    """How many lines from ``at`` extend the base's from ``expect`` alike (told as a RUN):
    each longer than its base line, keeping all of it but its last ``tail`` bytes (the same
    bytes in every line), with bytes of its own inserted there."""
    line, before = lines[at], old.lines[expect]
    tail_bytes = _kept_tail(before, line) if len(line) > len(before) else None
    if tail_bytes is None:
        return 0
    tail = len(tail_bytes)
    mine, theirs = lines[at : at + count], old.lines[expect : expect + count]
    if tail:
        cut = repeat(slice(None, -tail))
        heads: Iterator[bytes] = map(_cut, theirs, cut)
        ending = repeat(tail_bytes)
        ends = _both_end_with(mine, theirs, tail_bytes)
        longer = map(operator.ge, map(len, mine), map(len, theirs))  # else the two overlap
        starts = map(bytes.startswith, mine, heads)
        done = _first_false(map(operator.and_, map(operator.and_, longer, ends), starts), count)
        heads = map(_cut, theirs[:done], cut)
        pieces = list(map(bytes.removesuffix, map(bytes.removeprefix, mine[:done], heads), ending))
    else:  # a line equal to its base line too: an empty piece
        done = _first_false(map(bytes.startswith, mine, theirs), count)
        pieces = list(map(bytes.removeprefix, mine[:done], theirs[:done]))
    start = old.start(expect)
    ops.run(start, old.start(expect + done) - start, pieces, tail_bytes)
    return done


def _shortened(
    lines: list[bytes], old: _Base, at: int, expect: int, count: int, ops: _Operations
) -> int:
    """How many lines from ``at`` shorten the base's from ``expect`` alike (told as a CUT):
    each the start of its base line and the same last ``tail`` bytes, the base line's bytes
    between dropped."""
    line, before = lines[at], old.lines[expect]
    tail_bytes = _kept_tail(line, before) if len(line) < len(before) else None
    if tail_bytes is None:
        return 0
    tail = len(tail_bytes)
    mine, theirs = lines[at : at + count], old.lines[expect : expect + count]
    # Strictly: an unchanged line is a COPY's (a CUT would tell it by a zero).
    shorter = map(operator.lt, map(len, mine), map(len, theirs))
    if tail:
        heads: Iterator[bytes] = map(_cut, mine, repeat(slice(None, -tail)))
        fits = map(operator.and_, shorter, _both_end_with(mine, theirs, tail_bytes))
    else:
        heads, fits = iter(mine), shorter
    done = _first_false(map(operator.and_, fits, map(bytes.startswith, theirs, heads)), count)
    cuts = array("I", map(operator.sub, map(len, theirs[:done]), map(len, mine[:done])))
    start = old.start(expect)
    ops.cut(start, old.start(expect + done) - start, cuts, tail_bytes)
    return done


def _both_end_with(mine: list[bytes], theirs: list[bytes], tail: bytes) -> Iterator[bool]:
    """Whether each line of ``mine`` and its base line in ``theirs`` both end with ``tail``."""
    ending = repeat(tail)
    return map(
        operator.and_, map(bytes.endswith, mine, ending), map(bytes.endswith, theirs, ending)
    )


def _kept_tail(short: bytes, long: bytes) -> bytes | None:
    """The bytes of ``short`` after the start it shares with ``long``, when ``long`` ends with
    them too (``long`` is then ``short`` with bytes inserted before that tail); else None."""
    tail = short[len(short) - _differ_from_start(short, long[: len(short)]) :]
    return tail if long.endswith(tail) else None


def _differ_from_start(before: bytes, line: bytes) -> int:
    """How many bytes at the end of ``before`` differ from ``line`` of the same length from
    the first that differs (0: equal), found from their XOR read as a number."""
    return (int.from_bytes(before) ^ int.from_bytes(line)).bit_length() + 7 >> 3


def _one_line(line: bytes, newline: bool, old: _Base, expect: int, ops: _Operations) -> int:
    """Tell one line (followed by a newline or not) on its own; the base line expected next."""
    if not line and not newline:  # nothing after the data's last newline: not looked up
        return expect
    key = line[:LINE_ANCHOR]
    nearby = expect < len(old.lines) and old.lines[expect][:LINE_ANCHOR] == key
    at = expect if nearby else old.where(key)
    if at is None:
        ops.new(line + b"\n" if newline else line)
        return expect
    before = old.lines[at]
    most = min(len(before), len(line))
    keep = most - _differ_from_start(before[:most], line[:most])
    tail, rest = 0, most - keep
    if rest:
        differ = int.from_bytes(before[len(before) - rest :])
        differ ^= int.from_bytes(line[len(line) - rest :])
        tail = (differ & -differ).bit_length() - 1 >> 3 if differ else rest
    start = old.start(at)
    size = len(before) + (at + 1 < len(old.lines))  # and its newline
    ops.edit(start, size, keep, line[keep : len(line) - tail], tail, newline)
    return at + 1


def decode_body(body: bytes, base: bytes, raw_length: int, blob_id: str) -> bytes:
    """The bytes a body tells against ``base``; a damaged body raises IntegrityError."""
    try:
        count, pieces_size, own_size = _HEADER.unpack_from(body)
        at = _HEADER.size + count
        kinds = body[_HEADER.size : at]
        fields = []
        for _ in range(_FIELDS):
            fields.append(little_numbers(body[at : at + 8 * count]))
            at += 8 * count
        pieces = body[at : at + pieces_size].split(b"\n") if pieces_size else []
        own = body[at + pieces_size :]
        if len(kinds) != count or len(own) != own_size:
            raise ValueError("sizes")
        data = b"".join(_parts(kinds, fields, pieces, own, base))
    except (struct.error, ValueError, IndexError, TypeError, OverflowError) as exc:
        raise IntegrityError(f"The stored blob {blob_id} is damaged.") from exc
    if len(data) != raw_length:
        raise IntegrityError(f"The stored blob {blob_id} is damaged.")
    return data


def _parts(
    kinds: bytes, fields: list[array[int]], pieces: list[bytes], own: bytes, base: bytes
) -> list[bytes | memoryview]:
    view = memoryview(base)
    parts: list[bytes | memoryview] = []
    cursor = own_at = piece_at = 0
    for kind, offset, length, lines, tail in zip(kinds, *fields, strict=True):
        if kind == NEW:
            parts.append(own[own_at : own_at + length])
            own_at += length
            continue
        start = cursor + (-(offset >> 1) - 1 if offset & 1 else offset >> 1)
        if kind == EDIT:
            cursor = _edited(parts, base, start, length, own[own_at : own_at + lines], tail)
            own_at += lines
            continue
        cursor = start + length
        if start < 0 or cursor > len(base):
            raise IndexError(start)
        if kind == COPY:
            parts.append(view[start:cursor])
        elif kind == RUN:
            parts.append(_run(base[start:cursor], pieces[piece_at : piece_at + lines], tail))
            piece_at += lines
        elif kind == CUT:
            cuts = little_numbers(own[own_at : own_at + 4 * lines], "I")
            parts.append(_shortened_lines(base[start:cursor], cuts, tail))
            own_at += 4 * lines
        else:
            raise ValueError(kind)
    if own_at != len(own) or piece_at != len(pieces) - (len(pieces) > 0):
        raise ValueError("bytes left over")
    return parts


def _edited(
    parts: list[bytes | memoryview], base: bytes, start: int, keep: int, own: bytes, tail: int
) -> int:
    """Add the parts of the line an EDIT tells (see the module's docstring) to ``parts``;
    where the next base line starts."""
    if not 0 <= start <= len(base):
        raise IndexError(start)
    end = base.find(b"\n", start)
    end = len(base) if end < 0 else end
    if keep > end - start or tail >> 1 > end - start:
        raise IndexError(keep)
    view = memoryview(base)
    parts += (view[start : start + keep], own, view[end - (tail >> 1) : end])
    if tail & 1:
        parts.append(b"\n")
    return min(end + 1, len(base))


def _run(stretch: bytes, pieces: list[bytes], tail: int) -> bytes:
    """The lines of ``stretch`` (whole base lines) each with its piece before its last
    ``tail`` bytes; a TypeError when the pieces are not one a line."""
    if not stretch.endswith(b"\n") or tail >= len(stretch):
        raise ValueError("not whole lines")
    form = stretch.replace(b"%", b"%%")
    if not tail:
        form = form.replace(b"\n", b"%b\n")
    else:
        ending = stretch[-1 - tail : -1]
        if tail == 1 and ending != b"%" and stretch.count(ending) == len(pieces):
            # one byte, found only at the lines' ends: a plain replace, the fastest
            form = form.replace(ending, b"%b" + ending)
        else:  # a regular expression anchored at each newline (a replace finds any)
            at_end = re.escape(ending.replace(b"%", b"%%") + b"\n")
            literal = (b"%b" + ending.replace(b"%", b"%%") + b"\n").replace(b"\\", b"\\\\")
            form = re.sub(at_end, literal, form)
    return form % tuple(pieces)


def _shortened_lines(stretch: bytes, cuts: array[int], tail: int) -> bytes:
    """The lines of ``stretch`` (whole base lines, each ending in the same ``tail`` bytes) each
    without the ``cuts`` bytes before its tail; a ValueError when they do not fit."""
    if not stretch.endswith(b"\n") or tail >= len(stretch):
        raise ValueError("not whole lines")
    lines = stretch[:-1].split(b"\n")
    heads = list(map(operator.sub, map(len, lines), map(operator.add, cuts, repeat(tail))))
    if len(lines) != len(cuts) or min(heads) < 0:
        raise ValueError("cuts")
    ending = stretch[len(stretch) - 1 - tail :]  # the tail and the newline
    return ending.join(map(_cut, lines, map(slice, repeat(None), heads))) + ending


def _little(numbers: array[int]) -> bytes:
    if sys.byteorder == "big":
        numbers = array(numbers.typecode, numbers)
        numbers.byteswap()
    return numbers.tobytes()


def little_numbers(data: bytes, typecode: str = "Q") -> array[int]:
    """The little-endian numbers of ``data``, of ``array`` type ``typecode``."""
    found = array(typecode)
    found.frombytes(data)
    if sys.byteorder == "big":
        found.byteswap()
    return found
