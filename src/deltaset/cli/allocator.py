"""The C allocator's settings of the ``deltaset`` program (never of a process importing deltaset).

A pull or a close rebuilds blobs through chains of deltas in a few threads: each level makes
buffers of a few hundred KiB (a chunk, its bases joined) and frees those of the level before.
glibc gives each thread an arena of its own, and memory freed in one is not reused by the
others, so the buffers kept landing on new pages: a cold ``get --copy`` of a table version 8
deltas deep took 79,000 page faults and a peak of 236 MB (4 threads). With one arena for all
threads, 38,000-43,000 faults, a peak of 165 MB and a tenth less CPU. The threads lose no
speed: they mostly wait (storage, files), or hold the interpreter's lock while they allocate.

A setting of the whole process, so the program sets it, not the library: a user's own process
keeps its allocator as it chose.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

M_ARENA_MAX = -8  # glibc's <malloc.h>
ARENA_MAX = 1


def tune() -> bool:
    """Set glibc's allocator for the work of one command (before it starts threads); whether
    it was set (False elsewhere: another C library keeps its own)."""
    mallopt = _glibc_mallopt()
    return mallopt is not None and mallopt(M_ARENA_MAX, ARENA_MAX) == 1


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the symbols the process has loaded: its C library's
    except OSError:
        return None
    # musl has a mallopt that does nothing; only glibc tells its version this way.
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    found: Callable[[int, int], int] = mallopt
    return found
