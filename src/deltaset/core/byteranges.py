"""HTTP ``Range: bytes=...`` headers (RFC 9110), as a media player seeking in a file sends."""

from __future__ import annotations

import re

from deltaset.errors import InvalidInputError

_ONE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int]:
    """The ``(start, end)`` (end exclusive) one byte range of a file of ``size`` bytes asks for.

    Raises InvalidInputError for a header that is malformed, asks for several ranges, or
    cannot be satisfied (the caller answers 416)."""
    found = _ONE_RANGE.match(header.replace(" ", ""))
    if found is None or found.group(1) == found.group(2) == "":
        raise InvalidInputError(f"The range {header!r} is not one 'bytes=START-END' range.")
    first, last = found.group(1), found.group(2)
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if last == "" else min(size, int(last) + 1)
    if start >= size or start >= end:
        raise InvalidInputError(f"The range {header!r} lies outside the file's {size} bytes.")
    return start, end
