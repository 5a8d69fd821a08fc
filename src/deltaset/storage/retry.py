"""Retrying a request to an object store when the network or the service failed it.

The client libraries retry what they see fail before an answer starts (5xx, throttling, refused
connections); an answer cut off halfway reaches the caller as an error instead. Every request
deltaset makes is idempotent (content-addressed writes, reads, lists), so all of them are
retried here too, with exponential backoff, unless the error is an answer (missing object,
access denied, lost conditional put).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

ATTEMPTS = 5
FIRST_WAIT_S = 0.1

T = TypeVar("T")


def retried(
    call: Callable[[], T],
    is_answer: Callable[[Exception], bool],
    attempts: int = ATTEMPTS,
) -> T:
    """``call()``, again after a transient failure; an error ``is_answer`` accepts is raised at
    once (retrying cannot change it)."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            if is_answer(exc) or attempt == attempts - 1:
                raise
            time.sleep(FIRST_WAIT_S * 2**attempt)
    raise AssertionError("unreachable")
