"""Named points where a test can make the process die (``DELTASET_FAILPOINT=name``) or pause
(``DELTASET_PAUSE=name:seconds``, several separated by commas; ``name:/a/file`` instead says
``/a/file.paused`` when it gets there and waits until ``/a/file`` exists, so that a test acts
at that point however slow the machine, not after a guess of seconds).

They let the test suite prove that a SIGKILL at any step of a write leaves nothing broken, and
widen a race window enough for a concurrency test to hit it every time.

Both are read once, when the process starts: a failpoint is passed on every blob of a pull,
and looking the environment up each time cost a noticeable share of a pull of many files.
"""

from __future__ import annotations

import os
import signal
import time

FAILPOINT_ENV = "DELTASET_FAILPOINT"
PAUSE_ENV = "DELTASET_PAUSE"
_LONGEST_WAIT_S = 300  # a test that died never says go: the process goes on alone


_KILL_AT = os.environ.get(FAILPOINT_ENV)
_PAUSE = os.environ.get(PAUSE_ENV)
_PAUSES = dict(p.rsplit(":", 1) for p in _PAUSE.split(",") if ":" in p) if _PAUSE else {}


def failpoint(name: str) -> None:
    if _KILL_AT is None and _PAUSE is None:
        return
    if name == _KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    if name in _PAUSES:
        _pause(_PAUSES[name])


def _pause(how: str) -> None:
    try:
        seconds = float(how)
    except ValueError:  # a file to wait for
        with open(f"{how}.paused", "w"):
            pass
        deadline = time.monotonic() + _LONGEST_WAIT_S
        while not os.path.exists(how) and time.monotonic() < deadline:
            time.sleep(0.01)
        return
    time.sleep(seconds)
