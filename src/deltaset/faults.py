"""Named points where a test can make the process die (``DELTASET_FAILPOINT=name``) or pause
(``DELTASET_PAUSE=name:seconds``).

They let the test suite prove that a SIGKILL at any step of a write leaves nothing broken, and
widen a race window enough for a concurrency test to hit it every time.
"""

from __future__ import annotations

import os
import signal
import time

FAILPOINT_ENV = "DELTASET_FAILPOINT"
PAUSE_ENV = "DELTASET_PAUSE"


def failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    pause = os.environ.get(PAUSE_ENV)
    if pause and pause.startswith(name + ":"):
        time.sleep(float(pause[len(name) + 1 :]))
