"""API tokens: made at random, shown once, kept only as a SHA-256 hash.

A token is 32 random bytes, so a plain hash (no salt, no slow KDF) is enough: nobody can guess
one from its hash, and checking a request costs one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deltaset.catalog.rows import now_iso
from deltaset.catalog.schema import tokens
from deltaset.errors import NotFoundError, shown

PREFIX = "dst_"  # makes a leaked token easy to recognise (and to scan for)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    name: str
    read_only: bool
    created: str
    admin: bool = False


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self, name: str = "", read_only: bool = False, admin: bool = False
    ) -> tuple[str, TokenInfo]:
        """A new token (returned once, never stored) and what is kept of it."""
        token = PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(uuid.uuid4().hex, name, read_only and not admin, now_iso(), admin)
        with self._engine.begin() as db:
            db.execute(
                tokens.insert().values(
                    id=info.id,
                    name=info.name,
                    hash=_hash(token),
                    read_only=info.read_only,
                    created=info.created,
                    admin=info.admin,
                )
            )
        return token, info

    def check(self, token: str) -> TokenInfo | None:
        """What ``token`` is, or None when it is unknown or revoked."""
        with self._engine.connect() as db:
            row = db.execute(sa.select(tokens).where(tokens.c.hash == _hash(token))).first()
        return None if row is None else _info(row)

    def list(self) -> list[TokenInfo]:
        with self._engine.connect() as db:
            rows = db.execute(sa.select(tokens).order_by(tokens.c.created)).all()
        return [_info(r) for r in rows]

    def revoke(self, token_id: str) -> None:
        with self._engine.begin() as db:
            gone = db.execute(tokens.delete().where(tokens.c.id == token_id)).rowcount
        if not gone:
            raise NotFoundError(f"No token has the id {shown(token_id)}.")


def _info(row: sa.Row[Any]) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.read_only, row.created, row.admin)
