"""Starting a server: its catalog database, its storage and its tokens, served by uvicorn."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from deltaset.catalog.sql import SqlCatalog
from deltaset.errors import DeltasetError
from deltaset.listening import check_port as check_port  # where the CLI finds them
from deltaset.listening import is_loopback as is_loopback
from deltaset.server.api_uploads import sweep_stale
from deltaset.server.limits import BodyLimits
from deltaset.server.state import Server
from deltaset.server.tokens import Tokens
from deltaset.storage.base import S3Settings
from deltaset.storage.layout import describe
from deltaset.storage.registry import open_storage

log = logging.getLogger("deltaset")
SWEEP_EVERY_S = 3600.0


def default_db(home: Path) -> str:
    return f"sqlite:///{home / 'server' / 'catalog.db'}"


def default_storage(home: Path) -> str:
    return str(home / "server" / "storage")


def open_server(
    db: str,
    storage: str,
    public_url: str,
    auth: bool = True,
    s3: S3Settings | None = None,
    limits: BodyLimits | None = None,
) -> Server:
    """The server's parts, opened and checked (the database migrated, the storage usable)."""
    catalog = SqlCatalog(db)
    store = open_storage(storage, s3)
    describe(store)  # fails now, not at the first upload, if the storage is unusable
    tokens = Tokens(catalog.engine)
    return Server(catalog, store, public_url.rstrip("/"), tokens, auth, limits or BodyLimits())


def serve(server: Server, host: str, port: int) -> None:
    import uvicorn

    from deltaset.server.app import create_app

    sweeper = threading.Thread(target=_sweep, args=(server,), name="uploads-sweeper", daemon=True)
    sweeper.start()
    uvicorn.run(create_app(server), host=host, port=port, log_level="warning", access_log=False)


def _sweep(server: Server) -> None:
    """Every SWEEP_EVERY_S, from the start: the parts of uploads their clients gave up."""
    while True:
        try:
            swept = sweep_stale(server.storage)
        except DeltasetError as exc:
            log.warning("could not sweep stale upload parts: %s", exc)
        else:
            if swept:
                log.info("swept %d parts of abandoned uploads", swept)
        time.sleep(SWEEP_EVERY_S)
