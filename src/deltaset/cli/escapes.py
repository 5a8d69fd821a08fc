"""Text bound for a terminal, with what would act on the terminal shown as escapes.

File names, dataset names and tags may hold any character: an ESC starts a sequence that
recolours or retitles the terminal, a newline or carriage return splits one row into two or
overwrites it, and bidi overrides reorder what is shown. Every human-readable line the CLI
prints passes through :func:`escaped`; JSON output does not (it is exact, and JSON escapes
control characters itself).
"""

from __future__ import annotations

import logging
import unicodedata

# Control (C0, DEL, C1), format (bidi overrides, zero-width), lone surrogates (the bytes of a
# name that is not UTF-8) and the line and paragraph separators.
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SURROGATE_BYTES = range(0xDC80, 0xDD00)  # how os.fsdecode keeps a byte that is not UTF-8


def escaped(text: str) -> str:
    """``text`` with every character that would act on a terminal written as an escape
    (``\\x1b``, ``\\n``, ``\\u202e``); a byte that is not UTF-8 shows as ``\\xe9``."""
    if text.isprintable():  # the common case, at C speed: nothing to escape
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE else c for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code in _SURROGATE_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


class EscapingFormatter(logging.Formatter):
    """Warnings and ``--verbose`` lines, which name files, escaped like the rest."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escaped(super().formatMessage(record))
