"""Extracting a downloaded archive (.zip, .tar, .tar.gz/.tgz, .tar.zst) into a folder.

Nothing lands outside the folder: a member named with ``..`` or an absolute path, or a link
pointing outside, is refused (tarfile's ``data`` filter does the links and special files;
the names are checked here, because that filter silently strips a leading ``/`` and zipfile
silently rewrites such names). The caller extracts into a fresh folder and publishes it by
a rename only when every member was extracted, so a refused or damaged archive leaves
nothing behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from deltaset.errors import InvalidInputError
from deltaset.storage.errors import map_os_errors

if TYPE_CHECKING:  # imported on first use: every command imports this module
    import tarfile

SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.zst")
# The zstd format's sizes (RFC 8878), to walk a file's frames without decoding them.
_FRAME_HEADER_MOST = 18
_FRAME_START = 5  # a frame's magic number and the byte that tells its header's size
_BLOCK_HEADER = 3
_RLE_BLOCK = 1  # a block type whose content is one byte, however many it stands for
_CHECKSUM = 4
_SKIPPABLE = range(0x184D2A50, 0x184D2A60)  # magic numbers of frames a reader skips
_SKIPPABLE_HEADER = 8  # its magic number and its size
_DRIVE = re.compile(r"^[A-Za-z]:")


def archive_suffix(name: str) -> str | None:
    """The archive suffix ``name`` ends with (compared without case), if any."""
    lowered = name.lower()
    return next((suffix for suffix in SUFFIXES if lowered.endswith(suffix)), None)


def extract(archive: Path, target: Path) -> None:
    """Extract every member of ``archive`` into the existing folder ``target``."""
    import tarfile

    suffix = archive_suffix(archive.name)
    if suffix is None:
        raise InvalidInputError(f"{archive.name} is not an archive deltaset extracts.")
    with _read_errors(archive), map_os_errors(f"extract {archive.name} into {target}"):
        if suffix == ".zip":
            _extract_zip(archive, target)
        elif suffix == ".tar.zst":
            _extract_tar_zst(archive, target)
        else:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(target, filter=_refusing_filter(archive))


def _check_name(archive: Path, name: str) -> None:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in parts:
        raise InvalidInputError(
            f"The archive {archive.name} holds {name!r}, which would land outside the folder "
            "it is extracted into; nothing was extracted."
        )


def _extract_zip(archive: Path, target: Path) -> None:
    import zipfile

    with zipfile.ZipFile(archive) as found:
        members = found.infolist()
        for member in members:
            _check_name(archive, member.filename)
        found.extractall(target, members)


def _extract_tar_zst(archive: Path, target: Path) -> None:
    import tarfile

    import zstandard

    with archive.open("rb") as raw:
        _check_frames(raw)
        raw.seek(0)
        with (
            zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            tar.extractall(target, filter=_refusing_filter(archive))


def _check_frames(raw: BinaryIO) -> None:
    """Refuse a zstd file that ends inside a frame, or holds anything but frames.

    zstandard's readers end quietly with the bytes decoded so far, and tar stops as quietly at
    a member's end: an archive cut short extracted its first members as if they were all. The
    frames are walked by their headers and their blocks' (RFC 8878), no block read."""
    size = os.fstat(raw.fileno()).st_size
    at = 0
    while at < size:
        at = _frame_end(raw, at, size)


def _frame_end(raw: BinaryIO, at: int, size: int) -> int:
    import zstandard

    cut = zstandard.ZstdError("it was cut short: its last zstd frame is incomplete")
    raw.seek(at)
    head = raw.read(_FRAME_HEADER_MOST)
    if len(head) < _FRAME_START:
        raise cut
    if int.from_bytes(head[:4], "little") in _SKIPPABLE:
        end = at + _SKIPPABLE_HEADER + int.from_bytes(head[4:8], "little")
    else:
        header = zstandard.frame_header_size(head)  # ZstdError if not a frame's start
        if len(head) < header:
            raise cut
        frame = zstandard.get_frame_parameters(head)
        end = at + header
        last = False
        while not last and end < size:
            raw.seek(end)
            block = int.from_bytes(raw.read(_BLOCK_HEADER), "little")
            last = bool(block & 1)
            end += _BLOCK_HEADER + (1 if (block >> 1) & 3 == _RLE_BLOCK else block >> 3)
        end += _CHECKSUM if frame.has_checksum else 0
        if not last:
            raise cut
    if end > size:
        raise cut
    return end


def _refusing_filter(archive: Path) -> Callable[[tarfile.TarInfo, str], tarfile.TarInfo | None]:
    import tarfile

    def refusing(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        _check_name(archive, member.name)
        return tarfile.data_filter(member, path)

    return refusing


@contextmanager
def _read_errors(archive: Path) -> Iterator[None]:
    """One sentence for an archive refused by the filter, or one that cannot be read."""
    import tarfile
    import zipfile

    import zstandard

    try:
        yield
    except tarfile.FilterError as exc:
        raise InvalidInputError(_refusal(archive, exc)) from exc
    except (tarfile.TarError, zipfile.BadZipFile, zstandard.ZstdError, EOFError) as exc:
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
        raise InvalidInputError(
            f"The archive {archive.name} cannot be read ({reason}); nothing was extracted."
        ) from exc


def _refusal(archive: Path, exc: tarfile.FilterError) -> str:
    import tarfile

    name = exc.tarinfo.name
    if isinstance(exc, tarfile.AbsoluteLinkError | tarfile.LinkOutsideDestinationError):
        what = "a link pointing outside the folder it is extracted into"
    elif isinstance(exc, tarfile.SpecialFileError):
        what = "a device or pipe, which deltaset does not extract"
    else:
        what = "which would land outside the folder it is extracted into"
    return f"The archive {archive.name} holds {name!r}, {what}; nothing was extracted."
