"""A folder as it comes from the wild: every kind of name POSIX allows, and helpers that write
and read trees by bytes (by directory descriptor, so no absolute path is ever too long)."""

from __future__ import annotations

import contextlib
import os
import unicodedata
import urllib.parse
from pathlib import Path

DEEP_LEVELS = 16  # 16 folders of 250 bytes: a path of more than 4,000 bytes
DEEP = b"/".join([b"d" * 248 + b"%02d" % level for level in range(DEEP_LEVELS)])

# Relative path (bytes) -> content. Each name is one a careless tool loses or mangles.
FILES: dict[bytes, bytes] = {
    b"caf\xe9.txt": b"latin-1, from an old zip archive",
    b"latin-1 \xc0 folder/r\xe9sum\xe9.txt": b"inside a folder whose name is not UTF-8",
    b"bad utf-8 \xff\xfe\xc3.bin": b"\x00\x01 bytes that never decode",
    b"line\nbreak.txt": b"a newline in the name",
    b"tab\there.txt": b"a tab in the name",
    b"back\\slash.txt": b"a backslash, which is no separator here",
    b"-leading-dash.txt": b"looks like an option",
    b"%2F percent and ~.txt": b"looks like an escape",
    b"x" * 251 + b".txt": b"a 255-byte name",
    unicodedata.normalize("NFC", "\u00e9t\u00e9.txt").encode(): b"NFC",
    unicodedata.normalize("NFD", "\u00e9t\u00e9.txt").encode(): b"NFD, the same name to a Mac",
    b"Case.txt": b"upper",
    b"case.txt": b"lower",
}

# Past 4,000 bytes: with the folder that holds it, near PATH_MAX (4,096 bytes with its NUL).
DEEP_FILES = {DEEP + b"/deep.txt": b"more than 4,000 bytes of path", b"top.txt": b"top"}


def write_tree(root: Path, files: dict[bytes, bytes]) -> Path:
    """``files`` under ``root``, each made by descriptor: deep ones pass PATH_MAX."""
    os.makedirs(root, exist_ok=True)
    for rel, content in files.items():
        *folders, name = rel.split(b"/")
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for folder in folders:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder, dir_fd=fd)
                inner = os.open(folder, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = inner
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd)
            with os.fdopen(out, "wb") as handle:
                handle.write(content)
        finally:
            os.close(fd)
    return root


def read_tree(root: str | Path) -> dict[bytes, bytes]:
    """Every file under ``root`` by relative path, as the system names it (bytes), without
    deltaset's own notes in a writable copy (``.deltaset``)."""
    found: dict[bytes, bytes] = {}
    top = os.fsencode(root)
    for folder, folders, names, fd in os.fwalk(top):
        if folder == top and b".deltaset" in folders:
            folders.remove(b".deltaset")
        rel = os.path.relpath(folder, top)
        for name in names:
            with os.fdopen(os.open(name, os.O_RDONLY, dir_fd=fd), "rb") as handle:
                found[name if rel == b"." else rel + b"/" + name] = handle.read()
    return found


def from_json(text: str) -> bytes:
    """A path as ``--json`` writes it, back to the bytes of the name (the documented rule)."""
    if text.startswith("//"):
        return urllib.parse.unquote_to_bytes(text[2:])
    return text.encode()


def as_str(rel: bytes) -> str:
    """A name as Python's own file functions give it (undecodable bytes as surrogates)."""
    return os.fsdecode(rel)
