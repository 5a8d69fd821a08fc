"""How many threads hash a folder's files: one per core, one for a folder of tiny files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from deltaset.core.hashing import blob_id_of
from deltaset.engine.context import cpu_workers, default_context
from deltaset.engine.scan import TINY_FILES_MEAN, Landing, LocalFile, hash_files, hashing_threads


def files_of(tmp_path: Path, sizes: list[int]) -> list[LocalFile]:
    found = []
    for at, size in enumerate(sizes):
        path = tmp_path / f"f{at}"
        path.write_bytes(b"x" * size)
        found.append(LocalFile(str(path), Landing("", len(str(tmp_path)) + 1), os.stat(path)))
    return found


def test_a_folder_of_tiny_files_is_hashed_by_one_thread(tmp_path: Path) -> None:
    assert hashing_threads(files_of(tmp_path, [66] * 20), None) == 1


def test_larger_files_are_hashed_by_a_thread_a_core(tmp_path: Path) -> None:
    files = files_of(tmp_path, [TINY_FILES_MEAN * 8] * 4)
    assert hashing_threads(files, None) == cpu_workers(None)
    assert hashing_threads(files, 3) == 3


def test_a_few_large_files_among_tiny_ones_count_by_the_mean(tmp_path: Path) -> None:
    files = files_of(tmp_path, [10] * 9 + [TINY_FILES_MEAN * 100])
    assert hashing_threads(files, 2) == 2


def test_a_folder_of_tiny_files_is_hashed_in_the_calling_thread(tmp_path: Path) -> None:
    """No hashing thread beside the caller: the two would hand the interpreter's lock to
    each other around every read."""
    found = files_of(tmp_path, [66] * 300)
    threads: set[int] = set()

    def keep(files: list[tuple[str, str, bytes]]) -> None:
        threads.add(threading.get_ident())

    hashed = list(hash_files(default_context(), found, 2, keep))
    assert [h.blob_id for h in hashed] == [blob_id_of(b"x" * 66)] * 300
    assert threads == {threading.get_ident()}


def test_a_folder_of_larger_files_is_hashed_by_a_pool(tmp_path: Path) -> None:
    found = files_of(tmp_path, [TINY_FILES_MEAN * 4] * 10)
    threads: set[int] = set()

    def keep(files: list[tuple[str, str, bytes]]) -> None:
        threads.add(threading.get_ident())

    assert len(list(hash_files(default_context(), found, 2, keep))) == 10
    assert threading.get_ident() not in threads
