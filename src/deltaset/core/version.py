"""Version strings as ClearML Data takes them: parsing, ordering and the automatic bump.

ClearML accepts any version string and warns when it cannot parse one. It parses PEP 440-style
strings (``1.0.0``, ``v1``, ``1.0``, ``2``, ``1.0rc1``, ``1.0.post2``, ``1.0.dev3+local``) with
its own ``clearml.utilities.version.Version``, which this module follows exactly: release
segments compare as tuples (``1.0 < 1.0.0``, trailing zeros are not dropped), a pre-release
sorts before its release, and the next version bumps the last part of the dev, post, pre or
release segment, whichever is present first (``1.0.0 -> 1.0.1``, ``v1 -> 2``,
``1.0rc1 -> 1.0rc2``). A string it cannot parse (such as ``2024-01-01``) is kept as given and
sorts below every parsed one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deltaset.core.records import VersionRecord
from deltaset.errors import InvalidInputError, shown

FIRST_VERSION = "1.0.0"
_INF = float("inf")

_PATTERN = r"""
    v?
    (?:
        (?:(?P<epoch>[0-9]+)!)?
        (?P<release>[0-9]+(?:\.[0-9]+)*)
        (?P<pre>[-_\.]?(?P<pre_l>(a|b|c|rc|alpha|beta|pre|preview))[-_\.]?(?P<pre_n>[0-9]+)?)?
        (?P<post>
            (?:-(?P<post_n1>[0-9]+))
            |
            (?:[-_\.]?(?P<post_l>post|rev|r)[-_\.]?(?P<post_n2>[0-9]+)?)
        )?
        (?P<dev>[-_\.]?(?P<dev_l>dev)[-_\.]?(?P<dev_n>[0-9]+)?)?
    )
    (?:\+(?P<local>[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?
"""
_REGEX = re.compile(r"^\s*" + _PATTERN + r"\s*$", re.VERBOSE | re.IGNORECASE)
_LETTERS = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc", "rev": "post"}
_LETTERS["r"] = "post"
# Characters a version string may not hold: '/' and '@' would change what a
# deltaset://project/name@version/path URL names, and control characters a printed line.
_UNSAFE = re.compile(r"[/@\x00-\x1f\x7f]")

Lettered = tuple[str, int] | None
LocalKey = tuple[tuple[int, int, str], ...]
SortKey = tuple[int, int, tuple[int, ...], float, float, float, LocalKey]


@dataclass(frozen=True)
class Version:
    """A parsed version string, ordered and bumped as ClearML's ``Version``."""

    epoch: int
    release: tuple[int, ...]
    pre: Lettered
    post: Lettered
    dev: Lettered
    local: tuple[str | int, ...] | None

    @classmethod
    def parse(cls, text: str) -> Version | None:
        match = _REGEX.search(text)
        if not match:
            return None
        local = match["local"]
        return cls(
            epoch=int(match["epoch"] or 0),
            release=tuple(int(i) for i in match["release"].split(".")),
            pre=_lettered(match["pre_l"] or "", match["pre_n"] or ""),
            post=_lettered(match["post_l"] or "", match["post_n1"] or match["post_n2"] or ""),
            dev=_lettered(match["dev_l"] or "", match["dev_n"] or ""),
            local=tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"[._-]", local))
            if local
            else None,
        )

    def __str__(self) -> str:
        text = f"{self.epoch}!" if self.epoch else ""
        text += ".".join(str(x) for x in self.release)
        text += f"{self.pre[0]}{self.pre[1]}" if self.pre else ""
        text += f".post{self.post[1]}" if self.post else ""
        text += f".dev{self.dev[1]}" if self.dev else ""
        text += "+" + ".".join(str(x) for x in self.local) if self.local else ""
        return text

    def key(self) -> SortKey:
        """ClearML's sort key (its ``_cmpkey``); the leading 1 puts it above unparsed strings.
        A pre-release compares by its number alone, as in ClearML. ClearML cannot compare local
        segments (``+abc``); they sort here after the same version without one, PEP 440's way
        (letters before numbers)."""
        local = tuple((1, p, "") if isinstance(p, int) else (0, 0, p) for p in self.local or ())
        return (
            1,
            self.epoch,
            self.release,
            self.pre[1] if self.pre else _INF,
            self.post[1] if self.post else -_INF,
            self.dev[1] if self.dev else _INF,
            local,
        )

    def next(self) -> Version:
        """ClearML's ``get_next_version``: the last number of the first of dev, post, pre and
        release segments present, plus one."""
        if self.dev:
            return _replace(self, dev=(self.dev[0], self.dev[1] + 1))
        if self.post:
            return _replace(self, post=(self.post[0], self.post[1] + 1))
        if self.pre:
            return _replace(self, pre=(self.pre[0], self.pre[1] + 1))
        return _replace(self, release=(*self.release[:-1], self.release[-1] + 1))


def _replace(version: Version, **changes: Any) -> Version:
    return dataclasses.replace(version, **changes)


def _lettered(letter: str, number: str) -> Lettered:
    if not letter and not number:
        return None
    if letter:
        letter = letter.lower()
        return _LETTERS.get(letter, letter), int(number or 0)
    return "post", int(number)  # 1.0-1: a number alone is a post release


def parse(text: str) -> Version | None:
    """The version ``text`` stands for, None when ClearML could not parse it either."""
    return Version.parse(text)


def is_semantic(text: str) -> bool:
    """Whether ClearML would take ``text`` without its "non-semantic dataset version" warning."""
    return bool(text.strip()) and parse(text) is not None


def validate(text: str) -> str:
    """``text`` stripped, as ClearML keeps it; refused only when empty or when it holds a
    character that would break a ``deltaset://`` URL or a printed line."""
    clean = str(text).strip()
    if not clean or _UNSAFE.search(clean):
        raise InvalidInputError(
            f"The version {shown(str(text))} is empty or holds '/', '@' or a control "
            "character; use a version such as 1.2.0."
        )
    return clean


def sort_key(text: str) -> SortKey:
    """Orders version strings as ClearML does; strings it cannot parse come first, all equal."""
    found = parse(text)
    return found.key() if found else (0, 0, (), 0.0, 0.0, 0.0, ())


def highest(versions: list[str]) -> str | None:
    """The highest of ``versions`` that parses (the first given among equals), else None."""
    parsed = [v for v in versions if parse(v) is not None]
    if not parsed:
        return None
    top = max(sort_key(v) for v in parsed)
    return next(v for v in parsed if sort_key(v) == top)


def bump(existing: list[str]) -> str:
    """The next version after the highest of ``existing`` as ClearML works it out, or
    ``1.0.0`` when none parses; a number already taken is bumped again."""
    top = highest(existing)
    if top is None:
        return FIRST_VERSION
    found = parse(top)
    assert found is not None
    candidate = found.next()
    while str(candidate) in existing:
        candidate = candidate.next()
    return str(candidate)


def latest(records: Sequence[VersionRecord]) -> VersionRecord:
    """The version ``Dataset.get`` picks without a version number, as ClearML does: the highest
    version string that parses; among equals (and when none parses) the newest. ClearML takes
    the most recently updated there; deltaset keeps no time of a version's last edit and takes
    the most recently created."""
    return max(records, key=lambda r: (sort_key(r.version), r.created))
