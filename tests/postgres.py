"""A real PostgreSQL server on 127.0.0.1 for the tests, in a temporary data folder.

The server comes from Debian's ``postgresql`` package (``scripts/bootstrap --dev`` installs
it). PostgreSQL refuses to run as root, so a root test process runs it as the ``postgres``
user that package creates. Durability settings are off: the tests need a real SQL server, not
one that survives a power cut. Each test gets its own database.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.servers import Server, _wait_for, free_port


def _bin_folder() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: run 'bash scripts/bootstrap --dev'")
    return Path(initdb).resolve().parent


def _as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def start_postgres() -> Server:
    """A fresh cluster; its ``endpoint`` is the SQLAlchemy URL of its ``postgres`` database."""
    binaries = _bin_folder()
    root = Path(tempfile.mkdtemp(prefix="deltaset-postgres-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(
        [
            *_as_server_user(),
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = root / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                *_as_server_user(),
                str(binaries / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                str(sockets),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait_for(port, proc, log)
    return Server(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", proc, root)


def new_database(server: Server, locale: str | None = None) -> str:
    """The SQLAlchemy URL of a new, empty database on ``server``; with ``locale`` (an ICU
    locale such as ``en-US``, as most installations' databases sort text), the database
    collates text in that locale's order rather than the test cluster's byte order."""
    import psycopg

    name = f"t{uuid.uuid4().hex[:16]}"
    address = server.endpoint.replace("postgresql+psycopg://", "postgresql://")
    collation = f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{locale}'" if locale else ""
    with psycopg.connect(address, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"{collation}')
    return server.endpoint.rsplit("/", 1)[0] + f"/{name}"
