"""What every request of a server works with: its catalog, its storage and its tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from deltaset.catalog.sql import SqlCatalog
from deltaset.server.limits import BodyLimits
from deltaset.server.tokens import Tokens
from deltaset.storage.base import Storage


@dataclass
class Server:
    catalog: SqlCatalog
    storage: Storage
    storage_url: str  # what clients name the server's storage by
    tokens: Tokens
    auth: bool = True
    limits: BodyLimits = field(default_factory=BodyLimits)


def server_of(request: Request) -> Server:
    found: Server = request.app.state.deltaset
    return found
