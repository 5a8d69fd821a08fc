"""Rebuilding a line delta (see :func:`deltaset.packs.codec.encode_lines`) from its base.

A line delta tells each line as the base line it extends (``move``: 1 for the base line after
the last one, 0 for none, else a zigzag jump plus one), how many first (``keep``) and last
(``tail``) bytes of that base line it keeps, and its own bytes between. Rebuilt line by line in
Python, that costs two slices and a concatenation a line, and splitting the whole base into
lines first: 140-220 MB/s.

Most lines of a table's delta are alike: they extend the next base line, keep it whole, and put
their bytes the same ``tail`` bytes before its end (a column appended: 0; a JSON key added
before the closing brace: 1). Such a run is rebuilt from the base's bytes with C-level calls
only: the run's stretch of base is split where each line's last ``tail`` bytes and newline
start, and the pieces are interleaved with the lines' own bytes and that constant separator.
A piece longer than its ``keep`` is a line revised in the middle (cut to its ``keep``); the
runs are found with integer and bytes operations over the number arrays; new lines are copied
by runs too, and the rest (moved lines, other tails) rebuilt one by one. The base is never
split whole: a jump finds its line by counting newlines. Where the runs stop paying (rows
shuffled, tails changing line by line), the rest of the delta is read line by line from the
split base, as every line delta was.

For numbers no encoder writes (a ``keep`` past its line's end), a run may rebuild other bytes
than the line-by-line reading: both are wrong, and a rebuilt blob is checked against its hash.
"""

from __future__ import annotations

import re
import struct
import sys
from array import array
from collections.abc import Callable, Iterator
from functools import lru_cache

NL = b"\n"
# Runs shorter than this are rebuilt line by line: a run costs a few microseconds to set up.
MIN_RUN = 8
# Lines one split of the base is first tried for (doubled after each whole run; after one that
# stopped early, a quarter more than the runs gave since the last such stop): what splitting
# past a run's end costs is bounded.
REACH = 1024
# Lines rebuilt alone (and runs cut short) the runs may cost before the rest of a delta is
# rebuilt line by line from its split base, and one more a ``PAYS`` lines rebuilt by runs (a
# line alone costs about as much as 4 by runs and 2 read line by line): rows shuffled, tails
# changing from line to line or line ends that differ are no slower than that reading.
STRIKES = 32
PAYS = 4
_NUMBER = struct.Struct("<I")
_ONE = _NUMBER.pack(1)
_FLAG = bytes([0] + [1] * 255)  # a translation: 1 for any byte but zero


@lru_cache(maxsize=64)
def _splitter(separator: bytes) -> Callable[[bytes, int], list[bytes]]:
    """A split on ``separator`` (two bytes or more): the regular-expression engine finds it
    twice as fast as ``bytes.split``, which is faster for a single byte."""
    return re.compile(re.escape(separator)).split


def _flags(numbers: int, count: int) -> bytes:
    """A byte a number of ``numbers`` (``count`` 4-byte lanes): 1 where it is not zero, else 0.

    The lowest byte of each lane gathers the lane's bytes, one shift and or for two at a time
    (all at C speed over the whole integer); every fourth byte is then that lane's flag."""
    gathered = numbers | numbers >> 8
    gathered |= gathered >> 16
    return gathered.to_bytes(4 * count, "little")[0 : 4 * count : 4].translate(_FLAG)


def _runs(flags: bytes) -> Iterator[tuple[int, int]]:
    """The runs of 1 in ``flags``, as [start, end) pairs."""
    end = 0
    while (start := flags.find(1, end)) >= 0:
        end = flags.find(0, start)
        if end < 0:
            end = len(flags)
        yield start, end


def _as_int(numbers: bytes | array[int]) -> int:
    return int.from_bytes(numbers if isinstance(numbers, bytes) else numbers.tobytes(), "little")


def skip_lines(base: bytes, pos: int, lines: int) -> int:
    """The offset of the line ``lines`` lines after the one starting at ``pos`` (IndexError if
    ``base`` has fewer): newlines counted span by span (C speed), the last few found one by one."""
    span = 1 << 16
    while lines > 64:
        end = min(pos + span, len(base))
        found = base.count(NL, pos, end)
        if found >= lines:
            span >>= 1
            continue
        if end == len(base):
            raise IndexError(lines)
        per_line = (end - pos) / found if found else 2.0 * span
        pos, lines = end, lines - found
        span = max(256, int((lines - 32) * per_line))
    for _ in range(lines):
        end = base.find(NL, pos)
        if end < 0:
            raise IndexError(lines)
        pos = end + 1
    return pos


class Splice:
    """The pieces whose join is the data a line delta tells (each line followed by its newline,
    the last one's dropped), from the delta's numbers and own bytes and the base's bytes."""

    def __init__(
        self,
        base: bytes,
        moves: bytes,
        keeps: array[int],
        tails: bytes,
        own: list[bytes],
    ) -> None:
        # moves and tails as stored (little-endian): runs are found in their bytes.
        self.base, self.moves, self.tails, self.own = base, moves, tails, own
        self.keeps = keeps
        self.out: list[bytes] = []
        self.moved: bytes | None = None  # a byte a line: 1 where it extends a base line
        self.expect = 0  # the base line after the last one extended
        self.pos = 0  # where that line starts in the base (past its end: none left)
        self.reach = REACH
        self.since = 0  # lines rebuilt by runs since one last stopped early
        self.strikes = 0  # lines rebuilt alone and runs cut short
        self.scanned = 0  # bytes of base jumps counted the lines of
        self.by_runs = 0  # lines rebuilt by runs

    def pieces(self) -> list[bytes]:
        count, tail = len(self.own), self._usual_tail()
        at = self._by_runs(tail) if self._fits(tail) else 0
        if at < count:
            self._line_by_line(at)
        out = self.out
        out[-1] = out[-1][:-1]
        return out

    def _usual_tail(self) -> int:
        """The tail most lines extending the next base line have (of 64 spread over the delta;
        new lines, of tail 0, do not count)."""
        step = max(1, len(self.own) // 63)
        values: list[int] = [
            _NUMBER.unpack_from(self.tails, 4 * at)[0]
            for at in range(0, len(self.own), step)
            if self.moves[4 * at : 4 * at + 4] == _ONE
        ]
        return max(set(values), key=values.count) if values else 0

    def _by_runs(self, tail: int) -> int:
        """Lines by runs of alike lines (``tail``) and of new ones, the others alone, until the
        runs stop paying: the next line to do."""
        count = len(self.own)
        ones = _as_int(_ONE * count)
        odd = (_as_int(self.moves) ^ ones) | (_as_int(self.tails) ^ tail * ones)
        at = 0
        for start, end in _runs(_flags(odd, count)):
            at = self._alike(at, start, tail)
            at = self._odd(at, end)
            if self._struck():
                return at
        return self._alike(at, count, tail)

    def _fits(self, tail: int) -> bool:
        """Whether few lines would be rebuilt alone (not new, not alike), by a quick count: the
        numbers' patterns counted in their bytes, some perhaps across two numbers."""
        count = len(self.own)
        alike = min(self.moves.count(_ONE), self.tails.count(_NUMBER.pack(tail)))
        alone = count - self.moves.count(bytes(4)) - alike
        return alone <= STRIKES + count // 4

    def _struck(self) -> bool:
        """Whether the runs have stopped paying: the rest is best rebuilt line by line (which
        splits the base once: counting its newlines twice costs as much)."""
        return self.strikes > STRIKES + self.by_runs // PAYS or self.scanned > 2 * len(self.base)

    def _alike(self, at: int, end: int, tail: int) -> int:
        """Lines [at, end), all extending the next base line with ``tail``: rebuilt by runs
        (the next line to do: ``end``, or before it if the runs stopped paying)."""
        if end - at < MIN_RUN:
            for line in range(at, end):
                self._line(line)
            return end
        while at < end and not self._struck():
            at = self._run(at, min(end, at + self.reach), tail)
        return at

    def _odd(self, at: int, end: int) -> int:
        """Lines [at, end), none alike: new lines (no base line) by runs, the others one by one
        (the next line to do: ``end``, or before it if the runs stopped paying)."""
        if self.moved is None:
            self.moved = _flags(_as_int(self.moves), len(self.own))
        while at < end and not self._struck():
            if self.moved[at]:
                self._line(at)
                at += 1
                continue
            stop = self.moved.find(1, at, end)
            if stop < 0:
                stop = end
            part = [NL] * (2 * (stop - at))
            part[0::2] = self.own[at:stop]
            self.out += part
            at = stop
        return at

    def _run(self, at: int, end: int, tail: int) -> int:
        """As many of lines [at, end) as come out of one split of the base; the next line to do.

        Each line keeps its base line whole when the base's piece (the line without its last
        ``tail`` bytes) is as long as the line's ``keep``; a longer piece is a line revised in
        the middle (``tail`` still the separator's bytes), cut to its ``keep``. A piece holding
        a newline (a base line not ending like the first) or shorter than its keep ends the run:
        that line is rebuilt alone."""
        base, pos = self.base, self.pos
        first = base.find(NL, pos)
        if first < 0 or first - pos < tail:
            return self._line(at)
        separator = base[first - tail : first + 1]
        lines = end - at
        keeps = self.keeps[at:end]
        size = sum(keeps) + lines * (tail + 1)
        region = base[pos : pos + size + (size >> 4) + 64]
        found = _splitter(separator)(region, lines) if tail else region.split(NL, lines)
        done = len(found) - 1
        if not done:
            return self._line(at)
        consumed = len(region) - len(found.pop())
        lengths = array("I", map(len, found))
        del keeps[done:]
        stop = self._revised(found, lengths, keeps)
        part = [separator] * (3 * stop)
        part[0::3] = found if stop == done else found[:stop]
        part[1::3] = self.own[at : at + stop]
        self.out += part
        self.expect += stop
        self.by_runs += stop
        if stop < MIN_RUN:
            self.strikes += 1
        if stop < done:
            gap, self.since = self.since + stop, 0
            self.reach = max(4 * MIN_RUN, gap + gap // 4 + MIN_RUN)
            self.pos = pos + sum(lengths[:stop]) + stop * (tail + 1)
            return self._line(at + stop)
        self.since += stop
        self.reach = min(2 * self.reach, 1 << 20) if done == lines else REACH
        self.pos = pos + consumed
        return at + stop

    @staticmethod
    def _revised(found: list[bytes], lengths: array[int], keeps: array[int]) -> int:
        """Cut the pieces of lines revised in the middle to their keep; the index of the first
        piece no line of the run can be rebuilt from (``len(found)`` if none)."""
        differ = _as_int(lengths) ^ _as_int(keeps)
        if not differ:
            return len(found)
        flags = _flags(differ, len(found))
        index = flags.find(1)
        while index >= 0:
            piece, keep = found[index], keeps[index]
            if keep >= len(piece) or NL in piece:
                return index
            found[index] = piece[:keep]
            index = flags.find(1, index + 1)
        return len(found)

    def _line(self, at: int) -> int:
        """Line ``at``, extending a base line, rebuilt alone (the way every line was): the next
        line to do."""
        (move,) = _NUMBER.unpack_from(self.moves, 4 * at)
        base = self.base
        self.strikes += 1
        if move == 1:
            line, pos = self.expect, self.pos
        else:
            line = self.expect + ((move - 1) >> 1 ^ -((move - 1) & 1))
            if line < 0:
                raise IndexError(line)
            start, skip = (self.pos, line - self.expect) if line >= self.expect else (0, line)
            pos = skip_lines(base, start, skip)
            self.scanned += pos - start
        if pos > len(base):
            raise IndexError(line)
        stop = base.find(NL, pos)
        if stop < 0:
            stop = len(base)
        before = base[pos:stop]
        (tail,) = _NUMBER.unpack_from(self.tails, 4 * at)
        out = self.out
        out.append(before[: self.keeps[at]])
        out.append(self.own[at])
        if tail:
            out.append(before[len(before) - tail :])
        out.append(NL)
        self.pos, self.expect = stop + 1, line + 1
        return at + 1

    def _line_by_line(self, at: int) -> None:
        """Lines from ``at`` on, the way every line was rebuilt: each from the line of the split
        base it names (the reading the stored format is defined by)."""
        old, expect = self.base.split(NL), self.expect
        numbers = [array("I", part[4 * at :]) for part in (self.moves, self.tails)]
        if sys.byteorder == "big":
            for part in numbers:
                part.byteswap()
        lines: list[bytes] = []
        add = lines.append
        moves, tails = numbers
        for move, keep, tail, mine in zip(
            moves, self.keeps[at:], tails, self.own[at:], strict=True
        ):
            if move == 1:
                before = old[expect]
                expect += 1
            elif not move:
                add(mine)
                continue
            else:
                line = expect + ((move - 1) >> 1 ^ -((move - 1) & 1))
                if line < 0:
                    raise IndexError(line)
                before = old[line]
                expect = line + 1
            if tail:
                add(before[:keep] + mine + before[len(before) - tail :])
            else:
                add(before[:keep] + mine)
        self.out += (NL.join(lines), NL)
