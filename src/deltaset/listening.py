"""Where a deltaset process may listen (``deltaset server``, ``deltaset ui``): loopback or not,
and whether another program holds the port already."""

from __future__ import annotations

import ipaddress
import socket

from deltaset.errors import InvalidInputError


def is_loopback(host: str) -> bool:
    """Whether only this machine reaches ``host`` (any other name or address may be reached
    from elsewhere)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Refuse, in one sentence, an address another program already listens on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        # As uvicorn binds: connections a killed server left in TIME_WAIT do not hold the port,
        # while a program listening on it still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInputError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from exc
