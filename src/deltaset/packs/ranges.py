"""Coalescing the byte ranges a pull needs into few large reads per pack."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from deltaset.packs.format import Location

MAX_GAP = 256 * 1024  # reading a gap this small costs less than another request
MAX_BLOCK = 4 * 1024 * 1024  # bounds the memory one read holds, and spreads reads over threads


@dataclass(slots=True)
class Block:
    """One ranged read of a pack and the blobs it carries."""

    pack_id: str
    start: int
    end: int
    members: list[Location] = field(default_factory=list)

    @property
    def length(self) -> int:
        return self.end - self.start


def coalesce(
    locations: Iterable[Location], max_gap: int = MAX_GAP, max_block: int = MAX_BLOCK
) -> list[Block]:
    """Group blob locations into reads: same pack, in offset order, merged across small gaps."""
    by_pack: dict[str, list[Location]] = {}
    for loc in locations:
        by_pack.setdefault(loc.pack_id, []).append(loc)
    blocks: list[Block] = []
    for pack_id, members in by_pack.items():
        members.sort(key=lambda loc: loc.entry.offset)
        current: Block | None = None
        for loc in members:
            start, end = loc.entry.offset, loc.entry.offset + loc.entry.length
            gap = start - current.end if current else max_gap + 1
            # Read across a gap only when it is small and no larger than what the read already
            # carries, so a sparse pull never reads more than about twice the bytes it needs.
            if current and gap <= min(max_gap, current.length) and end - current.start <= max_block:
                current.end = max(current.end, end)
            else:
                current = Block(pack_id, start, end)
                blocks.append(current)
            current.members.append(loc)
    return blocks
