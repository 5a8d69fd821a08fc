"""Named points where a test can make the process die (``DELTASET_FAILPOINT=name``).

They let the test suite prove that a SIGKILL at any step of a write leaves nothing broken.
"""

from __future__ import annotations

import os
import signal

FAILPOINT_ENV = "DELTASET_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
