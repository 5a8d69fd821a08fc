"""Splitting a version's files into parts for partial pulls (``get --part N --num-parts M``).

Parts are disjoint and together hold every file, as in ClearML. Unlike a split by path order,
which puts one folder (often one class) in one part, each part gets a share of every folder:
files are taken largest first, in an order set by a hash of their path, and each goes to the
part that is lightest so far, counting bytes and files alike. The split depends only on the
version's paths and sizes and on the number of parts, so it is the same on every machine.
"""

from __future__ import annotations

import heapq

import blake3

from deltaset.core.manifest import Manifest


def positions_of_part(manifest: Manifest, part: int, num_parts: int) -> list[int]:
    """The positions (in increasing order) of the files of ``part`` out of ``num_parts``."""
    count, total = len(manifest), manifest.total_size
    sizes = [manifest.size_at(at) for at in range(count)]
    order = sorted(
        range(count),
        key=lambda at: (-sizes[at], blake3.blake3(manifest.path_at(at).encode()).digest(8)),
    )
    # A part's load is its share of the bytes plus its share of the files, in whole numbers:
    # bytes * files_in_version + files * bytes_in_version (each share scaled by count * total).
    loads = [(0, p) for p in range(num_parts)]
    chosen: list[int] = []
    for at in order:
        load, lightest = heapq.heappop(loads)
        if lightest == part:
            chosen.append(at)
        heapq.heappush(loads, (load + sizes[at] * count + max(total, 1), lightest))
    chosen.sort()
    return chosen
