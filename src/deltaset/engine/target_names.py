"""Whether the folder a pull writes into can hold every name of a version apart.

Linux file systems keep any two different names apart. A folder on a file system that ignores
case (FAT, exFAT, NTFS and macOS by default) or Unicode normalisation (macOS) makes
``Case.txt`` and ``case.txt`` one file: a pull there would silently keep one of them. It is
refused before anything is written, naming both files. A file system made for Windows (NTFS,
FAT, exFAT, an SMB share), and any folder when deltaset runs on Windows, cannot hold some names
Linux takes (``a:b``, ``nul.txt``, a name ending in a dot): a pull there is refused the same
way, naming the first such path.
"""

from __future__ import annotations

import contextlib
import os
import sys
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from deltaset.core import names
from deltaset.errors import InvalidInputError, shown
from deltaset.storage.errors import map_os_errors

Fold = Callable[[str], str]


WINDOWS_FILE_SYSTEMS = frozenset(["vfat", "msdos", "exfat", "ntfs", "ntfs3", "cifs", "smb3"])


def check_names(
    folder: Path, paths: Iterable[str], fold: Fold | None = None, windows: bool | None = None
) -> None:
    """Refuse to write ``paths`` under ``folder`` (which exists) if its file system would make
    two of them one, or cannot hold one; ``fold`` is how it compares names and ``windows``
    whether it takes only the names Windows takes (both probed when not given)."""
    if windows if windows is not None else takes_windows_names_only(folder):
        paths = list(paths)  # read twice
        _refuse_windows_problems(folder, paths)
    fold = fold or folding(folder)
    if fold is None:
        return
    clash = names.first_clash(paths, fold)
    if clash is not None:
        first, second = (shown(p) for p in clash)
        if names.normal_fold(first) == names.normal_fold(second):  # they look the same
            first, second = (ascii(p) for p in clash)
        how = "case" if fold is names.case_fold else "Unicode normalisation"
        raise InvalidInputError(
            f"The dataset paths {first} and {second} would be one file in {folder}, whose "
            f"file system ignores {how}; pull into a folder on a file system that tells them "
            "apart, such as ext4 or XFS."
        )


def folding(folder: Path) -> Fold | None:
    """How the file system of ``folder`` compares names: None when it keeps apart any two
    different names (every Linux file system), else the fold that makes names equal there."""
    probe = f".deltaset-probe-{uuid.uuid4().hex}-\u00e9"  # é as one character (NFC)
    with map_os_errors(f"write into {folder}"):
        fd = os.open(folder / probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        try:
            if os.path.lexists(folder / probe.upper()):
                return names.case_fold
            if os.path.lexists(folder / unicodedata.normalize("NFD", probe)):
                return names.normal_fold
            return None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(folder / probe)


def _refuse_windows_problems(folder: Path, paths: Iterable[str]) -> None:
    for path in paths:
        problem = names.windows_problem(path)
        if problem is not None:
            raise InvalidInputError(
                f"The dataset path {shown(path)} cannot be written into {folder}, whose file "
                f"system takes only the names Windows takes: {problem}; pull into a folder on "
                "a Linux file system such as ext4 or XFS, or pull the other files with --files."
            )


def takes_windows_names_only(folder: Path) -> bool:
    """Whether ``folder`` is on Windows or on a file system made for it (read from the
    system's table of mounts: the longest mount point holding the folder)."""
    if sys.platform == "win32":
        return True
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            table = [line.split()[1:3] for line in mounts if len(line.split()) > 2]
    except OSError:
        return False
    where = os.path.realpath(folder)
    best, kind = "", ""
    for point, fs in table:
        point = point.replace("\\040", " ")
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fs
    return kind in WINDOWS_FILE_SYSTEMS
