"""Content-defined chunking (FastCDC): cut points follow the content, so an insertion in a large
file moves only the chunks around it and every other chunk keeps its id."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

AVERAGE_ENV = "DELTASET_CHUNK_AVERAGE"
DEFAULT_AVERAGE = 256 * 1024
CHUNK_FROM = 4 * 1024 * 1024  # files at least this large are chunked


def average_size() -> int:
    """The average chunk size: 256 KiB unless ``DELTASET_CHUNK_AVERAGE`` (bytes) says otherwise."""
    return int(os.environ.get(AVERAGE_ENV) or DEFAULT_AVERAGE)


def should_chunk(size: int) -> bool:
    return size >= CHUNK_FROM


def chunks_of_file(path: str | Path, average: int | None = None) -> Iterator[memoryview]:
    """The chunks of ``path`` in order, each a view valid until the next one is asked for.

    Read, not memory-mapped: a mapped file that another process truncates kills the reading
    process with SIGBUS (the cut points are the same either way)."""
    from pyfastcdc import FastCDC  # here: every command would pay for its import otherwise

    avg = average or average_size()
    with open(path, "rb", buffering=0) as stream:
        for chunk in FastCDC(avg, min_size=avg // 4, max_size=avg * 4).cut_stream(stream):
            yield chunk.data
