"""Rules for paths inside a dataset: relative, POSIX, normalised, never escaping the root."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from pathlib import Path

from deltaset.core import names
from deltaset.errors import InvalidInputError, shown

# The folder deltaset keeps its notes in inside a user's folder (a writable copy's origin):
# a walk never adds it as data.
OWN_FOLDER = ".deltaset"


def normalize(path: str) -> str:
    """Return ``path`` as a clean relative POSIX path, or raise if it could escape the root."""
    if not path or "\x00" in path:
        raise InvalidInputError(
            f"The in-dataset path {shown(path)} is empty or contains a NUL byte."
        )
    parts = check_pattern(path).split("/")
    parts = [p for p in parts if p not in ("", ".")]
    if not parts:
        raise InvalidInputError(
            f"The in-dataset path {shown(path)} names the dataset root, not a file."
        )
    return "/".join(parts)


def check_pattern(text: str) -> str:
    """Refuse an in-dataset path or wildcard that is absolute or climbs out with ``..``."""
    if text.startswith("/") or (text[1:2] == ":" and re.match(r"^[A-Za-z]:[\\/]", text)):
        raise InvalidInputError(
            f"The in-dataset path {shown(text)} is absolute; "
            "give a path relative to the dataset root."
        )
    if ".." in text and ".." in text.replace("\\", "/").split("/"):
        raise InvalidInputError(
            f"The in-dataset path {shown(text)} contains '..'; that is not allowed."
        )
    return text


# The rule for a path entering a version (a file found to add, a change a server is sent):
# what a pull accepts (see safe_target) and writes at that very path, so that every final
# version can be pulled whole. It is checked once, when the path is staged.


def check_new(path: str) -> str:
    """Refuse ``path`` as the dataset path of a file to stage unless a pull would write it as
    it is: normalised (see :func:`normalize`) and a file name (any bytes but NUL; bytes that
    are not UTF-8 as :mod:`deltaset.core.names` keeps them)."""
    if _PLAIN.fullmatch(path):
        return path
    return _check_new_fully(path)


# A path of ASCII parts, none empty, ``.`` or ``..`` and none holding a NUL, ``:`` or ``\``:
# normalised and a name, told by one match rather than by a split and a join (a server checks
# every path a draft stages and every path of a manifest it keeps).
_PART = r"(?!\.\.?(?:/|\Z))[^/\\:\x00\x80-\U0010ffff]+"
_PLAIN = re.compile(f"{_PART}(?:/{_PART})*")


def _check_new_fully(path: str) -> str:
    if normalize(path) != path:
        raise InvalidInputError(
            f"The in-dataset path {shown(path)} is not normalised; give it as {normalize(path)!r}."
        )
    if not is_name(path):
        raise InvalidInputError(
            f"The in-dataset path {shown(path)} holds a character no file name can "
            "(a lone surrogate that stands for no byte)."
        )
    return path


def is_text(name: str) -> bool:
    """Whether ``name`` is UTF-8 text (see :func:`deltaset.core.names.is_text`)."""
    return names.is_text(name)


def is_name(name: str) -> bool:
    """Whether ``name`` stands for bytes a file system can hold: text, or text with bytes
    that are not UTF-8 kept as lone surrogates (``os.fsdecode``), and no other surrogate."""
    if name.isascii():
        return True
    try:
        names.to_bytes(name)
    except UnicodeEncodeError:
        return False
    return True


def printable(local_path: str) -> str:
    """A local path for a message: bytes that are not UTF-8 shown as escapes (\\xe9)."""
    return (
        local_path
        if is_text(local_path)
        else os.fsencode(local_path).decode(errors="backslashreplace")
    )


def check_new_folder(folder: str) -> str:
    """Refuse ``folder`` as a dataset folder to stage files into if a pull would refuse the files
    below it (a folder named ``C:`` at the root, say: ``C:/x`` is absolute on Windows)."""
    check_pattern(check_new(folder) + "/")
    return folder


def suspect(name: str) -> bool:
    """Whether a name from a folder listing (never ``.``, ``..`` or holding ``/``) may make
    a path :func:`check_new` refuses: a quick test for every file of a walk."""
    return ".." in name or ":" in name or not name.isascii()


def relative(text: str) -> str:
    """An in-dataset path or wildcard a user gave, leading slashes dropped: as ClearML does,
    ``/images`` is the dataset's ``images`` (a drive such as ``C:/x`` is still refused)."""
    return text.lstrip("/")


def normalize_folder(folder: str | None) -> str:
    """Normalise a dataset folder prefix; ``None``, ``""``, ``"."`` and ``"/"`` mean the root,
    and a leading ``/`` is dropped (see :func:`relative`)."""
    if folder is None or folder.strip("/") in ("", "."):
        return ""
    return check_new_folder(normalize(relative(folder)))


def join(folder: str, relative: str) -> str:
    return normalize(posixpath.join(folder, relative) if folder else relative)


def safe_target(root: str | Path, path: str) -> str:
    """The file ``path`` would land on under ``root``; refuses anything that would escape it.

    ``root`` must be a folder the caller created or emptied, so no symbolic link inside it can
    redirect a write: then a normalised path (relative, without ``..``) cannot leave it.
    """
    if _PLAIN.fullmatch(path):  # normalised already: told by one match (once a file of a pull)
        return os.path.join(root, path)
    try:
        clean = normalize(path)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"The manifest path {shown(path)} would escape the target folder."
        ) from exc
    return os.path.join(root, clean)


def matches(path: str, pattern: str, recursive: bool = True) -> bool:
    """Whether an in-dataset ``path`` is selected by a wildcard or a folder ``pattern``.

    A pattern naming a folder selects everything below it. A wildcard is matched against the
    whole path; a wildcard without a folder part (``*.jpg``) also matches file names in any
    folder. With ``recursive=False`` only files at the pattern's own depth are selected.
    """
    pattern = pattern.strip("/") or "*"
    depth_ok = recursive or path.count("/") <= pattern.count("/")
    if path == pattern:
        return True
    if path.startswith(pattern + "/"):
        return recursive or "/" not in path[len(pattern) + 1 :]
    if not depth_ok:
        return False
    if fnmatch.fnmatchcase(path, pattern):
        return True
    return "/" not in pattern and fnmatch.fnmatchcase(posixpath.basename(path), pattern)
