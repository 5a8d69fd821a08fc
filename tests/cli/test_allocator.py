"""The ``deltaset`` program's threads share one glibc arena; a process using deltaset as a
library keeps its allocator as it was.

Each case runs in its own process, which then starts a thread that allocates, and asks glibc
(``malloc_info``) how many arenas (heaps) it has: a thread gets one of its own by default.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import EMBEDDED_ONLY

pytestmark = [
    EMBEDDED_ONLY,  # about this machine's processes, whatever the catalog
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "malloc_info"),
        reason="glibc",
    ),
]

PROBE = """
import atexit, ctypes, os, threading

libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fclose.argtypes = [ctypes.c_void_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]

def heaps() -> None:
    kept = []
    thread = threading.Thread(target=lambda: kept.append(bytearray(64 << 10)))
    thread.start()
    thread.join()
    path = os.path.abspath("info.xml")  # in the test's own folder, the process's cwd
    out = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, out)
    libc.fclose(out)
    print(open(path).read().count("<heap nr="))

atexit.register(heaps)
"""


def arenas_after(code: str, tmp_path: Path) -> int:
    """The arenas of a process that ran ``code``, then a thread that allocated."""
    env = {**os.environ, "DELTASET_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE + code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_a_thread_of_a_process_that_runs_no_deltaset_gets_an_arena(tmp_path: Path) -> None:
    assert arenas_after("", tmp_path) >= 2  # glibc's default, which the others compare to


def test_the_threads_of_the_deltaset_program_share_one_arena(tmp_path: Path) -> None:
    code = "import runpy, sys\nsys.argv = ['deltaset', 'config', 'show']\n"
    code += "runpy.run_module('deltaset', run_name='__main__')\n"  # python -m deltaset
    assert arenas_after(code, tmp_path) == 1


def test_the_library_leaves_the_allocator_as_it_was(tmp_path: Path) -> None:
    code = (
        "from deltaset import Dataset\n"
        "from deltaset.cli.main import build_parser, run\n"
        "Dataset.list_datasets()\n"
        "run(build_parser('config').parse_args(['config', 'show']))\n"
    )
    assert arenas_after(code, tmp_path) >= 2
