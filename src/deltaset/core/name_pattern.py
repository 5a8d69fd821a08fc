"""Partial names: a regular expression searched for in dataset names, as ClearML's
``partial_name``.

RE2 runs it, in time linear in the name whatever the pattern: anyone who may read a server's
catalog sends these, and Python's backtracking engine spent 29 seconds a name on
``(.*.*.*.*.*.*.*)*Q``. RE2 has the usual syntax but no back-references or look-arounds; a
pattern it cannot run is refused in one sentence.
"""

from __future__ import annotations

from collections.abc import Callable

import re2

from deltaset.errors import InvalidInputError

MAX_LENGTH = 1000  # names are short; a longer pattern is a mistake or an attack


def name_matcher(pattern: str) -> Callable[[str], bool]:
    """Whether a name holds a match of ``pattern``; InvalidInputError if it is not one."""
    shown = repr(pattern[:100]) + ("..." if len(pattern) > 100 else "")
    if len(pattern) > MAX_LENGTH:
        raise InvalidInputError(f"The name pattern {shown} is longer than {MAX_LENGTH} characters.")
    options = re2.Options()
    options.log_errors = False  # the reason goes into the sentence, not to stderr
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args else "unreadable"
        raise InvalidInputError(
            f"The name pattern {shown} is not a regular expression deltaset can search with "
            f"({reason[:120]}; back-references and look-arounds are not supported)."
        ) from exc
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"The name pattern {shown} is not valid text.") from exc
    return lambda name: compiled.search(name) is not None
