"""Semantic version strings: parsing, ordering and the automatic bump (1.0.0 -> 1.0.1)."""

from __future__ import annotations

import re

from deltaset.errors import InvalidInputError, shown

FIRST_VERSION = "1.0.0"
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def parse(text: str) -> tuple[int, int, int] | None:
    match = _SEMVER.match(text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def validate(text: str) -> str:
    if parse(text) is None:
        raise InvalidInputError(
            f"The version {shown(text)} is not a semantic version such as 1.2.0."
        )
    return text.strip()


def highest(versions: list[str]) -> str | None:
    parsed = [(v, parse(v)) for v in versions]
    valid = [(key, v) for v, key in parsed if key is not None]
    return max(valid)[1] if valid else None


def bump(existing: list[str]) -> str:
    """The next version after the highest of ``existing``, or ``1.0.0`` when there is none."""
    top = highest(existing)
    if top is None:
        return FIRST_VERSION
    major, minor, patch = parse(top) or (1, 0, 0)
    return f"{major}.{minor}.{patch + 1}"


def sort_key(text: str) -> tuple[int, int, int]:
    return parse(text) or (-1, -1, -1)
