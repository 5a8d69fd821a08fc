"""File names as text: any name POSIX allows, in a form every catalog, JSON body and
``--json`` line can hold.

Inside deltaset a name is a ``str`` as Python's own file functions give it: a byte that is
not UTF-8 is kept as a lone surrogate (``os.fsdecode``, "surrogateescape"), so
``os.fsencode`` gives the exact bytes back. No database text column, no JSON encoder and no
terminal takes a lone surrogate, so where a name leaves the process as text it is written:

- as it is, when it is UTF-8 text (almost every name: existing catalogs are unchanged);
- else as ``//`` followed by its bytes percent-encoded (RFC 3986: every byte but ``A-Z a-z
  0-9 _ . - ~ /`` as ``%XX``): ``caf\\xe9.txt`` is ``//caf%E9.txt``.

No dataset path starts with ``/`` (paths are relative), so the two forms never meet; a local
path that itself starts with ``//`` is written the second way too, so every text has exactly
one reading. A reader that does not know the rule sees an absolute path, which a pull refuses,
never a wrong file.
"""

from __future__ import annotations

import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable

MARKER = "//"


def is_text(name: str) -> bool:
    """Whether ``name`` is UTF-8 text: bytes that are not UTF-8 (in a file name or an
    argument) arrive as lone surrogates."""
    if name.isascii():
        return True
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_escaped(name: str) -> bool:
    """Whether :func:`to_text` writes ``name`` in the second form (percent-encoded)."""
    return name.startswith(MARKER) or not is_text(name)


def to_text(name: str) -> str:
    """``name`` in the form a catalog, a JSON body or ``--json`` output holds."""
    if name.isascii() and not name.startswith(MARKER):
        return name  # almost every name: decided without a further call (runs per file)
    if not is_escaped(name):
        return name
    return MARKER + urllib.parse.quote_from_bytes(name.encode("utf-8", "surrogateescape"))


def from_text(text: str) -> str:
    """The name :func:`to_text` wrote as ``text``."""
    if not text.startswith(MARKER):
        return text
    return urllib.parse.unquote_to_bytes(text[len(MARKER) :]).decode("utf-8", "surrogateescape")


def to_bytes(name: str) -> bytes:
    """The bytes of ``name`` (what the file system holds), whatever the locale."""
    return name.encode("utf-8", "surrogateescape")


def from_bytes(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# -- names a file system makes one ------------------------------------------------------------


def case_fold(name: str) -> str:
    """``name`` as a file system that ignores case (and normalises) compares it."""
    return unicodedata.normalize("NFC", name).casefold()


def normal_fold(name: str) -> str:
    """``name`` as a file system that normalises Unicode (or ignores its normalisation, as
    macOS does) compares it: ``é`` written as one character or as ``e`` and an accent."""
    return unicodedata.normalize("NFC", name)


def first_clash(paths: Iterable[str], fold: Callable[[str], str]) -> tuple[str, str] | None:
    """Two different paths of ``paths`` (or folders on their way) that are one under
    ``fold``, the first found; None when ``fold`` keeps every one apart."""
    seen: dict[str, str] = {}
    for path in paths:
        end = -1
        while True:  # each folder on the way, then the file
            end = path.find("/", end + 1)
            prefix = path if end < 0 else path[:end]
            found = seen.setdefault(fold(prefix), prefix)
            if found != prefix:
                return found, prefix
            if end < 0:
                break
    return None


# -- names Windows cannot hold -----------------------------------------------------------------

WINDOWS_FORBIDDEN = frozenset('<>:"\\|?*') | frozenset(chr(c) for c in range(32))
WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{kind}{n}" for kind in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"]
)


def windows_problem(path: str) -> str | None:
    """Why a Windows file system (NTFS, FAT, exFAT, an SMB share) cannot hold ``path``: one
    of its names has a character Windows forbids, ends in a dot or a space, or is a device
    name (``CON``, ``nul.txt``...); None when it can."""
    for name in path.split("/"):
        bad = sorted(set(name) & WINDOWS_FORBIDDEN)
        if bad:
            return f"its name {name!r} holds {', '.join(repr(c) for c in bad)}"
        if name.endswith((".", " ")):
            return f"its name {name!r} ends in {name[-1]!r}"
        if name.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_DEVICES:
            return f"its name {name!r} is a Windows device name"
    return None
