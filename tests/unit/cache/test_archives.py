"""A .tar.zst cut short is refused whole: zstandard's readers end quietly with the bytes decoded
so far, and tar stops as quietly at a member's end, so a cut archive extracted its first members
as if they were all."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from deltaset.cache import archives
from deltaset.errors import InvalidInputError

MEMBER = 128 * 1024 - 512  # with its 512-byte header, a member fills one zstd block exactly
BLOCK_HEADER = 3


def _tar(count: int) -> tuple[bytes, dict[str, bytes]]:
    files = {f"part-{at:02d}.bin": os.urandom(MEMBER) for at in range(count)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), files


def _zst(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=1, write_checksum=True).compress(raw)


def _extracted(tmp_path: Path, data: bytes) -> dict[str, bytes]:
    archive = tmp_path / "d.tar.zst"
    archive.write_bytes(data)
    target = tmp_path / "out"
    target.mkdir()
    archives.extract(archive, target)
    return {p.name: p.read_bytes() for p in target.iterdir()}


def _block_ends(frame: bytes) -> list[int]:
    """Where each block of a one-frame archive ends (RFC 8878: a 3-byte header a block)."""
    at, ends = zstandard.frame_header_size(frame), []
    while True:
        header = int.from_bytes(frame[at : at + BLOCK_HEADER], "little")
        at += BLOCK_HEADER + (1 if (header >> 1) & 3 == 1 else header >> 3)
        ends.append(at)
        if header & 1:
            return ends


def test_a_whole_archive_of_several_frames_and_a_skippable_one_is_extracted(
    tmp_path: Path,
) -> None:
    raw, files = _tar(4)
    half = len(raw) // 2
    skippable = (0x184D2A57).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"notes"
    data = _zst(raw[:half]) + skippable + zstandard.compress(raw[half:])
    assert _extracted(tmp_path, data) == files


@pytest.mark.parametrize(
    "cut", ["after a block", "in the checksum", "in a block", "in the magic", "in the header"]
)
def test_an_archive_cut_anywhere_extracts_nothing(tmp_path: Path, cut: str) -> None:
    raw, _ = _tar(6)
    whole = _zst(raw)
    ends = _block_ends(whole)
    assert len(ends) >= 6  # one block a member at least (random bytes stay raw blocks)
    left = {
        "after a block": ends[2],  # three whole members decode: tar alone sees a shorter archive
        "in the checksum": len(whole) - 2,
        "in a block": ends[2] + 100,
        "in the magic": 3,
        "in the header": 7,
    }[cut]
    with pytest.raises(InvalidInputError, match=r"cannot be read \(it was cut short"):
        _extracted(tmp_path, whole[:left])
    assert not list((tmp_path / "out").iterdir())


def test_bytes_after_the_last_frame_are_refused(tmp_path: Path) -> None:
    raw, _ = _tar(1)
    with pytest.raises(InvalidInputError, match="cannot be read"):
        _extracted(tmp_path, _zst(raw) + b"\x00garbage")
