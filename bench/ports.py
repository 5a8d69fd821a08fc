"""Loopback ports for the servers the benchmarks start (shared by run.py and server.py)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, seconds: float = 60) -> None:
    """Return once ``port`` accepts connections; RuntimeError if ``proc`` dies or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)
