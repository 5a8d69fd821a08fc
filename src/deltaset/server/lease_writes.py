"""Leases written through the objects API: only what deltaset writes, by the tokens that may
take that kind of lease.

A gc lease under ``locks/`` makes every close wait, a close lease makes gc and deletes give
up: one planted by any token that may write objects would stall them. A close lease may be
taken by a token that may close a version (read-write); a gc lease, which gc and the delete of
a final version take, only by a token that may do those (admin).
"""

from __future__ import annotations

from fastapi import Request

from deltaset.engine import leases
from deltaset.errors import AccessError, InvalidInputError, shown

MAX_LEASE = 1 << 20  # a lease is a few hundred bytes; a close's names its version's parents


def is_lease(key: str) -> bool:
    """Whether ``key`` is under ``locks/``, where only leases may be written."""
    return key.startswith(leases.LOCKS)


def check_kind(key: str, admin: bool) -> None:
    """Refuse a ``key`` under ``locks/`` that names no lease, or a gc lease to a token that is
    not an admin's."""
    kind = leases.kind_of(key)
    if kind is None:
        raise InvalidInputError(
            f"{shown(key)} is not the key of a lease (locks/close-<32 hex digits>.json or "
            "locks/gc-<32 hex digits>.json)."
        )
    if kind == "gc" and not admin:
        raise AccessError(
            "Only an admin token may take or release a gc lease, as only it may run gc or "
            "delete a final version.",
            403,
        )


async def lease_body(key: str, request: Request) -> bytes:
    """The body of a request writing the lease ``key``, if it is one deltaset writes."""
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_LEASE:
            break
    if len(body) > MAX_LEASE or leases.parse(key, bytes(body)) is None:
        raise InvalidInputError(f"The body sent for {key} is not a lease deltaset writes.")
    return bytes(body)
