from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from deltaset.core.chunking import (
    AVERAGE_ENV,
    CHUNK_FROM,
    DEFAULT_AVERAGE,
    average_size,
    chunks_of_file,
    should_chunk,
)
from deltaset.core.hashing import blob_id_of

MIB = 1 << 20
BIG = random.Random(42).randbytes(8 * MIB)


def chunk_ids(tmp_path: Path, content: bytes, name: str = "file.bin") -> list[str]:
    path = tmp_path / name
    path.write_bytes(content)
    return [blob_id_of(chunk) for chunk in chunks_of_file(path)]


def chunk_bytes(tmp_path: Path, content: bytes, average: int | None = None) -> list[bytes]:
    path = tmp_path / "file.bin"
    path.write_bytes(content)
    return [bytes(chunk) for chunk in chunks_of_file(path, average)]


def test_files_from_4_mib_on_are_chunked() -> None:
    assert CHUNK_FROM == 4 * MIB
    assert not should_chunk(0)
    assert not should_chunk(CHUNK_FROM - 1)
    assert should_chunk(CHUNK_FROM)
    assert should_chunk(10 * CHUNK_FROM)


def test_average_is_256_kib_unless_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AVERAGE_ENV, raising=False)
    assert average_size() == DEFAULT_AVERAGE == 256 * 1024
    monkeypatch.setenv(AVERAGE_ENV, "65536")
    assert average_size() == 65536
    monkeypatch.setenv(AVERAGE_ENV, "")
    assert average_size() == DEFAULT_AVERAGE


def test_chunks_concatenate_back_to_the_file(tmp_path: Path) -> None:
    chunks = chunk_bytes(tmp_path, BIG)
    assert b"".join(chunks) == BIG
    assert 8 <= len(chunks) <= 128  # about 32 chunks of 256 KiB on average


def test_chunk_sizes_stay_within_a_quarter_and_four_times_the_average(tmp_path: Path) -> None:
    average = 64 * 1024
    chunks = chunk_bytes(tmp_path, BIG, average)
    assert b"".join(chunks) == BIG
    assert all(average // 4 <= len(c) <= average * 4 for c in chunks[:-1])
    assert len(chunks[-1]) <= average * 4
    assert 32 <= len(chunks) <= 512  # about 128 chunks of 64 KiB


def test_the_average_from_the_environment_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = len(chunk_bytes(tmp_path, BIG))
    monkeypatch.setenv(AVERAGE_ENV, str(64 * 1024))
    assert len(chunk_bytes(tmp_path, BIG)) > 2 * default


def test_chunking_is_deterministic(tmp_path: Path) -> None:
    assert chunk_ids(tmp_path, BIG, "one.bin") == chunk_ids(tmp_path, BIG, "two.bin")


EDITS: dict[str, Callable[[bytes], bytes]] = {
    "insert at start": lambda b: b"inserted" * 100 + b,
    "insert in middle": lambda b: b[: 3 * MIB] + b"inserted" * 100 + b[3 * MIB :],
    "append": lambda b: b + b"appended" * 100,
    "delete": lambda b: b[: 5 * MIB] + b[5 * MIB + 5_000 :],
    "overwrite": lambda b: b[: 2 * MIB] + bytes(3_000) + b[2 * MIB + 3_000 :],
}


@pytest.mark.parametrize("where", list(EDITS))
def test_a_local_edit_of_a_large_file_changes_only_a_few_chunks(tmp_path: Path, where: str) -> None:
    change = EDITS[where]
    before = chunk_ids(tmp_path, BIG, "before.bin")
    after = chunk_ids(tmp_path, change(BIG), "after.bin")
    assert len(before) >= 16
    new = set(after) - set(before)
    lost = set(before) - set(after)
    assert 1 <= len(new) <= 3, where  # the chunk holding the edit, and at most its neighbours
    assert len(lost) <= 3, where
    assert len(set(before) & set(after)) >= len(before) - 3


def test_unrelated_files_share_no_chunk(tmp_path: Path) -> None:
    other = random.Random(7).randbytes(6 * MIB)
    assert not set(chunk_ids(tmp_path, BIG, "a.bin")) & set(chunk_ids(tmp_path, other, "b.bin"))
