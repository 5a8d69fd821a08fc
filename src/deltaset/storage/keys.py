"""What a key or a listing prefix of a storage may be: relative POSIX parts that never climb.

Every backend checks what it is given, so no key or prefix, from a client of a server or from
a damaged record, reaches outside the storage (a folder's ``..``, an absolute path).
"""

from __future__ import annotations

from deltaset.errors import InvalidInputError

_CLIMBING = ("", ".", "..")


def check_key(key: str) -> str:
    """``key`` if it names an object inside a storage, else InvalidInputError."""
    if "\\" in key or "\0" in key or any(part in _CLIMBING for part in key.split("/")):
        raise InvalidInputError(f"{key[:200]!r} is not a key of a deltaset storage.")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` if it starts keys inside a storage ("" for all of them, "packs/" for a
    folder, "locks/gc-" for part of a name), else InvalidInputError."""
    *folders, last = prefix.split("/")
    if (
        "\\" in prefix
        or "\0" in prefix
        or last in (".", "..")
        or any(part in _CLIMBING for part in folders)
    ):
        raise InvalidInputError(f"{prefix[:200]!r} is not a prefix of keys of a deltaset storage.")
    return prefix
