"""Starting a server: its catalog database, its storage and its tokens, served by uvicorn."""

from __future__ import annotations

import socket
from pathlib import Path

from deltaset.catalog.sql import SqlCatalog
from deltaset.errors import InvalidInputError
from deltaset.server.state import Server
from deltaset.server.tokens import Tokens
from deltaset.storage.base import S3Settings
from deltaset.storage.layout import describe
from deltaset.storage.registry import open_storage


def default_db(home: Path) -> str:
    return f"sqlite:///{home / 'server' / 'catalog.db'}"


def default_storage(home: Path) -> str:
    return str(home / "server" / "storage")


def open_server(
    db: str, storage: str, public_url: str, auth: bool = True, s3: S3Settings | None = None
) -> Server:
    """The server's parts, opened and checked (the database migrated, the storage usable)."""
    catalog = SqlCatalog(db)
    store = open_storage(storage, s3)
    describe(store)  # fails now, not at the first upload, if the storage is unusable
    return Server(catalog, store, public_url.rstrip("/"), Tokens(catalog.engine), auth)


def check_port(host: str, port: int) -> None:
    """Refuse, in one sentence, an address another program already listens on."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInputError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from exc


def serve(server: Server, host: str, port: int) -> None:
    import uvicorn

    from deltaset.server.app import create_app

    uvicorn.run(create_app(server), host=host, port=port, log_level="warning", access_log=False)
