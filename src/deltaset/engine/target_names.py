"""Whether the folder a pull writes into can hold every name of a version apart.

Linux file systems keep any two different names apart. A folder on a file system that ignores
case (FAT, exFAT, NTFS and macOS by default) or Unicode normalisation (macOS) makes
``Case.txt`` and ``case.txt`` one file: a pull there would silently keep one of them. It is
refused before anything is written, naming both files.
"""

from __future__ import annotations

import contextlib
import os
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from deltaset.core import names
from deltaset.errors import InvalidInputError, shown
from deltaset.storage.errors import map_os_errors

Fold = Callable[[str], str]


def check_names(folder: Path, paths: Iterable[str], fold: Fold | None = None) -> None:
    """Refuse to write ``paths`` under ``folder`` (which exists) if its file system would make
    two of them one; ``fold`` is how it compares names (probed when not given)."""
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
